"""Before/after, in one run: the input gradient of dcgan_mnist's two discriminator convolutions
(5x5, stride 2, batch 256) as XLA computes it (a convolution over the zero-dilated output
gradient) and in gan_jax's phase form (gan_jax.models.layers.conv_general_dilated: one stride-1
convolution per input phase with only its own taps), alternating.

  python benchmarks/stride2_input_grad.py
"""
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models import layers


def phase_form(lhs, rhs, window_strides, padding, **unused):
  """The phase form always (gan_jax uses it only from 16 input channels, see below)."""
  del unused
  pads = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
  return layers._stride2_conv(lhs, rhs, tuple(tuple(p) for p in pads))  # pylint: disable=protected-access


def input_grad_fn(conv):
  def input_grad(variables, x, grad):
    return jax.vjp(lambda x: conv.apply(variables, x), x)[1](grad)[0]
  return jax.jit(input_grad)


def main():
  for size, c_in, c_out in [(28, 1, 64), (14, 64, 128)]:
    x = jax.random.normal(jax.random.PRNGKey(0), (256, size, size, c_in))
    layers = {'xla': nn.Conv(c_out, (5, 5), strides=(2, 2), padding='SAME'),
              'phase form': nn.Conv(c_out, (5, 5), strides=(2, 2), padding='SAME',
                                    conv_general_dilated=phase_form)}
    variables = layers['xla'].init(jax.random.PRNGKey(1), x)
    grad = jnp.ones_like(layers['xla'].apply(variables, x))
    fns = {name: input_grad_fn(layer) for name, layer in layers.items()}
    np.testing.assert_allclose(fns['xla'](variables, x, grad), fns['phase form'](variables, x, grad),
                               rtol=1e-4, atol=1e-4)
    times = {name: [] for name in fns}
    for _ in range(10):
      for name, fn in fns.items():
        start = time.perf_counter()
        jax.block_until_ready(fn(variables, x, grad))
        times[name].append(time.perf_counter() - start)
    ms = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    print(f'{size}x{size}x{c_in} -> {c_out}: input gradient {ms["xla"]:.1f} ms (XLA) vs '
          f'{ms["phase form"]:.1f} ms (phase form), {ms["xla"] / ms["phase form"]:.2f}x')


if __name__ == '__main__':
  main()
