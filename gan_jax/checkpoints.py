"""Orbax checkpoints in WORKDIR/checkpoints: the train state, the data position and the config.

Orbax writes each step into a temporary folder and renames it when complete, so a run killed at
any moment leaves only whole checkpoints behind, and the next run resumes from the newest.
"""
import json
import logging as py_logging

from absl import logging
from etils import epath
from flax import traverse_util
import jax
import ml_collections
import orbax.checkpoint as ocp

from gan_jax import families


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be read; the message says how to carry on."""


class _LibraryInfoFilter(py_logging.Filter):
  """Drops orbax's INFO chatter (several lines per save or restore); warnings and errors stay."""

  def filter(self, record):
    return record.levelno >= py_logging.WARNING or '/orbax/' not in record.pathname


def quiet_orbax_logging() -> None:
  logging.get_absl_handler().addFilter(_LibraryInfoFilter())


def absolute(path) -> epath.Path:
  """A local or cloud (gs://...) path as orbax needs it: local paths made absolute."""
  path = epath.Path(path)
  return path if path.is_absolute() else path.resolve()


def checkpoint_dir(workdir) -> epath.Path:
  return absolute(workdir) / 'checkpoints'


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


# What a resumed run may change: its length, logging, checkpointing and evaluation. Any other
# field changes what the checkpoint means (networks, losses, optimiser, data order).
RESUMABLE_FIELDS = ('num_train_steps', 'log_every_steps', 'checkpoint_every_steps',
                    'sample_every_steps', 'max_checkpoints_to_keep', 'sampling_batch_norm',
                    'max_decode_length')


def config_changes(saved: dict, config) -> dict:
  """{field: (saved value, new value)} for every field `config` changes from a checkpoint's
  config. A field one side lacks (a switch added after the checkpoint was written) is not a
  change."""
  old = traverse_util.flatten_dict(saved, sep='.')
  # Through JSON, so tuples compare as the saved lists.
  new = traverse_util.flatten_dict(json.loads(json.dumps(config.to_dict())), sep='.')
  return {k: (old[k], new[k]) for k in sorted(old.keys() & new.keys()) if old[k] != new[k]}


def describe_changes(changes: dict, fields=None) -> str:
  """'field: old -> new; ...' for `fields` (default: all) of a config_changes result."""
  return '; '.join(f'{k}: {changes[k][0]!r} -> {changes[k][1]!r}'
                   for k in (changes if fields is None else fields))


def _resumable(field: str) -> bool:
  return field in RESUMABLE_FIELDS or field.startswith('eval_')


def check_resumable(manager, config) -> None:
  """Raises CheckpointError when resuming the newest checkpoint with `config` would change what
  the checkpoint means (says which fields, and how to carry on); logs the harmless changes."""
  saved = restore_config(manager)
  families.fill_defaults(saved)  # a switch added since: the value that run trained with
  changes = config_changes(saved.to_dict(), config)
  harmless = [k for k in changes if _resumable(k)]
  if harmless:
    logging.info('Resuming with changed %s.', describe_changes(changes, harmless))
  meaningful = [k for k in changes if not _resumable(k)]
  if meaningful:
    flags = ' '.join(f'--config.{k}={json.dumps(changes[k][0], separators=(",", ":"))}'
                     for k in meaningful)
    raise CheckpointError(
        f'{manager.directory} holds a run with another config '
        f'({describe_changes(changes, meaningful)}), which changes what its checkpoints mean. '
        f'Resume it with its own values ({flags}), or train in a fresh --workdir '
        '(--init_from=WORKDIR starts it from this run\'s checkpoint).')


def abstract_like(state, sharding):
  """Shapes and dtypes of `state`, placed with `sharding` (e.g. replicated on this run's mesh)."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), state)


def saved_network_names(manager, step: int) -> set[str]:
  """The network names in the train state a checkpoint holds."""
  tree = ocp.StandardCheckpointer().metadata(epath.Path(manager.directory) / str(step) / 'state')
  return set(tree.item_metadata['networks'].keys())


def _rename_networks(state, names: dict[str, str]):
  return state.replace(networks={names.get(k, k): v for k, v in state.networks.items()})


def restore(manager, abstract_state, step: int | None = None,
            previous_network_names: dict[str, str] | None = None,
            mismatch_hint: str | None = None):
  """Returns (state, data_state, config_dict) of `step` (default: the newest). A checkpoint that
  saved a network under its name in `previous_network_names` (today's name -> earlier name)
  restores it under today's name. `mismatch_hint` replaces the failure message's advice, for
  callers whose checkpoint is not the run's own."""
  step = manager.latest_step() if step is None else step
  path = epath.Path(manager.directory) / str(step)
  renames = {}
  try:
    if previous_network_names:
      saved = saved_network_names(manager, step)
      renames = {new: old for new, old in previous_network_names.items()
                 if new not in saved and old in saved}
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(_rename_networks(abstract_state, renames)),
        data=ocp.args.JsonRestore(),
        config=ocp.args.JsonRestore()))
  except Exception as e:  # orbax raises many types for truncated or foreign files
    earlier = [s for s in manager.all_steps() if s < step]
    hint = mismatch_hint or 'To carry on, {}, or use a fresh --workdir'.format(
        f'delete {path} to resume from step {max(earlier)}' if earlier
        else f'delete {path} to start over')
    raise CheckpointError(
        f'checkpoint {path} cannot be restored ({type(e).__name__}: {str(e)[:300]}). It is '
        f'damaged, or was written by a different model config. {hint}.') from None
  state = _rename_networks(restored['state'], {old: new for new, old in renames.items()})
  return state, restored['data'], restored['config']
