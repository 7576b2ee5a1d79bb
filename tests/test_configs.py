import subprocess
import sys

import pytest

from gan_jax import configs
from conftest import REPO


def test_lists_experiments():
  assert {'dcgan_mnist', 'gan_mnist'} <= set(configs.available_experiments())


def test_overrides_are_typed_and_nested():
  config = configs.load_config('dcgan_mnist', ['--config.batch_size=128',
                                               '--config.optimizer.b1=0.9'])
  assert config.batch_size == 128 and config.optimizer.b1 == 0.9
  assert configs.load_config('dcgan_mnist').batch_size == 32  # the default: the override did not leak


def test_conventional_fields_present():
  for name in ('dcgan_mnist', 'gan_mnist'):
    config = configs.load_config(name)
    for field in ('num_train_steps', 'batch_size', 'seed', 'log_every_steps',
                  'checkpoint_every_steps', 'sample_every_steps'):
      assert field in config, (name, field)


def test_unknown_experiment_lists_available():
  with pytest.raises(configs.ConfigError, match='dcgan_mnist.*gan_mnist'):
    configs.load_config('dcgan_cifar')


@pytest.mark.parametrize('override,match', [
    ('--config.batch_sz=3', 'batch_sz.*batch_size'),
    ('--config.generator.nope=1', 'nope'),
    ('--config.batch_size=abc', 'config.batch_size'),
    ('--config.optimizer.b1=fast', 'config.optimizer.b1'),
])
def test_bad_override_names_the_field(override, match):
  with pytest.raises(configs.ConfigError, match=match):
    configs.load_config('dcgan_mnist', [override])


@pytest.mark.parametrize('args,match', [
    (['--config=nope'], 'unknown experiment .nope.*dcgan_mnist'),
    (['--config=dcgan_mnist', '--config.batch_sz=3'], 'batch_sz'),
])
def test_cli_errors_are_one_line_not_tracebacks(args, match, tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', f'--workdir={tmp_path}', *args],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  assert __import__('re').search(match, result.stderr), result.stderr
