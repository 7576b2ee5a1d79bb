"""Times the jitted train step: `python -m gan_jax.bench --config=NAME [--config.F=V ...]`.

Prints the compile time; the median step time over at least --min_steps steps and --min_seconds
seconds (after --warmup_steps) as steps/s and examples/s; the step's FLOPs (from the compiled
step's XLA cost analysis) and the FLOP/s that achieves, also as a fraction of the device's own
measured large-matmul rate; and the input pipeline's throughput alone (batching + transfer to
the devices), as a multiple of what the step consumes.
"""
import json
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_flags

from gan_jax import configs
from gan_jax import input_pipeline
from gan_jax import train


def define_flags():
  config_flags.DEFINE_config_file('config', None, 'Experiment name or config path.')
  flags.DEFINE_integer('warmup_steps', 3, 'Untimed steps after compilation.')
  flags.DEFINE_integer('min_steps', 20, 'At least this many timed steps.')
  flags.DEFINE_integer('at_step', 0, 'Time the step the trainer runs at this step (a phased '
                       "family's phase there, e.g. SeqGAN's adversarial step).")
  flags.DEFINE_float('min_seconds', 20.0, 'And at least this much timed work.')
  flags.DEFINE_integer(
      'data_batches', 0, 'If > 0: time this many consecutive batches of the real input order '
      '(one untimed pass first compiles every shape, e.g. each length bucket) instead of one '
      'batch repeated; sequence data also reports tokens/s and the padding share.')
  flags.mark_flag_as_required('config')


class StepRunner:
  """A model's train step compiled for one real batch, run on it again and again (the state is
  donated and carried, so every step does the full work of training)."""

  def __init__(self, config, at_step: int = 0):
    self.mesh, model, self.state, self.batches = train.setup(config)
    self.phase = train.phase_at(model, at_step)
    step_fn = train.make_train_step(model, self.mesh, at_step)
    self.batch = train.global_batch(next(self.batches), self.mesh)
    start = time.perf_counter()
    self.compiled = step_fn.lower(self.state, self.batch).compile()
    self.compile_seconds = time.perf_counter() - start
    self.flops_per_step = compiled_flops(self.compiled)

  def run(self, num_steps: int) -> list[float]:
    """Seconds of each of num_steps steps, each waited for."""
    times = []
    for _ in range(num_steps):
      start = time.perf_counter()
      self.state, metrics = self.compiled(self.state, self.batch)
      jax.block_until_ready((self.state, metrics))
      times.append(time.perf_counter() - start)
    return times


def compiled_flops(compiled) -> float | None:
  """Floating-point operations of one call, from XLA's cost analysis of the compiled program
  (None where the backend does not report them)."""
  flops = (compiled.cost_analysis() or {}).get('flops')
  return float(flops) if flops and flops > 0 else None


def matmul_flops_per_sec(size: int | None = None, repeats: int = 10) -> dict:
  """The device's own large-matmul rate (float32): the best of `repeats` timed [size, size] @
  [size, size] products, 2 size^3 FLOPs each; the ceiling the step's FLOP/s is compared with."""
  size = size or (2048 if jax.default_backend() == 'cpu' else 8192)
  matmul = jax.jit(lambda a, b: a @ b)
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
  jax.block_until_ready(matmul(a, a))
  best = np.inf
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(matmul(a, a))
    best = min(best, time.perf_counter() - start)
  return {'matmul_size': size, 'matmul_gflops_per_sec': round(2 * size ** 3 / best / 1e9, 1)}


def input_pipeline_rate(batches, mesh, num_batches: int = 50) -> float:
  """Global batches per second that batching alone (next batch + transfer to the devices)
  delivers, with no training step in between."""
  jax.block_until_ready(train.global_batch(next(batches), mesh))
  start = time.perf_counter()
  for _ in range(num_batches):
    batch = train.global_batch(next(batches), mesh)
  jax.block_until_ready(batch)
  return num_batches / (time.perf_counter() - start)


def _devices() -> str:
  return f'{jax.device_count()} x {jax.devices()[0].device_kind}'


