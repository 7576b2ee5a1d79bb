"""GAN losses and regularisers as pure functions of the discriminator's outputs.

Adversarial losses take the discriminator's logits (critic values for the Wasserstein loss) on
real and generated batches; `config.loss` picks a (discriminator, generator) pair from GAN_LOSSES.
Regularisers take `d_fn`, the discriminator as a function of its input, and are added to the
discriminator's loss with the config's weight.
"""
import jax
import jax.numpy as jnp
import optax


def bce_with_logits(logits, label: float):
  """Mean binary cross-entropy of sigmoid(logits) against a constant label, stable in logits."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


def discriminator_bce(real_logits, fake_logits, real_label: float = 1.0):
  """-E log D(x) - E log(1 - D(G(z))). real_label < 1 is one-sided label smoothing
  (Salimans et al. 2016): only the real targets are softened."""
  return bce_with_logits(real_logits, real_label) + bce_with_logits(fake_logits, 0.0)


def generator_non_saturating(fake_logits):
  """-E log D(G(z)): Goodfellow et al.'s practical G loss, strong gradients early in training."""
  return bce_with_logits(fake_logits, 1.0)


def generator_minimax(fake_logits):
  """E log(1 - D(G(z))): the literal minimax G loss, which saturates when D wins."""
  return -bce_with_logits(fake_logits, 0.0)


def discriminator_hinge(real_logits, fake_logits):
  """E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))) (Lim & Ye 2017; Miyato et al. 2018)."""
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def generator_hinge(fake_logits):
  """-E D(G(z)); also the Wasserstein generator loss."""
  return -jnp.mean(fake_logits)


def discriminator_least_squares(real_logits, fake_logits):
  """LSGAN (Mao et al. 2017), a=0, b=c=1: (E (D(x) - 1)^2 + E D(G(z))^2) / 2."""
  return 0.5 * (jnp.mean((real_logits - 1.0) ** 2) + jnp.mean(fake_logits ** 2))


def generator_least_squares(fake_logits):
  return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


def discriminator_wasserstein(real_logits, fake_logits):
  """The critic's loss E D(G(z)) - E D(x) (Arjovsky et al. 2017); pair it with gp_weight."""
  return jnp.mean(fake_logits) - jnp.mean(real_logits)


def discriminator_energy(real_energy, fake_energy, margin: float):
  """EBGAN's discriminator loss D(x) + [m - D(G(z))]^+ on energies (batch means): low energy on
  data, and on samples up to the margin m, past which they no longer push."""
  return jnp.mean(real_energy) + jnp.mean(jax.nn.relu(margin - fake_energy))


def generator_energy(fake_energy):
  """EBGAN's generator loss: the energy D gives its samples."""
  return jnp.mean(fake_energy)


def pull_away(codes):
  """EBGAN's pull-away term: the mean squared cosine similarity between the codes [N, d] of
  distinct samples of a batch, which is lowest when the samples are spread apart."""
  unit = codes / jnp.linalg.norm(codes, axis=-1, keepdims=True)
  n = codes.shape[0]
  cosines = unit @ unit.T
  return (jnp.sum(cosines ** 2) - jnp.sum(jnp.diagonal(cosines) ** 2)) / (n * (n - 1))


# config.loss -> (discriminator loss, generator loss); 'energy' takes config.energy_margin
GAN_LOSSES = {
    'non_saturating': (discriminator_bce, generator_non_saturating),
    'minimax': (discriminator_bce, generator_minimax),
    'hinge': (discriminator_hinge, generator_hinge),
    'least_squares': (discriminator_least_squares, generator_least_squares),
    'wasserstein': (discriminator_wasserstein, generator_hinge),
    'energy': (discriminator_energy, generator_energy),
}


def _input_gradient_norms_squared(d_fn, x):
  # The sum over the batch gives each sample's own gradient: samples do not interact in d_fn.
  grads = jax.grad(lambda inputs: jnp.sum(d_fn(inputs)))(x)
  return jnp.sum(grads.reshape((x.shape[0], -1)) ** 2, axis=-1)


