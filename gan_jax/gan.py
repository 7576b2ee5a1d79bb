"""The GAN model family: alternating D and G updates, each network with its own Optax state.

Every stabiliser is a config switch read here, used by the one train step:
`loss` (non_saturating, minimax, hinge, least_squares, wasserstein), `r1_weight`, `gp_weight`
(WGAN-GP with loss=wasserstein), `label_smoothing` (one-sided, BCE losses),
`feature_matching`, `discriminator.spectral_norm`, `discriminator.minibatch_stddev`,
`ema_decay` (sample and evaluate with an EMA of G's weights), and separate learning rates
`optimizer.g_learning_rate` / `optimizer.d_learning_rate` (TTUR). `num_classes` > 0 makes both
networks class-conditional.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import losses
from gan_jax import models
from gan_jax import reference
from gan_jax.state import Network, TrainState


def to_model_range(images_uint8, output_activation: str):
  """uint8 pixels -> the generator's output range ([-1, 1] for tanh, [0, 1] for sigmoid)."""
  x = images_uint8.astype(jnp.float32) / 255.0
  return 2.0 * x - 1.0 if output_activation == 'tanh' else x


def to_unit_range(images, output_activation: str):
  return (images + 1.0) / 2.0 if output_activation == 'tanh' else images


GRID_COLUMNS = 8


