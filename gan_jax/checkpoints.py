"""Orbax checkpoints in WORKDIR/checkpoints: the train state, the data position and the config.

Orbax writes each step into a temporary folder and renames it when complete, so a run killed at
any moment leaves only whole checkpoints behind, and the next run resumes from the newest.
"""
import logging as py_logging
import os

from absl import logging
import jax
import ml_collections
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be read; the message says how to carry on."""


class _LibraryInfoFilter(py_logging.Filter):
  """Drops orbax's INFO chatter (several lines per save or restore); warnings and errors stay."""

  def filter(self, record):
    return record.levelno >= py_logging.WARNING or '/orbax/' not in record.pathname


def quiet_orbax_logging() -> None:
  logging.get_absl_handler().addFilter(_LibraryInfoFilter())


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), 'checkpoints')


def make_manager(workdir: str, max_to_keep: int = 3, read_only: bool = False):
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=not read_only,
                                         read_only=read_only)
  return ocp.CheckpointManager(checkpoint_dir(workdir), options=options,
                               item_names=('state', 'data', 'config'))


def save(manager, state, data_state: dict, config) -> None:
  """Starts an asynchronous save of everything needed to resume at `state.step`."""
  step = int(jax.device_get(state.step))
  manager.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      data=ocp.args.JsonSave(data_state),
      config=ocp.args.JsonSave(config.to_dict())), force=True)


def restore_config(manager, step: int | None = None):
  """The config a checkpoint was written with, as a ConfigDict."""
  step = manager.latest_step() if step is None else step
  if step is None:
    raise CheckpointError(f'no checkpoints in {manager.directory}: train first, or pass the '
                          'workdir of a run that saved one.')
  if step not in manager.all_steps():
    raise CheckpointError(f'no checkpoint for step {step} in {manager.directory}; it has steps '
                          f'{sorted(manager.all_steps())}.')
  try:
    config = manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))['config']
  except Exception as e:
    raise CheckpointError(f'the config of checkpoint {manager.directory}/{step} cannot be read '
                          f'({type(e).__name__}: {str(e)[:200]}).') from None
  return ml_collections.ConfigDict(config)


def abstract_like(state, sharding):
  """Shapes and dtypes of `state`, placed with `sharding` (e.g. replicated on this run's mesh)."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), state)


def restore(manager, abstract_state, step: int | None = None):
  """Returns (state, data_state, config_dict) of `step` (default: the newest)."""
  step = manager.latest_step() if step is None else step
  path = os.path.join(str(manager.directory), str(step))
  try:
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        data=ocp.args.JsonRestore(),
        config=ocp.args.JsonRestore()))
  except Exception as e:  # orbax raises many types for truncated or foreign files
    earlier = [s for s in manager.all_steps() if s < step]
    hint = (f'delete {path} to resume from step {max(earlier)}' if earlier
            else f'delete {path} to start over')
    raise CheckpointError(
        f'checkpoint {path} cannot be restored ({type(e).__name__}: {str(e)[:300]}). It is '
        f'damaged, or was written by a different model config. To carry on, {hint}, or use '
        'a fresh --workdir.') from None
  return restored['state'], restored['data'], restored['config']
