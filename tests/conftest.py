"""Test setup: 8 virtual CPU devices (set before JAX starts), a compilation cache shared by the
suite's processes, GPU memory taken as needed, and the real datasets if present."""
import os
import pathlib

# Many tests (and the command-line runs they start) compile the same tiny train steps; XLA's
# persistent cache lets every later compilation of one reuse the first. Environment variables,
# so subprocesses inherit them; in .pytest_cache, so a rerun of the suite starts warm.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', str(
    pathlib.Path(__file__).resolve().parents[1] / '.pytest_cache' / 'jax_compilation'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.2')
# On a GPU the suite's workers and the processes they start share one device: each takes the
# memory it needs instead of XLA's default 75% up front.
os.environ.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')
# The suite's models are tiny and its time is mostly XLA compiling them: the backend's cheapest
# code generation halves that (measured on the 2-core CPU: two text tests 200 -> 132 s) and
# changes no HLO, so values stay within the tests' tolerances.
FAST_COMPILE_FLAGS = '--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true'
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + f' {FAST_COMPILE_FLAGS}' +
                           ' --xla_force_host_platform_device_count=8').strip()
_SHARED = pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'datasets'
if 'GAN_JAX_DATA' not in os.environ and _SHARED.is_dir():
  os.environ['GAN_JAX_DATA'] = str(_SHARED)

import jax  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top

from gan_jax import configs  # pylint: disable=g-import-not-at-top

REPO = pathlib.Path(__file__).resolve().parents[1]


def has_mnist() -> bool:
  root = os.environ.get('GAN_JAX_DATA')
  return bool(root) and (pathlib.Path(root) / 'mnist' / 'train-images-idx3-ubyte.gz').is_file()


requires_mnist = pytest.mark.skipif(not has_mnist(), reason='needs $GAN_JAX_DATA/mnist')
requires_ptb = pytest.mark.skipif(
    not (pathlib.Path(os.environ.get('GAN_JAX_DATA', '/nonexistent')) / 'ptb' / 'ptb.train.txt'
         ).is_file(), reason='needs $GAN_JAX_DATA/ptb')

# Text experiments shrunk the same way (with tiny_config's batch and step counts).
TINY_TEXT = {'text_model.embed_dim': 8, 'text_model.hidden_size': 16, 'eval_num_sentences': 32,
             'eval_importance_samples': 4, 'eval_chunk': 2, 'eval_batch_size': 8,
             'max_decode_length': 12}


def tiny_config(name: str = 'dcgan_mnist', **overrides):
  """A real experiment shrunk to seconds: tiny networks, small batches, few steps."""
  defaults = {'batch_size': 16, 'num_train_steps': 4, 'log_every_steps': 2, 'eval_every_steps': 0,
              'checkpoint_every_steps': 2, 'sample_every_steps': 2}
  if name == 'dcgan_mnist':
    defaults.update({'generator.base_features': 4, 'discriminator.base_features': 4})
  defaults.update(overrides)
  return configs.load_config(name, [f'--config.{k}={v}' for k, v in defaults.items()])


@pytest.fixture(scope='session')
def devices():
  """The 8 virtual CPU devices, also on a machine whose default backend is a GPU or TPU."""
  cpus = jax.devices('cpu')
  assert len(cpus) == 8, 'tests expect 8 virtual CPU devices'
  return cpus
