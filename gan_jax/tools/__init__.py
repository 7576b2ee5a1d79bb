"""Tools on trained runs (`gan_jax.generate`): `images` for image families, `text` for text ones."""
CHUNK = 1000  # items per pass when generating, encoding or classifying many


class GenerateError(ValueError):
  """A request that cannot be served; the message says what to do instead."""


def in_chunks(items, size: int = CHUNK):
  """Consecutive slices of at most `size` items: memory stays bounded for any count."""
  return [items[start:start + size] for start in range(0, len(items), size)]