class GAN:
  """Builds modules, optimisers and losses from a config; its methods are pure functions."""

  def __init__(self, config):
    self.config = config
    self.generator, self.discriminator = models.build_gan(config)
    opt = config.optimizer
    self.g_tx = optax.adam(opt.g_learning_rate, b1=opt.b1, b2=opt.b2)
    self.d_tx = optax.adam(opt.d_learning_rate, b1=opt.b1, b2=opt.b2)
    self.d_loss_fn, self.g_loss_fn = losses.GAN_LOSSES[config.loss]
    smoothing = config.get('label_smoothing', 0.0)
    if smoothing:
      if self.d_loss_fn is not losses.discriminator_bce:
        raise ValueError('label_smoothing applies to the BCE losses (non_saturating, minimax), '
                         f'not to loss={config.loss}')
      self.d_loss_fn = functools.partial(losses.discriminator_bce, real_label=1.0 - smoothing)
    self.num_classes = config.get('num_classes', 0)
    self.r1_weight = config.get('r1_weight', 0.0)
    self.gp_weight = config.get('gp_weight', 0.0)
    self.feature_matching = config.get('feature_matching', False)
    self.ema_decay = config.get('ema_decay', 0.0)
    self.output_activation = config.generator.output_activation
    self._generate = jax.jit(self.generate)

  def init(self, rng, image_shape=(28, 28, 1)) -> TrainState:
    g_key, d_key, rng = jax.random.split(rng, 3)
    # A batch of 4 for init: minibatch stddev groups samples by 4.
    labels = jnp.zeros((4,), jnp.int32) if self.num_classes else None
    g_vars = self.generator.init(g_key, jnp.zeros((4, self.config.latent_dim)), labels,
                                 train=False)
    d_vars = self.discriminator.init(d_key, jnp.zeros((4, *image_shape)), labels, train=False)
    networks = {'generator': Network.create(g_vars, self.g_tx),
                'discriminator': Network.create(d_vars, self.d_tx)}
    if self.ema_decay:
      networks['generator_ema'] = networks['generator'].replace(opt_state=())
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, networks=networks)

  def sample_latents(self, rng, n: int):
    return jax.random.normal(rng, (n, self.config.latent_dim))

  def sample_labels(self, rng, n: int):
    return jax.random.randint(rng, (n,), 0, self.num_classes) if self.num_classes else None

  def _discriminate(self, d: Network, params, x, labels, rng, train=True):
    """Logits, D's last hidden features and D's updated batch stats (spectral-norm vectors)."""
    logits, variables = self.discriminator.apply(
        d.variables(params), x, labels, train=train, rngs={'dropout': rng},
        mutable=['batch_stats', 'intermediates'])
    return logits, variables['intermediates']['features'][0], variables.get('batch_stats', {})

  def train_step(self, state: TrainState, batch, rng):
    """One D update on real and fake batches, then one G update against the updated D.

    G runs forward once: its fake batch feeds D's update, and G's gradient is its VJP applied
    to the gradient of G's loss at that same batch through the updated D (what differentiating
    a second, identical forward pass would give, without the second pass).
    """
    g, d = state.networks['generator'], state.networks['discriminator']
    keys = jax.random.split(rng, 7)
    real = to_model_range(batch['image'], self.output_activation)
    n = real.shape[0]
    real_labels = batch['label'] if self.num_classes else None
    z, fake_labels = self.sample_latents(keys[0], n), self.sample_labels(keys[1], n)

    def generate_fake(g_params):
      fake, new_vars = self.generator.apply(g.variables(g_params), z, fake_labels, train=True,
                                            mutable=['batch_stats'])
      return fake, new_vars.get('batch_stats', {})

    fake, g_vjp, g_batch_stats = jax.vjp(generate_fake, g.params, has_aux=True)

    def d_loss(d_params):
      # Real and fake in separate calls, so batch statistics (minibatch stddev) never mix them.
      real_logits, _, d_stats = self._discriminate(d, d_params, real, real_labels, keys[2])
      fake_logits, _, d_stats = self._discriminate(d.replace(batch_stats=d_stats), d_params,
                                                   fake, fake_labels, keys[3])
      loss = self.d_loss_fn(real_logits, fake_logits)
      terms = {}
      critic = lambda labels: lambda x: self.discriminator.apply(
          {'params': d_params, 'batch_stats': d_stats}, x, labels, train=False)
      if self.r1_weight:
        terms['r1'] = losses.r1_penalty(critic(real_labels), real)
        loss += self.r1_weight * terms['r1']
      if self.gp_weight:
        terms['gradient_penalty'] = losses.gradient_penalty(critic(real_labels), real, fake,
                                                            keys[4])
        loss += self.gp_weight * terms['gradient_penalty']
      return loss, (real_logits, fake_logits, d_stats, terms)

    (d_loss_value, (real_logits, fake_logits, d_stats, terms)), d_grads = jax.value_and_grad(
        d_loss, has_aux=True)(d.params)
    d = d.apply_gradients(d_grads, self.d_tx, batch_stats=d_stats)

    def g_loss(fake):
      logits, fake_features, _ = self._discriminate(d, d.params, fake, fake_labels, keys[5])
      if self.feature_matching:
        _, real_features, _ = self._discriminate(d, d.params, real, real_labels, keys[6])
        return losses.feature_matching(jax.lax.stop_gradient(real_features), fake_features)
      return self.g_loss_fn(logits)

    g_loss_value, fake_grads = jax.value_and_grad(g_loss)(fake)
    g_grads, = g_vjp(fake_grads)
    g = g.apply_gradients(g_grads, self.g_tx, batch_stats=g_batch_stats)
    networks = {'generator': g, 'discriminator': d}
    if self.ema_decay:
      ema = state.networks['generator_ema']
      networks['generator_ema'] = ema.replace(
          params=optax.incremental_update(g.params, ema.params, 1.0 - self.ema_decay),
          batch_stats=g.batch_stats)

    metrics = {'d_loss': d_loss_value, 'g_loss': g_loss_value,
               'd_real': jnp.mean(jax.nn.sigmoid(real_logits)),
               'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits)), **terms}
    return state.replace(step=state.step + 1, networks=networks), metrics

  def generate(self, state: TrainState, z, labels=None):
    """Images in [0, 1] from latents (with the EMA weights when on), BatchNorm in eval mode."""
    g = state.networks['generator_ema' if self.ema_decay else 'generator']
    return to_unit_range(self.generator.apply(g.variables(), z, labels, train=False),
                         self.output_activation)

  def sample_grid(self, state: TrainState, num_samples: int = GRID_COLUMNS ** 2):
    """Samples from fixed noise (the same at every call of a run), for the PNG grids; with
    classes, one row per class."""
    if self.num_classes:
      labels = jnp.repeat(jnp.arange(self.num_classes), GRID_COLUMNS)
      num_samples = labels.shape[0]
    else:
      labels = None
    z = self.sample_latents(jax.random.PRNGKey(self.config.seed + 1), num_samples)
    return self.generate(state, z, labels)

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """Reference-classifier metrics of num_samples images from fixed evaluation noise (with
    classes: equally many of each, and the classifier's agreement with the asked-for label)."""
    num_samples = num_samples or self.config.eval_num_samples
    key = jax.random.PRNGKey(self.config.seed + 2)
    labels = np.arange(num_samples) % self.num_classes if self.num_classes else None
    images = []
    for start in range(0, num_samples, 1000):
      stop = min(start + 1000, num_samples)
      z = self.sample_latents(jax.random.fold_in(key, start), stop - start)
      images.append(jax.device_get(self._generate(
          state, z, None if labels is None else labels[start:stop])))
    return reference.image_metrics(np.concatenate(images), labels)
