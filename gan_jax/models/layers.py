"""Layers shared by the image and text networks: spectral normalisation, the minibatch-stddev
channel, the compute dtype, and the CPU-tuned forms of strided convolutions (each tested equal to
the layer it replaces, values and gradients; used only where XLA:CPU runs, see `cpu_tuned`)."""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def cpu_tuned() -> bool:
  """Whether to compute with the CPU-tuned forms of this module (and of decoding's sampler): they
  work around XLA:CPU's slow kernels, so only the CPU backend uses them; GPUs and TPUs take the
  plain XLA operations. Decided when a function is traced."""
  return jax.default_backend() == 'cpu'


def maybe_spectral(layer: nn.Module, spectral_norm: bool):
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


COMPUTE_DTYPES = ('float32', 'bfloat16')


def compute_dtype(config):
  """`config.compute_dtype`: the dtype modules compute in. Parameters, optimiser states and
  losses stay float32 (modules cast their outputs back), so 'bfloat16' is mixed precision."""
  name = config.compute_dtype
  if name not in COMPUTE_DTYPES:
    raise ValueError(f'compute_dtype={name!r}; use one of {", ".join(COMPUTE_DTYPES)}')
  return jnp.dtype(name)


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
  plain = (not cpu_tuned() or tuple(window_strides) != (2, 2) or feature_group_count != 1
           or lhs.shape[-1] < 16 or precision is not None
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
  zeros); this form does no multiplications by inserted zeros and is ~10x faster there. Off the
  CPU (`cpu_tuned`) it is nn.ConvTranspose's own lax.conv_transpose.
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
    if not cpu_tuned():
      y = jax.lax.conv_transpose(x.astype(self.dtype), kernel.astype(self.dtype), (2, 2), 'SAME',
                                 dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
      return self._add_bias(y)
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
    return self._add_bias(y.reshape(n, 2 * h, 2 * w, self.features))

  def _add_bias(self, y):
    if not self.use_bias:
      return y
    return y + self.param('bias', nn.initializers.zeros_init(), (self.features,)).astype(self.dtype)
