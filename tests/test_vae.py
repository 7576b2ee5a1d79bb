import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import evaluate
from gan_jax import families
from gan_jax import losses
from gan_jax import train
from conftest import requires_mnist, tiny_config

# Linear Gaussian model: p(z) = N(0, 1), p(x | z) = N(a z, s^2), so p(x) = N(0, a^2 + s^2) and
# the exact posterior is N(a x / (a^2 + s^2), s^2 / (a^2 + s^2)).
A, S, X = 2.0, 0.5, 1.3


def log_marginal(x):
  var = A ** 2 + S ** 2
  return -0.5 * (math.log(2 * math.pi * var) + x ** 2 / var)


def log_weights(q_mean, q_logvar, k, n_draws=20_000, seed=0):
  z = q_mean + jnp.exp(0.5 * q_logvar) * jax.random.normal(jax.random.PRNGKey(seed), (k, n_draws, 1))
  log_px_z = losses.gaussian_log_density(jnp.full_like(z, X), A * z, jnp.full_like(z, 2 * math.log(S)))
  log_pz = losses.gaussian_log_density(z, 0.0, jnp.zeros_like(z))
  log_qz = losses.gaussian_log_density(z, q_mean, jnp.full_like(z, q_logvar))
  return log_px_z + log_pz - log_qz


def test_bounds_are_exact_with_the_true_posterior():
  post_mean = A * X / (A ** 2 + S ** 2)
  post_logvar = math.log(S ** 2 / (A ** 2 + S ** 2))
  for k in (1, 5):
    bound = losses.iwae_bound(log_weights(post_mean, post_logvar, k, n_draws=100))
    np.testing.assert_allclose(bound, log_marginal(X), rtol=1e-5)


def test_iwae_is_at_least_the_elbo_and_tightens_with_k():
  q_mean, q_logvar = 0.0, 0.0  # the prior: a poor posterior
  bounds = [float(jnp.mean(losses.iwae_bound(log_weights(q_mean, q_logvar, k)))) for k in (1, 10, 100)]
  assert bounds[0] < bounds[1] < bounds[2] < log_marginal(X)
  # The k=1 bound is the ELBO: E_q log p(x|z) - KL(q || p), here with the analytic KL.
  e_log_px_z = -0.5 * (math.log(2 * math.pi * S ** 2) + (X ** 2 + A ** 2) / S ** 2)  # z ~ N(0, 1)
  elbo = e_log_px_z - float(losses.gaussian_kl(jnp.zeros(1), jnp.zeros(1)))
  # (400k draws: the Monte-Carlo standard error is about 0.025 nats.)
  elbo_mc = float(jnp.mean(losses.iwae_bound(log_weights(q_mean, q_logvar, 1, n_draws=400_000))))
  assert elbo_mc == pytest.approx(elbo, abs=0.1)


def test_gaussian_kl_hand_computed():
  # KL(N(1, e^0) || N(0, 1)) = 0.5 * (1 + 1 - 1 - 0) = 0.5 per dimension.
  np.testing.assert_allclose(losses.gaussian_kl(jnp.ones((1, 3)), jnp.zeros((1, 3))), [1.5])


def test_free_bits_floors_each_dimension():
  mean = jnp.array([[0.0, 2.0], [0.0, 2.0]])  # dimension KLs 0 and 2 nats
  np.testing.assert_allclose(losses.free_bits_kl(mean, jnp.zeros_like(mean), 0.5), 0.5 + 2.0)


def test_active_units_on_constructed_posteriors():
  rng = np.random.default_rng(0)
  means = np.concatenate([rng.normal(size=(1000, 3)), 0.01 * rng.normal(size=(1000, 5))], 1)
  assert int(losses.active_units(means)) == 3


@requires_mnist
@pytest.mark.parametrize('name,objective', [('vae_mnist', 'elbo'), ('vae_mnist', 'iwae'),
                                            ('convvae_mnist', 'elbo')])
def test_vae_trains_and_evaluates_on_the_shared_trainer(name, objective, tmp_path):
  config = tiny_config(name, objective=objective, num_importance_samples=4,
                       eval_importance_samples=20, eval_chunk=10, kl_warmup_steps=10)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 4 and sorted(p.name for p in (tmp_path / 'checkpoints').iterdir()) == ['2', '4']
  result = families.build(config).evaluate(jax.device_get(state), num_samples=200)
  assert result['importance_samples'] == 20
  one_sample = families.build(tiny_config(name, eval_importance_samples=1, eval_chunk=1)).evaluate(
      jax.device_get(state), num_samples=200)
  # 20 importance samples bound the NLL more tightly than one (the one-sample ELBO estimate).
  assert result['nll'] < one_sample['nll'] - 0.5, (result['nll'], one_sample['nll'])
  # gan_jax.evaluate's --importance_samples reaches the VAE's estimate; a GAN's option does not.
  cli = evaluate.evaluate_checkpoint(str(tmp_path), 200, importance_samples=1,
                                     sampling_batch_norm='batch')
  assert cli['importance_samples'] == 1 and cli['step'] == 4
  assert cli['nll'] == pytest.approx(one_sample['nll'], rel=1e-5)


def test_chunked_iwae_nll_equals_one_logsumexp_over_all_samples():
  rng = jax.random.PRNGKey(0)
  batch = 5
  log_weights = lambda key, n: 3.0 * jax.random.normal(key, (n, batch))
  nll = losses.chunked_iwae_nll(log_weights, rng, k=12, chunk=4, batch_size=batch)
  every = jnp.concatenate([log_weights(jax.random.fold_in(rng, i), 4) for i in range(3)])
  np.testing.assert_allclose(nll, -(jax.nn.logsumexp(every, axis=0) - jnp.log(12.0)), rtol=1e-5)
  with pytest.raises(ValueError, match='multiple of the chunk'):
    losses.chunked_iwae_nll(log_weights, rng, k=10, chunk=4, batch_size=batch)
