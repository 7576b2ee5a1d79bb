"""Time-to-quality figure: a metric of several runs against training minutes and against steps.

  python -m gan_jax.plot --runs=runs/a,runs/b [--labels=A,B] --metric=fid --out=docs/fid.png

Reads each run's `metrics.jsonl` (rows carry `wall_time` and `start_time`, see
writers.MetricWriter). A resumed run's minutes add up its sessions: each session counts from its
own start, so the time between a stop and the resume is not counted.
"""
import json
import sys

from absl import app
from absl import flags
from etils import epath
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS


class PlotError(ValueError):
  """A run without the metric; the message names the run and what it has."""


def read_curve(workdir: str, metric: str) -> tuple[list[int], list[float], list[float]]:
  """(steps, minutes of training, values) of `metric` in a run's metrics.jsonl."""
  path = epath.Path(workdir) / 'metrics.jsonl'
  if not path.exists():
    raise PlotError(f'{workdir} has no metrics.jsonl; pass the workdir of a training run.')
  rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
  sessions = {}  # start_time -> the last wall_time seen in that session
  steps, minutes, values = [], [], []
  for row in rows:
    if 'wall_time' not in row:
      raise PlotError(f'{path} has rows without wall_time (written before it was logged); '
                      'plot against steps needs a run that logs it.')
    sessions[row['start_time']] = row['wall_time']
    if metric in row:
      earlier = sum(end - start for start, end in sessions.items() if start < row['start_time'])
      steps.append(row['step'])
      minutes.append((earlier + row['wall_time'] - row['start_time']) / 60.0)
      values.append(row[metric])
  if not values:
    names = sorted({k for row in rows for k in row} - {'step', 'wall_time', 'start_time'})
    raise PlotError(f'{path} has no {metric!r} rows; it has: {", ".join(names) or "nothing"}.')
  return steps, minutes, values


def plot(workdirs, metric: str, out: str, labels=None, log_scale: bool = True,
         title: str | None = None) -> None:
  """Writes a PNG with two panels, `metric` against minutes and against steps, one line a run."""
  labels = list(labels) if labels else [epath.Path(w).name for w in workdirs]
  if len(labels) != len(workdirs):
    raise PlotError(f'{len(labels)} labels for {len(workdirs)} runs')
  curves = [read_curve(w, metric) for w in workdirs]
  fig, (by_time, by_step) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
  for label, (steps, minutes, values) in zip(labels, curves):
    by_time.plot(minutes, values, marker='o', label=label)
    by_step.plot(steps, values, marker='o', label=label)
  for axis, xlabel in ((by_time, 'training minutes (wall clock)'), (by_step, 'step')):
    axis.set_xlabel(xlabel)
    axis.set_ylabel(metric)
    axis.grid(True, alpha=0.3)
    if log_scale:
      axis.set_yscale('log')
  by_time.legend()
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  epath.Path(out).parent.mkdir(parents=True, exist_ok=True)
  with epath.Path(out).open('wb') as f:
    fig.savefig(f, format='png')
  plt.close(fig)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    plot(FLAGS.runs, FLAGS.metric, FLAGS.out, FLAGS.labels, FLAGS.log_scale, FLAGS.title)
  except PlotError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  print(FLAGS.out)


if __name__ == '__main__':
  flags.DEFINE_list('runs', None, 'Workdirs of the runs to plot.', required=True)
  flags.DEFINE_list('labels', None, 'A legend label per run (default: the folder names).')
  flags.DEFINE_string('metric', 'fid', 'The metrics.jsonl field to plot (fid, nll, ...).')
  flags.DEFINE_string('out', None, 'The PNG to write.', required=True)
  flags.DEFINE_bool('log_scale', True, 'Logarithmic metric axis.')
  flags.DEFINE_string('title', None, 'Figure title.')
  app.run(main)
