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
flags.mark_flag_as_required('config')


def benchmark(config, warmup_steps: int, min_steps: int, min_seconds: float) -> dict:
  mesh = train.make_mesh()
  train.check_batch_size(config, mesh)
  model = train.build_model(config)
  state = train.create_state(model, config, mesh)
  data = input_pipeline.load_split(config.dataset, 'train')
  batches = input_pipeline.BatchIterator(data, config.batch_size, config.seed,
                                         jax.process_index(), jax.process_count())
  batch = train.global_batch(next(batches), mesh)
  step_fn = train.make_train_step(model, mesh)

  start = time.perf_counter()
  compiled = step_fn.lower(state, batch).compile()
  compile_seconds = time.perf_counter() - start

  for _ in range(warmup_steps):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  result = benchmark(_CONFIG.value, _WARMUP.value, _MIN_STEPS.value, _MIN_SECONDS.value)
  print(f"{result['experiment']} on {result['devices']}: compile {result['compile_seconds']:.1f} s, "
        f"median step {result['median_step_ms']:.1f} ms over {result['timed_steps']} steps = "
        f"{result['steps_per_sec']:.2f} steps/s, {result['images_per_sec']:.0f} images/s")
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(main, flags_parser=configs.flags_parser)
