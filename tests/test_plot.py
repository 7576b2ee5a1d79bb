import json
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from gan_jax import plot
from conftest import REPO


def write_run(path, rows):
  path.mkdir(parents=True)
  (path / 'metrics.jsonl').write_text(''.join(json.dumps(row) + '\n' for row in rows))
  return str(path)


@pytest.fixture
def two_runs(tmp_path):
  # Run a: one session of 10 minutes, then resumed an hour later for 5 more.
  a = write_run(tmp_path / 'a', [
      {'step': 100, 'd_loss': 1.0, 'wall_time': 1000.0 + 300, 'start_time': 1000.0},
      {'step': 100, 'fid': 300.0, 'wall_time': 1000.0 + 600, 'start_time': 1000.0},
      {'step': 200, 'fid': 100.0, 'wall_time': 5000.0 + 300, 'start_time': 5000.0},
  ])
  b = write_run(tmp_path / 'b', [
      {'step': 50, 'fid': 200.0, 'wall_time': 120.0, 'start_time': 0.0},
      {'step': 150, 'fid': 50.0, 'wall_time': 240.0, 'start_time': 0.0},
  ])
  return a, b


def test_resumed_sessions_add_up_without_the_gap(two_runs):
  steps, minutes, values = plot.read_curve(two_runs[0], 'fid')
  assert steps == [100, 200] and values == [300.0, 100.0]
  np.testing.assert_allclose(minutes, [10.0, 15.0])  # 10 min, then 10 + 5: the hour not counted


def test_plot_writes_a_png_of_the_right_size(two_runs, tmp_path):
  out = tmp_path / 'fig' / 'fid.png'
  result = subprocess.run([sys.executable, '-m', 'gan_jax.plot', f'--runs={",".join(two_runs)}',
                           '--labels=A,B', '--metric=fid', f'--out={out}'],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  image = np.asarray(Image.open(out))
  assert image.shape[:2] == (450, 1200)  # figsize (12, 4.5) at 100 dpi
  assert image.std() > 10  # lines and text, not a blank canvas


def test_an_empty_run_is_a_clear_error(two_runs, tmp_path):
  empty = write_run(tmp_path / 'empty', [])
  with pytest.raises(plot.PlotError, match=r"no 'fid' rows; it has: nothing"):
    plot.read_curve(empty, 'fid')
  with pytest.raises(plot.PlotError, match='no metrics.jsonl'):
    plot.read_curve(str(tmp_path / 'missing'), 'fid')
  result = subprocess.run([sys.executable, '-m', 'gan_jax.plot', f'--runs={two_runs[0]},{empty}',
                           '--metric=nll', f'--out={tmp_path / "x.png"}'],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  assert "no 'nll' rows; it has: d_loss, fid" in result.stderr
  assert not (tmp_path / 'x.png').exists()
