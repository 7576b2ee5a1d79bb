"""Latent tools on a trained run: `python -m gan_jax.generate --workdir=DIR --mode=MODE --out=F.png`.

Modes (GANs and VAEs alike, except where an encoder is needed):
  samples      a grid from the prior (conditional GANs: one row per class).
  reconstruct  VAE: rows of inputs, each followed by the row of their reconstructions.
  interpolate  linear and spherical paths (two rows per pair) between random latents, or between
               the latents of `--images` taken in pairs (VAE).
  arithmetic   "this digit's style, every class": per source, z - mean_z[its class] + mean_z[c]
               for c = 0..9; then the analogy row "thick 7s - thin 7s + thin 1s" (the seeds'
               "man with glasses - man + woman"), three exemplars per concept, and its result.
  like         VAE: new items near a few liked ones (`--like`), and the training items nearest to
               them in latent space (the recommendation use case).
Images (`--images`, `--like`) are MNIST test-set indices or image files (grayscale, resized to
28x28). The PNG goes to `--out`; the last line printed is one JSON object describing it (for
arithmetic and like, with the reference classifier's reading of the results).

Text runs (text_vae_ptb, lm_ptb) print sentences instead (and write them to `--out` if given):
  samples      `--num` sentences from the prior (the language model: from nothing).
  reconstruct  each `--sentences` item (a sentence, or a test-set index) and its decoding from the
               posterior mean.
  interpolate  the homotopy between the first two `--sentences`: decodings of `--steps` evenly
               spaced points on the line between their posterior means (Bowman et al. 2016).
Decoding: `--decode=greedy|sample|beam`, `--temperature`, `--top_k`, `--beam_width`.
SeqGAN runs (seqgan_ptb, seqgan_oracle) take `--mode=samples`: `--num` sentences sampled from the
generator, the policy it was trained as (token ids for the oracle benchmark).
"""
import json
import sys

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gan_jax import checkpoints
from gan_jax import input_pipeline
from gan_jax import latent
from gan_jax import reference
from gan_jax import seqgan
from gan_jax import text
from gan_jax import train
from gan_jax import writers

MODES = ('samples', 'reconstruct', 'interpolate', 'arithmetic', 'like')
COLUMNS = 8
NUM_CLASSES = 10  # MNIST, read by the reference classifier
DEFAULT_NUM = {'samples': 64, 'reconstruct': 16, 'interpolate': 4, 'arithmetic': 8, 'like': 16}
GAN_BANK_SIZE = 5000  # generated samples that stand in for encoded data when there is no encoder

FLAGS = flags.FLAGS


def define_flags():
  """The command-line flags; defined when run as a program, so that importing this module
  alongside other entry points (as the tests do) defines nothing."""
  flags.DEFINE_string('workdir', None, 'The trained run.')
  flags.DEFINE_enum('mode', 'samples', MODES, 'What to generate.')
  flags.DEFINE_string('out', None, 'Where to write the PNG grid (text runs: optional, the '
                      'sentences as text).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest).')
  flags.DEFINE_integer('num', None, 'samples, like: images to generate; reconstruct: test '
                       'images (without --images); interpolate: random pairs; arithmetic: '
                       f'sources (without --images). Defaults: {DEFAULT_NUM}.')
  flags.DEFINE_list('images', [], 'Test-set indices or image files: reconstruct and '
                    'arithmetic sources, interpolate endpoints (in pairs).')
  flags.DEFINE_list('like', [], 'like: the liked items (test-set indices or image files).')
  flags.DEFINE_integer('steps', 10, 'interpolate: points on each path, ends included.')
  flags.DEFINE_float('spread', 1.0, 'like: scale of the posterior noise around the liked.')
  flags.DEFINE_integer('nearest', 7, 'like: nearest training items per liked item.')
  flags.DEFINE_integer('seed', 0, 'Random seed of latents.')
  flags.DEFINE_integer('scale', writers.GRID_SCALE, 'Pixels per image pixel in the PNG grid.')
  flags.DEFINE_multi_string('sentences', [], 'Text runs: a sentence or a test-set '
                            'index (repeat the flag for several).')
  flags.DEFINE_enum('decode', 'greedy', text.DECODE_STRATEGIES, 'Text runs: decoding.')
  flags.DEFINE_float('temperature', 1.0, 'Text runs, --decode=sample: temperature.')
  flags.DEFINE_integer('top_k', 0, 'Text runs, --decode=sample: keep the k likeliest '
                       'words (0: all).')
  flags.DEFINE_integer('beam_width', 5, 'Text runs, --decode=beam: beams.')


class GenerateError(ValueError):
  """A request that cannot be served; the message says what to do instead."""


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
  if not hasattr(model, 'encode'):
    raise GenerateError(f'--mode={mode} needs an encoder, and a {model.config.model} run has '
                        'none; use a VAE run (e.g. vae_mnist), or a mode that works from noise: '
                        'samples, interpolate (without --images), arithmetic.')


def _classes(images) -> np.ndarray:
  logits, _ = reference.logits_and_features(np.asarray(images))
  return np.argmax(logits, axis=-1)


