"""Text networks: the recurrent sentence VAE (and, without a latent, language model and SeqGAN
generator), SeqGAN's CNN discriminator, and LeakGAN's manager and worker."""
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def over_rows(product, x):
  """`product(x)` for a product over x's last axis, computed with x's leading axes flattened
  into one: XLA:CPU runs a [B, L, H] x [H, V] product and its kernel gradient (a contraction
  over two axes) ~1.5x slower than the same product on [B * L, H] (the sentence VAE's output
  layer, forward and backward at batch 64 x 24 on one core: 457 vs 305 ms)."""
  y = product(x.reshape(-1, x.shape[-1]))
  return y.reshape(*x.shape[:-1], y.shape[-1])


class SentenceVAE(nn.Module):
  """Bowman et al. (2016)'s sentence VAE with GRUs: an encoder GRU's last state -> diagonal
  Gaussian z; a decoder GRU started from tanh(Dense(z)) and fed z with every input word.
  latent_dim=0 is the same decoder as a plain language model (no encoder, no z); such a language
  model can also use an LSTM (`cell='lstm'`, SeqGAN's generator and oracle).

  The decoder is exposed one step at a time (`initial_carry`, `step`, `logits`; `embed` and
  `step_embedded` split `step` for teacher forcing) so that teacher forcing and every decoding
  strategy run it under the same `lax.scan`; the embedding and the output layer are applied to all
  steps at once. With `train=True`, `embed` and `logits` drop out their inputs' features at
  `dropout_rate` (Zaremba et al. 2014: the non-recurrent connections). `tie_embeddings` makes
  the output layer the input embedding's transpose (Press & Wolf 2017; Inan et al. 2017), after
  a linear map of the hidden state to the embedding's width when the two differ."""
  vocab_size: int
  embed_dim: int = 256
  hidden_size: int = 256
  latent_dim: int = 32
  cell: str = 'gru'
  dropout_rate: float = 0.0
  tie_embeddings: bool = False
  # SeqGAN's oracle draws every parameter, biases included, from N(0, 1) (Yu et al. 2017, and
  # the oracle parameters of their code); None keeps Flax's defaults.
  init_stddev: float | None = None
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  def setup(self):
    if self.cell not in ('gru', 'lstm') or (self.cell == 'lstm' and self.latent_dim):
      raise ValueError(f'cell={self.cell!r}: use gru, or lstm for a language model (latent_dim=0)')
    weights = ({} if self.init_stddev is None else
               {'kernel_init': nn.initializers.normal(self.init_stddev),
                'bias_init': nn.initializers.normal(self.init_stddev)})
    embed = ({} if self.init_stddev is None else
             {'embedding_init': nn.initializers.normal(self.init_stddev)})
    self.decoder_embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, **embed)
    self.dropout = nn.Dropout(self.dropout_rate)
    if self.cell == 'lstm':
      recurrent = {} if self.init_stddev is None else {'recurrent_kernel_init': weights['kernel_init']}
      self.decoder_cell = nn.OptimizedLSTMCell(self.hidden_size, dtype=self.dtype, **weights,
                                               **recurrent)
    else:
      self.decoder_cell = nn.GRUCell(self.hidden_size, dtype=self.dtype)
    if self.tie_embeddings:
      if self.init_stddev is not None:
        raise ValueError('tie_embeddings: the oracle (init_stddev) keeps its own output layer')
      if self.hidden_size != self.embed_dim:
        self.output_projection = nn.Dense(self.embed_dim, use_bias=False, dtype=self.dtype)
      self.output_bias = self.param('output_bias', nn.initializers.zeros, (self.vocab_size,))
    else:
      self.output = nn.Dense(self.vocab_size, dtype=self.dtype, **weights)
    if self.latent_dim:
      self.encoder_embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype)
      self.encoder = nn.RNN(nn.GRUCell(self.hidden_size, dtype=self.dtype), return_carry=True)
      self.posterior = nn.Dense(2 * self.latent_dim, dtype=self.dtype)
      self.to_initial_carry = nn.Dense(self.hidden_size, dtype=self.dtype)

  def encode(self, tokens, lengths):
    """[B, L] token ids (with <eos>, then padding) and [B] lengths -> (mean, log-variance)."""
    carry, _ = self.encoder(self.encoder_embed(tokens), seq_lengths=lengths)
    mean, logvar = jnp.split(self.posterior(carry).astype(jnp.float32), 2, axis=-1)
    return mean, logvar

  def initial_carry(self, z):
    if not self.latent_dim:
      zeros = jnp.zeros((z.shape[0], self.hidden_size), z.dtype)
      return (zeros, zeros) if self.cell == 'lstm' else zeros
    return jnp.tanh(self.to_initial_carry(z)).astype(jnp.float32)

  def embed(self, tokens, train: bool = False):
    return self.dropout(self.decoder_embed(tokens), deterministic=not train)

  def step(self, carry, token, z):
    """One decoder step: [B] input ids, [B, latent_dim] z -> (carry, [B, hidden] output)."""
    return self.step_embedded(carry, self.decoder_embed(token), z)

  def step_embedded(self, carry, embedded, z):
    """`step` on already embedded inputs [B, embed_dim] (teacher forcing embeds all inputs at
    once)."""
    return self.decoder_cell(carry, jnp.concatenate([embedded, z], axis=-1))

  def logits(self, hidden, train: bool = False):
    hidden = self.dropout(hidden, deterministic=not train)
    if self.tie_embeddings:
      if self.hidden_size != self.embed_dim:
        hidden = over_rows(self.output_projection, hidden)
      return (over_rows(self.decoder_embed.attend, hidden) + self.output_bias).astype(jnp.float32)
    return over_rows(self.output, hidden).astype(jnp.float32)

  def __call__(self, tokens, lengths):
    """Creates every parameter (used by init)."""
    batch = tokens.shape[0]
    z = (self.encode(tokens, lengths)[0] if self.latent_dim
         else jnp.zeros((batch, 0), jnp.float32))
    _, hidden = self.step(self.initial_carry(z), tokens[:, 0], z)
    return self.logits(hidden)


