import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from gan_jax import checkpoints
from gan_jax import families
from gan_jax import train
from gan_jax.families import gan
from conftest import REPO, requires_mnist, tiny_config


def synthetic_batch(n=16, seed=0):
  rng = np.random.default_rng(seed)
  return {'image': rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
          'label': rng.integers(0, 10, (n,), dtype=np.int32)}


def run_steps(config, devices, num_steps, batch):
  mesh = train.make_mesh(devices)
  model = families.build(config)
  state = train.create_state(model, config, mesh)
  step = train.make_train_step(model, mesh)
  history = []
  for _ in range(num_steps):
    state, metrics = step(state, train.global_batch(batch, mesh))
    history.append(jax.device_get(metrics))
  return jax.device_get(state), history


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_steps_on_a_fixed_batch_move_the_losses(devices):
  config = tiny_config('gan_mnist')
  state, history = run_steps(config, devices, 40, synthetic_batch())
  # D learns to tell this fixed noise batch from G's early samples.
  assert history[-1]['d_loss'] < 0.7 * history[0]['d_loss']
  assert history[-1]['d_real'] > history[0]['d_real']
  assert int(state.step) == 40
  for net in state.networks.values():  # each network keeps its own Adam state
    assert int(net.opt_state[0].count) == 40


def test_eight_devices_equal_one_device(devices):
  config = tiny_config('dcgan_mnist')
  batch = synthetic_batch()
  state8, hist8 = run_steps(config, devices, 3, batch)
  state1, hist1 = run_steps(config, devices[:1], 3, batch)
  # atol: 3% of one Adam step (lr 1e-3); 8 devices all-reduce in another order.
  assert_trees_close(state8, state1, rtol=1e-4, atol=3e-5)
  for m8, m1 in zip(hist8, hist1):
    assert_trees_close(m8, m1, rtol=1e-4, atol=3e-5)


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory):
  """4 steps of a tiny DCGAN on real MNIST over all 8 devices, checkpointed at steps 2 and 4."""
  workdir = tmp_path_factory.mktemp('straight')
  state = train.train_and_evaluate(tiny_config(**EXTENDABLE, num_train_steps=4), str(workdir))
  return workdir, jax.device_get(state)


# The resume test stops at 2 steps by asking for 2, then extends to 4; a cosine schedule over
# num_train_steps would change under it, so these runs use a constant rate.
EXTENDABLE = {'optimizer.schedule': 'constant'}


@requires_mnist
def test_outputs_written(straight_run):
  workdir, _ = straight_run
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '4']
  assert sorted(os.listdir(workdir / 'samples')) == ['step_0000002.png', 'step_0000004.png']
  lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [l['step'] for l in lines] == [2, 4]
  assert {'d_loss', 'g_loss', 'd_real', 'd_fake', 'steps_per_sec', 'examples_per_sec'} <= set(lines[0])
  # Wall-clock times, in order, within this session (which started before its first row).
  assert lines[0]['start_time'] == lines[1]['start_time'] < lines[0]['wall_time']
  assert lines[0]['wall_time'] <= lines[1]['wall_time'] <= time.time()
  from tensorboard.backend.event_processing import event_accumulator
  events = event_accumulator.EventAccumulator(str(workdir))
  events.Reload()
  assert [e.step for e in events.Scalars('d_loss')] == [2, 4]


@requires_mnist
def test_resume_equals_straight_run(straight_run, tmp_path):
  _, straight = straight_run
  train.train_and_evaluate(tiny_config(**EXTENDABLE, num_train_steps=2), str(tmp_path))
  resumed = train.train_and_evaluate(tiny_config(**EXTENDABLE, num_train_steps=4), str(tmp_path))
  assert int(resumed.step) == 4
  assert_trees_close(jax.device_get(resumed), straight)


@requires_mnist
def test_eight_device_checkpoint_restores_on_one_device(straight_run, devices):
  workdir, straight = straight_run
  config = tiny_config(**EXTENDABLE)
  mesh1 = train.make_mesh(devices[:1])
  template = train.create_state(families.build(config), config, mesh1)
  manager = checkpoints.make_manager(str(workdir), read_only=True)
  state, data_state, saved_config = checkpoints.restore(
      manager, checkpoints.abstract_like(template, NamedSharding(mesh1, P())))
  assert {d for leaf in jax.tree.leaves(state) for d in leaf.devices()} == {devices[0]}
  assert_trees_close(jax.device_get(state), straight, rtol=0, atol=0)
  assert data_state == {'next_batch': 4}
  assert saved_config['generator']['base_features'] == 4


