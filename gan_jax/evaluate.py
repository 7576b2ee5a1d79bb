"""Evaluates a checkpoint: `python -m gan_jax.evaluate --workdir=DIR [--num_samples=N] [--step=S]`.

The last line printed is one JSON object: the family's metrics (for GANs: FID, logits FD, class
score, precision, recall against the MNIST test set, with the fixed reference classifier), the
sample count and the checkpoint's step. `--real_floor` prints the same metrics for real training
images instead, the reference every GAN number is read against.
"""
import json
import sys

from absl import app
from absl import flags

from gan_jax import checkpoints
from gan_jax import families
from gan_jax import reference
from gan_jax import train

FLAGS = flags.FLAGS


def define_flags():
  """The command-line flags; defined when run as a program, so that importing this module
  alongside other entry points (as the tests do) defines nothing."""
  flags.DEFINE_string('workdir', None, 'The run whose checkpoint to evaluate.')
  flags.DEFINE_integer('num_samples', 10_000,
                       'GANs: generated samples to evaluate; VAEs: test images.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest).')
  flags.DEFINE_integer('importance_samples', 5000,
                       'VAEs: importance samples k of the test NLL estimate.')
  flags.DEFINE_bool('real_floor', False, 'Evaluate num_samples real training images.')
  flags.DEFINE_string('sampling_batch_norm', None,
                      'GANs: the BatchNorm statistics to sample with, standing, running or batch '
                      '(default: the run\'s).')


def evaluate_checkpoint(workdir: str, num_samples: int, step: int | None = None,
                        **options) -> dict:
  """The family's metrics of a checkpoint. `options` are evaluation flags by name; each family
  reads those in its EVALUATION_OPTIONS (into the config it evaluates with), and None keeps the
  run's own setting."""

  def configure(config):
    # Declared by every family that Evaluates (checked below, once it is built).
    evaluation_options = getattr(families.family_class(config.model), 'EVALUATION_OPTIONS', {})
    for flag, field in evaluation_options.items():
      if options.get(flag) is not None:
        config[field] = options[flag]

  model, state, step = train.load_trained(workdir, step, configure)
  if not isinstance(model, families.Evaluates):
    raise ValueError(f'{workdir} holds a {model.config.model} run, which has no metrics.')
  return {**model.evaluate(state, num_samples), 'num_samples': num_samples, 'step': step,
          'experiment': model.config.model}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  checkpoints.quiet_orbax_logging()
  try:
    if FLAGS.real_floor:
      result = {**reference.real_data_floor(FLAGS.num_samples), 'num_samples': FLAGS.num_samples,
                'real_floor': True}
    elif FLAGS.workdir:
      result = evaluate_checkpoint(FLAGS.workdir, FLAGS.num_samples, FLAGS.step,
                                   importance_samples=FLAGS.importance_samples,
                                   sampling_batch_norm=FLAGS.sampling_batch_norm)
    else:
      raise app.UsageError('pass --workdir=DIR (or --real_floor)')
  except (checkpoints.CheckpointError, ValueError) as e:  # ValueError: a bad option's value
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  print(json.dumps(result))


if __name__ == '__main__':
  define_flags()
  app.run(main)
