import json
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax import inspect as ckpt_inspect
from gan_jax import train
from conftest import REPO, requires_mnist, tiny_config


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('inspect')
  config = tiny_config(num_train_steps=4)
  state = train.train_and_evaluate(config, str(workdir))
  return workdir, jax.device_get(state)


@requires_mnist
def test_summary_counts_equal_the_model(run):
  workdir, state = run
  summary = ckpt_inspect.summarize(str(workdir))
  assert summary['steps'] == [2, 4] and summary['step'] == 4 and summary['saved_step'] == 4
  assert summary['config']['generator']['base_features'] == 4
  assert summary['data'] == {'next_batch': 4}
  assert set(summary['metrics']) == {'2', '4'} and 'd_loss' in summary['metrics']['4']
  for name in ('generator', 'discriminator'):
    params = state.networks[name].params
    net = summary['networks'][name]
    assert net['params']['count'] == sum(x.size for x in jax.tree.leaves(params))
    norm = np.sqrt(sum(np.sum(np.square(x, dtype=np.float64)) for x in jax.tree.leaves(params)))
    assert net['params']['norm'] == pytest.approx(norm, rel=1e-6)
    assert net['params']['nonfinite'] == 0
    # Adam's count, and the learning-rate schedule's (dcgan_mnist decays its rate).
    assert set(net['optimizer']['step_counts'].values()) == {4}
    assert set(net['optimizer']['moment_norms']) == {'mu', 'nu'}
  # One checkpoint folder, or the checkpoints folder, work as well.
  assert ckpt_inspect.summarize(str(workdir / 'checkpoints' / '2'))['step'] == 2
  assert ckpt_inspect.summarize(str(workdir / 'checkpoints'))['step'] == 4


@requires_mnist
def test_diff_of_a_checkpoint_with_itself_and_with_another_step(run):
  workdir, _ = run
  same = ckpt_inspect.diff(str(workdir), str(workdir))
  assert same['identical'] and same['leaves_compared'] > 20 and not same['changed']
  other = ckpt_inspect.diff(str(workdir / 'checkpoints' / '2'), str(workdir))
  assert not other['identical'] and 'step' in other['changed']
  assert any(path.startswith('networks/generator/params') for path in other['changed'])


@requires_mnist
def test_damaged_truncated_and_foreign_directories_get_clear_errors(run, tmp_path):
  workdir, _ = run
  damaged = tmp_path / 'damaged'
  shutil.copytree(workdir, damaged)
  for path in (damaged / 'checkpoints' / '4' / 'state').rglob('*'):
    if path.is_file() and path.stat().st_size > 100:
      path.write_bytes(path.read_bytes()[:50])  # truncated
  with pytest.raises(ckpt_inspect.InspectError, match=r'state of .*/4 cannot be read.*damaged'):
    ckpt_inspect.summarize(str(damaged))
  assert ckpt_inspect.summarize(str(damaged), step=2)['step'] == 2  # the good one still reads
  with pytest.raises(ckpt_inspect.InspectError, match=r'no checkpoint for step 3 .*\[2, 4\]'):
    ckpt_inspect.summarize(str(workdir), step=3)
  (tmp_path / 'foreign').mkdir()
  (tmp_path / 'foreign' / 'notes.txt').write_text('hello')
  with pytest.raises(ckpt_inspect.InspectError, match='no checkpoint folders'):
    ckpt_inspect.summarize(str(tmp_path / 'foreign'))
  cli = subprocess.run([sys.executable, '-m', 'gan_jax.inspect', str(damaged)], cwd=REPO,
                       capture_output=True, text=True)
  assert cli.returncode == 1 and 'Traceback' not in cli.stderr
  assert cli.stderr.strip().splitlines()[-1].startswith('error: the state of')


@requires_mnist
def test_cli_json_and_text(run):
  workdir, _ = run
  out = subprocess.run([sys.executable, '-m', 'gan_jax.inspect', str(workdir), '--json'],
                       cwd=REPO, capture_output=True, text=True, check=True)
  summary = json.loads(out.stdout.strip().splitlines()[-1])
  assert summary['step'] == 4 and 'generator' in summary['networks']
  out = subprocess.run([sys.executable, '-m', 'gan_jax.inspect', str(workdir), '--diff',
                        str(workdir)], cwd=REPO, capture_output=True, text=True, check=True)
  assert '(identical)' in out.stdout