@requires_mnist
def test_corrupt_checkpoint_gives_clear_error(straight_run, tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(straight_run[0], workdir)
  for path in (workdir / 'checkpoints' / '4' / 'state').rglob('*'):
    if path.is_file():
      path.write_bytes(b'garbage')
  with pytest.raises(checkpoints.CheckpointError,
                     match=r'checkpoints/4 cannot be restored.*delete .*checkpoints/4 to resume '
                           r'from step 2'):
    train.train_and_evaluate(tiny_config(**EXTENDABLE, num_train_steps=6), str(workdir))


@requires_mnist
def test_resume_with_a_config_that_changes_the_state_is_a_clear_error(straight_run, tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(straight_run[0], workdir)
  changed = tiny_config(**EXTENDABLE, num_train_steps=6, batch_size=32,
                        **{'optimizer.g_learning_rate': 2e-3})
  with pytest.raises(checkpoints.CheckpointError) as error:
    train.train_and_evaluate(changed, str(workdir))
  message = str(error.value)
  assert 'batch_size: 16 -> 32; optimizer.g_learning_rate: 0.001 -> 0.002' in message
  assert '--config.batch_size=16 --config.optimizer.g_learning_rate=0.001' in message
  assert sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir()) == [2, 4]  # untouched
  # Length, logging and evaluation may change: the run goes on from step 4.
  resumed = train.train_and_evaluate(tiny_config(**EXTENDABLE, num_train_steps=5,
                                                 eval_num_samples=100, log_every_steps=1),
                                     str(workdir))
  assert int(resumed.step) == 5


@requires_mnist
def test_resume_that_turns_on_a_switch_the_checkpoint_predates_is_a_clear_error(straight_run,
                                                                                tmp_path):
  """A checkpoint written before a switch existed trained with the switch's default: turning
  the switch on when resuming changes what the checkpoint means."""
  workdir = tmp_path / 'run'
  shutil.copytree(straight_run[0], workdir)
  for saved in (workdir / 'checkpoints').glob('*/config/metadata'):
    config = json.loads(saved.read_text())
    del config['noise_distribution']
    saved.write_text(json.dumps(config))
  with pytest.raises(checkpoints.CheckpointError,
                     match="noise_distribution: 'gaussian' -> 'uniform'.*"
                           '--config.noise_distribution="gaussian"'):
    train.train_and_evaluate(tiny_config(**EXTENDABLE, num_train_steps=6,
                                         noise_distribution='uniform'), str(workdir))


@requires_mnist
def test_init_from_branches_another_runs_checkpoint_with_a_changed_config(straight_run, tmp_path):
  source, straight = straight_run
  changed = {**EXTENDABLE, 'optimizer.g_learning_rate': 2e-3}
  # Nothing left to train: the new run holds the source's step-4 state, exactly.
  branched = train.train_and_evaluate(tiny_config(**changed, num_train_steps=4),
                                      str(tmp_path / 'a'), init_from=str(source))
  assert_trees_close(jax.device_get(branched), straight, rtol=0, atol=0)
  # From step 2, at the new rate: the state differs from the straight run's after step 4, and
  # the run then resumes from its own checkpoints, not the source's.
  workdir = tmp_path / 'b'
  branched = train.train_and_evaluate(tiny_config(**changed, num_train_steps=4), str(workdir),
                                      init_from=str(source), init_step=2)
  assert int(branched.step) == 4
  g_params = lambda state: state.networks['generator'].params
  assert not np.allclose(jax.tree.leaves(g_params(jax.device_get(branched)))[0],
                         jax.tree.leaves(g_params(straight))[0])
  assert sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir()) == [4]
  resumed = train.train_and_evaluate(tiny_config(**changed, num_train_steps=6), str(workdir),
                                     init_from=str(source), init_step=2)
  assert int(resumed.step) == 6
  assert sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir()) == [4, 6]


@requires_mnist
def test_init_from_a_run_with_other_shapes_is_a_clear_error(straight_run, tmp_path):
  wider = tiny_config(**EXTENDABLE, **{'generator.base_features': 8})
  with pytest.raises(checkpoints.CheckpointError, match='--init_from needs a config whose'):
    train.train_and_evaluate(wider, str(tmp_path), init_from=str(straight_run[0]))


