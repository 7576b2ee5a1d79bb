"""Layers shared by the image networks: spectral normalisation, the minibatch-stddev
channel, the compute dtype, and the CPU-tuned forms of strided convolutions (each tested equal to
the layer it replaces, values and gradients; used only where XLA:CPU runs, see `cpu_tuned`)."""
import functools
from typing import Any, Callable

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


def _stride2_axis_taps(k: int, low: int, phase: int) -> dict[int, int]:
  """Along one axis of `stride2_transpose`: {input offset d: kernel tap t} for output phase
  `phase` (out[2q + phase] reads x[q + d] through tap t)."""
  return {(phase + t - low) // 2: t for t in range(k) if (phase + t - low) % 2 == 0}


def stride2_transpose(x, kernel, pad_low, out_hw):
  """A stride-2 transposed convolution of NHWC `x` with the HWIO `kernel`: along each spatial
  axis, out[2q + p] = sum over taps t with p + t - low even of x[q + (p + t - low) / 2] kernel[t]
  (zero outside x), where low is that axis's `pad_low`, for out_hw[axis] outputs.

  Computed phase by phase: each of the four output phases (p_h, p_w) is one stride-1
  convolution of x with only the taps that reach it, then the phases are interleaved; no
  multiply-add touches an inserted zero. With few output channels those convolutions are too
  thin to run well, so all phases are one convolution to 4x the channels over the window they
  share (with a 5x5 kernel: 36 taps computed where 25 exist), then depth-to-space.
  """
  n, c_out = x.shape[0], kernel.shape[-1]
  counts = [-(-size // 2) for size in out_hw]  # per phase; an odd size's extra one is cropped
  taps = [[_stride2_axis_taps(kernel.shape[a], pad_low[a], p) for p in (0, 1)] for a in (0, 1)]

  def conv(kernel, offsets):  # out[q] = sum_j x[q + offsets[0] + j] kernel[j] per axis
    pads = [(-first, count - 1 + first + size - 1 - (size_in - 1))
            for (first, size), count, size_in in zip(offsets, counts, x.shape[1:3])]
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), pads,  # lax crops negative pads
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

  if c_out < 16:
    spans = [(min(min(t) for t in axis if t), max(max(t) for t in axis if t)) for axis in taps]
    index = [np.array([[axis[p].get(d, k) for p in (0, 1)] for d in range(first, last + 1)])
             for axis, (first, last), k in zip(taps, spans, kernel.shape[:2])]
    padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # tap k: zero
    phases = padded[index[0][:, None, :, None], index[1][None, :, None, :]]  # (wh, ww, 2, 2, i, o)
    phases = phases.transpose(0, 1, 4, 2, 3, 5).reshape(*phases.shape[:2], x.shape[-1], 4 * c_out)
    y = conv(phases, [(first, last - first + 1) for first, last in spans])
    y = y.reshape(n, *counts, 2, 2, c_out).transpose(0, 1, 3, 2, 4, 5)
  else:
    rows = []
    for p_h in (0, 1):
      columns = []
      for p_w in (0, 1):
        by_h, by_w = taps[0][p_h], taps[1][p_w]
        if not (by_h and by_w):
          columns.append(jnp.zeros((n, *counts, c_out), x.dtype))
          continue
        phase_kernel = kernel[np.array(list(by_h.values()))][:, np.array(list(by_w.values()))]
        columns.append(conv(phase_kernel, [(min(by_h), len(by_h)), (min(by_w), len(by_w))]))
      rows.append(jnp.stack(columns, axis=3))  # (n, q_h, q_w, p_w, c)
    y = jnp.stack(rows, axis=2)  # (n, q_h, p_h, q_w, p_w, c)
  y = y.reshape(n, 2 * counts[0], 2 * counts[1], c_out)
  return y[:, :out_hw[0], :out_hw[1]]


def _stride2_input_grad(grad, kernel, input_hw, padding):
  """The input gradient of a stride-2 NHWC/HWIO convolution with `padding` (low, high) per
  axis: a stride-2 transposed convolution of the output gradient with the kernel flipped and
  its channels swapped (input pixel i = 2 o + t - low receives output o through tap t)."""
  (low_h, _), (low_w, _) = padding
  k_h, k_w = kernel.shape[:2]
  flipped = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
  return stride2_transpose(grad, flipped, (k_h - 1 - low_h, k_w - 1 - low_w), input_hw)


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


class SubpixelConvTranspose(nn.Module):
  """nn.ConvTranspose(features, (k, k), strides=(2, 2), padding='SAME'), same parameters and
  same function, computed phase by phase (`stride2_transpose`: one stride-1 convolution per
  output phase with the kernel's taps that reach it, then the phases interleaved).

  XLA's CPU gradient of a strided transposed convolution is slow (it dilates the input with
  zeros); this form does no multiplications by inserted zeros and is ~10x faster there. Off the
  CPU (`cpu_tuned`) it is nn.ConvTranspose's own lax.conv_transpose.
  """
  features: int
  kernel_size: int = 5
  use_bias: bool = True
  kernel_init: Callable = nn.initializers.lecun_normal()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param('kernel', self.kernel_init,
                        (k, k, x.shape[-1], self.features))
    if not cpu_tuned():
      y = jax.lax.conv_transpose(x.astype(self.dtype), kernel.astype(self.dtype), (2, 2), 'SAME',
                                 dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
      return self._add_bias(y)
    # lax.conv_transpose's 'SAME' padding of the dilated input, low side
    low = k - 1 if k < 3 else -(-k // 2)
    _, h, w, _ = x.shape
    y = stride2_transpose(x.astype(self.dtype), kernel.astype(self.dtype), (low, low),
                          (2 * h, 2 * w))
    return self._add_bias(y)

  def _add_bias(self, y):
    if not self.use_bias:
      return y
    return y + self.param('bias', nn.initializers.zeros_init(), (self.features,)).astype(self.dtype)
