"""The adversarial autoencoder: its priors, its two training phases, evaluation and latent tools."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import families
from gan_jax import generate
from gan_jax import latent
from gan_jax import train
from gan_jax.families import aae
from conftest import requires_mnist, tiny_config
from test_train import synthetic_batch

TINY = {'aae.hidden_sizes': (16,), 'aae.latent_dim': 4, 'eval_num_samples': 200}


def test_mixture_prior_has_ten_components_on_a_circle():
  z = np.asarray(aae.sample_prior(jax.random.PRNGKey(0), 'mixture', 20000, 4))
  angle = np.mod(np.arctan2(z[:, 1], z[:, 0]), 2 * np.pi)
  component = np.round(angle / (2 * np.pi / 10)).astype(int) % 10
  for k in range(10):
    members = z[component == k]
    assert abs(len(members) / len(z) - 0.1) < 0.01
    centre = aae.MIXTURE_RADIUS * np.array([np.cos(2 * np.pi * k / 10), np.sin(2 * np.pi * k / 10)])
    np.testing.assert_allclose(members[:, :2].mean(0), centre, atol=0.05)
    np.testing.assert_allclose(members[:, :2].std(0), aae.MIXTURE_STD, atol=0.05)
  np.testing.assert_allclose(z[:, 2:].std(0), 1.0, atol=0.03)  # the other dimensions: N(0, 1)
  gaussian = np.asarray(aae.sample_prior(jax.random.PRNGKey(0), 'gaussian', 20000, 4))
  np.testing.assert_allclose(gaussian.std(0), 1.0, atol=0.03)


def test_a_step_updates_the_encoder_in_both_phases_and_the_others_once():
  model = families.build(tiny_config('aae_mnist', **TINY))
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  new, metrics = jax.jit(model.train_step)(state, batch, jax.random.PRNGKey(1))
  counts = {name: int(net.opt_state[0].count) for name, net in new.networks.items()}
  assert counts == {'encoder': 2, 'decoder': 1, 'discriminator': 1}
  # The reconstruction term is the Bernoulli cross-entropy of the untrained autoencoder.
  x = batch['image'].astype(jnp.float32) / 255.0
  logits = model.decoder.apply({'params': state.networks['decoder'].params},
                               model.encoder.apply({'params': state.networks['encoder'].params}, x))
  p = jax.nn.sigmoid(logits).reshape(x.shape)
  expected = -np.mean(np.sum(np.asarray(x * jnp.log(p) + (1 - x) * jnp.log1p(-p)), axis=(1, 2, 3)))
  assert float(metrics['reconstruction']) == pytest.approx(expected, rel=1e-4)
  with pytest.raises(ValueError, match='aae.prior'):
    families.build(tiny_config('aae_mnist', **{**TINY, 'aae.prior': 'uniform'}))


@requires_mnist
def test_aae_trains_evaluates_and_works_with_the_encoder_tools(tmp_path):
  config = tiny_config('aae_mnist', **TINY)
  train.train_and_evaluate(config, str(tmp_path))
  model, state, _ = train.load_trained(str(tmp_path))
  assert isinstance(model, families.EncodesImages) and isinstance(model, families.Evaluates)
  result = model.evaluate(state, 200)
  assert {'fid', 'class_score', 'recon_fid', 'recon_agreement'} <= set(result)
  codes, logvar = model.encode(state, jnp.zeros((3, 28, 28, 1)))
  assert codes.shape == (3, 4) and float(jnp.max(logvar)) == latent.POINT_MASS_LOGVAR
  recon = generate.run(str(tmp_path), 'reconstruct', str(tmp_path / 'r.png'), images=['3', '5'])
  assert recon['images'] == 16  # the input row and the reconstruction row, padded
