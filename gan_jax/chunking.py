"""Passes over many items a bounded chunk at a time (generating, encoding, classifying,
distances), so memory stays bounded for any count."""
CHUNK = 1000  # items per pass


def in_chunks(items, size: int = CHUNK):
  """Consecutive slices of at most `size` items."""
  return [items[start:start + size] for start in range(0, len(items), size)]
