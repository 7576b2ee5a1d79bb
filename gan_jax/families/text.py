"""The text family on the shared trainer: the sentence VAE (`text_vae_ptb`) and, with
`text_model.latent_dim=0`, the same decoder as a language model (`lm_ptb`).

Config switches against posterior collapse: `kl_schedule` ('constant', 'linear', 'cyclical') over
`kl_anneal_steps` from the weight `kl_anneal_start`, `word_dropout` (decoder inputs replaced by
<unk>), `free_bits` (nats per latent dimension). Decoding (greedy, random with temperature and
top-k, beam search) runs the decoder under `lax.scan`. Evaluation reports the importance-sampled
test NLL per sentence, perplexity, KL, mutual information I(x; z) and active units.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

from gan_jax import decoding
from gan_jax import input_pipeline
from gan_jax import losses
from gan_jax import models
from gan_jax import schedules
from gan_jax.input_pipeline import Vocabulary
from gan_jax.state import Network, TrainState

def word_dropout(rng, inputs, rate: float, unk: int):
  """Replaces each decoder input word (never <bos> in column 0) by <unk> with probability rate
  (Bowman et al. 2016), so the decoder must lean on z."""
  drop = jax.random.bernoulli(rng, rate, inputs.shape) & (jnp.arange(inputs.shape[1]) > 0)
  return jnp.where(drop, unk, inputs)


class TextVAE:
  """The sentence VAE, and with `text_model.latent_dim` 0 the language model (its decoder alone)."""
  EVALUATION_OPTIONS = {'importance_samples': 'eval_importance_samples'}
  # Runs before these switches trained at a constant rate over the whole run, unbucketed.
  CONFIG_DEFAULTS = {'optimizer.schedule': 'constant', 'optimizer.schedule_steps': 0,
                     'bucket_lengths': (), 'kl_anneal_start': 0.0}

  def __init__(self, config):
    self.config = config
    self.vocab = input_pipeline.vocabulary(config.dataset)
    self.module = models.SentenceVAE(vocab_size=len(self.vocab), **config.text_model.to_dict(),
                                     dtype=models.compute_dtype(config))
    self.latent_dim = config.text_model.latent_dim
    self.has_encoder = self.latent_dim > 0
    self.network = 'text_vae' if self.has_encoder else 'lm'
    # Language models were saved as 'text_vae' before they had a name of their own.
    self.previous_network_names = {} if self.has_encoder else {'lm': 'text_vae'}
    self.bucket_lengths = tuple(sorted(config.bucket_lengths))
    opt = config.optimizer
    learning_rate = schedules.from_config(opt, opt.learning_rate, config.num_train_steps)
    self.tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip), optax.adam(learning_rate))

  def init(self, rng) -> TrainState:
    init_key, rng = jax.random.split(rng)
    variables = self.module.init(init_key, jnp.ones((1, 4), jnp.int32), jnp.full((1,), 4))
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng,
                      networks={self.network: Network.create(variables, self.tx)})

  # Pure functions of the parameters.

  def _apply(self, params, *args, method):
    return self.module.apply({'params': params}, *args, method=method)

  def posterior(self, params, tokens, lengths):
    """(mean, logvar) of q(z | x); for the language model, empty [B, 0] arrays."""
    if not self.latent_dim:
      empty = jnp.zeros((tokens.shape[0], 0), jnp.float32)
      return empty, empty
    return self._apply(params, tokens, lengths, method=self.module.encode)

  def log_likelihood(self, params, tokens, lengths, z, inputs=None, dropout_rng=None):
    """log p(x | z) per sentence, teacher-forced: [B, L] targets, [B] lengths, [B, d] z; with
    `dropout_rng`, the training-time dropout."""
    inputs = decoding.decoder_inputs(tokens) if inputs is None else inputs
    logits = decoding.teacher_forced_logits(self.module, params, inputs, z, dropout_rng)
    return losses.sequence_log_likelihood(logits, tokens, lengths)

  def log_weights(self, params, tokens, lengths, rng, k: int):
    """[k, B] log p(x, z_i) - log q(z_i | x), z_i ~ q(z | x), decoded as one batch of k * B."""
    mean, logvar = self.posterior(params, tokens, lengths)
    z = losses.reparameterize(rng, mean, logvar, (k,))
    batch = tokens.shape[0]
    log_px_z = self.log_likelihood(params, jnp.tile(tokens, (k, 1)), jnp.tile(lengths, k),
                                   z.reshape(k * batch, -1)).reshape(k, batch)
    return (log_px_z + losses.gaussian_log_density(z, 0.0, jnp.zeros_like(z))
            - losses.gaussian_log_density(z, mean, logvar))

  def train_step(self, state: TrainState, batch, rng):
    net = state.networks[self.network]
    config = self.config
    tokens, lengths = batch['tokens'], batch['length']
    z_key, word_dropout_key, dropout_key = jax.random.split(rng, 3)
    weight = losses.kl_weight(state.step, config.kl_schedule, config.kl_anneal_steps,
                              start=config.kl_anneal_start)
    inputs = decoding.decoder_inputs(tokens)
    if config.word_dropout:
      inputs = word_dropout(word_dropout_key, inputs, config.word_dropout, self.vocab.unk)

    def loss_fn(params):
      mean, logvar = self.posterior(params, tokens, lengths)
      z = losses.reparameterize(z_key, mean, logvar)
      reconstruction = self.log_likelihood(params, tokens, lengths, z, inputs, dropout_key)
      kl = losses.gaussian_kl(mean, logvar)
      loss = -jnp.mean(reconstruction) + weight * losses.kl_term(mean, logvar, config.free_bits)
      return loss, {'nll_bound': jnp.mean(kl - reconstruction), 'kl': jnp.mean(kl),
                    'reconstruction': jnp.mean(reconstruction),
                    'ppl_bound': jnp.exp(jnp.sum(kl - reconstruction) / jnp.sum(lengths))}

    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(net.params)
    net = net.apply_gradients(grads, self.tx)
    metrics = {'loss': loss, 'kl_weight': weight, **metrics}
    return state.replace(step=state.step + 1, networks={self.network: net}), metrics

  # Decoding.

  def sample_latents(self, rng, n: int):
    return jax.random.normal(rng, (n, self.latent_dim))

  def decode(self, params, z, rng=None, strategy: str = 'greedy', max_length: int = 40,
             temperature: float = 1.0, top_k: int = 0, beam_width: int = 5):
    """[B, max_length] token ids from latents z [B, d] ([B, 0] for the language model); after
    <eos> every position is <pad>."""
    if strategy == 'beam':
      return self._beam_search(params, z, max_length, beam_width)
    if strategy not in decoding.STRATEGIES:
      raise ValueError(f'unknown decoding {strategy!r}; use one of '
                       f'{", ".join(decoding.STRATEGIES)}')
    rng = jax.random.PRNGKey(0) if rng is None else rng

    def next_token(t, key, logits):
      del t
      if strategy == 'greedy':
        return jnp.argmax(logits, axis=-1)
      logits = logits / temperature
      if top_k:
        kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
      return decoding.sample_categorical(key, logits)

    tokens = decoding.unroll(self.module, params, z, rng, max_length, next_token)
    return decoding.pad_after_eos(tokens)

  def _beam_search(self, params, z, max_length: int, width: int):
    """The highest-scoring sequence (sum of log-probabilities) among `width` beams per latent.
    Finished beams carry on with <pad> at no cost, so they compete with the unfinished ones."""
    batch, vocab_size = z.shape[0], len(self.vocab)
    z_beams = jnp.repeat(z, width, axis=0)
    carry = jax.tree.map(lambda c: jnp.repeat(c, width, axis=0),
                         self._apply(params, z, method=self.module.initial_carry))
    pad_only = jnp.full((vocab_size,), -jnp.inf).at[Vocabulary.PAD].set(0.0)

    def step(state, t):
      carry, token, scores, done, seqs = state
      carry, hidden = self._apply(params, carry, token.reshape(-1), z_beams,
                                  method=self.module.step)
      log_probs = jax.nn.log_softmax(self._apply(params, hidden, method=self.module.logits))
      log_probs = jnp.where(done[..., None], pad_only, log_probs.reshape(batch, width, -1))
      scores, flat = jax.lax.top_k((scores[..., None] + log_probs).reshape(batch, -1), width)
      parent, token = flat // vocab_size, flat % vocab_size
      pick = lambda x: jnp.take_along_axis(x, parent.reshape(
          parent.shape + (1,) * (x.ndim - 2)), axis=1)
      carry = jax.tree.map(lambda c: pick(c.reshape(batch, width, -1)).reshape(batch * width, -1),
                           carry)
      seqs = pick(seqs).at[:, :, t].set(token)
      done = pick(done) | (token == Vocabulary.EOS) | (token == Vocabulary.PAD)
      return (carry, token, scores, done, seqs), None

    start_scores = jnp.full((batch, width), -jnp.inf).at[:, 0].set(0.0)  # one live beam at first
    start = (carry, jnp.full((batch, width), Vocabulary.BOS), start_scores,
             jnp.zeros((batch, width), bool), jnp.zeros((batch, width, max_length), jnp.int32))
    (_, _, scores, _, seqs), _ = jax.lax.scan(step, start, jnp.arange(max_length))
    return jnp.take_along_axis(seqs, jnp.argmax(scores, 1)[:, None, None], axis=1)[:, 0]

  def sample_text(self, state: TrainState, num_samples: int = 10,
                  seed: int | None = None) -> list[str]:
    """Sentences from fixed prior samples, greedy-decoded (for the samples/ files of a run)."""
    key = jax.random.PRNGKey(self.config.seed + 1 if seed is None else seed)
    return self.decode_text(state, self.sample_latents(key, num_samples), jax.random.PRNGKey(0),
                            {'strategy': 'greedy'})

  def decode_text(self, state: TrainState, z, rng, settings: dict) -> list[str]:
    """Sentences decoded from latents [n, latent_dim]; `settings`: strategy, and temperature,
    top_k, beam_width where the strategy uses them."""
    tokens = jit_decode(self, state.networks[self.network].params, z, rng, settings['strategy'],
                        self.config.max_decode_length, settings.get('temperature', 1.0),
                        settings.get('top_k', 0), settings.get('beam_width', 1))
    return [self.vocab.decode(row) for row in np.asarray(tokens)]

  def encode_text(self, state: TrainState, tokens, lengths):
    """Posterior means of q(z | x) for [n, L] token ids and their [n] lengths."""
    return self.posterior(state.networks[self.network].params, tokens, lengths)[0]

  # Evaluation.

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """On the first num_samples test sentences (default `eval_num_sentences`; all if 0): NLL per
    sentence (k = eval_importance_samples importance samples; exact for the language model),
    perplexity exp(total NLL / total tokens incl. <eos>), -ELBO, KL, reconstruction term, mutual
    information and active units. Sentences go in length-sorted batches cut to their longest, or
    with `bucket_lengths` to the bucket that holds it."""
    config = self.config
    num = num_samples or config.eval_num_sentences or None
    test = input_pipeline.load_split(config.dataset, 'test')
    tokens, lengths = test['tokens'][:num], test['length'][:num]
    order = np.argsort(lengths, kind='stable')
    params = state.networks[self.network].params
    k = config.eval_importance_samples if self.latent_dim else 1
    chunk = min(k, config.eval_chunk)
    out = {'nll': [], 'elbo': [], 'kl': [], 'reconstruction': [], 'mean': [], 'logvar': []}
    for start in tqdm.tqdm(range(0, len(order), config.eval_batch_size), mininterval=5,
                           desc='test NLL', unit='batch', leave=False):
      index = order[start:start + config.eval_batch_size]
      width = int(lengths[index].max())
      if self.bucket_lengths:  # one compile per bucket, not per width
        width = input_pipeline.bucket_width(self.bucket_lengths, width)
      key = jax.random.fold_in(jax.random.PRNGKey(config.seed + 4), start)
      result = _evaluate_batch(self, params, tokens[index, :width], lengths[index], key, k, chunk)
      for name, value in result.items():
        out[name].append(np.asarray(value))
    out = {name: np.concatenate(v) for name, v in out.items()}
    metrics = {name: float(np.mean(out[name])) for name in ('nll', 'elbo', 'kl', 'reconstruction')}
    metrics['ppl'] = float(np.exp(np.sum(out['nll']) / np.sum(lengths)))
    metrics['importance_samples'] = k
    metrics['sentences'] = len(order)
    if self.latent_dim:
      z = losses.reparameterize(jax.random.PRNGKey(config.seed + 5), out['mean'], out['logvar'])
      metrics['mutual_information'] = float(losses.mutual_information(
          out['mean'], out['logvar'], z))
      metrics['active_units'] = int(losses.active_units(out['mean']))
    return metrics


@functools.partial(jax.jit, static_argnums=(0, 4, 5, 6, 7, 8))
def jit_decode(model: TextVAE, params, z, rng, strategy, max_length, temperature, top_k,
               beam_width):
  """`model.decode`, compiled once per model and decoding setting."""
  return model.decode(params, z, rng, strategy, max_length, temperature, top_k, beam_width)


@functools.partial(jax.jit, static_argnums=(0, 5, 6))
def _evaluate_batch(model: TextVAE, params, tokens, lengths, key, k: int, chunk: int):
  """Per-sentence NLL from k importance samples, `chunk` at a time with a running logsumexp; and
  the one-sample ELBO terms and the posterior."""
  nll_key, elbo_key = jax.random.split(key)
  mean, logvar = model.posterior(params, tokens, lengths)
  if not model.latent_dim:  # a language model's likelihood is exact
    log_px = model.log_likelihood(params, tokens, lengths, mean)
    zero = jnp.zeros_like(log_px)
    return {'nll': -log_px, 'elbo': log_px, 'kl': zero, 'reconstruction': log_px,
            'mean': mean, 'logvar': logvar}

  nll = losses.chunked_iwae_nll(
      lambda rng, n: model.log_weights(params, tokens, lengths, rng, n), nll_key, k, chunk,
      tokens.shape[0])
  z = losses.reparameterize(elbo_key, mean, logvar)
  reconstruction = model.log_likelihood(params, tokens, lengths, z)
  kl = losses.gaussian_kl(mean, logvar)
  return {'nll': nll, 'elbo': reconstruction - kl, 'kl': kl,
          'reconstruction': reconstruction, 'mean': mean, 'logvar': logvar}
