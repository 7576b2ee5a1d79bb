"""Looks inside checkpoints without the model code: `python -m gan_jax.inspect DIR`.

DIR is a run's workdir, its `checkpoints/` folder, or one checkpoint (`checkpoints/STEP`). Prints
the steps present, the saved config, the metrics logged at those steps (from the workdir's
metrics.jsonl), and for the chosen step (`--step`, default the newest) every network's parameter
tree (shapes, dtypes, counts, norms, NaN/Inf), batch statistics and optimiser state (step counts,
moment norms). `--json` prints one JSON object instead; `--diff OTHER` compares the checkpoint with
another leaf by leaf. Everything is read with orbax and JSON alone: arrays come back as numpy.
"""
import json
import sys

from absl import app
from absl import flags
from etils import epath
import numpy as np
import orbax.checkpoint as ocp

from gan_jax import checkpoints

FLAGS = flags.FLAGS


def define_flags():
  """The command-line flags; defined when run as a program, so that importing this module
  alongside other entry points (as the tests do) defines nothing."""
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest).')
  flags.DEFINE_bool('json', False, 'Print one JSON object.')
  flags.DEFINE_string('diff', None, 'Another workdir or checkpoint to compare with.')
  flags.DEFINE_integer('leaves', 40, 'Text output: parameter arrays listed per network.')


TMP_MARKER = '.orbax-checkpoint-tmp'


class InspectError(RuntimeError):
  """A directory that is not a readable gan_jax checkpoint; the message says what was found."""


def locate(path: str, step: int | None = None):
  """(workdir or None, checkpoints folder, steps present, chosen step) for any of the three
  kinds of DIR."""
  path = checkpoints.absolute(path)
  if not path.is_dir():
    raise InspectError(f'{path} is not a directory.')
  if (path / 'checkpoints').is_dir():
    root = path / 'checkpoints'
  elif (path / 'state').is_dir() or (path / '_CHECKPOINT_METADATA').is_file():
    if not path.name.isdigit():
      raise InspectError(f'{path} looks like a checkpoint but its name is not a step number.')
    root, step = path.parent, int(path.name)
  else:
    root = path
  workdir = root.parent if root.name == 'checkpoints' else None
  steps = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and p.is_dir())
  if not steps:
    unfinished = [p.name for p in root.iterdir() if TMP_MARKER in p.name]
    what = (f'only unfinished saves ({", ".join(unfinished)})' if unfinished
            else 'no checkpoint folders (numbered steps)')
    raise InspectError(f'{root} has {what}: pass a gan_jax workdir, its checkpoints/ folder or '
                       'one checkpoints/STEP folder.')
  step = steps[-1] if step is None else step
  if step not in steps:
    raise InspectError(f'no checkpoint for step {step} in {root}; it has steps {steps}.')
  return workdir, root, steps, step


def read_checkpoint(step_dir: epath.Path):
  """(state as nested dicts of numpy arrays, config dict, data-iterator dict)."""
  for item in ('state', 'config'):
    if not (step_dir / item).is_dir():
      raise InspectError(f'{step_dir} has no {item}/ item: it is not a gan_jax checkpoint, or '
                         'its save did not finish.')
  try:
    config = json.loads((step_dir / 'config' / 'metadata').read_text())
    data = (json.loads((step_dir / 'data' / 'metadata').read_text())
            if (step_dir / 'data' / 'metadata').is_file() else {})
  except (OSError, ValueError) as e:
    raise InspectError(f'the config of {step_dir} cannot be read ({e}).') from None
  try:
    state = ocp.StandardCheckpointer().restore(step_dir / 'state')
  except Exception as e:  # orbax raises many types for truncated or foreign files
    raise InspectError(f'the state of {step_dir} cannot be read ({type(e).__name__}: '
                       f'{str(e)[:300]}); the checkpoint is damaged or truncated.') from None
  state = _to_numpy(state)
  if not isinstance(state, dict) or 'networks' not in state:
    raise InspectError(f'{step_dir}/state has no networks: not a gan_jax train state.')
  return state, config, data


