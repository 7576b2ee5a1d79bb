"""gan_jax's jitted train step against its PyTorch twin (torch_models.py), in one process, on the
same device, alternating: round after round, `--steps_per_round` JAX steps, then as many
PyTorch steps (eager, and `torch.compile`d with --torch_compile), so both see the same machine
state. Prints each side's median step time, images/s, and the speed ratio JAX / PyTorch.

  python benchmarks/compare.py --config=dcgan_mnist [--rounds=10] [--torch_threads=2]
      [--torch_compile] [--batch_sizes=64,256,1024] [--config.FIELD=VALUE ...]

The same real MNIST batch feeds both; both do the full update (two Adam states for the GANs).
The twin implements the plain GAN step only: a config with other switches on (dcgan_mnist's R1,
EMA, InfoGAN code and cosine) is refused with the overrides that turn them off.
Needs torch (`pip install torch`; on this CPU machine `pip install torch==2.13.0` takes the
local CPU build). Prints one JSON object per batch size as its last lines.
"""
import json
import time

from absl import app
from absl import flags
import jax
import numpy as np
from ml_collections import config_flags
import torch

from gan_jax import bench
from gan_jax import configs
import torch_models

config_flags.DEFINE_config_file('config', None, 'Experiment name or config path.')
flags.DEFINE_integer('rounds', 10, 'Alternations of the two sides.')
flags.DEFINE_integer('steps_per_round', 3, 'Steps of each side per round.')
flags.DEFINE_integer('torch_threads', 0, 'torch.set_num_threads (0: PyTorch default, the cores).')
flags.DEFINE_bool('torch_compile', False, 'Also time the torch.compile()d PyTorch step.')
flags.DEFINE_list('batch_sizes', [], 'Sweep these global batch sizes (default: the config\'s).')
flags.mark_flag_as_required('config')
FLAGS = flags.FLAGS


def _torch_device() -> str:
  return 'cuda' if jax.default_backend() == 'gpu' and torch.cuda.is_available() else 'cpu'


class TorchRunner:
  """The PyTorch step on the same uint8 batch, timed like bench.StepRunner."""

  def __init__(self, config, images_uint8: np.ndarray, compile_step: bool):
    self.device = _torch_device()
    torch.manual_seed(config.seed)
    self.step = torch_models.make_step(config, self.device)
    if compile_step:
      self.step.compile()
    # NHWC -> NCHW, PyTorch's layout
    self.images = torch.from_numpy(images_uint8.transpose(0, 3, 1, 2).copy()).to(self.device)
    start = time.perf_counter()
    self.run(1)  # compiles (torch.compile) / warms the allocator (eager)
    self.first_step_seconds = time.perf_counter() - start

  def _sync(self):
    if self.device == 'cuda':
      torch.cuda.synchronize()

  def run(self, num_steps: int) -> list[float]:
    times = []
    for _ in range(num_steps):
      start = time.perf_counter()
      self.step(self.images)
      self._sync()
      times.append(time.perf_counter() - start)
    return times


def compare(config, rounds: int, steps_per_round: int, torch_compile: bool) -> dict:
  jax_runner = bench.StepRunner(config)
  images = np.asarray(jax.device_get(jax_runner.batch['image']))
  sides = {'jax': jax_runner, 'torch_eager': TorchRunner(config, images, False)}
  if torch_compile:
    sides['torch_compile'] = TorchRunner(config, images, True)
  for runner in sides.values():
    runner.run(steps_per_round)  # warm-up
  times = {name: [] for name in sides}
  for _ in range(rounds):
    for name, runner in sides.items():
      times[name] += runner.run(steps_per_round)
  median_ms = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
  result = {'experiment': config.model, 'device': f'{jax.device_count()} x '
            f'{jax.devices()[0].device_kind} / torch {torch.__version__} on {sides["torch_eager"].device}',
            'torch_threads': torch.get_num_threads(), 'global_batch': config.batch_size,
            'steps_each': rounds * steps_per_round}
  for name, ms in median_ms.items():
    result[f'{name}_median_ms'] = round(ms, 2)
    result[f'{name}_images_per_sec'] = round(1e3 * config.batch_size / ms, 1)
  for name in sides:
    if name != 'jax':
      result[f'speed_jax_over_{name}'] = round(median_ms[name] / median_ms['jax'], 3)
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if FLAGS.torch_threads:
    torch.set_num_threads(FLAGS.torch_threads)
  config = FLAGS.config
  results = []
  for batch_size in [int(b) for b in FLAGS.batch_sizes] or [config.batch_size]:
    config.batch_size = batch_size
    result = compare(config, FLAGS.rounds, FLAGS.steps_per_round, FLAGS.torch_compile)
    line = (f"{result['experiment']} batch {batch_size} on {result['device']}: "
            f"JAX {result['jax_median_ms']:.1f} ms, PyTorch eager {result['torch_eager_median_ms']:.1f} ms"
            f" -> JAX {result['speed_jax_over_torch_eager']:.2f}x")
    if 'torch_compile_median_ms' in result:
      line += (f"; torch.compile {result['torch_compile_median_ms']:.1f} ms -> JAX "
               f"{result['speed_jax_over_torch_compile']:.2f}x")
    print(line, flush=True)
    results.append(result)
  for result in results:
    print(json.dumps(result))


if __name__ == '__main__':
  app.run(main, flags_parser=configs.flags_parser)
