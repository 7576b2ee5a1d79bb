"""compute_dtype=bfloat16: every family computes in bfloat16 and keeps float32 parameters and
optimiser states, and its step stays close to the float32 step."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import families
from gan_jax import train
from conftest import TINY_TEXT, requires_ptb, tiny_config
from test_seqgan import TINY_SEQGAN

FAMILIES = [
    ('dcgan_mnist', {}), ('gan_mnist', {}), ('vae_mnist', {}), ('mnist_classifier', {}),
    pytest.param('text_vae_ptb', TINY_TEXT, marks=requires_ptb),
    ('seqgan_oracle', TINY_SEQGAN),  # step 0 is an MLE step: deterministic, unlike sampling
]


def _batch(config):
  rng = np.random.default_rng(0)
  if config.model in ('text_vae', 'text_lm'):
    lengths = rng.integers(3, 12, size=16).astype(np.int32)
    tokens = np.where(np.arange(12) < lengths[:, None], rng.integers(3, 500, (16, 12)), 0)
    return {'tokens': tokens.astype(np.int32), 'length': lengths}
  if config.model == 'seqgan':
    return {'tokens': rng.integers(0, 50, (16, 6)).astype(np.int32)}
  return {'image': rng.integers(0, 256, (16, 28, 28, 1)).astype(np.uint8),
          'label': rng.integers(0, 10, 16).astype(np.int32)}


def _bfloat16_products(model, state, batch) -> int:
  """Matrix products and convolutions of the traced train step that compute in bfloat16."""
  step = (functools.partial(model.train_step, phase=model.phase_of(0))
          if isinstance(model, families.TrainsInPhases) else model.train_step)
  jaxpr = jax.make_jaxpr(step)(state, batch, jax.random.PRNGKey(0))
  count = 0

  def visit(jaxpr):
    nonlocal count
    for eqn in jaxpr.eqns:
      if eqn.primitive.name in ('dot_general', 'conv_general_dilated'):
        count += any(v.aval.dtype == jnp.bfloat16 for v in eqn.invars)
      for param in eqn.params.values():
        for sub in (param if isinstance(param, (list, tuple)) else [param]):
          if hasattr(sub, 'eqns'):
            visit(sub)
          elif hasattr(sub, 'jaxpr'):
            visit(sub.jaxpr)

  visit(jaxpr.jaxpr)
  return count


@pytest.mark.parametrize('name,overrides', FAMILIES)
def test_bfloat16_step_is_close_to_float32(name, overrides, devices):
  results = {}
  for dtype in ('float32', 'bfloat16'):
    config = tiny_config(name, **overrides, compute_dtype=dtype)
    model = families.build(config)
    mesh = train.make_mesh(devices[:1])
    state = train.create_state(model, config, mesh)
    before = jax.device_get(state)
    bfloat16_products = _bfloat16_products(model, before, _batch(config))
    # bfloat16 really is used, and only when asked for.
    assert (bfloat16_products > 0) == (dtype == 'bfloat16'), (dtype, bfloat16_products)
    after, metrics = train.make_train_step(model, mesh)(state, _batch(config))
    results[dtype] = (before, jax.device_get(after), jax.device_get(metrics))
  (before, f32, m32), (_, b16, m16) = results['float32'], results['bfloat16']
  for leaf in jax.tree.leaves(b16.networks):
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      assert leaf.dtype == jnp.float32 and np.all(np.isfinite(leaf))
  for key, value in m32.items():
    assert float(m16[key]) == pytest.approx(float(value), rel=0.05, abs=0.05), key
  # Each network's parameter update points the same way.
  for net in before.networks:
    delta = lambda s: np.concatenate([np.ravel(a - b) for a, b in zip(
        jax.tree.leaves(s.networks[net].params), jax.tree.leaves(before.networks[net].params))])
    d32, d16 = delta(f32), delta(b16)
    if np.linalg.norm(d32) > 0:
      cosine = d32 @ d16 / (np.linalg.norm(d32) * np.linalg.norm(d16))
      assert cosine > 0.9, (net, cosine)
