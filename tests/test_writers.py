"""Run outputs on a cloud workdir: everything gan_jax writes goes through etils.epath.

A fake gs:// bucket: epath's file operations on gs:// paths are redirected into a local folder,
and TensorBoard's gs:// event-file writer opens its files through epath too. Code that bypassed
epath (os/open) would write into the working directory under a folder named 'gs:' instead.
"""
import json

from etils import epath
from etils.epath import testing as epath_testing
import numpy as np
from PIL import Image
import pytest
import tensorboardX.record_writer

from gan_jax import checkpoints
from gan_jax import plot
from gan_jax import writers


class _EpathEventFiles:
  """tensorboardX's writer factory for gs://, through epath (GCS itself is not reachable)."""

  def open(self, path):
    return epath.Path(path).open('wb')

  def directory_check(self, path):
    del path  # object stores need no folders


@pytest.fixture
def bucket(tmp_path, monkeypatch):
  """The local folder that stands for gs://; the test runs in an empty working directory."""
  root = tmp_path / 'bucket'
  cwd = tmp_path / 'cwd'
  cwd.mkdir()
  monkeypatch.chdir(cwd)

  def local(path):
    path = str(path)
    return str(root / path[len('gs://'):]) if path.startswith('gs://') else path

  def redirect(fn, path, *args, **kwargs):
    return fn(local(path), *args, **kwargs)

  def redirect_two(fn, src, dst, *args, **kwargs):
    return fn(local(src), local(dst), *args, **kwargs)

  one_path = ('open', 'exists', 'glob', 'isdir', 'listdir', 'makedirs', 'mkdir', 'remove',
              'rmtree', 'stat', 'walk')
  monkeypatch.setitem(tensorboardX.record_writer.REGISTERED_FACTORIES, 'gs', _EpathEventFiles())
  with epath_testing.mock_epath(copy=redirect_two, rename=redirect_two, replace=redirect_two,
                                **{name: redirect for name in one_path}):
    yield root
  assert not any(cwd.iterdir()), f'written outside epath: {sorted(cwd.rglob("*"))}'


def test_metrics_of_resumed_sessions_accumulate_in_a_gs_workdir(bucket):
  for steps in ((1, 2), (3,)):  # two training sessions: the second resumes the run
    writer = writers.MetricWriter('gs://runs/gan')
    for step in steps:
      writer.write_scalars(step, {'fid': 100.0 / step})
    writer.close()
  rows = [json.loads(line) for line in (bucket / 'runs/gan/metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in rows] == [1, 2, 3]
  assert [r['fid'] for r in rows] == [100.0, 50.0, pytest.approx(100.0 / 3)]
  assert rows[0]['start_time'] == rows[1]['start_time'] < rows[2]['start_time']
  assert sorted(p.name for p in (bucket / 'runs/gan').iterdir() if 'tfevents' in p.name)
  assert not list((bucket / 'runs/gan').glob('*.tmp'))
  steps, _, fids = plot.read_curve('gs://runs/gan', 'fid')
  assert steps == [1, 2, 3] and fids[1] == 50.0


def test_sample_grids_and_texts_reach_a_gs_workdir(bucket):
  images = np.zeros((4, 28, 28, 1), np.float32)
  images[1] = 1.0
  writers.save_image_grid('gs://runs/gan/samples/step_0000010.png', images, columns=2, scale=1)
  writers.save_text('gs://runs/lm/samples/step_0000010.txt', ['a b', 'c'])
  grid = np.asarray(Image.open(bucket / 'runs/gan/samples/step_0000010.png'))
  assert grid.shape == (2 * 30 + 2, 2 * 30 + 2)
  assert grid[2 + 14, 32 + 14] == 255 and grid[2 + 14, 2 + 14] == 0  # image 1 white, 0 black
  assert (bucket / 'runs/lm/samples/step_0000010.txt').read_text() == 'a b\nc\n'


def test_checkpoint_folders_are_absolute_and_keep_cloud_paths(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert str(checkpoints.checkpoint_dir('runs/gan')) == str(tmp_path / 'runs/gan/checkpoints')
  assert str(checkpoints.checkpoint_dir('gs://bucket/runs/gan')) == 'gs://bucket/runs/gan/checkpoints'
