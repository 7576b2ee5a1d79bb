"""Two processes on 127.0.0.1 (CPU, gloo collectives) train as one job, resume as one, stop
together when one is preempted, and match one process that trains the same global batches on
the same number of devices."""
import json
import os
import re
import signal
import socket
import subprocess
import sys

import jax
from jax.sharding import NamedSharding, PartitionSpec as P

from gan_jax import checkpoints
from gan_jax import families
from gan_jax import train
from conftest import FAST_COMPILE_FLAGS, REPO, requires_mnist, tiny_config
from test_train import assert_trees_close

OVERRIDES = {'batch_size': 16, 'log_every_steps': 2, 'eval_every_steps': 0,
             'checkpoint_every_steps': 2, 'sample_every_steps': 2,
             'generator.base_features': 4, 'discriminator.base_features': 4,
             # The run is extended from 4 steps on resume; a cosine schedule over
             # num_train_steps would change under it (an 'extended' run is another schedule).
             'optimizer.schedule': 'constant',
             # Without the InfoGAN code's Q loss, whose float noise (amplified by Adam with
             # b1=0 over the run's 10-20 steps) exceeds the tolerance below.
             'code_classes': 0}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _start_two_processes(workdir, num_train_steps: int, tfds_data_dir):
  port = _free_port()
  env = {**os.environ,
         'XLA_FLAGS': f'{FAST_COMPILE_FLAGS} --xla_force_host_platform_device_count=1',
         'TFDS_DATA_DIR': str(tfds_data_dir)}
  flags = [f'--config.{k}={v}' for k, v in {**OVERRIDES,
                                            'num_train_steps': num_train_steps}.items()]
  return [subprocess.Popen(
      [sys.executable, '-m', 'gan_jax.main', '--config=dcgan_mnist', f'--workdir={workdir}',
       f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2', f'--process_id={i}',
       *flags], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(2)]


def _finish(procs, first_lines=()):
  outputs = [p.communicate(timeout=300)[0] for p in procs]
  outputs[0] = ''.join(first_lines) + outputs[0]
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  return outputs


def _restore(workdir, config, devices):
  mesh = train.make_mesh(devices)
  template = train.create_state(families.build(config), config, mesh)
  manager = checkpoints.make_manager(str(workdir), read_only=True)
  state, data, _ = checkpoints.restore(
      manager, checkpoints.abstract_like(template, NamedSharding(mesh, P())))
  return jax.device_get(state), data


@requires_mnist
def test_two_processes_equal_one_process_resume_and_stop_together(tmp_path, devices):
  two = tmp_path / 'two'
  outputs = _finish(_start_two_processes(two, 4, tmp_path / 'tfds'))
  # Into an empty data dir, process 0 alone prepared the dataset; process 1 waited and read it.
  assert ['Preparing mnist' in out for out in outputs] == [True, False], outputs
  # Only process 0 wrote logs and sample grids.
  lines = (two / 'metrics.jsonl').read_text().splitlines()
  assert [json.loads(l)['step'] for l in lines] == [2, 4]
  assert len(list(two.glob('events.out.tfevents.*'))) == 1
  assert sorted(p.name for p in (two / 'samples').iterdir()) == ['step_0000002.png',
                                                                  'step_0000004.png']
  # Resumed from its checkpoint, the run is preempted on process 1 alone once it trains again:
  # both processes stop at the same gathering step and save it.
  procs = _start_two_processes(two, 1000, tmp_path / 'tfds')
  first_lines = []
  for line in procs[0].stdout:
    first_lines.append(line)
    if 'steps/s' in line:
      break
  procs[1].send_signal(signal.SIGTERM)
  outputs = _finish(procs, first_lines)
  assert all('Resumed from' in out and 'at step 4' in out for out in outputs)
  assert 'SIGTERM received' in outputs[1] and 'SIGTERM' not in outputs[0]
  stopped = {re.search(r'Stopped by .* at step (\d+)', out).group(1) for out in outputs}
  assert len(stopped) == 1, outputs
  stop_step = int(stopped.pop())
  assert stop_step % train.PreemptionHandler.SYNC_EVERY == 0 and 4 < stop_step < 1000
  # It ends where one process that trained the same global batches without a break ends.
  config = tiny_config(**OVERRIDES, num_train_steps=stop_step)
  one = train.train_and_evaluate(config, str(tmp_path / 'one'), devices=devices[:2])
  state, data = _restore(two, config, devices[:2])
  assert int(state.step) == stop_step and data == {'next_batch': stop_step}
  # atol: a tenth of one Adam step (lr 1e-3). Two processes all-reduce in another order, and
  # Adam (b1=0) turns float noise in near-zero gradients into a visible share of a step.
  assert_trees_close(state, jax.device_get(one), rtol=1e-4, atol=1e-4)
