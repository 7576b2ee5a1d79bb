"""The PyTorch twins in benchmarks/ (skipped where torch is not installed: it is only the
`bench` extra)."""
import math
import sys

import jax
import numpy as np
import pytest

from gan_jax import families
from conftest import REPO, tiny_config

torch = pytest.importorskip('torch')
sys.path.insert(0, str(REPO / 'benchmarks'))
import torch_models  # pylint: disable=wrong-import-position


def _jax_param_counts(config):
  state = families.build(config).init(jax.random.PRNGKey(0))
  return {name: sum(math.prod(x.shape) for x in jax.tree.leaves(net.params))
          for name, net in state.networks.items()}


@pytest.mark.parametrize('name', ['dcgan_mnist', 'gan_mnist', 'vae_mnist'])
def test_twins_have_the_same_parameters_and_take_a_step(name):
  config = tiny_config(name)
  step = torch_models.make_step(config, 'cpu')
  counts = lambda module: sum(p.numel() for p in module.parameters())
  jax_counts = _jax_param_counts(config)
  if name == 'vae_mnist':
    assert counts(step.vae) == jax_counts['vae']
  else:
    assert (counts(step.g), counts(step.d)) == (jax_counts['generator'],
                                                jax_counts['discriminator'])
  images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (16, 1, 28, 28),
                                                               dtype=np.uint8))
  losses = [step(images) for _ in range(3)]
  assert all(torch.isfinite(torch.as_tensor(l)).all() for l in losses)


def test_lecun_normal_matches_flax_scale():
  weight = torch_models.lecun_normal_(torch.empty(400, 500), fan_in=500)
  assert float(weight.std()) == pytest.approx(1 / np.sqrt(500), rel=0.03)
  assert float(weight.abs().max()) <= 2 * (1 / np.sqrt(500)) / 0.87962566103423978 + 1e-6
