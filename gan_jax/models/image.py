"""Image networks: the MLP and DCGAN generators and discriminators, the VAEs' encoders and
decoders, and the reference MNIST classifier. Generators map z (and `train`) to images;
discriminators return logits."""
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.layers import (SubpixelConvTranspose, compute_dtype, conv_general_dilated,
                                   maybe_spectral, minibatch_stddev)

_ACTIVATIONS = {'tanh': jnp.tanh, 'sigmoid': nn.sigmoid}


def _with_labels(z, labels, num_classes: int):
  """Conditioning of a generator: one-hot labels appended to the noise."""
  return z if not num_classes else jnp.concatenate(
      [z, jax.nn.one_hot(labels, num_classes, dtype=z.dtype)], axis=-1)


def _discriminator_head(module: nn.Module, features, labels, train: bool, code_features=None):
  """Features -> one logit; with classes, plus the projection <embed(y), features> (Miyato &
  Koyama 2018). Sows the features into 'intermediates' for feature matching, and with
  `auxiliary_classifier` the class logits of a Dense layer on them (AC-GAN, Odena et al. 2017),
  with `code_classes` the logits of InfoGAN's Q head for the generator's categorical code and
  with `code_continuous` the means it predicts for the continuous codes (Chen et al. 2016; Dense
  layers on D's features, the body shared, or on `code_features` where Q has layers of its own).
  Called inside the discriminator's compact method, so its layers are the discriminator's own."""
  code_features = features if code_features is None else code_features
  module.sow('intermediates', 'features', features)
  dense = nn.Dense(1, dtype=module.dtype)
  logits = maybe_spectral(dense, module.spectral_norm)(features, train)[:, 0]
  if module.num_classes:
    embedding = nn.Embed(module.num_classes, features.shape[-1], dtype=module.dtype)(labels)
    logits = logits + jnp.sum(embedding * features, axis=-1)
    if module.auxiliary_classifier:
      module.sow('intermediates', 'class_logits', nn.Dense(
          module.num_classes, dtype=module.dtype)(features).astype(jnp.float32))
  if module.code_classes:
    module.sow('intermediates', 'code_logits', nn.Dense(
        module.code_classes, dtype=module.dtype, name='code_head')(code_features).astype(
            jnp.float32))
  if module.code_continuous:
    module.sow('intermediates', 'code_means', nn.Dense(
        module.code_continuous, dtype=module.dtype, name='code_mean_head')(code_features).astype(
            jnp.float32))
  return logits.astype(jnp.float32)


class _Discriminator(nn.Module):
  """What every GAN discriminator takes: the conditioning and head switches that
  `_discriminator_head` reads, and the computation dtype."""
  num_classes: int = 0
  auxiliary_classifier: bool = False
  code_classes: int = 0
  code_continuous: int = 0
  spectral_norm: bool = False
  minibatch_stddev: bool = False
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32


def strided_conv_fn(phase_form_input_gradient: bool):
  """The convolution a discriminator's strided layers run: with the phase-form input gradient
  (faster first-order gradients on the CPU), or XLA's own, which the penalties (R1, gradient
  penalty) differentiate through far faster."""
  return conv_general_dilated if phase_form_input_gradient else jax.lax.conv_general_dilated


class MLPGenerator(nn.Module):
  """Goodfellow et al. (2014): Dense-ReLU stack, then a 784-unit output squashed into pixel range."""
  hidden_sizes: Sequence[int] = (128, 128, 100)
  image_shape: Sequence[int] = (28, 28, 1)
  output_activation: str = 'sigmoid'
  num_classes: int = 0
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    del train  # no dropout or normalisation
    x = _with_labels(z, labels, self.num_classes)
    for size in self.hidden_sizes:
      x = nn.relu(nn.Dense(size, dtype=self.dtype)(x))
    x = nn.Dense(math.prod(self.image_shape), dtype=self.dtype)(x)
    return _ACTIVATIONS[self.output_activation](x).reshape((-1, *self.image_shape)).astype(
        jnp.float32)


class MLPDiscriminator(_Discriminator):
  hidden_sizes: Sequence[int] = (128, 128, 100)

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    x = x.reshape((x.shape[0], -1))
    for size in self.hidden_sizes:
      x = nn.relu(maybe_spectral(nn.Dense(size, dtype=self.dtype), self.spectral_norm)(x, train))
    if self.minibatch_stddev:
      x = minibatch_stddev(x)
    return _discriminator_head(self, x, labels, train)


