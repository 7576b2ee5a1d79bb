"""Latent-space tools shared by every generative family, as pure functions on latent arrays.

A model enters only through the latents it encodes (families with an encoder) or samples;
`gan_jax/tools` turns the latents these functions return back into images or sentences.
"""
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import metrics

# The log-variance a deterministic encoder reports for its codes: a point mass, for tools that
# draw from a posterior.
POINT_MASS_LOGVAR = -20.0

# Priors of the generators' noise: N(0, I), or uniform on [-1, 1].
NOISE_DISTRIBUTIONS = ('gaussian', 'uniform')


def check_noise_distribution(field: str, distribution: str) -> None:
  """A config error naming `field` unless `distribution` is one of NOISE_DISTRIBUTIONS."""
  if distribution not in NOISE_DISTRIBUTIONS:
    raise ValueError(f'{field}={distribution!r}; use one of {", ".join(NOISE_DISTRIBUTIONS)}')


def sample_noise(rng, shape, distribution: str):
  """Draws of `shape` from one of NOISE_DISTRIBUTIONS."""
  if distribution == 'uniform':
    return jax.random.uniform(rng, shape, minval=-1.0, maxval=1.0)
  if distribution == 'gaussian':
    return jax.random.normal(rng, shape)
  check_noise_distribution('noise prior', distribution)


def point_mass(codes):
  """(codes, log-variance) of a deterministic encoder, in the EncodesImages form."""
  return codes, jnp.full_like(codes, POINT_MASS_LOGVAR)


def lerp(z0, z1, t):
  """Linear path: (1 - t) z0 + t z1 for each t in `t` ([T] -> [T, d])."""
  t = jnp.asarray(t)[:, None]
  return (1.0 - t) * z0 + t * z1


def slerp(z0, z1, t):
  """Spherical path (Shoemake 1985; White 2016 for GAN latents): constant angular speed along the
  great circle, scaled by the interpolated norm, so every point keeps a typical Gaussian norm
  instead of shrinking through the low-density centre as lerp does (latents of a uniform prior
  want lerp, which stays inside their cube). Falls back to lerp when the two latents are
  (anti-)parallel and the circle is undefined."""
  t = jnp.asarray(t)[:, None]
  n0, n1 = jnp.linalg.norm(z0), jnp.linalg.norm(z1)
  cos = jnp.clip(jnp.dot(z0 / n0, z1 / n1), -1.0, 1.0)
  omega = jnp.arccos(cos)
  direction = (jnp.sin((1.0 - t) * omega) * z0 / n0 + jnp.sin(t * omega) * z1 / n1) / jnp.sin(omega)
  spherical = direction * ((1.0 - t) * n0 + t * n1)
  return jnp.where(jnp.sin(omega) > 1e-6, spherical, lerp(z0, z1, t[:, 0]))


PATHS = {'linear': lerp, 'spherical': slerp}


def class_means(latents, labels, num_classes: int):
  """[num_classes, d] mean latent of each class; every class must be present."""
  labels = np.asarray(labels)
  missing = [c for c in range(num_classes) if not np.any(labels == c)]
  if missing:
    raise ValueError(f'no latents of class {missing} to average; use more examples')
  return jnp.stack([jnp.mean(latents[labels == c], axis=0) for c in range(num_classes)])


def transfer_style(latents, labels, means):
  """"This digit's style, that class": z - mean[own class] + mean[c] for every class c.
  [n, d] latents with [n] labels and [C, d] class means -> [n, C, d]."""
  style = latents - means[labels]
  return style[:, None, :] + means[None, :, :]


def analogy(a, b, c):
  """mean(a) - mean(b) + mean(c), each a [k, d] set of exemplars (Radford et al. 2016 average three
  per concept so one example's quirks cancel): 'man with glasses' - 'man' + 'woman'."""
  return jnp.mean(a, axis=0) - jnp.mean(b, axis=0) + jnp.mean(c, axis=0)


def sample_like(rng, means, logvars, n: int, spread: float = 1.0):
  """n latents near a set of liked items, each a posterior N(mean_i, exp(logvar_i)): a random
  convex mixture of the liked means (Dirichlet(1) weights) plus posterior noise scaled by
  `spread`, so results vary around and between the liked items rather than copying one."""
  weight_key, noise_key = jax.random.split(rng)
  weights = jax.random.dirichlet(weight_key, jnp.ones(means.shape[0]), (n,))  # [n, k]
  centre = weights @ means
  std = jnp.sqrt(weights @ jnp.exp(logvars))
  return centre + spread * std * jax.random.normal(noise_key, centre.shape)


def nearest(bank, queries, k: int):
  """For each of `queries` [q, d], the indices and Euclidean distances of the k rows of `bank`
  [N, d] closest to it: two [q, k] arrays."""
  distances = jnp.sqrt(metrics.squared_distances(queries, bank))
  negated, order = jax.lax.top_k(-distances, k)
  return order, -negated
