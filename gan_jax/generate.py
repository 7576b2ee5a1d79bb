"""Latent tools on a trained run: `python -m gan_jax.generate --workdir=DIR --mode=MODE --out=F.png`.

Modes (GANs and VAEs alike, except where an encoder is needed):
  samples      a grid from the prior (conditional GANs: one row per class).
  codes        InfoGAN codes (GANs with code_classes / code_continuous): a row per categorical
               code value; per continuous code a section in which it sweeps [-2, 2] along rows.
  reconstruct  runs with an encoder (VAE, AAE, BiGAN, VAE-GAN): rows of inputs, each followed by
               the row of their reconstructions.
  interpolate  linear and spherical paths (two rows per pair) between random latents, or between
               the latents of `--images` taken in pairs (runs with an encoder).
  arithmetic   "this digit's style, every class": per source, z - mean_z[its class] + mean_z[c]
               for c = 0..9; then the analogy row "thick 7s - thin 7s + thin 1s" (the seeds'
               "man with glasses - man + woman"), three exemplars per concept, and its result.
  like         runs with an encoder: new items near a few liked ones (`--like`), and the training
               items nearest to them in latent space (the recommendation use case).
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
SeqGAN and LeakGAN runs (seqgan_ptb, seqgan_oracle, leakgan_oracle) take `--mode=samples`: `--num`
sentences sampled from the generator, the policy it was trained as (token ids for the oracle
benchmark).
"""
import json
import sys

from absl import app
from absl import flags

from gan_jax import checkpoints
from gan_jax import decoding
from gan_jax import families
from gan_jax import input_pipeline
from gan_jax import tools
from gan_jax import train
from gan_jax import writers
from gan_jax.tools import images as image_tools
from gan_jax.tools import text as text_tools

GenerateError = tools.GenerateError

FLAGS = flags.FLAGS


def define_flags():
  """The command-line flags; defined when run as a program, so that importing this module
  alongside other entry points (as the tests do) defines nothing."""
  flags.DEFINE_string('workdir', None, 'The trained run.')
  flags.DEFINE_enum('mode', 'samples', image_tools.MODES, 'What to generate.')
  flags.DEFINE_string('out', None, 'Where to write the PNG grid (text runs: optional, the '
                      'sentences as text).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest).')
  flags.DEFINE_integer('num', None, 'samples, like: images to generate; reconstruct: test '
                       'images (without --images); interpolate: random pairs; arithmetic: '
                       f'sources (without --images). Defaults: {image_tools.DEFAULT_NUM}; text: '
                       f'{text_tools.DEFAULT_NUM}.')
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
  flags.DEFINE_enum('decode', 'greedy', decoding.STRATEGIES, 'Text runs: decoding.')
  flags.DEFINE_float('temperature', 1.0, 'Text runs, --decode=sample: temperature.')
  flags.DEFINE_integer('top_k', 0, 'Text runs, --decode=sample: keep the k likeliest '
                       'words (0: all).')
  flags.DEFINE_integer('beam_width', 5, 'Text runs, --decode=beam: beams.')


def run(workdir: str, mode: str, out: str | None, step=None, num=None, images=(), like_items=(),
        steps: int = 10, spread: float = 1.0, nearest: int = 7, seed: int = 0, sentences=(),
        decoding_settings: dict | None = None, scale: int = writers.GRID_SCALE) -> dict:
  """Writes the grid of `mode` to `out` (text runs: the sentences, if `out` is given), each
  image pixel as `scale` x `scale` pixels; returns what it wrote (and the mode's
  measurements)."""
  if mode not in image_tools.MODES:
    raise tools.GenerateError(f'unknown mode {mode!r}; choose one of '
                              f'{", ".join(image_tools.MODES)}.')
  model, state, step = train.load_trained(workdir, step)
  described = {'mode': mode, 'out': out, 'step': step, 'experiment': model.config.model}
  if isinstance(model, (families.DecodesText, families.GeneratesText)):
    result = text_tools.run(model, state, mode, num, seed, sentences, steps,
                            decoding_settings or {'strategy': 'greedy', 'temperature': 1.0,
                                                  'top_k': 0, 'beam_width': 5})
    if out:
      lines = [line if isinstance(line, str) else f"{line['input']}\t{line['output']}"
               for value in result.values() if isinstance(value, list) for line in value]
      writers.save_text(out, lines)
    return {**described, **result}
  if not isinstance(model, families.GeneratesImages):
    raise tools.GenerateError(f'{workdir} holds a {model.config.model} run, which generates '
                              'nothing; pass the workdir of a GAN or VAE run.')
  if not out:
    raise tools.GenerateError('pass --out=FILE.png for the image grid.')
  grid, columns, info = image_tools.run(model, state, mode, num, images, like_items, steps,
                                        spread, nearest, seed)
  writers.save_image_grid(out, grid, columns, scale)
  return {**described, 'images': len(grid), 'columns': columns, **info}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not FLAGS.workdir:
    raise app.UsageError('pass --workdir=DIR (and --out=FILE.png for image runs)')
  checkpoints.quiet_orbax_logging()
  settings = {'strategy': FLAGS.decode, 'temperature': FLAGS.temperature,
              'top_k': FLAGS.top_k, 'beam_width': FLAGS.beam_width}
  try:
    result = run(FLAGS.workdir, FLAGS.mode, FLAGS.out, FLAGS.step, FLAGS.num, FLAGS.images,
                 FLAGS.like, FLAGS.steps, FLAGS.spread, FLAGS.nearest, FLAGS.seed,
                 FLAGS.sentences, settings, FLAGS.scale)
  except (tools.GenerateError, checkpoints.CheckpointError, input_pipeline.DataError) as e:
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