class DCGANGenerator(nn.Module):
  """Radford et al. (2016) for 28x28: Dense -> 7x7x(4f) -> ConvT 2f (s1) -> ConvT f (s2) -> ConvT c (s2).

  Under `jit` with a sharded batch, BatchNorm's batch statistics are those of the global batch,
  so they agree across devices.
  """
  base_features: int = 64
  channels: int = 1
  output_activation: str = 'tanh'
  num_classes: int = 0
  # Weight of the old running averages per training step; 0 makes one train-mode call store
  # exactly that batch's statistics (how GAN computes standing statistics).
  batch_norm_momentum: float = 0.9
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=self.batch_norm_momentum,
                                dtype=self.dtype)
    f = self.base_features
    x = nn.Dense(7 * 7 * 4 * f, use_bias=False, dtype=self.dtype)(
        _with_labels(z, labels, self.num_classes))
    x = nn.leaky_relu(norm()(x), 0.2).reshape((-1, 7, 7, 4 * f))
    x = nn.ConvTranspose(2 * f, (5, 5), strides=(1, 1), padding='SAME', use_bias=False,
                         dtype=self.dtype)(x)
    x = nn.leaky_relu(norm()(x), 0.2)
    # Named as the nn.ConvTranspose layers they compute, so parameters and checkpoints agree.
    x = SubpixelConvTranspose(f, 5, use_bias=False, dtype=self.dtype, name='ConvTranspose_1')(x)
    x = nn.leaky_relu(norm()(x), 0.2)
    x = SubpixelConvTranspose(self.channels, 5, dtype=self.dtype, name='ConvTranspose_2')(x)
    return _ACTIVATIONS[self.output_activation](x).astype(jnp.float32)


class DCGANDiscriminator(_Discriminator):
  """Strided 5x5 convolutions with LeakyReLU(0.2) and dropout, then (with `hidden_features`) a
  LeakyReLU Dense layer, then one logit."""
  base_features: int = 64
  dropout_rate: float = 0.3
  # A hidden Dense layer before the logit (InfoGAN's MNIST D has 1024): without it the logit is
  # linear in the last convolution's 7x7 features, a weak judge of a digit's global shape.
  hidden_features: int = 0
  # The phase-form input gradient speeds up D's first-order gradients; differentiating through
  # it again (R1, gradient penalty) is far slower than through XLA's own convolution, so the
  # penalties use a clone with this off (same parameters, same function).
  phase_form_input_gradient: bool = True

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    conv_fn = strided_conv_fn(self.phase_form_input_gradient)
    for features in (self.base_features, 2 * self.base_features):
      conv = nn.Conv(features, (5, 5), strides=(2, 2), padding='SAME', dtype=self.dtype,
                     conv_general_dilated=conv_fn)
      x = nn.leaky_relu(maybe_spectral(conv, self.spectral_norm)(x, train), 0.2)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    if self.minibatch_stddev:
      x = minibatch_stddev(x)
    x = x.reshape((x.shape[0], -1))
    if self.hidden_features:
      dense = nn.Dense(self.hidden_features, dtype=self.dtype)
      x = nn.leaky_relu(maybe_spectral(dense, self.spectral_norm)(x, train), 0.2)
    return _discriminator_head(self, x, labels, train)


class InfoGANGenerator(nn.Module):
  """Chen et al. (2016)'s MNIST generator (their table 1 and the authors' `mnist` network):
  Dense 1024 -> Dense 7x7x128 -> ConvT 64 (4x4, s2) -> ConvT c (4x4, s2), BatchNorm and ReLU
  after each hidden layer, weights initialised N(0, 0.02) as in the authors' layers."""
  channels: int = 1
  output_activation: str = 'tanh'
  num_classes: int = 0
  batch_norm_momentum: float = 0.9  # see DCGANGenerator; the authors' moving averages: 0.9
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    init = {'kernel_init': nn.initializers.normal(0.02), 'dtype': self.dtype}
    norm = lambda x: nn.relu(nn.BatchNorm(use_running_average=not train, epsilon=1e-5,
                                          momentum=self.batch_norm_momentum, dtype=self.dtype)(x))
    x = norm(nn.Dense(1024, **init)(_with_labels(z, labels, self.num_classes)))
    x = norm(nn.Dense(7 * 7 * 128, **init)(x)).reshape((-1, 7, 7, 128))
    # nn.ConvTranspose(f, (4, 4), strides=(2, 2), padding='SAME'), in the CPU's faster form.
    x = norm(SubpixelConvTranspose(64, 4, name='ConvTranspose_0', **init)(x))
    x = SubpixelConvTranspose(self.channels, 4, name='ConvTranspose_1', **init)(x)
    return _ACTIVATIONS[self.output_activation](x).astype(jnp.float32)