def benchmark(config, warmup_steps: int, min_steps: int, min_seconds: float,
              data_batches: int = 0, at_step: int = 0) -> dict:
  if data_batches:
    return _benchmark_data_order(config, data_batches)
  runner = StepRunner(config, at_step)
  runner.run(warmup_steps)
  times = []
  while len(times) < min_steps or sum(times) < min_seconds:
    times += runner.run(1)
  median = float(np.median(times))
  result = {
      'experiment': config.model, 'devices': _devices(),
      'global_batch': config.batch_size, 'compile_seconds': round(runner.compile_seconds, 3),
      'timed_steps': len(times), 'median_step_ms': round(1e3 * median, 3),
      'steps_per_sec': round(1 / median, 3),
      'examples_per_sec': round(config.batch_size / median, 1),
      'step_ms_p10_p90': [round(1e3 * float(np.percentile(times, q)), 3) for q in (10, 90)],
  }
  if runner.phase is not None:
    result['phase'] = runner.phase
  if runner.flops_per_step:
    peak = matmul_flops_per_sec()
    achieved = runner.flops_per_step / median / 1e9
    result.update(flops_per_step=int(runner.flops_per_step),
                  achieved_gflops_per_sec=round(achieved, 3), **peak,
                  fraction_of_matmul_rate=round(achieved / peak['matmul_gflops_per_sec'], 4))
  batches_per_sec = input_pipeline_rate(runner.batches, runner.mesh)
  result.update(input_examples_per_sec=round(batches_per_sec * config.batch_size, 1),
                input_over_step_rate=round(batches_per_sec * median, 2))
  return result


def _benchmark_data_order(config, num_batches: int) -> dict:
  mesh, model, state, batches = train.setup(config)
  step_fn = train.make_train_step(model, mesh)
  local = [next(batches) for _ in range(num_batches)]
  device_batches = [train.global_batch(b, mesh) for b in local]
  start = time.perf_counter()
  for batch in device_batches:  # compiles each distinct shape once
    state, metrics = step_fn(state, batch)
  jax.block_until_ready((state, metrics))
  first_pass = time.perf_counter() - start
  times = []
  for batch in device_batches:
    start = time.perf_counter()
    state, metrics = step_fn(state, batch)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  total = sum(times)
  result = {
      'experiment': config.model, 'devices': _devices(),
      'global_batch': config.batch_size, 'data_batches': num_batches,
      'first_pass_seconds_with_compiles': round(first_pass, 2),
      'shapes': sorted({tuple(b[next(iter(b))].shape) for b in local}),
      'median_step_ms': round(1e3 * float(np.median(times)), 3),
      'steps_per_sec': round(num_batches / total, 3),
      'examples_per_sec': round(num_batches * config.batch_size / total, 1)}
  counts = [input_pipeline.token_counts(b) for b in local]
  if all(counts):
    useful, padded = (sum(c[i] for c in counts) for i in (0, 1))
    result.update(tokens_per_sec=round(useful / total, 1),
                  padding_share=round(1 - useful / padded, 4))
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  FLAGS = flags.FLAGS
  result = benchmark(FLAGS.config, FLAGS.warmup_steps, FLAGS.min_steps, FLAGS.min_seconds,
                     FLAGS.data_batches, FLAGS.at_step)
  print(f"{result['experiment']} on {result['devices']}: median step "
        f"{result['median_step_ms']:.1f} ms = {result['steps_per_sec']:.2f} steps/s, "
        f"{result['examples_per_sec']:.0f} examples/s")
  if 'achieved_gflops_per_sec' in result:
    print(f"{result['flops_per_step'] / 1e9:.2f} GFLOP per step -> {result['achieved_gflops_per_sec']:.1f}"
          f" GFLOP/s = {100 * result['fraction_of_matmul_rate']:.1f}% of this device's "
          f"{result['matmul_size']}^2 matmul rate ({result['matmul_gflops_per_sec']:.1f} GFLOP/s)")
  if 'input_examples_per_sec' in result:
    print(f"input pipeline alone: {result['input_examples_per_sec']:.0f} examples/s = "
          f"{result['input_over_step_rate']:.1f}x what the step consumes")
  print(json.dumps(result))


if __name__ == '__main__':
  define_flags()
  app.run(main, flags_parser=configs.flags_parser)
