"""Times the jitted train step: `python -m gan_jax.bench --config=NAME [--config.F=V ...]`.

Prints the compile time, then the median step time over at least --min_steps steps and
--min_seconds seconds (after --warmup_steps), as steps/s and images/s on the current devices.
"""
import json
import time

from absl import app
from absl import flags
import jax
import numpy as np
from ml_collections import config_flags

from gan_jax import configs
from gan_jax import input_pipeline
from gan_jax import train

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment name or config path.')
_WARMUP = flags.DEFINE_integer('warmup_steps', 3, 'Untimed steps after compilation.')
_MIN_STEPS = flags.DEFINE_integer('min_steps', 20, 'At least this many timed steps.')
_MIN_SECONDS = flags.DEFINE_float('min_seconds', 20.0, 'And at least this much timed work.')
_DATA_BATCHES = flags.DEFINE_integer(
    'data_batches', 0, 'If > 0: time this many consecutive batches of the real input order (one '
    'untimed pass first compiles every shape, e.g. each length bucket) instead of one batch '
    'repeated; sequence data also reports tokens/s and the padding share.')
flags.mark_flag_as_required('config')


def benchmark(config, warmup_steps: int, min_steps: int, min_seconds: float,
              data_batches: int = 0) -> dict:
  mesh = train.make_mesh()
  train.check_batch_size(config, mesh)
  model = train.build_model(config)
  state = train.create_state(model, config, mesh)
  data = train.training_data(model, config)
  batches = input_pipeline.BatchIterator(data, config.batch_size, config.seed,
                                         jax.process_index(), jax.process_count(),
                                         config.get('bucket_lengths', ()))
  step_fn = train.make_train_step(model, mesh)
  if data_batches:
    return _benchmark_data_order(config, model, state, step_fn, batches, mesh, data_batches)
  batch = train.global_batch(next(batches), mesh)

  start = time.perf_counter()
  compiled = step_fn.lower(state, batch).compile()
  compile_seconds = time.perf_counter() - start

  for _ in range(warmup_steps):
    state, _ = compiled(state, batch)
  jax.block_until_ready(state)
  times = []
  while len(times) < min_steps or sum(times) < min_seconds:
    start = time.perf_counter()
    state, metrics = compiled(state, batch)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  median = float(np.median(times))
  return {
      'experiment': config.model, 'devices': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
      'global_batch': config.batch_size, 'compile_seconds': round(compile_seconds, 3),
      'timed_steps': len(times), 'median_step_ms': round(1e3 * median, 3),
      'steps_per_sec': round(1 / median, 3), 'images_per_sec': round(config.batch_size / median, 1),
      'step_ms_p10_p90': [round(1e3 * float(np.percentile(times, q)), 3) for q in (10, 90)],
  }


def _benchmark_data_order(config, model, state, step_fn, batches, mesh, num_batches: int) -> dict:
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
      'experiment': config.model, 'devices': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
      'global_batch': config.batch_size, 'data_batches': num_batches,
      'first_pass_seconds_with_compiles': round(first_pass, 2),
      'shapes': sorted({tuple(b[next(iter(b))].shape) for b in local}),
      'median_step_ms': round(1e3 * float(np.median(times)), 3),
      'steps_per_sec': round(num_batches / total, 3),
      'images_per_sec': round(num_batches * config.batch_size / total, 1)}
  if 'length' in local[0]:
    useful = sum(int(b['length'].sum()) for b in local)
    padded = sum(b['tokens'].size for b in local)
    result.update(tokens_per_sec=round(useful / total, 1),
                  padding_share=round(1 - useful / padded, 4))
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  result = benchmark(_CONFIG.value, _WARMUP.value, _MIN_STEPS.value, _MIN_SECONDS.value,
                     _DATA_BATCHES.value)
  print(f"{result['experiment']} on {result['devices']}: median step "
        f"{result['median_step_ms']:.1f} ms = {result['steps_per_sec']:.2f} steps/s, "
        f"{result['images_per_sec']:.0f} examples/s")
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(main, flags_parser=configs.flags_parser)