class InfoGANDiscriminator(_Discriminator):
  """Chen et al. (2016)'s MNIST discriminator: Conv 64 (4x4, s2) -> Conv 128 (4x4, s2) ->
  Dense 1024, LeakyReLU(0.01) after each (the authors' `leaky_rectify`), BatchNorm after the
  last two; Q has its own hidden layer (Dense 128, BatchNorm, LeakyReLU) on those features."""
  batch_norm_momentum: float = 0.9
  phase_form_input_gradient: bool = True  # see DCGANDiscriminator

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    init = {'kernel_init': nn.initializers.normal(0.02), 'dtype': self.dtype}
    conv_fn = strided_conv_fn(self.phase_form_input_gradient)
    conv = lambda features: nn.Conv(features, (4, 4), strides=(2, 2), padding='SAME',
                                    conv_general_dilated=conv_fn, **init)
    act = lambda x: nn.leaky_relu(x, 0.01)
    norm = lambda x: nn.BatchNorm(use_running_average=not train, epsilon=1e-5,
                                  momentum=self.batch_norm_momentum, dtype=self.dtype)(x)
    layer = lambda module, x: maybe_spectral(module, self.spectral_norm)(x, train)
    x = act(layer(conv(64), x))
    x = act(norm(layer(conv(128), x)))
    if self.minibatch_stddev:
      x = minibatch_stddev(x)
    x = act(norm(layer(nn.Dense(1024, **init), x.reshape((x.shape[0], -1)))))
    q = act(norm(nn.Dense(128, **init)(x))) if self.code_classes or self.code_continuous else None
    return _discriminator_head(self, x, labels, train, code_features=q)


class AutoencoderDiscriminator(nn.Module):
  """EBGAN's discriminator (Zhao et al. 2017): an autoencoder whose energy, the L2 norm of an
  image's reconstruction error, training keeps low on data and raises on samples.

  Encoder: 5x5 stride-2 convolutions (f, 2f) with LeakyReLU(0.2), then a Dense layer to a
  `code_dim` code (sown as 'features': the pull-away term's embedding); the decoder mirrors it
  (Dense to 7x7x2f, LeakyReLU, stride-2 transposed convolutions f and c, linear output). With
  `denoise_std` > 0 it is a denoising autoencoder in training: it encodes the image with
  Gaussian noise added and is scored on reconstructing the clean one (the adversarial document
  model's D).
  """
  base_features: int = 64
  code_dim: int = 128
  denoise_std: float = 0.0
  channels: int = 1
  phase_form_input_gradient: bool = True  # as DCGANDiscriminator's
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    del labels  # unconditional
    target = x
    if self.denoise_std and train:
      x = x + self.denoise_std * jax.random.normal(self.make_rng('dropout'), x.shape, x.dtype)
    conv_fn = strided_conv_fn(self.phase_form_input_gradient)
    f = self.base_features
    for features in (f, 2 * f):
      x = nn.leaky_relu(nn.Conv(features, (5, 5), strides=(2, 2), padding='SAME',
                                dtype=self.dtype, conv_general_dilated=conv_fn)(x), 0.2)
    code = nn.Dense(self.code_dim, dtype=self.dtype)(x.reshape((x.shape[0], -1)))
    self.sow('intermediates', 'features', code)
    x = nn.leaky_relu(nn.Dense(7 * 7 * 2 * f, dtype=self.dtype)(code), 0.2)
    x = nn.leaky_relu(SubpixelConvTranspose(f, 5, dtype=self.dtype)(x.reshape((-1, 7, 7, 2 * f))),
                      0.2)
    reconstruction = SubpixelConvTranspose(self.channels, 5, dtype=self.dtype)(x)
    squared = jnp.sum((reconstruction.astype(jnp.float32) - target) ** 2, axis=(1, 2, 3))
    return jnp.sqrt(squared + 1e-8)  # the epsilon keeps the gradient finite at 0


