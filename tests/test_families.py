"""The family interface: each experiment's family declares what it can do, and generic modules
reach families only through gan_jax.families' registry and protocols."""
import ast
import json
import shutil
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

from gan_jax import checkpoints
from gan_jax import families
from gan_jax import train
from conftest import REPO, requires_ptb, tiny_config

CAPABILITIES = (families.MakesTrainingData, families.BatchesByLength, families.RenamedNetworks,
                families.TrainsInPhases, families.Evaluates, families.GeneratesImages,
                families.HasLatentCodes, families.EncodesImages, families.GeneratesText,
                families.DecodesText)


@pytest.mark.parametrize('experiment, expected', [
    ('dcgan_mnist', {'Evaluates', 'GeneratesImages', 'HasLatentCodes'}),
    ('gan_mnist', {'Evaluates', 'GeneratesImages', 'HasLatentCodes'}),
    ('infogan_mnist_paper', {'Evaluates', 'GeneratesImages', 'HasLatentCodes'}),
    ('vae_mnist', {'Evaluates', 'GeneratesImages', 'EncodesImages'}),
    ('aae_mnist', {'Evaluates', 'GeneratesImages', 'EncodesImages'}),
    ('bigan_mnist', {'Evaluates', 'GeneratesImages', 'EncodesImages'}),
    ('vaegan_mnist', {'Evaluates', 'GeneratesImages', 'HasLatentCodes', 'EncodesImages'}),
    ('ebgan_mnist', {'Evaluates', 'GeneratesImages', 'HasLatentCodes'}),
    ('mnist_classifier', {'Evaluates'}),
    pytest.param('text_vae_ptb', {'BatchesByLength', 'RenamedNetworks', 'Evaluates',
                                  'GeneratesText', 'DecodesText'}, marks=requires_ptb),
    pytest.param('lm_ptb', {'BatchesByLength', 'RenamedNetworks', 'Evaluates', 'GeneratesText',
                            'DecodesText'}, marks=requires_ptb),
    pytest.param('seqgan_oracle', {'MakesTrainingData', 'TrainsInPhases', 'Evaluates',
                                   'GeneratesText'}, marks=requires_ptb),
    ('leakgan_oracle', {'MakesTrainingData', 'TrainsInPhases', 'Evaluates', 'GeneratesText'}),
])
def test_each_family_declares_its_capabilities(experiment, expected):
  model = families.build(tiny_config(experiment))
  assert isinstance(model, families.Family)
  assert {c.__name__ for c in CAPABILITIES if isinstance(model, c)} == expected


def test_unknown_model_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown model 'wgan'; known: dcgan"):
    families.family_class('wgan')


GENERIC_MODULES = ['train.py', 'evaluate.py', 'generate.py', 'inspect.py', 'bench.py',
                   'tools/images.py', 'tools/text.py', 'main.py', 'checkpoints.py', 'reference.py']


@pytest.mark.parametrize('module', GENERIC_MODULES)
def test_generic_modules_import_no_concrete_family(module):
  tree = ast.parse((REPO / 'gan_jax' / module).read_text())
  imported = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module:
      imported |= {f'{node.module}.{alias.name}' for alias in node.names}
    elif isinstance(node, ast.Import):
      imported |= {alias.name for alias in node.names}
  concrete = {name for name in imported if name.startswith('gan_jax.families.')}
  assert not concrete, f'{module} imports {concrete}; use gan_jax.families.build and its protocols'


def test_the_registry_imports_a_family_only_when_asked():
  code = ('import sys; import gan_jax.train, gan_jax.evaluate, gan_jax.generate; '
          'from gan_jax import families; '
          'before = sorted(m for m in sys.modules if m.startswith("gan_jax.families.")); '
          'families.family_class("vae"); '
          'after = sorted(m for m in sys.modules if m.startswith("gan_jax.families.")); '
          'print(before, after)')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                       cwd=REPO, env={'JAX_PLATFORMS': 'cpu', 'PATH': ''}).stdout
  assert out.strip() == "[] ['gan_jax.families.vae']"


FIXTURES = REPO / 'tests' / 'fixtures' / 'checkpoints_v1'  # written by d6ad2b9, before the move


@pytest.mark.parametrize('run', [
    'dcgan_mnist', 'vae_mnist', pytest.param('lm_ptb', marks=requires_ptb)])
def test_checkpoints_written_before_the_family_layout_still_restore(run):
  """Restores into today's parameter trees (a renamed layer fails the restore) and computes what
  the old code computed from them."""
  expected = json.loads((FIXTURES / 'expected.json').read_text())[run]
  model, state, step = train.load_trained(str(FIXTURES / run))
  assert step == 2
  if 'generate_sum' in expected:
    z = model.sample_latents(jax.random.PRNGKey(7), 4)
    np.testing.assert_allclose(np.asarray(model.generate(state, z), np.float64).sum(),
                               expected['generate_sum'], rtol=1e-5)
  else:
    assert model.sample_text(state, 3) == expected['sample_text']
  # The language model's network was saved as 'text_vae' before it was named 'lm'.
  assert set(state.networks) == {'dcgan_mnist': {'generator', 'discriminator', 'generator_ema'},
                                 'vae_mnist': {'vae'}, 'lm_ptb': {'lm'}}[run]


def test_a_config_from_before_the_gan_switches_builds_with_them_off():
  """A GAN config without any of the switches added since the first checkpoints (as such
  checkpoints saved it) builds with each one off, as those runs trained and sampled."""
  config = tiny_config('dcgan_mnist')
  defaults = families.family_class('dcgan').CONFIG_DEFAULTS
  with config.unlocked():
    for dotted in defaults:
      *parents, name = dotted.split('.')
      del (config[parents[0]] if parents else config)[name]
  model = families.build(config)
  assert (model.ema_decay, model.r1_weight, model.code_classes, model.num_classes,
          model.augment_policy, model.sampling_batch_norm) == (0.0, 0.0, 0, 0, (), 'running')
  assert model.discriminator.spectral_norm is False
  assert config.optimizer.schedule == 'constant' and config.optimizer.schedule_steps == 0
  assert set(jax.eval_shape(model.init, jax.random.PRNGKey(0)).networks) == {
      'generator', 'discriminator'}


@requires_ptb
def test_an_old_language_model_checkpoint_resumes_training_under_its_new_name(tmp_path):
  workdir = tmp_path / 'lm_ptb'
  shutil.copytree(FIXTURES / 'lm_ptb', workdir)
  manager = checkpoints.make_manager(str(workdir), read_only=True)
  config = checkpoints.restore_config(manager)
  config.num_train_steps = 3
  state = train.train_and_evaluate(config, str(workdir))
  assert int(state.step) == 3 and set(state.networks) == {'lm'}
  assert checkpoints.saved_network_names(checkpoints.make_manager(str(workdir)), 3) == {'lm'}
