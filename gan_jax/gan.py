"""The GAN model family: alternating D and G updates, each network with its own Optax state."""

import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax import models
from gan_jax.state import Network, TrainState


def to_model_range(images_uint8, output_activation: str):
  """uint8 pixels -> the generator's output range ([-1, 1] for tanh, [0, 1] for sigmoid)."""
  x = images_uint8.astype(jnp.float32) / 255.0
  return 2.0 * x - 1.0 if output_activation == 'tanh' else x


def to_unit_range(images, output_activation: str):
  return (images + 1.0) / 2.0 if output_activation == 'tanh' else images


class GAN:
  """Builds modules, optimisers and losses from a config; its methods are pure functions."""

  def __init__(self, config):
    self.config = config
    self.generator, self.discriminator = models.build_gan(config)
    opt = config.optimizer
    self.g_tx = optax.adam(opt.g_learning_rate, b1=opt.b1, b2=opt.b2)
    self.d_tx = optax.adam(opt.d_learning_rate, b1=opt.b1, b2=opt.b2)
    self.d_loss_fn, self.g_loss_fn = losses.GAN_LOSSES[config.loss]
    self.output_activation = config.generator.output_activation

  def init(self, rng, image_shape=(28, 28, 1)) -> TrainState:
    g_key, d_key, rng = jax.random.split(rng, 3)
    z = jnp.zeros((1, self.config.latent_dim))
    g_vars = self.generator.init(g_key, z, train=False)
    d_vars = self.discriminator.init(d_key, jnp.zeros((1, *image_shape)), train=False)
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, networks={
        'generator': Network.create(g_vars, self.g_tx),
        'discriminator': Network.create(d_vars, self.d_tx)})

  def sample_latents(self, rng, n: int):
    return jax.random.normal(rng, (n, self.config.latent_dim))

  def train_step(self, state: TrainState, batch, rng):
    """One D update on real and fake, then one G update against the updated D."""
    g, d = state.networks['generator'], state.networks['discriminator']
    z_key, d_dropout, g_dropout = jax.random.split(rng, 3)
    real = to_model_range(batch['image'], self.output_activation)
    z = self.sample_latents(z_key, real.shape[0])
    fake, _ = self.generator.apply(g.variables(), z, train=True, mutable=['batch_stats'])
    fake = jax.lax.stop_gradient(fake)

    def d_loss(d_params):
      logits = self.discriminator.apply(d.variables(d_params), jnp.concatenate([real, fake]),
                                        train=True, rngs={'dropout': d_dropout})
      real_logits, fake_logits = jnp.split(logits, 2)
      return self.d_loss_fn(real_logits, fake_logits), (real_logits, fake_logits)

    (d_loss_value, (real_logits, fake_logits)), d_grads = jax.value_and_grad(
        d_loss, has_aux=True)(d.params)
    d = d.apply_gradients(d_grads, self.d_tx)

    def g_loss(g_params):
      fake, new_vars = self.generator.apply(g.variables(g_params), z, train=True,
                                            mutable=['batch_stats'])
      logits = self.discriminator.apply(d.variables(), fake, train=True,
                                        rngs={'dropout': g_dropout})
      return self.g_loss_fn(logits), new_vars.get('batch_stats', {})

    (g_loss_value, g_batch_stats), g_grads = jax.value_and_grad(g_loss, has_aux=True)(g.params)
    g = g.apply_gradients(g_grads, self.g_tx, batch_stats=g_batch_stats)

    metrics = {'d_loss': d_loss_value, 'g_loss': g_loss_value,
               'd_real': jnp.mean(jax.nn.sigmoid(real_logits)),
               'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits))}
    new_state = state.replace(step=state.step + 1,
                              networks={'generator': g, 'discriminator': d})
    return new_state, metrics

  def generate(self, state: TrainState, z):
    """Images in [0, 1] from latents, with BatchNorm's running statistics."""
    g = state.networks['generator']
    return to_unit_range(self.generator.apply(g.variables(), z, train=False),
                         self.output_activation)
