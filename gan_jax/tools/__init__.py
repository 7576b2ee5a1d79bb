"""Tools on trained runs (`gan_jax.generate`): `images` for image families, `text` for text ones."""


class GenerateError(ValueError):
  """A request that cannot be served; the message says what to do instead."""
