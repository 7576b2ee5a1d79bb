"""Passes over many items a bounded chunk at a time (generating, encoding, classifying,
distances), so memory stays bounded for any count; generation runs data-parallel on the mesh."""
import jax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P
import numpy as np

CHUNK = 1000  # items per pass


def in_chunks(items, size: int = CHUNK):
  """Consecutive slices of at most `size` items."""
  return [items[start:start + size] for start in range(0, len(items), size)]


def sampled(fn, rng, n: int, size: int = CHUNK):
  """`fn(key, count)` called on chunks of at most `size` of `n` items (key folded from `rng` per
  chunk), the results concatenated as one NumPy array."""
  return np.concatenate([np.asarray(fn(jax.random.fold_in(rng, i), len(chunk)))
                         for i, chunk in enumerate(in_chunks(range(n), size))])


def data_parallel(state, *arrays):
  """`arrays` (None kept) split on their first axis over the mesh `state` is replicated on, so a
  jitted pass over them runs on all its devices; as they are where `state` is on no mesh or the
  mesh does not divide their length. `to_host` brings the results back."""
  sharding = getattr(jax.tree.leaves(state)[0], 'sharding', None)
  if not isinstance(sharding, NamedSharding):
    return arrays
  batch = NamedSharding(sharding.mesh, P(sharding.mesh.axis_names))
  return tuple(x if x is None or len(x) % sharding.mesh.size else jax.device_put(x, batch)
               for x in arrays)


def to_host(x):
  """A result of a data-parallel pass as one NumPy array, on every process of a multi-host run."""
  return multihost_utils.process_allgather(x, tiled=True)
