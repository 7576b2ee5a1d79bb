import numpy as np
import pytest

from gan_jax import families
from gan_jax import input_pipeline
from gan_jax import reference
from gan_jax import train
from conftest import requires_mnist, tiny_config


@requires_mnist
def test_reference_classifier_reaches_its_accuracy_on_a_test_slice():
  test = input_pipeline.load_split('mnist', 'test')
  logits, features = reference.logits_and_features(test['image'][:2000] / 255.0)
  assert features.shape == (2000, reference.ARCHITECTURE['hidden_size'])
  assert np.mean(np.argmax(logits, -1) == test['label'][:2000]) >= 0.99


def test_weights_are_checked_against_their_hash(monkeypatch):
  monkeypatch.setattr(reference, 'REFERENCE_SHA256', '0' * 64)
  reference.load.cache_clear()
  try:
    with pytest.raises(ValueError, match='not the reference weights'):
      reference.load()
  finally:
    reference.load.cache_clear()


@requires_mnist
def test_real_images_score_like_real_images():
  floor = reference.real_data_floor(2000)
  assert floor['class_score'] > 9.5
  assert floor['precision'] > 0.6 and floor['recall'] > 0.6
  # A generator of one digit: low class score and low recall.
  train = input_pipeline.load_split('mnist', 'train')
  ones = train['image'][train['label'] == 1][:2000] / 255.0
  collapsed = reference.image_metrics(ones)
  assert collapsed['class_score'] < 1.5 and collapsed['recall'] < 0.2
  assert collapsed['fid'] > 10 * floor['fid']


@requires_mnist
def test_export_writes_weights_that_load_as_the_reference(tmp_path, monkeypatch):
  config = tiny_config('mnist_classifier', num_train_steps=2)
  state = train.train_and_evaluate(config, str(tmp_path / 'run'))
  weights = tmp_path / 'weights.msgpack'
  result = reference.export(str(tmp_path / 'run'), weights)
  monkeypatch.setattr(reference, 'ASSET', weights)
  monkeypatch.setattr(reference, 'REFERENCE_SHA256', result['sha256'])
  reference.load.cache_clear()
  try:
    images = input_pipeline.load_split('mnist', 'test')['image'][:64] / 255.0
    logits = reference.classify(*reference.load(), images)[0]
  finally:
    reference.load.cache_clear()
  model = families.build(config)
  trained = reference.classify(model.apply_fn, state.networks['classifier'].params, images)[0]
  np.testing.assert_allclose(logits, trained, rtol=1e-5, atol=1e-5)
  assert 0.0 < result['test_accuracy'] < 1.0  # two steps: better than nothing, far from done

  other = tiny_config('mnist_classifier', num_train_steps=1, **{'classifier.hidden_size': 64})
  train.train_and_evaluate(other, str(tmp_path / 'other'))
  with pytest.raises(ValueError, match='another architecture'):
    reference.export(str(tmp_path / 'other'), tmp_path / 'other.msgpack')


class _TestDigitsModel:
  """A stand-in image family: codes are flattened images, decoding reshapes them back, and its
  'prior' draws are the training digits in order (so both metrics have known answers)."""

  def __init__(self):
    self.config = tiny_config('aae_mnist')
    self.train = input_pipeline.load_split('mnist', 'train')['image'].astype(np.float32) / 255.0

  def encode(self, state, images):
    del state
    flat = images.reshape((len(images), -1))
    return flat, flat * 0

  def generate(self, state, z, labels=None):
    del state, labels
    return z.reshape((-1, 28, 28, 1))

  def sample_latents(self, rng, n):
    del rng
    return self.train[:n].reshape((n, -1))


@requires_mnist
def test_encoder_and_sample_metrics_decode_what_the_family_gives():
  model = _TestDigitsModel()
  recon = reference.encoder_metrics(model, None, 1500)
  # Perfect reconstructions of the first 1,500 test digits: the classifier reads every one as
  # its input, and their FID is that of those test digits themselves.
  test = input_pipeline.load_split('mnist', 'test')['image'][:1500] / 255.0
  assert recon['recon_agreement'] == 1.0
  assert recon['recon_fid'] == pytest.approx(reference.image_metrics(test)['fid'], rel=1e-4)
  samples = reference.sample_metrics(model, None, 1000)  # one chunk: the first 1,000 digits
  assert samples['fid'] == pytest.approx(reference.real_data_floor(1000)['fid'], rel=1e-4)