def _to_numpy(tree):
  if isinstance(tree, dict):
    return {str(k): _to_numpy(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return {str(i): _to_numpy(v) for i, v in enumerate(tree) if v is not None}
  return None if tree is None else np.asarray(tree)


def leaves(tree, prefix: str = ''):
  """[(path, array)] of a nested dict, in key order."""
  if isinstance(tree, dict):
    return [leaf for key in sorted(tree) for leaf in leaves(tree[key], f'{prefix}/{key}'
                                                            if prefix else key)]
  return [] if tree is None else [(prefix, tree)]


def array_summary(array) -> dict:
  finite = np.isfinite(array) if np.issubdtype(array.dtype, np.floating) else np.ones(
      array.shape, bool)
  values = array[finite].astype(np.float64)
  return {'shape': list(array.shape), 'dtype': str(array.dtype), 'count': int(array.size),
          'norm': float(np.sqrt(np.sum(values ** 2))), 'nonfinite': int(array.size - finite.sum())}


def tree_summary(tree) -> dict:
  arrays = {path: array_summary(a) for path, a in leaves(tree)}
  return {'count': sum(a['count'] for a in arrays.values()),
          'norm': float(np.sqrt(sum(a['norm'] ** 2 for a in arrays.values()))),
          'nonfinite': sum(a['nonfinite'] for a in arrays.values()), 'arrays': arrays}


def optimizer_summary(opt_state) -> dict:
  """Step counts and the norms of Adam-style moments ('mu', 'nu') and any other state."""
  counts, moments = {}, {}
  for path, array in leaves(opt_state):
    parts = path.split('/')
    if parts[-1] == 'count':
      counts[path] = int(array)
      continue
    name = next((p for p in parts if p in ('mu', 'nu', 'trace', 'ema')), 'other')
    moments[name] = moments.get(name, 0.0) + float(np.sum(np.asarray(array, np.float64) ** 2))
  return {'step_counts': counts, 'moment_norms': {k: float(np.sqrt(v)) for k, v in moments.items()}}


def summarize(path: str, step: int | None = None) -> dict:
  workdir, root, steps, step = locate(path, step)
  state, config, data = read_checkpoint(root / str(step))
  networks = {}
  for name, net in sorted(state['networks'].items()):
    networks[name] = {'params': tree_summary(net.get('params', {})),
                      'batch_stats': tree_summary(net.get('batch_stats', {})),
                      'optimizer': optimizer_summary(net.get('opt_state', {}))}
  logged = {}
  if workdir is not None and (workdir / 'metrics.jsonl').is_file():
    for line in (workdir / 'metrics.jsonl').read_text().splitlines():
      try:
        record = json.loads(line)
      except ValueError:
        continue  # a line cut short by a kill
      if record.get('step') in steps:
        logged.setdefault(str(record['step']), {}).update(
            {k: v for k, v in record.items() if k != 'step'})
  return {'checkpoints': str(root), 'steps': steps, 'step': step,
          'saved_step': int(state.get('step', -1)), 'config': config, 'data': data,
          'metrics': logged, 'networks': networks}


def diff(path_a: str, path_b: str, step_a=None, step_b=None) -> dict:
  """Leaf-by-leaf comparison of two checkpoints' states."""
  _, root_a, _, step_a = locate(path_a, step_a)
  _, root_b, _, step_b = locate(path_b, step_b)
  a = dict(leaves(read_checkpoint(root_a / str(step_a))[0]))
  b = dict(leaves(read_checkpoint(root_b / str(step_b))[0]))
  changed = {}
  for path in sorted(set(a) & set(b)):
    x, y = a[path], b[path]
    if x.shape != y.shape or x.dtype != y.dtype:
      changed[path] = {'a': f'{x.dtype}{list(x.shape)}', 'b': f'{y.dtype}{list(y.shape)}'}
      continue
    delta = np.abs(x.astype(np.float64) - y.astype(np.float64))
    if delta.size and delta.max() > 0:
      changed[path] = {'max_abs_diff': float(delta.max()),
                       'relative_norm_diff': float(np.linalg.norm(delta) /
                                                   max(np.linalg.norm(x.astype(np.float64)),
                                                       1e-30))}
  return {'a': f'{root_a}/{step_a}', 'b': f'{root_b}/{step_b}',
          'only_in_a': sorted(set(a) - set(b)), 'only_in_b': sorted(set(b) - set(a)),
          'leaves_compared': len(set(a) & set(b)), 'changed': changed,
          'identical': not changed and set(a) == set(b)}


def _print_summary(summary: dict, max_leaves: int) -> None:
  print(f"checkpoints {summary['checkpoints']}: steps {summary['steps']}; showing step "
        f"{summary['step']}")
  config = summary['config']
  print('config: ' + ', '.join(f'{k}={json.dumps(v)}' for k, v in sorted(config.items())))
  for step, metrics in sorted(summary['metrics'].items(), key=lambda kv: int(kv[0])):
    print(f'metrics at step {step}: ' + ', '.join(
        f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in sorted(metrics.items())))
  for name, net in summary['networks'].items():
    params = net['params']
    health = 'no NaN/Inf' if not params['nonfinite'] else f"{params['nonfinite']} NaN/Inf values!"
    print(f"\n[{name}] {params['count']:,} parameters in {len(params['arrays'])} arrays, "
          f"norm {params['norm']:.4g}, {health}")
    for i, (path, a) in enumerate(params['arrays'].items()):
      if i == max_leaves:
        print(f'  ... {len(params["arrays"]) - max_leaves} more (--leaves)')
        break
      bad = f"  {a['nonfinite']} NaN/Inf" if a['nonfinite'] else ''
      print(f"  {path:<48} {str(tuple(a['shape'])):<18} {a['dtype']:<8} {a['count']:>10,}  "
            f"norm {a['norm']:.4g}{bad}")
    if net['batch_stats']['count']:
      print(f"  batch stats: {net['batch_stats']['count']:,} values, "
            f"norm {net['batch_stats']['norm']:.4g}")
    opt = net['optimizer']
    if opt['step_counts'] or opt['moment_norms']:
      print('  optimizer: step counts ' + ', '.join(f'{v}' for v in opt['step_counts'].values())
            + '; ' + ', '.join(f'{k} norm {v:.4g}' for k, v in opt['moment_norms'].items()))


def main(argv):
  if len(argv) != 2:
    raise app.UsageError('usage: python -m gan_jax.inspect DIR [--step=S] [--json] [--diff=OTHER]')
  checkpoints.quiet_orbax_logging()
  try:
    if FLAGS.diff:
      result = diff(argv[1], FLAGS.diff, FLAGS.step)
      if not FLAGS.json:
        print(f"{result['a']} vs {result['b']}: {result['leaves_compared']} arrays compared, "
              f"{len(result['changed'])} differ" + (' (identical)' if result['identical'] else ''))
        for path in result['only_in_a'] + result['only_in_b']:
          print(f"  only in {'a' if path in result['only_in_a'] else 'b'}: {path}")
        for path, change in result['changed'].items():
          print(f'  {path}: {change}')
    else:
      result = summarize(argv[1], FLAGS.step)
      if not FLAGS.json:
        _print_summary(result, FLAGS.leaves)
  except InspectError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  if FLAGS.json:
    print(json.dumps(result))


if __name__ == '__main__':
  define_flags()
  app.run(main)
