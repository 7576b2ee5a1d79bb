"""The fixed reference MNIST classifier, and the sample-quality metrics computed with it.

Its weights ship with the package (`assets/mnist_classifier.msgpack`) and are checked against
REFERENCE_SHA256 on load, so a metric means the same thing in every run and on every machine.
They come from `./run.sh train mnist_classifier` (recipe and accuracy in docs/results.md), exported by
`python -m gan_jax.reference --workdir=runs/mnist_classifier`.
"""
import functools
import hashlib
import pathlib

from absl import app
from absl import flags
import flax.serialization
import jax
import numpy as np

from gan_jax import checkpoints
from gan_jax import chunking
from gan_jax import families
from gan_jax import input_pipeline
from gan_jax import metrics
from gan_jax import models

ASSET = pathlib.Path(__file__).resolve().parent / 'assets' / 'mnist_classifier.msgpack'
REFERENCE_SHA256 = 'a420b3ae932953261b292e558526d698d538200cd0df3a3b7f62a480af8ff697'
ARCHITECTURE = dict(block_features=(32, 64), hidden_size=128, dropout_rate=0.5)
NUM_REAL = 10_000  # the whole MNIST test set
NUM_CLASSES = 10
PRECISION_RECALL_K = 3


def _sha256(path) -> str:
  with open(path, 'rb') as f:
    return hashlib.file_digest(f, 'sha256').hexdigest()


def make_apply_fn(module):
  """jit(params, images -> (logits, features)) in eval mode; made once per module, so repeated
  evaluations reuse its compilation."""
  return jax.jit(lambda params, images: module.apply({'params': params}, images, train=False))


def classify(apply_fn, params, images):
  """(logits, features) of [0, 1] images, a chunk at a time so any number of images fits."""
  outputs = [jax.device_get(apply_fn(params, chunk)) for chunk in chunking.in_chunks(images)]
  return tuple(np.concatenate(parts) for parts in zip(*outputs))


@functools.cache
def load():
  """(jitted apply function, params) of the reference classifier, after checking the hash."""
  if not ASSET.is_file():
    raise FileNotFoundError(f'{ASSET} is missing; reinstall the package.')
  digest = _sha256(ASSET)
  if digest != REFERENCE_SHA256:
    raise ValueError(f'{ASSET} has sha256 {digest}, expected {REFERENCE_SHA256}: these are not '
                     'the reference weights every metric is defined with; reinstall the package.')
  params = flax.serialization.msgpack_restore(ASSET.read_bytes())
  return make_apply_fn(models.MNISTClassifier(**ARCHITECTURE)), params


def logits_and_features(images01: np.ndarray):
  apply_fn, params = load()
  return classify(apply_fn, params, np.asarray(images01, np.float32))


@functools.cache
def _real_reference(split: str, count: int):
  """What image_metrics compares against, computed once per real set: the real images' Gaussian
  statistics of logits and features, their features and k-NN radii."""
  images = input_pipeline.load_split('mnist', split)['image'][:count]
  logits, features = logits_and_features(images.astype(np.float32) / 255.0)
  return dict(logits_stats=metrics.gaussian_stats(logits),
              feature_stats=metrics.gaussian_stats(features), features=features,
              radii=metrics.knn_radii(features, PRECISION_RECALL_K))


def image_metrics(images01: np.ndarray, labels: np.ndarray | None = None,
                  real_split: str = 'test') -> dict[str, float]:
  """FID, logits FD, class score, precision and recall (k=PRECISION_RECALL_K) of images in [0, 1] against the
  MNIST test set; with `labels` (conditional generation), the classifier's agreement with them."""
  real = _real_reference(real_split, NUM_REAL)
  logits, features = logits_and_features(images01)
  precision, recall = metrics.precision_recall(real['features'], features, PRECISION_RECALL_K,
                                               real['radii'])
  result = {
      'fid': metrics.frechet_distance(*real['feature_stats'], *metrics.gaussian_stats(features)),
      'logits_fd': metrics.frechet_distance(*real['logits_stats'], *metrics.gaussian_stats(logits)),
      'class_score': float(metrics.class_score(logits)),
      'precision': precision, 'recall': recall,
  }
  if labels is not None:
    result['label_agreement'] = float(np.mean(np.argmax(logits, -1) == labels))
  return result