@requires_mnist
def test_sigterm_saves_a_checkpoint_and_the_next_run_resumes(tmp_path):
  def launch(num_steps):
    return subprocess.Popen(
        [sys.executable, '-m', 'gan_jax.main', '--config=gan_mnist', f'--workdir={tmp_path}',
         f'--config.num_train_steps={num_steps}', '--config.log_every_steps=10',
         '--config.checkpoint_every_steps=1000000', '--config.sample_every_steps=1000000',
         '--config.eval_every_steps=0',
         '--config.batch_size=32'],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

  proc = launch(10_000_000)
  deadline = time.time() + 180
  while not (tmp_path / 'metrics.jsonl').exists() and time.time() < deadline:
    time.sleep(0.5)
  proc.send_signal(signal.SIGTERM)
  output = proc.communicate(timeout=120)[0]
  assert proc.returncode == 0, output
  assert 'SIGTERM received' in output
  steps = [int(s) for s in os.listdir(tmp_path / 'checkpoints')]
  assert len(steps) == 1 and 0 < steps[0] < 10_000_000

  proc = launch(steps[0] + 5)
  output = proc.communicate(timeout=180)[0]
  assert proc.returncode == 0, output
  assert f'at step {steps[0]}.' in output
  assert sorted(int(s) for s in os.listdir(tmp_path / 'checkpoints')) == [steps[0], steps[0] + 5]


def test_ema_generator_follows_the_generator(devices):
  config = tiny_config('gan_mnist', ema_decay=0.9)
  mesh = train.make_mesh(devices)
  model = families.build(config)
  state = train.create_state(model, config, mesh)
  initial = jax.device_get(state.networks['generator'].params)
  state, _ = train.make_train_step(model, mesh)(state, train.global_batch(synthetic_batch(), mesh))
  state = jax.device_get(state)
  expected = jax.tree.map(lambda old, new: 0.9 * old + 0.1 * new, initial,
                          state.networks['generator'].params)
  assert_trees_close(state.networks['generator_ema'].params, expected, rtol=1e-5, atol=1e-7)


def test_conditional_sample_grid_has_one_row_per_class(devices):
  config = tiny_config('cdcgan_mnist', **{'generator.base_features': 4,
                                          'discriminator.base_features': 4})
  state, _ = run_steps(config, devices, 1, synthetic_batch())
  assert families.build(config).sample_grid(state).shape == (80, 28, 28, 1)


@requires_mnist
def test_evaluate_prints_metrics_json_last(straight_run):
  workdir, state = straight_run
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={workdir}', '--num_samples=300'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  metrics = json.loads(result.stdout.strip().splitlines()[-1])
  assert metrics['step'] == 4 and metrics['num_samples'] == 300
  # The command line scores the last checkpoint: what the trained state itself scores.
  in_process = families.build(tiny_config(**EXTENDABLE, num_train_steps=4)).evaluate(state, 300)
  assert set(in_process) <= set(metrics)
  for name, value in in_process.items():
    assert metrics[name] == pytest.approx(value, rel=1e-4), name


def test_evaluate_without_checkpoints_is_a_clear_error(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={tmp_path}'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert 'no checkpoints in' in result.stderr and 'Traceback' not in result.stderr


def test_generator_update_equals_differentiating_a_second_forward_pass():
  """The step reuses G's forward pass (its VJP) for G's update; the update must equal the one
  from differentiating a fresh forward pass of G through the updated D."""
  # Without the InfoGAN code: the reuse does not depend on G's loss terms, and g_loss below
  # is the adversarial term alone.
  config = tiny_config('dcgan_mnist', code_classes=0, **{'discriminator.dropout_rate': 0.0})
  model = families.build(config)
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jax.numpy.asarray, synthetic_batch())
  rng = jax.random.PRNGKey(1)
  new_state, _ = jax.jit(model.train_step)(state, batch, rng)
  g, new_d = state.networks['generator'], new_state.networks['discriminator']
  z = model.sample_latents(jax.random.split(rng, gan.NUM_STEP_KEYS)[0], 16)

  def g_loss(params):
    fake = model.generator.apply(g.variables(params), z, train=True, mutable=['batch_stats'])[0]
    return model.g_loss_fn(model.discriminator.apply(new_d.variables(), fake, train=True))

  expected = g.apply_gradients(jax.grad(g_loss)(g.params), model.g_tx)
  assert_trees_close(new_state.networks['generator'].params, expected.params, rtol=1e-4,
                     atol=1e-6)
  assert not np.allclose(jax.tree.leaves(expected.params)[0], jax.tree.leaves(g.params)[0])
