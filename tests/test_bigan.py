"""BiGAN / ALI: the joint discriminator's step and the swapped-label step of G and E."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import families
from gan_jax import losses
from gan_jax import train
from conftest import requires_mnist, tiny_config
from test_train import assert_trees_close, synthetic_batch

TINY = {'bigan.latent_dim': 4, 'bigan.generator_sizes': (16, 16), 'bigan.encoder_sizes': (16, 16),
        'bigan.discriminator_sizes': (16, 16), 'eval_num_samples': 200}


@pytest.mark.parametrize('stochastic', [False, True])
def test_d_learns_data_pairs_from_generated_pairs_then_g_and_e_swap_the_labels(stochastic):
  model = families.build(tiny_config('bigan_mnist', **TINY, **{'bigan.stochastic': stochastic,
                                                              'bigan.prior': 'gaussian'}))
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  rng = jax.random.PRNGKey(1)
  new, metrics = jax.jit(model.train_step)(state, batch, rng)
  prior_key, code_key = jax.random.split(rng)
  g, e, d = (state.networks[k] for k in ('generator', 'encoder', 'discriminator'))
  x = batch['image'].astype(jnp.float32).reshape((len(batch['image']), -1)) / 255.0
  z = model.sample_latents(prior_key, len(x))
  (mean, logvar), _, _ = model._posterior(e, e.params, x, train=True)
  codes = losses.reparameterize(code_key, mean, logvar) if stochastic else mean
  fake, _ = model._images(g, g.params, z, train=True)
  d_new = new.networks['discriminator']
  np.testing.assert_allclose(metrics['d_loss'], losses.discriminator_bce(
      model._critic(d, d.params, x, codes), model._critic(d, d.params, fake, z)), rtol=1e-5)
  # G and E: generated pairs labelled as data and data pairs as generated, by the updated D.
  np.testing.assert_allclose(metrics['ge_loss'], losses.discriminator_bce(
      model._critic(d_new, d_new.params, fake, z), model._critic(d_new, d_new.params, x, codes)),
      rtol=1e-5)
  # Adam's count and the learning-rate schedule's: one step each, per network.
  assert {k: {int(c) for _, c in optax.tree_utils.tree_get_all_with_path(n.opt_state, 'count')}
          for k, n in new.networks.items()} == {'generator': {1}, 'encoder': {1},
                                                 'discriminator': {1}}
  # G's and E's running statistics move with their batches.
  for name in ('generator', 'encoder'):
    assert not np.allclose(jax.tree.leaves(new.networks[name].batch_stats)[0],
                           jax.tree.leaves(state.networks[name].batch_stats)[0])
  assert (float(jnp.max(logvar)) < -10) != stochastic  # a point mass unless ALI


def test_a_deterministic_encoder_codes_in_the_uniform_priors_range():
  model = families.build(tiny_config('bigan_mnist', **TINY))  # uniform prior, deterministic E
  state = model.init(jax.random.PRNGKey(0))
  x = jax.random.uniform(jax.random.PRNGKey(1), (8, 784))
  e = state.networks['encoder']
  raw, _ = model.encoder.apply(e.variables(e.params), x, train=False)
  mean, _ = model.encode(state, x.reshape((8, 28, 28, 1)))
  np.testing.assert_allclose(mean, 2.0 * jax.nn.sigmoid(raw) - 1.0, rtol=1e-5, atol=1e-6)


def test_standing_statistics_are_the_calibration_batchs_own():
  model = families.build(tiny_config('bigan_mnist', **TINY))
  state = model.init(jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (64, 28, 28, 1), dtype=np.uint8))
  state = jax.jit(model.train_step)(state, jax.tree.map(jnp.asarray, synthetic_batch()),
                                    jax.random.PRNGKey(1))[0]  # running averages of one batch
  standing = model.with_standing_statistics(state, images)
  x = images.astype(jnp.float32).reshape((64, -1)) / 255.0
  z = model.sample_latents(jax.random.PRNGKey(model.config.seed + 3), 64)
  for name, module, inputs in (('encoder', model.encoder, (x,)),
                               ('generator', model.generator, (z, z))):
    before, after = state.networks[name], standing.networks[name]
    # In eval mode with the standing statistics, the calibration inputs come out as in train
    # mode (normalised by their own batch statistics), which the running averages do not give.
    batch_mode = module.apply(before.variables(), *inputs, train=True, mutable=['batch_stats'])[0]
    eval_with = lambda network: module.apply(network.variables(), *inputs, train=False)
    np.testing.assert_allclose(eval_with(after)[1], batch_mode[1], rtol=1e-4, atol=1e-5)
    assert not np.allclose(eval_with(before)[1], batch_mode[1], rtol=1e-2, atol=1e-3)
    assert_trees_close(after.params, before.params, rtol=0, atol=0)
  assert_trees_close(standing.networks['discriminator'].batch_stats,
                     state.networks['discriminator'].batch_stats, rtol=0, atol=0)


def test_the_learning_rate_schedule_reaches_every_network():
  config = tiny_config('bigan_mnist', **TINY, num_train_steps=1,
                       **{'optimizer.schedule': 'cosine'})
  model = families.build(config)
  step = jax.jit(model.train_step)
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  first = step(model.init(jax.random.PRNGKey(0)), batch, jax.random.PRNGKey(1))[0]
  second = step(first, batch, jax.random.PRNGKey(2))[0]  # step 1 of 1: rate 0
  for name in ('generator', 'encoder', 'discriminator'):
    assert_trees_close(second.networks[name].params, first.networks[name].params, rtol=0, atol=0)


@requires_mnist
def test_bigan_trains_and_reports_its_encoder_as_features(tmp_path):
  train.train_and_evaluate(tiny_config('bigan_mnist', **TINY), str(tmp_path))
  model, state, _ = train.load_trained(str(tmp_path))
  result = model.evaluate(state, 200)
  assert {'fid', 'recon_fid', 'recon_agreement', 'nn_accuracy', 'linear_accuracy',
          'hidden_nn_accuracy', 'hidden_linear_accuracy'} <= set(result)
  # Even an encoder trained 4 steps keeps enough of the pixels for 1-NN to beat chance (0.1).
  assert result['nn_accuracy'] > 0.15 and result['hidden_nn_accuracy'] > 0.15
