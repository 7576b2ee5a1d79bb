"""Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020), as pure functions.

The same random transforms are applied to real and generated images every time D sees them
(in D's and in G's update), and gradients flow through them to G. `policy` is a comma-separated
list of transforms, applied in order:
  'translation': shift by up to 1/8 of the image size in each direction, filling with background;
  'cutout':      one square of half the image size at a random place, set to background;
  'brightness':  add a uniform offset in [-0.5, 0.5] of the pixel range (per image);
  'contrast':    scale each image's deviation from its mean by a factor in [0.5, 1.5].
`background` is the pixel value of an empty MNIST canvas in the model's range.
"""
import jax
import jax.numpy as jnp

TRANSFORMS = ('translation', 'cutout', 'brightness', 'contrast')


def parse_policy(policy: str) -> tuple[str, ...]:
  names = tuple(name.strip() for name in policy.split(',') if name.strip())
  unknown = [name for name in names if name not in TRANSFORMS]
  if unknown:
    raise ValueError(f'unknown augmentation {", ".join(unknown)} in augment={policy!r}; use a '
                     f'comma-separated list of {", ".join(TRANSFORMS)}')
  return names


def translation(x, rng, background: float, ratio: float = 0.125):
  """Each image shifted by integers in [-ratio*size, ratio*size] rows and columns."""
  n, h, w, _ = x.shape
  pad_h, pad_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
  shifts = jax.random.randint(rng, (n, 2), -jnp.array([pad_h, pad_w]),
                              jnp.array([pad_h, pad_w]) + 1)
  padded = jnp.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)),
                   constant_values=background)
  crop = lambda image, shift: jax.lax.dynamic_slice(
      image, (pad_h - shift[0], pad_w - shift[1], 0), (h, w, x.shape[-1]))
  return jax.vmap(crop)(padded, shifts)


def cutout(x, rng, background: float, ratio: float = 0.5):
  """One ratio*size square per image, centred on a random pixel (clipped at the borders), set
  to background."""
  n, h, w, _ = x.shape
  size = jnp.array([int(h * ratio + 0.5), int(w * ratio + 0.5)])
  centre = jax.random.randint(rng, (n, 2), 0, jnp.array([h, w]))
  top_left = centre - size // 2
  rows = jnp.arange(h)[None, :] - top_left[:, :1]  # [n, h]: row index inside the square
  cols = jnp.arange(w)[None, :] - top_left[:, 1:]
  inside = (((rows >= 0) & (rows < size[0]))[:, :, None]
            & ((cols >= 0) & (cols < size[1]))[:, None, :])
  return jnp.where(inside[..., None], background, x)


def brightness(x, rng, pixel_range: float):
  return x + (jax.random.uniform(rng, (x.shape[0], 1, 1, 1)) - 0.5) * pixel_range


def contrast(x, rng):
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * jax.random.uniform(rng, (x.shape[0], 1, 1, 1), minval=0.5,
                                         maxval=1.5) + mean


def augment(x, rng, policy: tuple[str, ...], background: float, pixel_range: float):
  """x [N, H, W, C] in the model's range -> the augmented batch (same shape)."""
  for name, key in zip(policy, jax.random.split(rng, max(len(policy), 1))):
    if name == 'translation':
      x = translation(x, key, background)
    elif name == 'cutout':
      x = cutout(x, key, background)
    elif name == 'brightness':
      x = brightness(x, key, pixel_range)
    else:
      x = contrast(x, key)
  return x
