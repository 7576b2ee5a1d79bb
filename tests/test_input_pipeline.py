import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import input_pipeline
from conftest import requires_mnist

# Official MNIST class counts.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@requires_mnist
@pytest.mark.parametrize('split,counts', [('train', TRAIN_COUNTS), ('test', TEST_COUNTS)])
def test_real_mnist(split, counts):
  data = input_pipeline.load_split('mnist', split)
  images, labels = data['image'], data['label']
  assert images.shape == (sum(counts), 28, 28, 1) and images.dtype == np.uint8
  assert images.min() == 0 and images.max() == 255
  assert 30 < images.mean() < 40  # MNIST's mean pixel is ~33
  np.testing.assert_array_equal(np.bincount(labels, minlength=10), counts)


def synthetic(n=100):
  return {'image': np.arange(n, dtype=np.int32), 'label': np.arange(n, dtype=np.int32) % 10}


def test_epoch_visits_every_example_once_then_reshuffles():
  it = input_pipeline.BatchIterator(synthetic(), 10, seed=0)
  epoch1 = np.concatenate([next(it)['image'] for _ in range(10)])
  epoch2 = np.concatenate([next(it)['image'] for _ in range(10)])
  assert sorted(epoch1) == list(range(100)) and sorted(epoch2) == list(range(100))
  assert not np.array_equal(epoch1, epoch2)


def test_deterministic_and_resumable():
  a = input_pipeline.BatchIterator(synthetic(), 10, seed=3)
  straight = [next(a)['image'] for _ in range(25)]
  b = input_pipeline.BatchIterator(synthetic(), 10, seed=3)
  for _ in range(13):
    next(b)
  c = input_pipeline.BatchIterator(synthetic(), 10, seed=3)
  c.set_state(b.get_state())
  resumed = [next(c)['image'] for _ in range(12)]
  for x, y in zip(straight[13:], resumed):
    np.testing.assert_array_equal(x, y)
  other_seed = input_pipeline.BatchIterator(synthetic(), 10, seed=4)
  assert not np.array_equal(next(other_seed)['image'], straight[0])


def test_processes_get_disjoint_slices_of_the_global_batch():
  whole = next(input_pipeline.BatchIterator(synthetic(), 12, seed=1))['image']
  parts = [next(input_pipeline.BatchIterator(synthetic(), 12, seed=1, process_index=i,
                                             process_count=3))['image'] for i in range(3)]
  assert all(len(p) == 4 for p in parts)
  np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.sort(whole))


def test_missing_data_says_what_to_do(tmp_path, monkeypatch):
  monkeypatch.setenv('GAN_JAX_DATA', str(tmp_path / 'empty'))
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path / 'tfds'))

  def offline(*args, **kwargs):
    raise ConnectionError('network is unreachable')

  monkeypatch.setattr(tfds.download.DownloadManager, 'download', offline)
  input_pipeline.load_split.cache_clear()
  input_pipeline.load_examples.cache_clear()
  try:
    with pytest.raises(input_pipeline.DataError,
                       match=r'GAN_JAX_DATA=.*empty has no complete mnist/ folder.*'
                             r'train-images-idx3-ubyte.gz.*GAN_JAX_DATA=DIR'):
      input_pipeline.load_split('mnist', 'train')
  finally:
    input_pipeline.load_split.cache_clear()
    input_pipeline.load_examples.cache_clear()


class TinyBuilder(tfds.core.GeneratorBasedBuilder):
  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict({'x': tfds.features.Tensor(shape=(), dtype=np.int64)}))

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    for i in range(5):
      yield i, {'x': i}


def test_a_preparation_finished_by_another_process_is_used(tmp_path, monkeypatch):
  # Two hosts (or two jobs) preparing one TFDS folder: the one that loses the race to rename
  # its finished copy into place gets FileExistsError, and must read the winner's copy.
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path / 'tfds'))
  prepare = TinyBuilder.download_and_prepare

  def prepared_by_another_process(self, **kwargs):
    prepare(self, **kwargs)
    raise FileExistsError('Destination .../1.0.0 already exists.')

  monkeypatch.setattr(TinyBuilder, 'download_and_prepare', prepared_by_another_process)
  monkeypatch.setitem(input_pipeline.BUILDERS, 'tiny', TinyBuilder)
  input_pipeline.load_examples.cache_clear()
  try:
    values = input_pipeline.load_examples('tiny', 'train')['x']
  finally:
    input_pipeline.load_examples.cache_clear()
  np.testing.assert_array_equal(np.sort(values), range(5))
