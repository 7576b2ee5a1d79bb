"""Latent tools on image runs (GANs and VAEs alike, through gan_jax.families' GeneratesImages and
EncodesImages): prior samples, reconstructions, interpolations, latent arithmetic, "more like
these". Each returns (images in [0, 1], grid columns, measurements for the JSON line)."""
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gan_jax import chunking
from gan_jax import families
from gan_jax import input_pipeline
from gan_jax import latent
from gan_jax import reference
from gan_jax.tools import GenerateError
from gan_jax.writers import GRID_COLUMNS as COLUMNS

MODES = ('samples', 'codes', 'reconstruct', 'interpolate', 'arithmetic', 'like')
NUM_CLASSES = reference.NUM_CLASSES  # class means and agreements are the reference classifier's
DEFAULT_NUM = {'samples': 64, 'codes': 0, 'reconstruct': 16, 'interpolate': 4, 'arithmetic': 8, 'like': 16}
GAN_BANK_SIZE = 5000  # generated samples that stand in for encoded data when there is no encoder


def load_images(specs, image_shape, dataset: str = 'mnist') -> np.ndarray:
  """[n, H, W, C] images in [0, 1] from test-set indices and image files."""
  images = []
  test = None
  for spec in specs:
    if spec.isdigit():
      test = input_pipeline.load_split(dataset, 'test')['image'] if test is None else test
      if int(spec) >= len(test):
        raise GenerateError(f'test-set index {spec} is out of range: the test set has '
                            f'{len(test)} images (0..{len(test) - 1}).')
      images.append(test[int(spec)].astype(np.float32) / 255.0)
      continue
    try:
      with Image.open(spec) as image:
        gray = image.convert('L').resize(tuple(image_shape[1::-1]), Image.Resampling.LANCZOS)
    except (OSError, ValueError) as e:
      raise GenerateError(f'cannot read image {spec!r} ({e}); pass an image file (PNG, JPEG) or '
                          'a test-set index.') from None
    images.append(np.asarray(gray, np.float32)[..., None] / 255.0)
  return np.stack(images)


def _require_encoder(model, mode: str) -> None:
  if not isinstance(model, families.EncodesImages):
    raise GenerateError(f'--mode={mode} needs an encoder, and a {model.config.model} run has '
                        'none; use a run with an encoder (vae_mnist, aae_mnist, bigan_mnist, '
                        'vaegan_mnist), or a mode that works from noise: samples, interpolate '
                        '(without --images), arithmetic.')


def _classes(images) -> np.ndarray:
  logits, _ = reference.logits_and_features(np.asarray(images))
  return np.argmax(logits, axis=-1)


def _blank_like(images, n: int) -> np.ndarray:
  return np.zeros((n,) + images.shape[1:], np.float32)


def _pad_rows(images, columns: int) -> np.ndarray:
  """Pads with blank tiles to whole rows, so the next section starts on a new row."""
  return np.concatenate([images, _blank_like(images, -len(images) % columns)])


def samples(model, state, rng, num: int):
  labels = None
  if model.num_classes:
    labels = jnp.repeat(jnp.arange(model.num_classes), COLUMNS)
    num = len(labels)
  images = model.generate(state, model.sample_latents(rng, num), labels)
  return np.asarray(images), COLUMNS, {}


def codes(model, state, rng):
  """InfoGAN's code grids: a row per categorical code value; one section per continuous code,
  which sweeps along the rows."""
  if not (isinstance(model, families.HasLatentCodes) and model.has_codes):
    raise GenerateError(f'--mode=codes needs a run with latent codes, and this '
                        f'{model.config.model} run has none; train one with '
                        '--config.code_classes and/or --config.code_continuous (e.g. '
                        'infogan_mnist).')
  sections = [model.code_grid(state, rng, i) for i in range(max(1, model.code_continuous))]
  return np.asarray(jnp.concatenate(sections)), COLUMNS, {'sections': len(sections)}


def reconstruct(model, state, images):
  _require_encoder(model, 'reconstruct')
  mean, _ = model.encode(state, images)
  recon = np.asarray(model.generate(state, mean))
  rows = []
  for start in range(0, len(images), COLUMNS):
    rows += [_pad_rows(images[start:start + COLUMNS], COLUMNS),
             _pad_rows(recon[start:start + COLUMNS], COLUMNS)]
  return np.concatenate(rows), COLUMNS, {}


