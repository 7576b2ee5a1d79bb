"""Experiment configs: one `experiments/NAME.py` per experiment, each with `get_config()`.

An experiment is named on the command line (`--config=dcgan_mnist`) or given as a path to such a
file; its fields are overridden with `--config.FIELD=VALUE`, type-checked by ml_collections.
"""
import importlib.util
import os
import pathlib
import sys
from typing import Sequence

from absl import flags
from ml_collections import config_flags

# Experiments live beside the package in a source checkout; GAN_JAX_EXPERIMENTS points elsewhere.
_DEFAULT_EXPERIMENTS_DIR = pathlib.Path(__file__).resolve().parent.parent / 'experiments'


class ConfigError(ValueError):
  """An unknown experiment or a bad override; the message says what to do."""


def experiments_dir() -> pathlib.Path:
  return pathlib.Path(os.environ.get('GAN_JAX_EXPERIMENTS', _DEFAULT_EXPERIMENTS_DIR))


def available_experiments() -> list[str]:
  return sorted(p.stem for p in experiments_dir().glob('*.py') if not p.stem.startswith('_'))


def experiment_path(name_or_path: str) -> str:
  """Resolves an experiment name (or an explicit `.py` path) to its config file."""
  if name_or_path.endswith('.py') and os.path.isfile(name_or_path):
    return name_or_path
  path = experiments_dir() / f'{name_or_path}.py'
  if not path.is_file():
    raise ConfigError(
        f'unknown experiment {name_or_path!r}. Available experiments (in {experiments_dir()}): '
        f'{", ".join(available_experiments()) or "none"}. Pass one of these names, or a path to '
        'a .py file that defines get_config().')
  return str(path)


def base_config(name: str):
  """Another experiment's get_config() result, for experiments defined as variations of it."""
  spec = importlib.util.spec_from_file_location(f'experiment_{name}', experiment_path(name))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def resolve_config_argv(argv: Sequence[str], flag: str = 'config') -> list[str]:
  """Rewrites `--config=NAME` / `--config NAME` in argv to the experiment's file path."""
  out = list(argv)
  for i, arg in enumerate(out):
    if arg in (f'--{flag}', f'-{flag}') and i + 1 < len(out):
      out[i + 1] = experiment_path(out[i + 1])
    elif arg.startswith((f'--{flag}=', f'-{flag}=')):
      key, value = arg.split('=', 1)
      out[i] = f'{key}={experiment_path(value)}'
  return out


def load_config(name: str, overrides: Sequence[str] = ()):
  """Returns the experiment's ConfigDict with `--config.FIELD=VALUE` overrides applied."""
  argv = ['gan_jax', f'--config={name}', *overrides]
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', flag_values=flag_values, sys_argv=argv)
  parse_flags(argv, flag_values)
  return flag_values.config


def parse_flags(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
  """Parses argv (resolving the experiment name) into flag_values; raises ConfigError."""
  argv = resolve_config_argv(argv)
  try:
    return flag_values(argv)
  except flags.Error as e:
    raise ConfigError(f'bad flag or config override: {e}') from None
  except (AttributeError, KeyError) as e:  # ml_collections' unknown-field errors
    inner = e
    while isinstance(inner, BaseException) and inner.args:  # unwrap AttributeError(KeyError(msg))
      inner = inner.args[0]
    message = str(inner).replace('\n', ' ')
    raise ConfigError(f'bad config override: unknown field {message}. '
                      'Run with --config=NAME and no overrides to see the fields.') from None


def flags_parser(argv: Sequence[str]) -> list[str]:
  """For `app.run(main, flags_parser=...)`: a bad experiment or override exits 2 with one line."""
  try:
    return parse_flags(argv)
  except ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


def add_gan_switches(config):
  """The GAN stabilisers every GAN experiment exposes, all off: experiments and command lines
  turn them on (see gan_jax/families/gan.py for what each does)."""
  config.num_classes = 0          # > 0: class-conditional G and D
  config.classifier_weight = 0.0  # > 0 (with classes): AC-GAN's auxiliary classifier loss
  config.code_classes = 0         # > 0: InfoGAN's categorical code of this many values in G's input
  config.code_continuous = 0      # > 0: InfoGAN's continuous codes, this many, uniform on [-1, 1]
  config.info_weight = 1.0        # lambda of the categorical code's mutual-information loss
  config.info_continuous_weight = 1.0  # lambda of the continuous codes' part (InfoGAN code: 1)
  config.pull_away_weight = 0.0   # > 0: EBGAN's pull-away term on D's codes of G's samples
  config.r1_weight = 0.0          # gamma of the R1 penalty on real data
  config.r1_every = 1             # lazy R1: the penalty every N steps, weighted N times
  config.augment = ''             # DiffAugment policy, e.g. 'translation,cutout'
  config.gp_weight = 0.0          # lambda of the WGAN-GP penalty (use with loss='wasserstein')
  config.label_smoothing = 0.0    # one-sided: real targets 1 - label_smoothing (BCE losses)
  config.feature_matching = False  # G matches D's mean last-layer features instead
  config.ema_decay = 0.0          # > 0: sample and evaluate with an EMA of G's weights
  config.sampling_batch_norm = 'standing'  # or 'running', 'batch' (gan_jax/families/gan.py)
  config.noise_distribution = 'gaussian'  # G's noise prior, or 'uniform' on [-1, 1]
  config.optimizer.schedule = 'constant'  # or a decay of both rates (gan_jax/schedules.py)
  config.optimizer.schedule_steps = 0     # > 0: the schedule's span, when not the run's length
  config.optimizer.grad_clip_norm = 0.0   # > 0: clip each network's gradient to this norm
  config.discriminator.spectral_norm = False
  config.discriminator.minibatch_stddev = False
  return config