class SeqGANDiscriminator(nn.Module):
  """Yu et al. (2017)'s sequence classifier (after Kim 2014 and Zhang & LeCun 2015): embeddings,
  convolutions of several widths with max-over-time pooling, a highway layer, dropout, one
  logit (real vs generated). The highway layer's output, before dropout, is sown as 'features'
  (LeakGAN leaks it to its generator). `mask` [B, T] (1: a known token) zeroes the embeddings of
  the unknown positions, so the features of a prefix see no tokens beyond it."""
  vocab_size: int
  embed_dim: int = 64
  filter_sizes: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
  num_filters: Sequence[int] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
  dropout_rate: float = 0.25
  dtype: Any = jnp.float32  # computation dtype (bfloat16 for mixed precision); params stay float32

  @nn.compact
  def __call__(self, tokens, train: bool = False, mask=None):
    x = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype)(tokens)  # [B, T, E]
    if mask is not None:
      x = x * mask[..., None].astype(x.dtype)
    pooled = [jnp.max(nn.relu(nn.Conv(n, (size,), padding='VALID', dtype=self.dtype)(x)), axis=1)
              for size, n in zip(self.filter_sizes, self.num_filters) if size <= tokens.shape[1]]
    h = jnp.concatenate(pooled, axis=-1)
    gate = nn.sigmoid(nn.Dense(h.shape[-1], dtype=self.dtype)(h))
    h = gate * nn.relu(nn.Dense(h.shape[-1], dtype=self.dtype)(h)) + (1.0 - gate) * h  # highway
    self.sow('intermediates', 'features', h.astype(jnp.float32))
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    return nn.Dense(1, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)


def l2_normalize(x, axis=-1, eps=1e-8):
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=axis, keepdims=True), eps))


class LeakGANManager(nn.Module):
  """LeakGAN's manager (Guo et al. 2018): an LSTM reading the discriminator's features f_t of
  the text so far, emitting a unit-norm goal g_t in the feature space. `goal_init` is the goal
  that stands in for the ones not yet emitted at the start of a sequence."""
  feature_size: int
  hidden_size: int = 32
  dtype: Any = jnp.float32

  def setup(self):
    self.cell = nn.OptimizedLSTMCell(self.hidden_size, dtype=self.dtype)
    self.out = nn.Dense(self.feature_size, dtype=self.dtype)
    self.goal_init = self.param('goal_init', nn.initializers.normal(0.1), (self.feature_size,))

  def initial_goal(self):
    return l2_normalize(self.goal_init)

  def __call__(self, carry, feature):
    """(carry, [B, F] feature) -> (carry, [B, F] unit goal)."""
    carry, hidden = self.cell(carry, feature.astype(self.dtype))
    return carry, l2_normalize(self.out(hidden).astype(jnp.float32))


class LeakGANWorker(nn.Module):
  """LeakGAN's worker: an LSTM over the previous token whose output is a [V, goal_size] matrix
  O_t; the policy's logits are O_t w_t, with w_t the unit-norm projection (psi, no bias) of the
  sum of the manager's last goals."""
  vocab_size: int
  embed_dim: int = 32
  hidden_size: int = 32
  goal_size: int = 16
  dtype: Any = jnp.float32

  def setup(self):
    self.embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype)
    self.cell = nn.OptimizedLSTMCell(self.hidden_size, dtype=self.dtype)
    # O_t = reshape(h_t out_kernel + out_bias, [V, goal_size])
    self.out_kernel = self.param('out_kernel', nn.initializers.lecun_normal(),
                                 (self.hidden_size, self.vocab_size * self.goal_size))
    self.out_bias = self.param('out_bias', nn.initializers.zeros_init(),
                               (self.vocab_size * self.goal_size,))
    self.goal_projection = nn.Dense(self.goal_size, use_bias=False, dtype=self.dtype)

  def __call__(self, carry, token, goal_sum):
    """(carry, [B] previous token, [B, F] sum of recent goals) -> (carry, [B, V] logits)."""
    carry, hidden = self.step(carry, token)
    return carry, self.logits(hidden, goal_sum)

  def step(self, carry, token):
    """(carry, [B] previous token) -> (carry, [B, hidden] output)."""
    return self.cell(carry, self.embed(token))

  def logits(self, hidden, goal_sum):
    """[..., V] O w from [..., hidden] outputs and [..., F] goal sums. O is never formed
    ([..., V, k] would be 80,000 numbers per token at the paper's sizes): the logits are the
    outer product h w^T against the kernel regrouped as [hidden * k, V], plus b w."""
    w = l2_normalize(self.goal_projection(goal_sum.astype(self.dtype)).astype(jnp.float32))
    h, v, k = self.hidden_size, self.vocab_size, self.goal_size
    outer = (hidden.astype(jnp.float32)[..., :, None] * w[..., None, :]).reshape(
        *hidden.shape[:-1], h * k)
    kernel = self.out_kernel.reshape(h, v, k).transpose(0, 2, 1).reshape(h * k, v)
    bias = self.out_bias.reshape(v, k)
    logits = over_rows(lambda rows: rows.astype(self.dtype) @ kernel.astype(self.dtype), outer)
    return logits.astype(jnp.float32) + w @ bias.T