def interpolate(model, state, rng, endpoints, num_pairs: int, steps: int):
  """Rows alternate linear and spherical paths between pairs of latents."""
  if len(endpoints):
    _require_encoder(model, 'interpolate --images=...')
    if len(endpoints) % 2:
      raise GenerateError(f'--images has {len(endpoints)} items; interpolation takes them in '
                          'pairs, so pass an even number.')
    z, _ = model.encode(state, endpoints)
    labels = None
  else:
    z_key, label_key = jax.random.split(rng)
    z = model.sample_latents(z_key, 2 * num_pairs)
    labels = model.sample_labels(label_key, num_pairs)
  t = jnp.linspace(0.0, 1.0, steps)
  rows = []
  for pair in range(len(z) // 2):
    for path in latent.PATHS.values():
      row_labels = None if labels is None else jnp.full((steps,), labels[pair])
      rows.append(model.generate(state, path(z[2 * pair], z[2 * pair + 1], t), row_labels))
  return np.concatenate([np.asarray(r) for r in rows]), steps, {'paths': list(latent.PATHS)}


def _encode_means(model, state, images):
  """Posterior means of any number of images, encoded a chunk at a time."""
  return jnp.concatenate([model.encode(state, chunk)[0] for chunk in chunking.in_chunks(images)])


def _latent_bank(model, state, rng, dataset: str):
  """(latents, class labels, images) to average concepts over: the encoded test set for a VAE;
  for a GAN, generated samples labelled by their conditioning or the reference classifier."""
  if isinstance(model, families.EncodesImages):
    test = input_pipeline.load_split(dataset, 'test')
    images = test['image'].astype(np.float32) / 255.0
    return _encode_means(model, state, images), test['label'], images
  z_key, label_key = jax.random.split(rng)
  z = model.sample_latents(z_key, GAN_BANK_SIZE)
  labels = model.sample_labels(label_key, GAN_BANK_SIZE)
  step = chunking.CHUNK
  images = np.concatenate([np.asarray(model.generate(
      state, z[i:i + step], None if labels is None else labels[i:i + step]))
      for i in range(0, GAN_BANK_SIZE, step)])
  return z, (np.asarray(labels) if labels is not None else _classes(images)), images


def _exemplars(ink, labels, digit: int, quantile: float, k: int = 3):
  """Indices of the k items of class `digit` whose ink (mean intensity) is nearest the quantile."""
  members = np.flatnonzero(labels == digit)
  target = np.quantile(ink[members], quantile)
  return members[np.argsort(np.abs(ink[members] - target))[:k]]


def arithmetic(model, state, rng, sources, num_sources: int, dataset: str):
  conditional = model.num_classes > 0
  bank_z, bank_labels, bank_images = _latent_bank(model, state, rng, dataset)
  missing = sorted(set(range(NUM_CLASSES)) - set(np.asarray(bank_labels).tolist()))
  if missing:
    raise GenerateError(f'no {missing} among {len(bank_labels)} generated samples (as read by the '
                        'reference classifier), so their class means are undefined; train the '
                        'GAN longer, or use a conditional one.')
  if len(sources):
    _require_encoder(model, 'arithmetic --images=...')
    source_z, _ = model.encode(state, sources)
    source_images, source_labels = sources, _classes(sources)
  else:
    source_z, source_labels = bank_z[:num_sources], bank_labels[:num_sources]
    source_images = bank_images[:num_sources]
  classes = jnp.arange(NUM_CLASSES)
  if conditional:  # z carries the style and the label the class: keep z, change the label
    transfer_z = jnp.repeat(source_z, NUM_CLASSES, axis=0)
    transfer_labels = jnp.tile(classes, len(source_z))
  else:
    means = latent.class_means(bank_z, bank_labels, NUM_CLASSES)
    transfer_z = latent.transfer_style(source_z, source_labels, means).reshape(
        -1, bank_z.shape[-1])
    transfer_labels = None
  transfers = np.asarray(model.generate(state, transfer_z, transfer_labels))
  transfer_classes = _classes(transfers)
  columns = NUM_CLASSES + 1
  rows = [np.concatenate([source_images[i:i + 1], transfers[i * NUM_CLASSES:(i + 1) * NUM_CLASSES]])
          for i in range(len(source_z))]

  # Thick 7s - thin 7s + thin 1s: the stroke weight is the "glasses", the digit the "man/woman".
  ink = np.mean(bank_images, axis=(1, 2, 3))
  a = _exemplars(ink, bank_labels, 7, 0.9)
  b = _exemplars(ink, bank_labels, 7, 0.1)
  c = _exemplars(ink, bank_labels, 1, 0.1)
  result_z = latent.analogy(bank_z[a], bank_z[b], bank_z[c])[None]
  result = np.asarray(model.generate(state, result_z, jnp.ones((1,), jnp.int32)
                                     if conditional else None))
  analogy_row = np.concatenate([bank_images[a], bank_images[b], bank_images[c], result])
  rows.append(_pad_rows(analogy_row, columns))
  info = {
      'style_transfer_agreement': float(np.mean(
          transfer_classes == np.tile(np.arange(NUM_CLASSES), len(source_z)))),
      'analogy': 'thick 7s - thin 7s + thin 1s',
      'analogy_result_class': int(_classes(result)[0]),
      'analogy_result_ink': float(np.mean(result)),
      'ink_thin_1s': float(np.mean(ink[c])), 'ink_thick_7s': float(np.mean(ink[a])),
  }
  return np.concatenate(rows), columns, info


def like(model, state, rng, liked, num: int, spread: float, num_nearest: int, dataset: str):
  """Rows: the liked items; `num` new items near them; then one row per liked item: the item and
  its nearest training items in latent space."""
  _require_encoder(model, 'like')
  means, logvars = model.encode(state, liked)
  generated = np.asarray(model.generate(state, latent.sample_like(rng, means, logvars, num,
                                                                  spread)))
  train_split = input_pipeline.load_split(dataset, 'train')
  train_images = train_split['image'].astype(np.float32) / 255.0
  bank = _encode_means(model, state, train_images)
  order, distances = map(np.asarray, latent.nearest(bank, means, num_nearest))
  columns = max(COLUMNS, num_nearest + 1)
  neighbours = [_pad_rows(np.concatenate([liked[i:i + 1], train_images[order[i]]]), columns)
                for i in range(len(liked))]
  grid = np.concatenate([_pad_rows(liked, columns), _pad_rows(generated, columns), *neighbours])
  liked_classes = _classes(liked)
  info = {
      'liked_classes': liked_classes.tolist(),
      'neighbour_label_agreement': float(np.mean(
          train_split['label'][order] == liked_classes[:, None])),
      'generated_class_counts': np.bincount(_classes(generated), minlength=NUM_CLASSES).tolist(),
      'nearest_training_items': [
          [{'index': int(j), 'label': int(train_split['label'][j]), 'distance': round(float(d), 4)}
           for j, d in zip(order[i], distances[i])] for i in range(len(liked))],
  }
  return grid, columns, info


def run(model, state, mode: str, num: int | None, images=(), like_items=(), steps: int = 10,
        spread: float = 1.0, nearest: int = 7, seed: int = 0):
  """(grid, columns, measurements) of `mode` on an image run."""
  num = DEFAULT_NUM[mode] if num is None else num
  dataset = model.config.dataset
  rng = jax.random.PRNGKey(seed)
  inputs = (load_images(images, model.image_shape, dataset) if images
            else np.zeros((0, *model.image_shape)))
  if mode == 'samples':
    return samples(model, state, rng, num)
  if mode == 'codes':
    return codes(model, state, rng)
  if mode == 'reconstruct':
    if not len(inputs):
      inputs = load_images([str(i) for i in range(num)], model.image_shape, dataset)
    return reconstruct(model, state, inputs)
  if mode == 'interpolate':
    return interpolate(model, state, rng, inputs, num, steps)
  if mode == 'arithmetic':
    return arithmetic(model, state, rng, inputs, num, dataset)
  if not like_items:
    raise GenerateError('--mode=like needs --like=ITEM,... (test-set indices or image files).')
  return like(model, state, rng, load_images(like_items, model.image_shape, dataset), num, spread,
              nearest, dataset)