def r1_penalty(d_fn, real):
  """E ||grad_x D(x)||^2 / 2 on real data (Mescheder et al. 2018); the weight is gamma."""
  return 0.5 * jnp.mean(_input_gradient_norms_squared(d_fn, real))


def gradient_penalty(d_fn, real, fake, rng):
  """E (||grad D(x_hat)|| - 1)^2 on random interpolates of real and fake (Gulrajani et al. 2017)."""
  eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1))
  interpolates = eps * real + (1.0 - eps) * fake
  norms = jnp.sqrt(_input_gradient_norms_squared(d_fn, interpolates) + 1e-12)
  return jnp.mean((norms - 1.0) ** 2)


def classifier_cross_entropy(class_logits, labels):
  """Mean softmax cross-entropy of integer labels: AC-GAN's auxiliary classifier loss."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels))


def unit_gaussian_nll(means, values):
  """Mean over the batch of -log N(values; means, I) summed over dimensions, up to its constant:
  InfoGAN's loss for continuous codes with the Q distribution's variance fixed at 1."""
  return jnp.mean(0.5 * jnp.sum((values - means) ** 2, axis=-1))


def feature_matching(real_features, fake_features):
  """||E f(x) - E f(G(z))||^2 on D's last hidden layer: the G loss of Salimans et al. (2016)."""
  return jnp.sum((jnp.mean(real_features, 0) - jnp.mean(fake_features, 0)) ** 2)


# --- Variational objectives: per-example terms, shape (batch,) unless noted. ---

def gaussian_kl(mean, logvar):
  """KL(N(mean, exp(logvar)) || N(0, I)) in closed form, summed over latent dimensions."""
  return 0.5 * jnp.sum(jnp.exp(logvar) + mean ** 2 - 1.0 - logvar, axis=-1)


def gaussian_log_density(z, mean, logvar):
  """log N(z; mean, exp(logvar)), summed over the last axis."""
  return -0.5 * jnp.sum(jnp.log(2 * jnp.pi) + logvar + (z - mean) ** 2 / jnp.exp(logvar), axis=-1)


def bernoulli_log_likelihood(logits, x):
  """log p(x | logits) of binary x, summed over all but the leading axes."""
  ll = -optax.sigmoid_binary_cross_entropy(logits, x)
  return jnp.sum(ll.reshape(ll.shape[:-3] + (-1,)), axis=-1)


def reparameterize(rng, mean, logvar, sample_shape=()):
  """z = mean + sigma * eps, eps ~ N(0, I): draws of shape sample_shape + mean.shape from
  N(mean, exp(logvar)), differentiable in mean and logvar."""
  return mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, tuple(sample_shape) + mean.shape)


def kl_term(mean, logvar, free_bits: float = 0.0):
  """The KL term a VAE's loss minimises: the batch mean of the analytic KL, or with free_bits > 0
  the free-bits KL."""
  return free_bits_kl(mean, logvar, free_bits) if free_bits else jnp.mean(gaussian_kl(mean, logvar))


def chunked_iwae_nll(log_weights_fn, rng, k: int, chunk: int, batch_size: int):
  """-log (1/k) sum_i w_i per example from k importance samples drawn `chunk` at a time and
  combined by a running logsumexp, so memory stays bounded for any k. log_weights_fn(rng, n)
  returns [n, batch_size] log weights."""
  if k % chunk:
    raise ValueError(f'{k} importance samples must be a multiple of the chunk {chunk}')

  def body(total, i):
    log_w = log_weights_fn(jax.random.fold_in(rng, i), chunk)
    return jnp.logaddexp(total, jax.nn.logsumexp(log_w, axis=0)), None

  total, _ = jax.lax.scan(body, jnp.full((batch_size,), -jnp.inf), jnp.arange(k // chunk))
  return jnp.log(k) - total


def free_bits_kl(mean, logvar, free_bits: float):
  """KL with each latent dimension's batch-mean KL floored at free_bits nats (Kingma et al.
  2016), so the optimiser gains nothing by collapsing dimensions below it. Returns a scalar."""
  per_dim = 0.5 * jnp.mean(jnp.exp(logvar) + mean ** 2 - 1.0 - logvar, axis=0)
  return jnp.sum(jnp.maximum(per_dim, free_bits))


def iwae_bound(log_weights):
  """log (1/k) sum_i w_i from [k, batch] log importance weights (Burda et al. 2015); k = 1 is
  the ELBO's Monte-Carlo estimate, and the bound tightens as k grows."""
  k = log_weights.shape[0]
  return jax.nn.logsumexp(log_weights, axis=0) - jnp.log(k)


def active_units(posterior_means, threshold: float = 0.01):
  """Burda et al.'s count: latent dimensions u with Cov_x(E_q(z|x)[z_u]) > threshold, from
  [N, latent] posterior means."""
  return jnp.sum(jnp.var(posterior_means, axis=0) > threshold)


def token_log_probs(logits, targets):
  """log p(targets_t) at every position: [..., V] logits and [...] ids -> [...]."""
  return jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], axis=-1)[..., 0]