class MLP(nn.Module):
  """Dense layers with ReLU between them and a linear last layer; images are flattened."""
  sizes: Sequence[int]
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = x.reshape((x.shape[0], -1))
    for i, size in enumerate(self.sizes):
      x = nn.Dense(size, dtype=self.dtype)(x)
      if i < len(self.sizes) - 1:
        x = nn.relu(x)
    return x.astype(jnp.float32)


class BiGANMLP(nn.Module):
  """Donahue et al. (2017)'s permutation-invariant MNIST networks (their `mnist_mlp` and
  `deconvnet_mnist_mlp`): Dense layers; BatchNorm on the hidden layers from `normalize_from` on;
  ReLU or leaky ReLU (slope 0.2); a linear last layer. A `condition` (D's code, G's own input
  z) joins the input of every hidden layer after the first, as in the joint discriminator,
  where z meets the image's first-layer features. Returns (output, last hidden features): an
  encoder's are its representation (the paper's 1-NN accuracy is measured on them)."""
  sizes: Sequence[int]
  activation: str = 'relu'
  normalize_from: int = 0
  dtype: Any = jnp.float32
  batch_norm_momentum: float = 0.9  # 0: for state.standing_statistics

  @nn.compact
  def __call__(self, x, condition=None, train: bool = True):
    if condition is not None and len(self.sizes) < 3:
      raise ValueError(f'a condition joins the hidden layers after the first: give at least two '
                       f'hidden layers (sizes {tuple(self.sizes)})')
    act = nn.relu if self.activation == 'relu' else lambda h: nn.leaky_relu(h, 0.2)
    h = x.reshape((x.shape[0], -1))
    for i, size in enumerate(self.sizes[:-1]):
      if condition is not None and i > 0:
        h = jnp.concatenate([h, condition.astype(h.dtype)], axis=-1)
      h = nn.Dense(size, dtype=self.dtype, use_bias=i < self.normalize_from)(h)
      if i >= self.normalize_from:
        h = nn.BatchNorm(use_running_average=not train, momentum=self.batch_norm_momentum,
                         dtype=self.dtype)(h)
      h = act(h)
    return nn.Dense(self.sizes[-1], dtype=self.dtype)(h).astype(jnp.float32), h.astype(jnp.float32)


def build_gan(config) -> tuple[nn.Module, nn.Module]:
  """The (generator, discriminator) pair that `config.model` names."""
  classes = config.num_classes
  dtype = compute_dtype(config)
  g = dict(config.generator.to_dict(), num_classes=classes, dtype=dtype)
  d = dict(config.discriminator.to_dict(), num_classes=classes, dtype=dtype,
           auxiliary_classifier=config.classifier_weight > 0,
           code_classes=config.code_classes, code_continuous=config.code_continuous)
  if config.model == 'mlp_gan':
    return MLPGenerator(**g), MLPDiscriminator(**d)
  if config.model in ('dcgan', 'vaegan'):
    return DCGANGenerator(**g), DCGANDiscriminator(**d)
  if config.model == 'infogan':
    return InfoGANGenerator(**g), InfoGANDiscriminator(**d)
  if config.model == 'ebgan':
    on = [name for name, value in [
        ('num_classes', classes), ('classifier_weight', config.classifier_weight),
        ('code_classes', config.code_classes), ('code_continuous', config.code_continuous),
        ('discriminator.spectral_norm', config.discriminator.spectral_norm),
        ('discriminator.minibatch_stddev', config.discriminator.minibatch_stddev)] if value]
    if on:
      raise ValueError(f'ebgan\'s autoencoder discriminator supports none of {", ".join(on)}; '
                       'turn them off')
    d = {k: v for k, v in config.discriminator.items()
         if k not in ('spectral_norm', 'minibatch_stddev')}
    return DCGANGenerator(**g), AutoencoderDiscriminator(**d, dtype=dtype)
  raise ValueError(f'unknown model {config.model!r}; known: mlp_gan, dcgan, vaegan, infogan, ebgan')


