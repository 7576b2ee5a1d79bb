"""VAE-GAN: the feature-space reconstruction error, the three updates, evaluation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import families
from gan_jax import losses
from gan_jax import train
from gan_jax.families import gan
from conftest import requires_mnist, tiny_config
from test_train import synthetic_batch

TINY = {'generator.base_features': 4, 'discriminator.base_features': 4,
        'discriminator.hidden_features': 16, 'discriminator.dropout_rate': 0.0,
        'vaegan.encoder_sizes': (16,), 'latent_dim': 8, 'eval_num_samples': 200}


def test_step_measures_reconstructions_in_d_features_and_updates_each_network_once():
  model = families.build(tiny_config('vaegan_mnist', **TINY))
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  rng = jax.random.PRNGKey(1)
  new, metrics = jax.jit(model.train_step)(state, batch, rng)
  assert {k: int(n.opt_state[0].count) for k, n in new.networks.items()
          if k != 'generator_ema'} == {'encoder': 1, 'generator': 1, 'discriminator': 1}
  # By hand: q(z | x) of the old encoder, reconstructed by the old decoder (train-mode BN over
  # reconstructions and prior samples), compared in the updated D's hidden features.
  z_key, prior_key = jax.random.split(rng, 5)[:2]
  x = gan.to_model_range(batch['image'], 'tanh')
  mean, logvar = model.posterior(state.networks['encoder'].params, x)
  z = losses.reparameterize(z_key, mean, logvar)
  g = state.networks['generator']
  images = model.generator.apply(g.variables(), jnp.concatenate([z, model.sample_latents(
      prior_key, len(x))]), None, train=True, mutable=['batch_stats'])[0]
  d = new.networks['discriminator']
  features = lambda images: model.discriminator.apply(d.variables(), images, None, train=False,
                                                      mutable=['intermediates'])[1][
                                                          'intermediates']['features'][0]
  expected = np.mean(0.5 * np.sum((np.asarray(features(images[:len(x)]))
                                   - np.asarray(features(x))) ** 2, axis=-1))
  np.testing.assert_allclose(metrics['llike'], expected, rtol=1e-4)
  np.testing.assert_allclose(metrics['kl'], np.mean(losses.gaussian_kl(mean, logvar)), rtol=1e-5)
  np.testing.assert_allclose(metrics['e_loss'], metrics['kl'] + metrics['llike'], rtol=1e-5)


@requires_mnist
def test_vaegan_trains_and_reports_reconstruction_metrics(tmp_path):
  train.train_and_evaluate(tiny_config('vaegan_mnist', **TINY), str(tmp_path))
  model, state, _ = train.load_trained(str(tmp_path))
  assert isinstance(model, families.EncodesImages)
  result = model.evaluate(state, 200)
  assert {'fid', 'recon_fid', 'recon_agreement'} <= set(result)


def test_step_gradients_equal_differentiating_a_second_decoder_pass():
  """The step decodes once and pulls both losses' gradients back through that pass's VJP; they
  must equal differentiating each loss through its own decoder forward (Adam's first moment
  after one step is (1 - b1) times the gradient)."""
  model = families.build(tiny_config('vaegan_mnist', **TINY))
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  rng = jax.random.PRNGKey(1)
  new, _ = jax.jit(model.train_step)(state, batch, rng)
  z_key, prior_key, _, _, g_key = jax.random.split(rng, 5)
  x = gan.to_model_range(batch['image'], 'tanh')
  z_prior = model.sample_latents(prior_key, len(x))
  g, d = state.networks['generator'], new.networks['discriminator']
  features = lambda images: model.discriminator.apply(d.variables(), images, None, train=False,
                                                      mutable=['intermediates'])[1][
                                                          'intermediates']['features'][0]

  def loss(e_params, g_params, which):
    mean, logvar = model.posterior(e_params, x)
    z = losses.reparameterize(z_key, mean, logvar)
    images = model.generator.apply(g.variables(g_params), jnp.concatenate([z, z_prior]), None,
                                   train=True, mutable=['batch_stats'])[0]
    llike = jnp.mean(0.5 * jnp.sum((features(images[:len(x)]) - features(x)) ** 2, -1))
    if which == 'encoder':
      return jnp.mean(losses.gaussian_kl(mean, logvar)) + llike
    logits = model._discriminate(d, d.params, images, None, g_key)[0]  # pylint: disable=protected-access
    return model.gamma * llike + model.g_loss_fn(logits)

  b1 = model.config.optimizer.b1
  for name, argnum in (('encoder', 0), ('generator', 1)):
    expected = jax.grad(loss, argnums=argnum)(state.networks['encoder'].params, g.params, name)
    moment = new.networks[name].opt_state[0].mu
    jax.tree.map(lambda m, e: np.testing.assert_allclose(m, (1 - b1) * e, rtol=2e-3, atol=1e-6),
                 moment, expected)


def test_d_learns_real_against_both_fakes_with_lazy_r1_on_real_images():
  """D's loss: real x against reconstructions and prior samples, plus R1 on the real images at
  step 0 (lazy: weighted by r1_every). Its gradient, read from Adam's first moment, must equal
  differentiating that loss written out by hand."""
  model = families.build(tiny_config('vaegan_mnist', **TINY))
  assert model.r1_weight == 1.0 and model.r1_every == 16
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  rng = jax.random.PRNGKey(1)
  new, metrics = jax.jit(model.train_step)(state, batch, rng)
  z_key, prior_key = jax.random.split(rng, 5)[:2]
  x = gan.to_model_range(batch['image'], 'tanh')
  mean, logvar = model.posterior(state.networks['encoder'].params, x)
  z = losses.reparameterize(z_key, mean, logvar)
  g, d = state.networks['generator'], state.networks['discriminator']
  fakes = model.generator.apply(g.variables(), jnp.concatenate([z, model.sample_latents(
      prior_key, len(x))]), None, train=True, mutable=['batch_stats'])[0]
  logits = lambda params, images: model.discriminator.apply(d.variables(params), images, None,
                                                            train=False)

  def d_loss(params):
    bce = (jnp.mean(jax.nn.softplus(-logits(params, x)))
           + jnp.mean(jax.nn.softplus(logits(params, fakes))))
    input_grads = jax.grad(lambda images: jnp.sum(logits(params, images)))(x)
    r1 = 0.5 * jnp.mean(jnp.sum(input_grads.reshape(len(x), -1) ** 2, axis=-1))
    return bce + 16 * r1, r1

  (expected_loss, expected_r1), expected = jax.value_and_grad(d_loss, has_aux=True)(d.params)
  np.testing.assert_allclose(metrics['r1'], expected_r1, rtol=1e-4)
  np.testing.assert_allclose(metrics['d_loss'], expected_loss, rtol=1e-4)
  b1 = model.config.optimizer.b1
  jax.tree.map(lambda m, e: np.testing.assert_allclose(m, (1 - b1) * e, rtol=2e-3, atol=1e-6),
               new.networks['discriminator'].opt_state[0].mu, expected)


def test_vaegan_refuses_codes_and_a_prior_its_kl_term_does_not_pull_toward():
  with pytest.raises(ValueError, match='neither classes nor InfoGAN codes'):
    families.build(tiny_config('vaegan_mnist', code_classes=10))
  with pytest.raises(ValueError, match='keep noise_distribution=gaussian'):
    families.build(tiny_config('vaegan_mnist', noise_distribution='uniform'))
