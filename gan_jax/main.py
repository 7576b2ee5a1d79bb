"""Trains an experiment: `python -m gan_jax.main --config=NAME --workdir=DIR [--config.F=V ...]`."""
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from gan_jax import checkpoints
from gan_jax import configs
from gan_jax import input_pipeline
from gan_jax import train

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment name (a file in experiments/) or path to a config file.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, logs and samples go.')
_INIT_FROM = flags.DEFINE_string(
    'init_from', None, 'Start a fresh --workdir from this run\'s checkpoint (its workdir): the '
    'state and data position carry over, the config may change rates, schedules and lengths.')
_INIT_STEP = flags.DEFINE_integer('init_step', None,
                                  'The --init_from checkpoint\'s step (default: its newest).')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0, for multi-process runs.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Processes in a multi-process run.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process, in [0, num_processes).')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Start jax.distributed with what the cluster provides (Cloud TPU '
    'metadata, SLURM or Open MPI variables) instead of the three flags above.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if _INIT_STEP.value is not None and not _INIT_FROM.value:
    raise app.UsageError('--init_step picks a checkpoint of --init_from: pass both')
  if _COORDINATOR.value or _NUM_PROCESSES.value or _DISTRIBUTED.value:
    # Must come before any other JAX call; on Cloud TPU and SLURM JAX fills in what is not given.
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  checkpoints.quiet_orbax_logging()
  logging.info('Config:\n%s', _CONFIG.value)
  try:
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value, init_from=_INIT_FROM.value,
                             init_step=_INIT_STEP.value)
  except (input_pipeline.DataError, checkpoints.CheckpointError, ValueError) as e:
    logging.error('%s', e)
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  app.run(main, flags_parser=configs.flags_parser)
