"""Flax Linen modules. Generators map z (and `train`) to images; discriminators return logits."""
import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

_ACTIVATIONS = {'tanh': jnp.tanh, 'sigmoid': nn.sigmoid}


class MLPGenerator(nn.Module):
  """Goodfellow et al. (2014): Dense-ReLU stack, then a 784-unit output squashed into pixel range."""
  hidden_sizes: Sequence[int] = (128, 128, 100)
  image_shape: Sequence[int] = (28, 28, 1)
  output_activation: str = 'sigmoid'

  @nn.compact
  def __call__(self, z, train: bool = True):
    del train  # no dropout or normalisation
    x = z
    for size in self.hidden_sizes:
      x = nn.relu(nn.Dense(size)(x))
    x = nn.Dense(math.prod(self.image_shape))(x)
    return _ACTIVATIONS[self.output_activation](x).reshape((-1, *self.image_shape))


class MLPDiscriminator(nn.Module):
  hidden_sizes: Sequence[int] = (128, 128, 100)

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train
    x = x.reshape((x.shape[0], -1))
    for size in self.hidden_sizes:
      x = nn.relu(nn.Dense(size)(x))
    return nn.Dense(1)(x)[:, 0]


class DCGANGenerator(nn.Module):
  """Radford et al. (2016) for 28x28: Dense -> 7x7x(4f) -> ConvT 2f (s1) -> ConvT f (s2) -> ConvT c (s2).

  Under `jit` with a sharded batch, BatchNorm's batch statistics are those of the global batch,
  so they agree across devices.
  """
  base_features: int = 64
  channels: int = 1
  output_activation: str = 'tanh'

  @nn.compact
  def __call__(self, z, train: bool = True):
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9)
    f = self.base_features
    x = nn.Dense(7 * 7 * 4 * f, use_bias=False)(z)
    x = nn.leaky_relu(norm()(x), 0.2).reshape((-1, 7, 7, 4 * f))
    x = nn.ConvTranspose(2 * f, (5, 5), strides=(1, 1), padding='SAME', use_bias=False)(x)
    x = nn.leaky_relu(norm()(x), 0.2)
    x = nn.ConvTranspose(f, (5, 5), strides=(2, 2), padding='SAME', use_bias=False)(x)
    x = nn.leaky_relu(norm()(x), 0.2)
    x = nn.ConvTranspose(self.channels, (5, 5), strides=(2, 2), padding='SAME')(x)
    return _ACTIVATIONS[self.output_activation](x)


class DCGANDiscriminator(nn.Module):
  """Strided 5x5 convolutions with LeakyReLU(0.2) and dropout, then one logit."""
  base_features: int = 64
  dropout_rate: float = 0.3

  @nn.compact
  def __call__(self, x, train: bool = True):
    for features in (self.base_features, 2 * self.base_features):
      x = nn.Conv(features, (5, 5), strides=(2, 2), padding='SAME')(x)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(nn.leaky_relu(x, 0.2))
    return nn.Dense(1)(x.reshape((x.shape[0], -1)))[:, 0]


def build_gan(config) -> tuple[nn.Module, nn.Module]:
  """The (generator, discriminator) pair that `config.model` names."""
  g, d = config.generator.to_dict(), config.discriminator.to_dict()
  if config.model == 'mlp_gan':
    return MLPGenerator(**g), MLPDiscriminator(**d)
  if config.model == 'dcgan':
    return DCGANGenerator(**g), DCGANDiscriminator(**d)
  raise ValueError(f'unknown model {config.model!r}; known: mlp_gan, dcgan')
