"""Decoding helpers shared by the text families: teacher-forced logits of a recurrent decoder,
its inputs, its free-running unroll, and fast categorical sampling. The decoding strategies
every text tool offers are STRATEGIES."""
import jax
import jax.numpy as jnp

from gan_jax.input_pipeline import Vocabulary
from gan_jax.models import layers

STRATEGIES = ('greedy', 'sample', 'beam')


def sample_categorical(rng, logits):
  """One draw per row of [B, V] logits by inverting the CDF with a single uniform per row.
  jax.random.categorical's Gumbel trick needs B * V random numbers, which dominates the cost of
  SeqGAN's rollouts on CPU (B ~ 20k, V = 5k, at every step); other backends use it."""
  if not layers.cpu_tuned():
    return jax.random.categorical(rng, logits)
  cdf = jnp.cumsum(jax.nn.softmax(logits, axis=-1), axis=-1)
  u = jax.random.uniform(rng, cdf.shape[:-1] + (1,)) * cdf[..., -1:]
  # The first index whose CDF exceeds u: its probability is > 0 even when u is 0.
  return jnp.minimum(jnp.sum(cdf <= u, axis=-1), logits.shape[-1] - 1)


def decoder_inputs(tokens):
  """Teacher forcing: <bos> followed by the targets shifted right by one."""
  bos = jnp.full((tokens.shape[0], 1), Vocabulary.BOS, tokens.dtype)
  return jnp.concatenate([bos, tokens[:, :-1]], axis=1)


def teacher_forced_logits(module, params, inputs, z, dropout_rng=None):
  """[B, L, V] next-word logits of a `SentenceVAE` decoder fed `inputs` [B, L] with latents z
  ([B, 0] for a language model): the recurrence under `lax.scan`, the embedding and the output
  layer on all steps at once. With `dropout_rng`, in training mode (the module's dropout)."""
  train = dropout_rng is not None
  embed_key, output_key = jax.random.split(dropout_rng) if train else (None, None)
  apply = lambda *args, method, key=None, **kwargs: module.apply(
      {'params': params}, *args, method=method, rngs={} if key is None else {'dropout': key},
      **kwargs)
  embedded = apply(inputs.T, method=module.embed, key=embed_key, train=train)  # [L, B, E]
  step = lambda carry, x: apply(carry, x, z, method=module.step_embedded)
  _, hidden = jax.lax.scan(step, apply(z, method=module.initial_carry), embedded)  # [L, B, H]
  return apply(jnp.swapaxes(hidden, 0, 1), method=module.logits, key=output_key, train=train)


def unroll(module, params, z, rng, length: int, next_token, start=None, first_step: int = 0):
  """[B, length - first_step] tokens of a `SentenceVAE` decoder run on latents z ([B, 0] for a
  language model), each step t feeding back `next_token(t, key, logits)` ([B] ids from the
  [B, V] logits of step t and key t of `jax.random.split(rng, length)`). From <bos> at step 0,
  or with `start` = (carry, input token) from there at step `first_step`, with the keys those
  steps have in a full unroll."""
  apply = lambda *args, method: module.apply({'params': params}, *args, method=method)

  def step(state, inputs):
    carry, token = state
    t, key = inputs
    carry, hidden = apply(carry, token, z, method=module.step)
    token = next_token(t, key, apply(hidden, method=module.logits)).astype(jnp.int32)
    return (carry, token), token

  if start is None:
    start = (apply(z, method=module.initial_carry),
             jnp.full((z.shape[0],), Vocabulary.BOS, jnp.int32))
  steps = (jnp.arange(first_step, length), jax.random.split(rng, length)[first_step:])
  _, tokens = jax.lax.scan(step, start, steps)
  return tokens.T


def teacher_forced_carries(module, params, inputs, z):
  """The decoder's carry after each of its inputs [B, L] (teacher forcing), stacked on a
  leading axis of length L."""
  apply = lambda *args, method: module.apply({'params': params}, *args, method=method)

  def step(carry, token):
    carry, _ = apply(carry, token, z, method=module.step)
    return carry, carry

  return jax.lax.scan(step, apply(z, method=module.initial_carry), inputs.T)[1]


def pad_after_eos(tokens):
  """[B, L] tokens with every position after the first <eos> set to <pad>."""
  eos = tokens == Vocabulary.EOS
  return jnp.where(jnp.cumsum(eos, axis=1) - eos > 0, Vocabulary.PAD, tokens)