def sequence_log_likelihood(logits, targets, lengths):
  """sum_t log p(targets_t) over the first `lengths` positions: [B, L, V] logits, [B, L] ids,
  [B] lengths -> [B]. Padding positions contribute nothing."""
  log_probs = token_log_probs(logits, targets)
  mask = jnp.arange(targets.shape[1]) < lengths[:, None]
  return jnp.sum(jnp.where(mask, log_probs, 0.0), axis=-1)


def mutual_information(means, logvars, z):
  """I(x; z) under the encoder (Hoffman & Johnson 2016; estimator of He et al. 2019):
  E_x E_q(z|x) log q(z|x) - E_z log q(z), with the aggregate posterior q(z) the mixture of the N
  posteriors given and z [N, d] one draw from each. log q(z_i) is computed for 256 draws at a
  time against all N posteriors, so N of a few thousand fits in memory."""
  n, d = means.shape
  neg_entropy = jnp.mean(-0.5 * d * (jnp.log(2 * jnp.pi) + 1.0) - 0.5 * jnp.sum(logvars, -1))
  log_aggregate = jax.lax.map(
      lambda z_i: jax.nn.logsumexp(gaussian_log_density(z_i, means, logvars)) - jnp.log(n),
      z, batch_size=256)
  return neg_entropy - jnp.mean(log_aggregate)


def kl_weight(step, schedule: str, anneal_steps: int, cycle_ratio: float = 0.5,
              start: float = 0.0):
  """The KL term's weight at `step`: 'constant' 1; 'linear' start -> 1 over anneal_steps
  (Bowman et al. 2016 from 0; Texar's VAE from 0.1); 'cyclical' repeats that ramp every
  anneal_steps, rising over the first cycle_ratio of each cycle and holding 1 for the rest (Fu
  et al. 2019)."""
  if schedule == 'constant' or anneal_steps <= 0:
    return jnp.ones_like(jnp.asarray(step, jnp.float32))
  step = jnp.asarray(step, jnp.float32)
  if schedule == 'linear':
    ramp = step / anneal_steps
  elif schedule == 'cyclical':
    ramp = (step % anneal_steps) / (cycle_ratio * anneal_steps)
  else:
    raise ValueError(f'unknown KL schedule {schedule!r}; use constant, linear or cyclical')
  return start + (1.0 - start) * jnp.minimum(1.0, ramp)


def policy_gradient_loss(log_probs, rewards, reduction: str = 'mean'):
  """REINFORCE for sequences (SeqGAN, Yu et al. 2017): -mean_b sum_t Q_t log G(y_t | y_<t), with
  [B, T] log-probabilities of the sampled tokens and [B, T] action values Q (rollout rewards),
  which are constants: the gradient flows only through the log-probabilities. `reduction='sum'`
  sums over the batch too (SeqGAN's reference code): B times the gradient, which matters under
  gradient clipping."""
  total = -jnp.sum(log_probs * jax.lax.stop_gradient(rewards), axis=-1)
  if reduction not in ('mean', 'sum'):
    raise ValueError(f'pg_loss_reduction={reduction!r}; use mean or sum')
  return jnp.mean(total) if reduction == 'mean' else jnp.sum(total)
