"""GAN losses as pure functions of the discriminator's logits (real = 1, fake = 0)."""
import jax.numpy as jnp
import optax


def bce_with_logits(logits, label: float):
  """Mean binary cross-entropy of sigmoid(logits) against a constant label, stable in logits."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


def discriminator_bce(real_logits, fake_logits):
  """-E log D(x) - E log(1 - D(G(z))): the discriminator's side of the minimax game."""
  return bce_with_logits(real_logits, 1.0) + bce_with_logits(fake_logits, 0.0)


def generator_non_saturating(fake_logits):
  """-E log D(G(z)): Goodfellow et al.'s practical G loss, strong gradients early in training."""
  return bce_with_logits(fake_logits, 1.0)


def generator_minimax(fake_logits):
  """E log(1 - D(G(z))): the literal minimax G loss, which saturates when D wins."""
  return -bce_with_logits(fake_logits, 0.0)


# config.loss -> (discriminator loss, generator loss)
GAN_LOSSES = {
    'non_saturating': (discriminator_bce, generator_non_saturating),
    'minimax': (discriminator_bce, generator_minimax),
}
