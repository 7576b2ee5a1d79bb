"""The one training loop every model family shares: data-parallel, checkpointed, resumable.

Data parallelism is the pmap model written the way current JAX recommends: the global batch is
sharded over a ('data',) mesh, parameters and optimiser states are replicated, and `jit` compiles
one program per device whose gradient (and BatchNorm statistic) reductions XLA turns into
all-reduces across devices, the `pmean` of a pmap step.
"""
import signal
import threading
import time

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from gan_jax import checkpoints
from gan_jax import families
from gan_jax import input_pipeline
from gan_jax import writers


def load_trained(workdir: str, step: int | None = None, configure=None):
  """(model, state, step) of a run's checkpoint (default: the newest), replicated on all local
  devices, for evaluation and generation. `configure(config)` may adjust the saved config first
  (evaluation-only fields)."""
  manager = checkpoints.make_manager(workdir, read_only=True)
  config = checkpoints.restore_config(manager, step)
  if configure:
    configure(config)
  step = manager.latest_step() if step is None else step
  model = families.build(config)
  template = jax.eval_shape(model.init, jax.random.PRNGKey(0))
  state, _, _ = checkpoints.restore(
      manager, checkpoints.abstract_like(template, NamedSharding(make_mesh(), P())), step,
      previous_network_names(model))
  return model, state, step


def previous_network_names(model) -> dict[str, str]:
  return model.previous_network_names if isinstance(model, families.RenamedNetworks) else {}


def training_data(model, config) -> dict:
  return (model.train_data() if isinstance(model, families.MakesTrainingData)
          else input_pipeline.load_split(config.dataset, 'train'))


def make_mesh(devices=None) -> Mesh:
  """A 1-D data-parallel mesh over `devices` (default: all), sharded by the compiler (Auto)."""
  devices = jax.devices() if devices is None else devices
  return jax.make_mesh((len(devices),), ('data',), axis_types=(AxisType.Auto,), devices=devices)


def phase_at(model, step: int) -> int | None:
  """The training phase of a phased family at host step `step`; None for the others."""
  return model.phase_of(step) if isinstance(model, families.TrainsInPhases) else None


def make_train_step(model, mesh: Mesh, step: int = 0):
  """jit(train_step) for the steps from host step `step` on (a phased family: those of its
  phase at `step`): batch sharded on 'data', state replicated and donated."""
  replicated, sharded = NamedSharding(mesh, P()), NamedSharding(mesh, P('data'))
  phase = phase_at(model, step)
  phase_kwargs = {} if phase is None else {'phase': phase}

  def step_fn(state, batch):
    return model.train_step(state, batch, jax.random.fold_in(state.rng, state.step),
                            **phase_kwargs)

  return jax.jit(step_fn, in_shardings=(replicated, sharded), out_shardings=(replicated, replicated),
                 donate_argnums=0)


def setup(config, devices=None):
  """(mesh, model, initial state, batch iterator) of `config`, as training starts them."""
  mesh = make_mesh(devices)
  check_batch_size(config, mesh)
  model = families.build(config)
  batches = input_pipeline.BatchIterator(training_data(model, config), config.batch_size,
                                         config.seed, jax.process_index(), jax.process_count(),
                                         bucket_lengths(model))
  return mesh, model, create_state(model, config, mesh), batches


def bucket_lengths(model) -> tuple[int, ...]:
  return model.bucket_lengths if isinstance(model, families.BatchesByLength) else ()


def create_state(model, config, mesh: Mesh):
  replicated = NamedSharding(mesh, P())
  return jax.jit(model.init, out_shardings=replicated)(jax.random.PRNGKey(config.seed))


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """This process's slice of the batch -> one global array sharded over all devices."""
  sharding = NamedSharding(mesh, P('data'))
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)


def check_batch_size(config, mesh: Mesh) -> None:
  if config.batch_size % mesh.size:
    raise ValueError(f'batch_size {config.batch_size} must be divisible by the {mesh.size} '
                     f'devices; pass e.g. --config.batch_size={mesh.size * max(1, config.batch_size // mesh.size)}')


