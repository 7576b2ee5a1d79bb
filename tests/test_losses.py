import math

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses


def test_bce_at_zero_logit_is_log2():
  np.testing.assert_allclose(losses.bce_with_logits(jnp.zeros(4), 1.0), math.log(2), rtol=1e-6)
  np.testing.assert_allclose(losses.discriminator_bce(jnp.zeros(3), jnp.zeros(5)),
                             2 * math.log(2), rtol=1e-6)


def test_discriminator_bce_hand_computed():
  # real logit log 3 -> D(x) = 3/4, loss -log(3/4); fake logit 0 -> D = 1/2, loss -log(1/2).
  value = losses.discriminator_bce(jnp.array([math.log(3)]), jnp.array([0.0]))
  np.testing.assert_allclose(value, -math.log(0.75) - math.log(0.5), rtol=1e-6)


def test_generator_losses_hand_computed():
  logit = jnp.array([math.log(3)])  # D(G(z)) = 3/4
  np.testing.assert_allclose(losses.generator_non_saturating(logit), -math.log(0.75), rtol=1e-6)
  np.testing.assert_allclose(losses.generator_minimax(logit), math.log(0.25), rtol=1e-6)


def test_stable_for_large_logits():
  big = jnp.array([-200.0, 200.0])
  for value in (losses.discriminator_bce(big, big), losses.generator_non_saturating(big),
                losses.generator_minimax(big)):
    assert jnp.isfinite(value)
  np.testing.assert_allclose(losses.generator_non_saturating(jnp.array([-200.0])), 200.0, rtol=1e-6)


def test_hinge_least_squares_wasserstein_hand_computed():
  real, fake = jnp.array([2.0, 0.5]), jnp.array([-2.0, 0.0])
  # hinge: mean(relu(1 - real)) = (0 + 0.5)/2; mean(relu(1 + fake)) = (0 + 1)/2.
  np.testing.assert_allclose(losses.discriminator_hinge(real, fake), 0.75, rtol=1e-6)
  np.testing.assert_allclose(losses.generator_hinge(fake), 1.0, rtol=1e-6)
  # LSGAN: 0.5 * (mean((real-1)^2) + mean(fake^2)) = 0.5 * ((1 + 0.25)/2 + (4 + 0)/2).
  np.testing.assert_allclose(losses.discriminator_least_squares(real, fake), 1.3125, rtol=1e-6)
  np.testing.assert_allclose(losses.generator_least_squares(fake), 0.5 * (9 + 1) / 2, rtol=1e-6)
  np.testing.assert_allclose(losses.discriminator_wasserstein(real, fake), -1.0 - 1.25, rtol=1e-6)


def test_one_sided_label_smoothing_softens_only_real_targets():
  value = losses.discriminator_bce(jnp.array([0.0]), jnp.array([0.0]), real_label=0.9)
  np.testing.assert_allclose(value, 2 * math.log(2), rtol=1e-6)  # at logit 0 BCE is log 2 for any target
  smoothed = losses.discriminator_bce(jnp.array([10.0]), jnp.array([-10.0]), real_label=0.9)
  plain = losses.discriminator_bce(jnp.array([10.0]), jnp.array([-10.0]))
  # With a target of 0.9, a confident real logit costs 0.1 * 10 more (BCE = softplus(l) - t l).
  np.testing.assert_allclose(smoothed - plain, 1.0, rtol=1e-3)


def test_r1_is_zero_for_a_constant_discriminator_and_half_w_squared_for_a_linear_one():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 4, 4, 1)), jnp.float32)
  assert float(losses.r1_penalty(lambda v: jnp.full(v.shape[0], 3.0) + 0 * v.sum(), x)) == 0.0
  w = jnp.arange(16.0).reshape(4, 4, 1) / 10
  linear = lambda v: jnp.sum(v * w, axis=(1, 2, 3))
  np.testing.assert_allclose(losses.r1_penalty(linear, x), 0.5 * float(jnp.sum(w ** 2)), rtol=1e-5)


def test_gradient_penalty_vanishes_for_unit_norm_linear_critic():
  rng = np.random.default_rng(1)
  real, fake = (jnp.asarray(rng.normal(size=(8, 5)), jnp.float32) for _ in range(2))
  w = jnp.array([0.6, 0.8, 0.0, 0.0, 0.0])  # ||w|| = 1
  import jax
  key = jax.random.PRNGKey(0)
  assert float(losses.gradient_penalty(lambda v: v @ w, real, fake, key)) < 1e-8
  np.testing.assert_allclose(losses.gradient_penalty(lambda v: v @ (2 * w), real, fake, key), 1.0,
                             rtol=1e-5)


def test_feature_matching_hand_computed():
  real = jnp.array([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
  fake = jnp.array([[0.0, 0.0], [2.0, 2.0]])  # mean (1, 1)
  np.testing.assert_allclose(losses.feature_matching(real, fake), 1.0 + 4.0, rtol=1e-6)


def test_unit_gaussian_nll_hand_computed():
  means = jnp.array([[0.0, 1.0], [2.0, -1.0]])
  values = jnp.array([[0.5, 1.0], [0.0, 0.0]])
  # 0.5 * (0.25 + 0) and 0.5 * (4 + 1), averaged over the batch.
  assert float(losses.unit_gaussian_nll(means, values)) == pytest.approx((0.125 + 2.5) / 2)


def test_energy_margin_losses_hand_computed():
  real, fake = jnp.array([1.0, 3.0]), jnp.array([4.0, 12.0])
  # mean(1, 3) + mean([10 - 4]^+, [10 - 12]^+) = 2 + 3: samples past the margin stop pushing.
  assert float(losses.discriminator_energy(real, fake, margin=10.0)) == pytest.approx(5.0)
  assert float(losses.generator_energy(fake)) == pytest.approx(8.0)


def test_pull_away_term_hand_computed():
  # Cosines: (a, b) = 0, (a, c) = (b, c) = 1/sqrt(2); the mean of their squares over the 6
  # ordered pairs is (0 + 0.5 + 0.5) * 2 / 6. Scaling a code changes nothing.
  codes = jnp.array([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
  assert float(losses.pull_away(codes)) == pytest.approx(1 / 3, rel=1e-6)
  assert float(losses.pull_away(jnp.array([[1.0, 1.0], [2.0, 2.0]]))) == pytest.approx(1.0)