class MNISTClassifier(nn.Module):
  """VGG-style CNN: two blocks of two 3x3 convs and max-pooling, a hidden layer, 10 logits.

  Returns (logits, features); the hidden layer's activations are the features the FID-style
  metrics compare.
  """
  block_features: Sequence[int] = (32, 64)
  hidden_size: int = 128
  dropout_rate: float = 0.5
  num_classes: int = 10
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    for features in self.block_features:
      x = nn.relu(nn.Conv(features, (3, 3), dtype=self.dtype)(x))
      x = nn.relu(nn.Conv(features, (3, 3), dtype=self.dtype)(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    features = nn.relu(nn.Dense(self.hidden_size, dtype=self.dtype)(x.reshape((x.shape[0], -1))))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(features)
    return (nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32),
            features.astype(jnp.float32))


class MLPVAE(nn.Module):
  """Burda et al. (2015)'s one-stochastic-layer VAE: 784-200-200 tanh encoder to a diagonal
  Gaussian, mirrored decoder to Bernoulli logits."""
  hidden_sizes: Sequence[int] = (200, 200)
  latent_dim: int = 50
  image_shape: Sequence[int] = (28, 28, 1)
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  def setup(self):
    self.encoder = [nn.Dense(size, dtype=self.dtype) for size in self.hidden_sizes]
    self.posterior = nn.Dense(2 * self.latent_dim, dtype=self.dtype)
    self.decoder = [nn.Dense(size, dtype=self.dtype) for size in reversed(self.hidden_sizes)]
    self.likelihood = nn.Dense(math.prod(self.image_shape), dtype=self.dtype)

  def encode(self, x):
    """Images -> (mean, log-variance) of q(z | x)."""
    h = x.reshape((x.shape[0], -1))
    for layer in self.encoder:
      h = jnp.tanh(layer(h))
    mean, logvar = jnp.split(self.posterior(h).astype(jnp.float32), 2, axis=-1)
    return mean, logvar

  def decode(self, z):
    """Latents [..., latent_dim] -> Bernoulli logits [..., *image_shape]."""
    h = z
    for layer in self.decoder:
      h = jnp.tanh(layer(h))
    return self.likelihood(h).astype(jnp.float32).reshape(z.shape[:-1] + tuple(self.image_shape))

  def __call__(self, x):
    mean, _ = self.encode(x)
    return self.decode(mean)


class ConvVAE(nn.Module):
  """Convolutional VAE for 28x28: two stride-2 5x5 convs (28 -> 14 -> 7) to a diagonal Gaussian;
  the decoder mirrors them with stride-2 transposed convs to Bernoulli logits."""
  features: Sequence[int] = (32, 64)
  latent_dim: int = 50
  image_shape: Sequence[int] = (28, 28, 1)
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  def setup(self):
    self.encoder = [nn.Conv(f, (5, 5), strides=(2, 2), dtype=self.dtype,
                            conv_general_dilated=conv_general_dilated) for f in self.features]
    self.posterior = nn.Dense(2 * self.latent_dim, dtype=self.dtype)
    self.project = nn.Dense(7 * 7 * self.features[-1], dtype=self.dtype)
    self.decoder = [SubpixelConvTranspose(f, 5, dtype=self.dtype)
                    for f in reversed(self.features[:-1])]
    self.likelihood = SubpixelConvTranspose(self.image_shape[-1], 5, dtype=self.dtype)

  def encode(self, x):
    h = x
    for layer in self.encoder:
      h = nn.elu(layer(h))
    mean, logvar = jnp.split(self.posterior(h.reshape((h.shape[0], -1))).astype(jnp.float32), 2,
                             axis=-1)
    return mean, logvar

  def decode(self, z):
    batch_shape = z.shape[:-1]
    h = nn.elu(self.project(z.reshape((-1, z.shape[-1]))))
    h = h.reshape((-1, 7, 7, self.features[-1]))
    for layer in self.decoder:
      h = nn.elu(layer(h))
    return self.likelihood(h).astype(jnp.float32).reshape(batch_shape + tuple(self.image_shape))

  def __call__(self, x):
    mean, _ = self.encode(x)
    return self.decode(mean)