def _blank_like(images, n: int) -> np.ndarray:
  return np.zeros((n,) + images.shape[1:], np.float32)


def _pad_rows(images, columns: int) -> np.ndarray:
  """Pads with blank tiles to whole rows, so the next section starts on a new row."""
  return np.concatenate([images, _blank_like(images, -len(images) % columns)])


def _num_classes(model) -> int:
  return getattr(model, 'num_classes', 0)


def samples(model, state, rng, num: int):
  labels = None
  if _num_classes(model):
    labels = jnp.repeat(jnp.arange(_num_classes(model)), COLUMNS)
    num = len(labels)
  images = model.generate(state, model.sample_latents(rng, num), labels)
  return np.asarray(images), COLUMNS, {}


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
    labels = model.sample_labels(label_key, num_pairs) if _num_classes(model) else None
  t = jnp.linspace(0.0, 1.0, steps)
  rows = []
  for pair in range(len(z) // 2):
    for path in latent.PATHS.values():
      row_labels = None if labels is None else jnp.full((steps,), labels[pair])
      rows.append(model.generate(state, path(z[2 * pair], z[2 * pair + 1], t), row_labels))
  return np.concatenate([np.asarray(r) for r in rows]), steps, {'paths': list(latent.PATHS)}


def _encode_means(model, state, images):
  """Posterior means of any number of images, encoded 1,000 at a time."""
  return jnp.concatenate([model.encode(state, images[i:i + 1000])[0]
                          for i in range(0, len(images), 1000)])


def _latent_bank(model, state, rng, dataset: str):
  """(latents, class labels, images) to average concepts over: the encoded test set for a VAE;
  for a GAN, generated samples labelled by their conditioning or the reference classifier."""
  if hasattr(model, 'encode'):
    test = input_pipeline.load_split(dataset, 'test')
    images = test['image'].astype(np.float32) / 255.0
    return _encode_means(model, state, images), test['label'], images
  z_key, label_key = jax.random.split(rng)
  z = model.sample_latents(z_key, GAN_BANK_SIZE)
  labels = model.sample_labels(label_key, GAN_BANK_SIZE) if _num_classes(model) else None
  images = np.concatenate([np.asarray(model.generate(
      state, z[i:i + 1000], None if labels is None else labels[i:i + 1000]))
      for i in range(0, GAN_BANK_SIZE, 1000)])
  return z, (np.asarray(labels) if labels is not None else _classes(images)), images


def _exemplars(ink, labels, digit: int, quantile: float, k: int = 3):
  """Indices of the k items of class `digit` whose ink (mean intensity) is nearest the quantile."""
  members = np.flatnonzero(labels == digit)
  target = np.quantile(ink[members], quantile)
  return members[np.argsort(np.abs(ink[members] - target))[:k]]


def arithmetic(model, state, rng, sources, num_sources: int, dataset: str):
  conditional = _num_classes(model) > 0
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


TEXT_MODES = ('samples', 'reconstruct', 'interpolate')
TEXT_DEFAULT_NUM = 10  # sentences from the prior


def load_sentences(model, specs) -> dict[str, np.ndarray]:
  """{'tokens', 'length'} for sentences given as text (unknown words become <unk>) or as test-set
  indices."""
  test = input_pipeline.load_split(model.config.dataset, 'test')
  sentences = []
  for spec in specs:
    if spec.strip().isdigit():
      if int(spec) >= len(test['tokens']):
        raise GenerateError(f'test-set index {spec} is out of range: the test set has '
                            f'{len(test["tokens"])} sentences.')
      sentences.append(model.vocab.decode(test['tokens'][int(spec)]))
    elif spec.strip():
      sentences.append(spec.strip().lower())
    else:
      raise GenerateError('an empty --sentences item; pass a sentence or a test-set index.')
  return input_pipeline.encode_sentences(model.vocab, sentences)


def generate_text(model, state, mode: str, rng, num: int, sentences, steps: int,
                  decoding: dict) -> dict:
  """Sentences for a text run's `mode`, decoded with `decoding` (strategy, temperature, top_k,
  beam_width)."""
  if mode not in TEXT_MODES:
    raise GenerateError(f'--mode={mode} is for image runs; a text run takes one of '
                        f'{", ".join(TEXT_MODES)}.')
  params = state.networks['text_vae'].params
  decode_key, z_key = jax.random.split(rng)

  def decode(z):
    tokens = text.jit_decode(model, params, z, decode_key, decoding['strategy'],
                             model.config.max_decode_length, decoding['temperature'],
                             decoding['top_k'], decoding['beam_width'])
    return [model.vocab.decode(row) for row in np.asarray(tokens)]

  if mode == 'samples':
    return {'samples': decode(model.sample_latents(z_key, num))}
  if not model.latent_dim:
    raise GenerateError(f'--mode={mode} needs an encoder, and a {model.config.model} run (a '
                        'language model) has none; use a text_vae_ptb run.')
  if not sentences:
    raise GenerateError(f'--mode={mode} needs --sentences (a sentence or a test-set index; '
                        'repeat the flag).')
  batch = load_sentences(model, sentences)
  mean, _ = model.posterior(params, batch['tokens'], batch['length'])
  inputs = [model.vocab.decode(row) for row in batch['tokens']]
  if mode == 'reconstruct':
    return {'reconstructions': [{'input': i, 'output': o} for i, o in zip(inputs, decode(mean))]}
  if len(inputs) < 2:
    raise GenerateError('--mode=interpolate needs two --sentences (the homotopy\'s ends).')
  path = latent.lerp(mean[0], mean[1], jnp.linspace(0.0, 1.0, steps))
  return {'from': inputs[0], 'to': inputs[1], 'homotopy': decode(path)}


def run(workdir: str, mode: str, out: str | None, step=None, num=None, images=(), like_items=(),
        steps: int = 10, spread: float = 1.0, nearest: int = 7, seed: int = 0, sentences=(),
        decoding: dict | None = None, scale: int = writers.GRID_SCALE) -> dict:
  """Writes the grid of `mode` to `out` (text runs: the sentences, if `out` is given), each
  image pixel as `scale` x `scale` pixels; returns what it wrote (and the mode's
  measurements)."""
  if mode not in MODES:
    raise GenerateError(f'unknown mode {mode!r}; choose one of {", ".join(MODES)}.')
  model, state, step = train.load_trained(workdir, step)
  if isinstance(model, (text.TextVAE, seqgan.SeqGAN)):
    num = TEXT_DEFAULT_NUM if num is None else num
    if isinstance(model, text.TextVAE):
      result = generate_text(model, state, mode, jax.random.PRNGKey(seed), num, sentences, steps,
                             decoding or {'strategy': 'greedy', 'temperature': 1.0, 'top_k': 0,
                                          'beam_width': 5})
    elif mode == 'samples':  # SeqGAN's generator is its sampling policy: sampled at T = 1
      result = {'samples': model.sample_text(state, num, seed)}
    else:
      raise GenerateError(f'--mode={mode}: a SeqGAN run has no encoder; it takes --mode=samples.')
    if out:
      lines = [line if isinstance(line, str) else f"{line['input']}\t{line['output']}"
               for value in result.values() if isinstance(value, list) for line in value]
      writers.save_text(out, lines)
    return {'mode': mode, 'out': out, 'step': step, 'experiment': model.config.model, **result}
  if not hasattr(model, 'generate'):
    raise GenerateError(f'{workdir} holds a {model.config.model} run, which generates nothing; '
                        'pass the workdir of a GAN or VAE run.')
  if not out:
    raise GenerateError('pass --out=FILE.png for the image grid.')
  num = DEFAULT_NUM[mode] if num is None else num
  image_shape = (28, 28, 1)
  dataset = model.config.dataset
  rng = jax.random.PRNGKey(seed)
  inputs = load_images(images, image_shape, dataset) if images else np.zeros((0, *image_shape))
  if mode == 'samples':
    grid, columns, info = samples(model, state, rng, num)
  elif mode == 'reconstruct':
    if not len(inputs):
      inputs = load_images([str(i) for i in range(num)], image_shape, dataset)
    grid, columns, info = reconstruct(model, state, inputs)
  elif mode == 'interpolate':
    grid, columns, info = interpolate(model, state, rng, inputs, num, steps)
  elif mode == 'arithmetic':
    grid, columns, info = arithmetic(model, state, rng, inputs, num, dataset)
  else:
    if not like_items:
      raise GenerateError('--mode=like needs --like=ITEM,... (test-set indices or image files).')
    grid, columns, info = like(model, state, rng, load_images(like_items, image_shape, dataset),
                               num, spread, nearest, dataset)
  writers.save_image_grid(out, grid, columns, scale)
  return {'mode': mode, 'out': out, 'images': len(grid), 'columns': columns, 'step': step,
          'experiment': model.config.model, **info}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not FLAGS.workdir:
    raise app.UsageError('pass --workdir=DIR (and --out=FILE.png for image runs)')
  checkpoints.quiet_orbax_logging()
  decoding = {'strategy': FLAGS.decode, 'temperature': FLAGS.temperature,
              'top_k': FLAGS.top_k, 'beam_width': FLAGS.beam_width}
  try:
    result = run(FLAGS.workdir, FLAGS.mode, FLAGS.out, FLAGS.step, FLAGS.num, FLAGS.images,
                 FLAGS.like, FLAGS.steps, FLAGS.spread, FLAGS.nearest, FLAGS.seed,
                 FLAGS.sentences, decoding, FLAGS.scale)
  except (GenerateError, checkpoints.CheckpointError, input_pipeline.DataError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  for key in ('samples', 'homotopy'):
    for sentence in result.get(key, ()):
      print(sentence)
  for pair in result.get('reconstructions', ()):
    print(f"{pair['input']}\n  -> {pair['output']}")
  print(json.dumps(result))


if __name__ == '__main__':
  define_flags()
  app.run(main)