class PreemptionHandler:
  """Turns SIGTERM/SIGINT into a flag the loop checks after each step (save, then exit)."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.received = None
    self._previous = {}
    if threading.current_thread() is threading.main_thread():
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
        # Restart interrupted system calls: a signal must not break a collective's socket I/O.
        signal.siginterrupt(sig, False)

  def _handle(self, signum, frame):
    del frame
    if self.received is not None:  # a second signal: stop without waiting
      raise KeyboardInterrupt
    self.received = signal.Signals(signum).name
    logging.warning('%s received: saving a checkpoint, then exiting.', self.received)

  # With several processes the flags are gathered every SYNC_EVERY steps, not every step: a
  # gather waits for the step on every host, so doing it each step would stall dispatch.
  SYNC_EVERY = 10

  def agreed(self, step: int) -> str | None:
    """The signal, once any process has received one. Processes must stop at the same step (a
    checkpoint is a collective save), so with several processes the flag is all-gathered at
    every SYNC_EVERY-th step; every process then saves and exits together."""
    if jax.process_count() == 1:
      return self.received
    if step % self.SYNC_EVERY:
      return None
    # Decide on the gathered flags alone: a signal landing after the gather counts next step.
    flags = multihost_utils.process_allgather(np.array(self.received is not None))
    if not np.any(flags):
      return None
    return self.received or 'a signal on another process'


  def restore(self):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _due(step: int, every: int, force=False) -> bool:
  """Whether a periodic action (every `every` steps; never if 0) happens at `step`."""
  return bool(force) or (every > 0 and step % every == 0)


def _format_eta(seconds: float) -> str:
  seconds = int(seconds)
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m' if seconds >= 3600 else (
      f'{seconds // 60}m{seconds % 60:02d}s')


def train_and_evaluate(config, workdir: str, devices=None, init_from: str | None = None,
                       init_step: int | None = None):
  """Trains `config` in `workdir`, resuming from its newest checkpoint; returns the final state.

  A `workdir` without checkpoints starts from the checkpoint of another run, `init_from` (its
  workdir) at `init_step` (default: its newest), when given: the state and the data position
  carry over and `config` may change anything that keeps the state's shapes (rates, schedules,
  phase lengths), which branches a run without repeating its first part."""
  mesh, model, state, batches = setup(config, devices)
  is_chief = jax.process_index() == 0
  manager = checkpoints.make_manager(workdir, config.max_checkpoints_to_keep)
  abstract = checkpoints.abstract_like(state, NamedSharding(mesh, P()))
  if manager.latest_step() is not None:
    checkpoints.check_resumable(manager, config)
    state, data_state, _ = checkpoints.restore(manager, abstract,
                                               previous_network_names=previous_network_names(model))
    batches.set_state(data_state)
    logging.info('Resumed from %s at step %d.', manager.directory, int(state.step))
  elif init_from:
    source = checkpoints.make_manager(init_from, read_only=True)
    changes = checkpoints.config_changes(
        checkpoints.restore_config(source, init_step).to_dict(), config)
    state, data_state, _ = checkpoints.restore(
        source, abstract, init_step, previous_network_names(model),
        mismatch_hint='--init_from needs a config whose networks and optimisers have the shapes '
                      'of that run\'s; change rates, schedules and lengths only')
    batches.set_state(data_state)
    logging.info('Starting from %s at step %d; changed: %s.', source.directory, int(state.step),
                 checkpoints.describe_changes(changes) or 'nothing')

  train_steps = {}  # phase -> its jitted step, made when the phase starts
  sample_grid = (jax.jit(model.sample_grid) if isinstance(model, families.GeneratesImages)
                 else None)
  eval_every = config.eval_every_steps if isinstance(model, families.Evaluates) else 0
  writer = writers.MetricWriter(workdir, enabled=is_chief)
  preemption = PreemptionHandler()

  step = int(state.step)
  window_metrics, window_start, window_step = [], time.perf_counter(), step
  logging.info('Training %s from step %d to %d on %d devices (%s), global batch %d.',
               config.model, step, config.num_train_steps, mesh.size,
               jax.devices()[0].platform, config.batch_size)
  stop = None
  try:
    while step < config.num_train_steps and stop is None:
      phase = phase_at(model, step)
      if phase not in train_steps:
        train_steps[phase] = make_train_step(model, mesh, step)
      state, metrics = train_steps[phase](state, global_batch(next(batches), mesh))
      step += 1
      stop = preemption.agreed(step)
      if window_metrics:
        # At most two steps in flight: the host still prepares the next batch while the device
        # works, and a preemption signal is acted on within a step or two (SYNC_EVERY steps
        # with several processes), not a log window.
        jax.block_until_ready(window_metrics[-1])
      window_metrics.append(metrics)
      done = step == config.num_train_steps
      if _due(step, config.log_every_steps, done):
        scalars = {k: float(np.mean(v)) for k, v in
                   jax.tree.map(lambda *xs: np.stack(xs), *jax.device_get(window_metrics)).items()}
        scalars['steps_per_sec'] = (step - window_step) / (time.perf_counter() - window_start)
        scalars['examples_per_sec'] = scalars['steps_per_sec'] * config.batch_size
        writer.write_scalars(step, scalars)
        eta = (config.num_train_steps - step) / scalars['steps_per_sec']
        logging.info('step %d/%d | %.2f steps/s | %.0f examples/s | %s | ETA %s', step,
                     config.num_train_steps, scalars['steps_per_sec'], scalars['examples_per_sec'],
                     ' '.join(f'{k} {v:.4f}' for k, v in scalars.items() if 'per_sec' not in k),
                     _format_eta(eta))
        window_metrics, window_start, window_step = [], time.perf_counter(), step
      side_work_start = time.perf_counter()
      if eval_every and _due(step, eval_every, done):
        scalars = model.evaluate(state)
        writer.write_scalars(step, scalars)
        logging.info('step %d eval | %s', step, ' '.join(f'{k} {v:.4f}' for k, v in scalars.items()))
      if sample_grid and is_chief and _due(step, config.sample_every_steps, done):
        path = f'{workdir}/samples/step_{step:07d}.png'
        writers.save_image_grid(path, jax.device_get(sample_grid(state)), columns=writers.GRID_COLUMNS)
      if (isinstance(model, families.GeneratesText) and is_chief
          and _due(step, config.sample_every_steps, done)):
        writers.save_text(f'{workdir}/samples/step_{step:07d}.txt', model.sample_text(state))
      if _due(step, config.checkpoint_every_steps, done or stop):
        checkpoints.save(manager, state, batches.get_state(), config)
      window_start += time.perf_counter() - side_work_start  # rates count training alone
  finally:
    manager.wait_until_finished()
    manager.close()
    writer.close()
    preemption.restore()
  if stop:
    logging.warning('Stopped by %s at step %d; rerun with the same --workdir to resume.',
                    stop, step)
  return state
