"""Sample-quality metrics on a fixed classifier's outputs, as pure functions (JAX; FID in
float64 NumPy).

* Frechet distance between Gaussians fitted to two feature sets (FID when the features are the
  reference classifier's penultimate layer; TF-GAN's `mnist_frechet_distance` on its logits).
* Class score exp(E_x KL(p(y|x) || p(y))) (TF-GAN's `mnist_score`, at most the class count).
* Precision and recall of Kynkaenniemi et al. (2019): the share of one set inside the union of
  k-NN balls around the other set's points.
* The error of unsupervised clusters (or codes) used as a classifier, matched to classes by
  agreement or by each cluster's most confident item; 1-nearest-neighbour and linear-probe
  accuracy of learned features.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize

from gan_jax import chunking


def gaussian_stats(features):
  """Mean and (unbiased) covariance of [N, D] features, in float64 on the host: the accelerator's
  default matmul precision (TF32 on GPU, bf16 passes on TPU) must not move FID."""
  features = np.asarray(features, np.float64)
  mean = features.mean(0)
  centred = features - mean
  return mean, centred.T @ centred / (features.shape[0] - 1)


def _psd_sqrt(matrix):
  eigenvalues, vectors = np.linalg.eigh(matrix)
  return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T


def frechet_distance(mean1, cov1, mean2, cov2) -> float:
  """|m1 - m2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2), via symmetric eigendecompositions, in
  float64."""
  mean1, cov1, mean2, cov2 = (np.asarray(x, np.float64) for x in (mean1, cov1, mean2, cov2))
  sqrt_cov1 = _psd_sqrt(cov1)
  middle = sqrt_cov1 @ cov2 @ sqrt_cov1
  trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)))
  return float(np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt)


def frechet_distance_of(features1, features2) -> float:
  return frechet_distance(*gaussian_stats(features1), *gaussian_stats(features2))


@jax.jit
def class_score(logits):
  """exp(E_x KL(p(y|x) || p(y))) with p(y) the mean prediction; 1 (one class) .. num_classes."""
  log_p = jax.nn.log_softmax(logits)
  log_marginal = jnp.log(jnp.mean(jnp.exp(log_p), axis=0))
  kl = jnp.sum(jnp.exp(log_p) * (log_p - log_marginal), axis=-1)
  return jnp.exp(jnp.mean(kl))


def squared_distances(a, b):
  """[n, m] squared Euclidean distances between the rows of a [n, d] and b [m, d]."""
  return jnp.maximum(jnp.sum(a * a, 1)[:, None] - 2.0 * a @ b.T + jnp.sum(b * b, 1)[None, :], 0.0)


@functools.partial(jax.jit, static_argnums=2)
def _kth_smallest_distance(queries, features, k: int):
  # The (k + 1)-th smallest (each query is itself in `features`, at distance 0), by removing the
  # row minimum k times: for small k ~15x faster than lax.top_k on the CPU, and a few reductions
  # on any backend.
  distances = squared_distances(queries, features)
  rows = jnp.arange(distances.shape[0])
  for _ in range(k):
    distances = distances.at[rows, jnp.argmin(distances, axis=1)].set(jnp.inf)
  return jnp.min(distances, axis=1)


@jax.jit
def _inside_any_ball(queries, support, support_radii):
  return jnp.any(squared_distances(queries, support) <= support_radii[None], axis=1)


def knn_radii(features, k: int, chunk: int = chunking.CHUNK):
  """Squared distance from each point to its k-th nearest other point in the same set."""
  return jnp.concatenate([_kth_smallest_distance(q, features, k)
                          for q in chunking.in_chunks(features, chunk)])


def coverage(queries, support, support_radii, chunk: int = chunking.CHUNK):
  """Share of queries inside at least one ball (support point, its k-NN radius)."""
  return float(jnp.mean(jnp.concatenate([_inside_any_ball(q, support, support_radii)
                                         for q in chunking.in_chunks(queries, chunk)])))


def precision_recall(real, fake, k: int = 3, real_radii=None):
  """(precision, recall); `real_radii` = knn_radii(real, k), when the caller keeps them for a fixed
  real set (they cost most of the computation)."""
  real, fake = jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32)
  if real_radii is None:
    real_radii = knn_radii(real, k)
  precision = coverage(fake, real, real_radii)
  recall = coverage(real, fake, knn_radii(fake, k))
  return precision, recall


def cluster_error(clusters, labels, one_to_one: bool = True) -> float:
  """Share of items misclassified when each cluster id stands for one class: matched one-to-one
  to maximise the agreement (Hungarian algorithm), or, with `one_to_one=False`, each cluster to
  its most frequent class (for more clusters than classes)."""
  clusters, labels = np.asarray(clusters), np.asarray(labels)
  counts = np.zeros((clusters.max() + 1, labels.max() + 1), np.int64)
  np.add.at(counts, (clusters, labels), 1)
  if one_to_one:
    rows, cols = scipy.optimize.linear_sum_assignment(counts, maximize=True)
    matched = counts[rows, cols].sum()
  else:
    matched = counts.max(axis=1).sum()
  return float(1.0 - matched / len(labels))


def most_confident_label_error(reference_probs, reference_labels, test_clusters,
                               test_labels) -> float:
  """Test error when each cluster takes the label of the reference item it is most confident
  of (argmax over items of p(cluster | x); Makhzani et al. 2016's rule for unsupervised
  clustering, with a labelled reference set other than the test set)."""
  cluster_labels = np.asarray(reference_labels)[np.argmax(np.asarray(reference_probs), axis=0)]
  return float(np.mean(cluster_labels[np.asarray(test_clusters)] != np.asarray(test_labels)))


def majority_label_error(reference_clusters, reference_labels, test_clusters, test_labels) -> float:
  """Test error when each cluster takes the most common label of the reference items assigned
  to it (the rule most reimplementations report; less fragile than one most-confident item). A
  cluster no reference item falls in counts its test items as errors."""
  reference_clusters, test_clusters = np.asarray(reference_clusters), np.asarray(test_clusters)
  clusters = int(max(reference_clusters.max(), test_clusters.max())) + 1
  counts = np.zeros((clusters, int(np.max(reference_labels)) + 1), np.int64)
  np.add.at(counts, (reference_clusters, np.asarray(reference_labels)), 1)
  cluster_labels = np.where(counts.sum(1) > 0, counts.argmax(1), -1)
  return float(np.mean(cluster_labels[test_clusters] != np.asarray(test_labels)))


def nearest_neighbour_accuracy(train_features, train_labels, test_features, test_labels,
                               chunk: int = chunking.CHUNK) -> float:
  """Test accuracy of the 1-nearest-neighbour classifier in cosine distance (the BiGAN paper's
  measure of an encoder's features)."""
  unit = lambda f: f / (np.linalg.norm(f, axis=-1, keepdims=True) + 1e-12)
  bank = jnp.asarray(unit(np.asarray(train_features, np.float32)))
  # The bank is an argument, not a closed-over constant: XLA would fold it into the program.
  nearest = jax.jit(lambda bank, q: jnp.argmax(q @ bank.T, axis=-1))
  predicted = np.concatenate([np.asarray(nearest(bank, jnp.asarray(q))) for q in chunking.in_chunks(
      unit(np.asarray(test_features, np.float32)), chunk)])
  return float(np.mean(np.asarray(train_labels)[predicted] == np.asarray(test_labels)))


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels,
                          steps: int = 500, learning_rate: float = 0.05) -> float:
  """Test accuracy of a softmax regression fitted to standardised features (full-batch Adam)."""
  train_features = np.asarray(train_features, np.float32)
  mean, std = train_features.mean(0), train_features.std(0) + 1e-6
  x, y = jnp.asarray((train_features - mean) / std), jnp.asarray(train_labels)
  classes = int(max(np.max(train_labels), np.max(test_labels))) + 1
  params = {'w': jnp.zeros((x.shape[1], classes)), 'b': jnp.zeros(classes)}
  tx = optax.adam(learning_rate)

  def loss(params, x, y):
    logits = x @ params['w'] + params['b']
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

  @jax.jit
  def fit(params, x, y):  # the data as arguments: as closed-over constants XLA folds them
    def step(carry, _):
      params, opt_state = carry
      updates, opt_state = tx.update(jax.grad(loss)(params, x, y), opt_state)
      return (optax.apply_updates(params, updates), opt_state), None
    return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[0][0]

  params = fit(params, x, y)
  test = (np.asarray(test_features, np.float32) - mean) / std
  predicted = np.argmax(test @ np.asarray(params['w']) + np.asarray(params['b']), axis=-1)
  return float(np.mean(predicted == np.asarray(test_labels)))