def reconstruction_metrics(inputs01: np.ndarray, reconstructions01: np.ndarray) -> dict:
  """image_metrics of reconstructions, prefixed recon_, with recon_agreement: the share whose
  class the classifier reads as that of their input."""
  input_classes = np.argmax(logits_and_features(inputs01)[0], axis=-1)
  metrics = image_metrics(reconstructions01, input_classes)
  return {f'recon_{k.replace("label_", "")}': v for k, v in metrics.items()}


def sample_metrics(model, state, num_samples: int) -> dict[str, float]:
  """image_metrics of num_samples images of an unconditional image family (GeneratesImages),
  decoded from prior draws of a fixed key a chunk at a time."""
  decode = jax.jit(lambda state, key, count: model.generate(state, model.sample_latents(key, count)),
                   static_argnums=2)
  return image_metrics(chunking.sampled(lambda key, count: decode(state, key, count),
                                        jax.random.PRNGKey(model.config.seed + 2), num_samples))


def encoder_metrics(model, state, num_samples: int) -> dict[str, float]:
  """reconstruction_metrics of the first num_samples test digits, each decoded from its code
  mean (a family that EncodesImages and GeneratesImages)."""
  test = input_pipeline.load_split(model.config.dataset, 'test')['image'][:num_samples]
  inputs = test.astype(np.float32) / 255.0
  reconstruct = jax.jit(lambda state, x: model.generate(state, model.encode(state, x)[0]))
  return reconstruction_metrics(inputs, np.concatenate(
      [np.asarray(reconstruct(state, chunk)) for chunk in chunking.in_chunks(inputs)]))


def real_data_floor(num_samples: int = NUM_REAL) -> dict[str, float]:
  """The metrics of real images (the first num_samples training images) against the test set."""
  images = input_pipeline.load_split('mnist', 'train')['image'][:num_samples]
  return image_metrics(images.astype(np.float32) / 255.0)


def export(workdir: str, path=ASSET) -> dict:
  """Writes a finished mnist_classifier run's weights to `path` (default: the package's reference
  weights); returns their sha256 (REFERENCE_SHA256 to be) and the run's test accuracy."""
  manager = checkpoints.make_manager(workdir, read_only=True)
  model = families.build(checkpoints.restore_config(manager))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  template = jax.eval_shape(model.init, jax.random.PRNGKey(0))
  state, _, _ = checkpoints.restore(manager, checkpoints.abstract_like(template, device))
  params = jax.device_get(state.networks['classifier'].params)
  reference_shapes = jax.eval_shape(functools.partial(
      models.MNISTClassifier(**ARCHITECTURE).init, train=False), jax.random.PRNGKey(0),
      jax.ShapeDtypeStruct((1, 28, 28, 1), np.float32))['params']
  shapes = lambda tree: jax.tree.map(lambda x: tuple(x.shape), tree)
  if shapes(params) != shapes(reference_shapes):
    raise ValueError(f'{workdir} trained a classifier of another architecture than the '
                     f'reference ARCHITECTURE {ARCHITECTURE}; export a run of mnist_classifier '
                     'as it is, or change ARCHITECTURE with it.')
  path = pathlib.Path(path)
  path.write_bytes(flax.serialization.msgpack_serialize(params))
  return {'sha256': _sha256(path), 'test_accuracy': model.evaluate(state)['test_accuracy']}


def main(argv):
  del argv
  result = export(flags.FLAGS.workdir)
  print(f'wrote {ASSET}: sha256 {result["sha256"]}, test accuracy {result["test_accuracy"]:.4f}')


if __name__ == '__main__':
  # Defined here, not at import, so that modules importing this one keep their own --workdir.
  flags.DEFINE_string('workdir', None, 'A finished mnist_classifier run to export.')
  flags.mark_flag_as_required('workdir')
  app.run(main)
