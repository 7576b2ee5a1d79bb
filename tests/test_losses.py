import math

import jax.numpy as jnp
import numpy as np

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
