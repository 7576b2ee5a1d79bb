"""Flax Linen modules. Generators map z (and `train`) to images; discriminators return logits."""
import functools
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_ACTIVATIONS = {'tanh': jnp.tanh, 'sigmoid': nn.sigmoid}


def _with_labels(z, labels, num_classes: int):
  """Conditioning of a generator: one-hot labels appended to the noise."""
  return z if not num_classes else jnp.concatenate(
      [z, jax.nn.one_hot(labels, num_classes, dtype=z.dtype)], axis=-1)


def _maybe_spectral(layer: nn.Module, spectral_norm: bool):
  """The layer, or the layer with its weight divided by its top singular value (Miyato et al.
  2018); the power-iteration vector is a 'batch_stats' variable, updated when training."""
  if not spectral_norm:
    return lambda x, train: layer(x)
  wrapped = nn.SpectralNorm(layer, dtype=layer.dtype)
  return lambda x, train: wrapped(x, update_stats=train)


def minibatch_stddev(x, group_size: int = 4):
  """Appends the mean over features of the per-group standard deviation as one more channel
  (Karras et al. 2018), so D can see a lack of variety within a batch."""
  n = x.shape[0]
  group = min(group_size, n)
  if n % group:
    raise ValueError(f'minibatch stddev needs a batch divisible by {group}, got {n}')
  grouped = x.reshape((group, n // group) + x.shape[1:])
  std = jnp.sqrt(jnp.var(grouped, axis=0) + 1e-8)
  stat = jnp.mean(std, axis=tuple(range(1, std.ndim)))  # one value per group column
  stat = jnp.tile(stat, group).reshape((n,) + (1,) * (x.ndim - 1))
  return jnp.concatenate([x, jnp.broadcast_to(stat, x.shape[:-1] + (1,))], axis=-1)


def _discriminator_head(module: nn.Module, features, labels, train: bool):
  """Features -> one logit; with classes, plus the projection <embed(y), features> (Miyato &
  Koyama 2018). Sows the features into 'intermediates' for feature matching, and with
  `auxiliary_classifier` the class logits of a Dense layer on them (AC-GAN, Odena et al. 2017).
  Called inside the discriminator's compact method, so its layers are the discriminator's own."""
  module.sow('intermediates', 'features', features)
  dense = nn.Dense(1, dtype=module.dtype)
  logits = _maybe_spectral(dense, module.spectral_norm)(features, train)[:, 0]
  if module.num_classes:
    embedding = nn.Embed(module.num_classes, features.shape[-1], dtype=module.dtype)(labels)
    logits = logits + jnp.sum(embedding * features, axis=-1)
    if module.auxiliary_classifier:
      module.sow('intermediates', 'class_logits', nn.Dense(
          module.num_classes, dtype=module.dtype)(features).astype(jnp.float32))
  return logits.astype(jnp.float32)


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


class MLPDiscriminator(nn.Module):
  hidden_sizes: Sequence[int] = (128, 128, 100)
  num_classes: int = 0
  auxiliary_classifier: bool = False
  spectral_norm: bool = False
  minibatch_stddev: bool = False
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    x = x.reshape((x.shape[0], -1))
    for size in self.hidden_sizes:
      x = nn.relu(_maybe_spectral(nn.Dense(size, dtype=self.dtype), self.spectral_norm)(x, train))
    if self.minibatch_stddev:
      x = minibatch_stddev(x)
    return _discriminator_head(self, x, labels, train)


def _phase_kernel_index(kernel_size: int) -> np.ndarray:
  """[window, 2] kernel taps (kernel_size = a zero tap) for the phase form of a stride-2 conv's
  input gradient: input pixel 2q + p receives output pixel q - (window - 1) + j through tap
  2 (window - 1 - j) + p."""
  window = -(-kernel_size // 2)
  index = np.array([[2 * (window - 1 - j) + p for p in (0, 1)] for j in range(window)])
  return np.where(index < kernel_size, index, kernel_size)


def _stride2_input_grad(grad, kernel, input_hw, padding):
  """The input gradient of a stride-2 NHWC/HWIO convolution, as one stride-1 'VALID'
  convolution of the output gradient to 4x the input channels, one group per input phase (2x2
  block of input pixels), then depth-to-space. Only the blocks that overlap the unpadded input
  are computed."""
  k_h, k_w, c_in, c_out = kernel.shape
  n = grad.shape[0]
  windows = (-(-k_h // 2), -(-k_w // 2))
  firsts, counts, pads = [], [], [(0, 0, 0)]
  for size, (low, _), window, out in zip(input_hw, padding, windows, grad.shape[1:3]):
    first, count = low // 2, (low + size - 1) // 2 - low // 2 + 1
    # Block q reads output-gradient rows q - window + 1 .. q (zeros outside; lax.pad crops
    # where the amount is negative).
    start = window - 1 - first
    firsts.append(first)
    counts.append(count)
    pads.append((start, count + window - 1 - out - start, 0))
  grad = jax.lax.pad(grad, jnp.zeros((), grad.dtype), pads + [(0, 0, 0)])
  padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
  index_h, index_w = _phase_kernel_index(k_h), _phase_kernel_index(k_w)
  phases = padded[index_h[:, None, :, None], index_w[None, :, None, :]]  # (wh, ww, 2, 2, in, out)
  phases = phases.transpose(0, 1, 5, 2, 3, 4).reshape(windows[0], windows[1], c_out, 4 * c_in)
  x = jax.lax.conv_general_dilated(grad, phases, (1, 1), 'VALID',
                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  x = x.reshape(n, counts[0], counts[1], 2, 2, c_in).transpose(0, 1, 3, 2, 4, 5)
  x = x.reshape(n, 2 * counts[0], 2 * counts[1], c_in)
  (low_h, _), (low_w, _) = padding
  top, left = low_h - 2 * firsts[0], low_w - 2 * firsts[1]
  return x[:, top:top + input_hw[0], left:left + input_hw[1]]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _stride2_conv(x, kernel, padding):
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), padding,
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _stride2_conv_fwd(x, kernel, padding):
  return _stride2_conv(x, kernel, padding), (x, kernel)


def _stride2_conv_bwd(padding, residuals, grad):
  x, kernel = residuals
  _, kernel_vjp = jax.vjp(lambda kernel: _stride2_conv.fun(x, kernel, padding), kernel)
  return _stride2_input_grad(grad, kernel, x.shape[1:3], padding), kernel_vjp(grad)[0]


_stride2_conv.defvjp(_stride2_conv_fwd, _stride2_conv_bwd)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None):
  """jax.lax.conv_general_dilated as nn.Conv calls it (NHWC/HWIO; pass it as
  nn.Conv(conv_general_dilated=...)), same value and gradients; a stride-2 convolution's input
  gradient is computed in phase form (see _stride2_input_grad) when it has 16+ input channels.

  XLA's CPU input gradient of a strided convolution is a convolution over the output gradient
  dilated with zeros: 3x the time of the forward pass here, most of it multiplying zeros.
  """
  # With few input channels the phase form's convolution (4 x input channels out) is too thin
  # to pay: 6.0 vs 3.0 ms for dcgan_mnist's 1-channel first layer (benchmarks/README.md).
  plain = (tuple(window_strides) != (2, 2) or feature_group_count != 1 or lhs.shape[-1] < 16
           or precision is not None
           or any(d != 1 for d in tuple(lhs_dilation or ()) + tuple(rhs_dilation or ())))
  if plain:
    return jax.lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, precision=precision)
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
  return _stride2_conv(lhs, rhs, tuple(tuple(p) for p in padding))


def _stride2_phase_taps(kernel_size: int):
  """For lax.conv_transpose(stride 2, 'SAME'): output phase p in {0, 1} reads input offset d
  through kernel tap k, as {p: {d: k}}; with the smallest and largest offset."""
  pad_low = kernel_size - 1 if kernel_size < 3 else -(-kernel_size // 2)  # lax's SAME rule
  taps = {p: {(p + k - pad_low) // 2: k for k in range(kernel_size) if (p + k - pad_low) % 2 == 0}
          for p in (0, 1)}
  offsets = [d for phase in taps.values() for d in phase]
  return taps, min(offsets), max(offsets)


class SubpixelConvTranspose(nn.Module):
  """nn.ConvTranspose(features, (k, k), strides=(2, 2), padding='SAME'), same parameters and
  same function, computed as one stride-1 convolution to 4x the channels (one group per output
  phase, built from the kernel's taps) followed by depth-to-space.

  XLA's CPU gradient of a strided transposed convolution is slow (it dilates the input with
  zeros); this form does no multiplications by inserted zeros and is ~10x faster there.
  """
  features: int
  kernel_size: int = 5
  use_bias: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (k, k, x.shape[-1], self.features))
    taps, low, high = _stride2_phase_taps(k)
    window = high - low + 1
    index = np.full((window, 2), k)  # tap k (out of range) is the zero padding below
    for phase, offsets in taps.items():
      for offset, tap in offsets.items():
        index[offset - low, phase] = tap
    padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
    phases = padded[index[:, None, :, None], index[None, :, None, :]]  # (w, w, 2, 2, in, out)
    phases = phases.transpose(0, 1, 4, 2, 3, 5).reshape(window, window, x.shape[-1], -1)
    y = jax.lax.conv_general_dilated(x.astype(self.dtype), phases.astype(self.dtype), (1, 1),
                                     ((-low, high), (-low, high)),
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    n, h, w, _ = y.shape
    y = y.reshape(n, h, w, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5)
    y = y.reshape(n, 2 * h, 2 * w, self.features)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros_init(), (self.features,)).astype(self.dtype)
    return y


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


class DCGANDiscriminator(nn.Module):
  """Strided 5x5 convolutions with LeakyReLU(0.2) and dropout, then (with `hidden_features`) a
  LeakyReLU Dense layer, then one logit."""
  base_features: int = 64
  dropout_rate: float = 0.3
  # A hidden Dense layer before the logit (InfoGAN's MNIST D has 1024): without it the logit is
  # linear in the last convolution's 7x7 features, a weak judge of a digit's global shape.
  hidden_features: int = 0
  num_classes: int = 0
  auxiliary_classifier: bool = False
  spectral_norm: bool = False
  minibatch_stddev: bool = False
  # The phase-form input gradient speeds up D's first-order gradients; differentiating through
  # it again (R1, gradient penalty) is far slower than through XLA's own convolution, so the
  # penalties use a clone with this off (same parameters, same function).
  phase_form_input_gradient: bool = True
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    conv_fn = (conv_general_dilated if self.phase_form_input_gradient
               else jax.lax.conv_general_dilated)
    for features in (self.base_features, 2 * self.base_features):
      conv = nn.Conv(features, (5, 5), strides=(2, 2), padding='SAME', dtype=self.dtype,
                     conv_general_dilated=conv_fn)
      x = nn.leaky_relu(_maybe_spectral(conv, self.spectral_norm)(x, train), 0.2)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    if self.minibatch_stddev:
      x = minibatch_stddev(x)
    x = x.reshape((x.shape[0], -1))
    if self.hidden_features:
      dense = nn.Dense(self.hidden_features, dtype=self.dtype)
      x = nn.leaky_relu(_maybe_spectral(dense, self.spectral_norm)(x, train), 0.2)
    return _discriminator_head(self, x, labels, train)


COMPUTE_DTYPES = ('float32', 'bfloat16')


def compute_dtype(config):
  """`config.compute_dtype`: the dtype modules compute in. Parameters, optimiser states and
  losses stay float32 (modules cast their outputs back), so 'bfloat16' is mixed precision."""
  name = config.get('compute_dtype', 'float32')
  if name not in COMPUTE_DTYPES:
    raise ValueError(f'compute_dtype={name!r}; use one of {", ".join(COMPUTE_DTYPES)}')
  return jnp.dtype(name)


def build_gan(config) -> tuple[nn.Module, nn.Module]:
  """The (generator, discriminator) pair that `config.model` names."""
  classes = config.get('num_classes', 0)
  dtype = compute_dtype(config)
  g = dict(config.generator.to_dict(), num_classes=classes, dtype=dtype)
  d = dict(config.discriminator.to_dict(), num_classes=classes, dtype=dtype,
           auxiliary_classifier=config.get('classifier_weight', 0.0) > 0)
  if config.model == 'mlp_gan':
    return MLPGenerator(**g), MLPDiscriminator(**d)
  if config.model == 'dcgan':
    return DCGANGenerator(**g), DCGANDiscriminator(**d)
  raise ValueError(f'unknown model {config.model!r}; known: mlp_gan, dcgan')


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


class SentenceVAE(nn.Module):
  """Bowman et al. (2016)'s sentence VAE with GRUs: an encoder GRU's last state -> diagonal
  Gaussian z; a decoder GRU started from tanh(Dense(z)) and fed z with every input word.
  latent_dim=0 is the same decoder as a plain language model (no encoder, no z); such a language
  model can also use an LSTM (`cell='lstm'`, SeqGAN's generator and oracle).

  The decoder is exposed one step at a time (`initial_carry`, `step`, `logits`; `embed` and
  `step_embedded` split `step` for teacher forcing) so that teacher forcing and every decoding
  strategy run it under the same `lax.scan`; the embedding and the output layer are applied to all
  steps at once. With `train=True`, `embed` and `logits` drop out their inputs' features at
  `dropout_rate` (Zaremba et al. 2014: the non-recurrent connections)."""
  vocab_size: int
  embed_dim: int = 256
  hidden_size: int = 256
  latent_dim: int = 32
  cell: str = 'gru'
  dropout_rate: float = 0.0
  # SeqGAN's oracle draws every parameter, biases included, from N(0, 1) (Yu et al. 2017, and
  # the oracle parameters of their code); None keeps Flax's defaults.
  init_stddev: float | None = None
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  def setup(self):
    if self.cell not in ('gru', 'lstm') or (self.cell == 'lstm' and self.latent_dim):
      raise ValueError(f'cell={self.cell!r}: use gru, or lstm for a language model (latent_dim=0)')
    weights = ({} if self.init_stddev is None else
               {'kernel_init': nn.initializers.normal(self.init_stddev),
                'bias_init': nn.initializers.normal(self.init_stddev)})
    embed = ({} if self.init_stddev is None else
             {'embedding_init': nn.initializers.normal(self.init_stddev)})
    self.decoder_embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, **embed)
    self.dropout = nn.Dropout(self.dropout_rate)
    if self.cell == 'lstm':
      recurrent = {} if self.init_stddev is None else {'recurrent_kernel_init': weights['kernel_init']}
      self.decoder_cell = nn.OptimizedLSTMCell(self.hidden_size, dtype=self.dtype, **weights,
                                               **recurrent)
    else:
      self.decoder_cell = nn.GRUCell(self.hidden_size, dtype=self.dtype)
    self.output = nn.Dense(self.vocab_size, dtype=self.dtype, **weights)
    if self.latent_dim:
      self.encoder_embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype)
      self.encoder = nn.RNN(nn.GRUCell(self.hidden_size, dtype=self.dtype), return_carry=True)
      self.posterior = nn.Dense(2 * self.latent_dim, dtype=self.dtype)
      self.to_initial_carry = nn.Dense(self.hidden_size, dtype=self.dtype)

  def encode(self, tokens, lengths):
    """[B, L] token ids (with <eos>, then padding) and [B] lengths -> (mean, log-variance)."""
    carry, _ = self.encoder(self.encoder_embed(tokens), seq_lengths=lengths)
    mean, logvar = jnp.split(self.posterior(carry).astype(jnp.float32), 2, axis=-1)
    return mean, logvar

  def initial_carry(self, z):
    if not self.latent_dim:
      zeros = jnp.zeros((z.shape[0], self.hidden_size), z.dtype)
      return (zeros, zeros) if self.cell == 'lstm' else zeros
    return jnp.tanh(self.to_initial_carry(z)).astype(jnp.float32)

  def embed(self, tokens, train: bool = False):
    return self.dropout(self.decoder_embed(tokens), deterministic=not train)

  def step(self, carry, token, z):
    """One decoder step: [B] input ids, [B, latent_dim] z -> (carry, [B, hidden] output)."""
    return self.step_embedded(carry, self.decoder_embed(token), z)

  def step_embedded(self, carry, embedded, z):
    """`step` on already embedded inputs [B, embed_dim] (teacher forcing embeds all inputs at
    once)."""
    return self.decoder_cell(carry, jnp.concatenate([embedded, z], axis=-1))

  def logits(self, hidden, train: bool = False):
    return self.output(self.dropout(hidden, deterministic=not train)).astype(jnp.float32)

  def __call__(self, tokens, lengths):
    """Creates every parameter (used by init)."""
    batch = tokens.shape[0]
    z = (self.encode(tokens, lengths)[0] if self.latent_dim
         else jnp.zeros((batch, 0), jnp.float32))
    _, hidden = self.step(self.initial_carry(z), tokens[:, 0], z)
    return self.logits(hidden)


class SeqGANDiscriminator(nn.Module):
  """Yu et al. (2017)'s sequence classifier (after Kim 2014 and Zhang & LeCun 2015): embeddings,
  convolutions of several widths with max-over-time pooling, a highway layer, dropout, one
  logit (real vs generated)."""
  vocab_size: int
  embed_dim: int = 64
  filter_sizes: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
  num_filters: Sequence[int] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
  dropout_rate: float = 0.25
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  @nn.compact
  def __call__(self, tokens, train: bool = False):
    x = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype)(tokens)  # [B, T, E]
    pooled = [jnp.max(nn.relu(nn.Conv(n, (size,), padding='VALID', dtype=self.dtype)(x)), axis=1)
              for size, n in zip(self.filter_sizes, self.num_filters) if size <= tokens.shape[1]]
    h = jnp.concatenate(pooled, axis=-1)
    gate = nn.sigmoid(nn.Dense(h.shape[-1], dtype=self.dtype)(h))
    h = gate * nn.relu(nn.Dense(h.shape[-1], dtype=self.dtype)(h)) + (1.0 - gate) * h  # highway
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    return nn.Dense(1, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)
