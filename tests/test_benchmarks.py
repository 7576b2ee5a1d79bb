"""The PyTorch twins in benchmarks/ (skipped where torch is not installed: it is only the
`bench` extra)."""
import math
import sys

import jax
import numpy as np
import pytest

from gan_jax import families
from gan_jax.families import gan
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
  config = tiny_config(name, **({} if name == 'vae_mnist' else torch_models.GAN_SWITCHES_OFF))
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


def test_twin_refuses_switches_it_does_not_implement():
  with pytest.raises(ValueError, match=r'--config.r1_weight=0.0 .*--config.ema_decay=0.0'):
    torch_models.make_step(tiny_config('dcgan_mnist'), 'cpu')  # R1, EMA, code, cosine on


def test_lecun_normal_matches_flax_scale():
  weight = torch_models.lecun_normal_(torch.empty(400, 500), fan_in=500)
  assert float(weight.std()) == pytest.approx(1 / np.sqrt(500), rel=0.03)
  assert float(weight.abs().max()) <= 2 * (1 / np.sqrt(500)) / 0.87962566103423978 + 1e-6


def _linears(module):
  return [layer for layer in module.modules() if isinstance(layer, torch.nn.Linear)]


def _flax_dense_stack(params):
  """A Dense stack's (kernel, bias) pairs in layer order, as PyTorch's (out, in) weights."""
  names = sorted(params, key=lambda name: int(name.split('_')[1]))
  return [(np.array(params[n]['kernel']).T.copy(), np.array(params[n]['bias'])) for n in names]


def test_gan_twin_step_is_the_jax_step_from_shared_weights():
  """From the same weights, batch and latents, one step of each: the same D loss (D on the real
  and the generated batch), the same G loss (G's batch through the updated D) and the same
  updated weights of both networks."""
  config = tiny_config('gan_mnist', **{'generator.hidden_sizes': (8, 8),
                                       'discriminator.hidden_sizes': (8, 8),
                                       'optimizer.g_learning_rate': 1e-2,
                                       'optimizer.d_learning_rate': 1e-2})
  model = families.build(config)
  state = model.init(jax.random.PRNGKey(0))
  twin = torch_models.make_step(config, 'cpu')
  with torch.no_grad():
    for module, net in ((twin.g, 'generator'), (twin.d, 'discriminator')):
      for layer, (weight, bias) in zip(_linears(module),
                                       _flax_dense_stack(state.networks[net].params)):
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
  images = np.random.default_rng(0).integers(0, 256, (16, 28, 28, 1), dtype=np.uint8)
  rng = jax.random.PRNGKey(1)
  z = model.sample_latents(jax.random.split(rng, gan.NUM_STEP_KEYS)[0], 16)
  new_state, metrics = jax.jit(model.train_step)(state, {'image': images}, rng)
  d_loss, g_loss = twin(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()),
                        z=torch.from_numpy(np.asarray(z)))
  np.testing.assert_allclose(float(d_loss), float(metrics['d_loss']), rtol=1e-5)
  np.testing.assert_allclose(float(g_loss), float(metrics['g_loss']), rtol=1e-5)
  for module, net in ((twin.g, 'generator'), (twin.d, 'discriminator')):
    for layer, (weight, bias) in zip(_linears(module),
                                     _flax_dense_stack(new_state.networks[net].params)):
      np.testing.assert_allclose(layer.weight.detach().numpy(), weight, atol=1e-5)
      np.testing.assert_allclose(layer.bias.detach().numpy(), bias, atol=1e-5)
