"""SeqGAN (Yu et al. 2017) on the shared trainer: a recurrent generator trained adversarially by
policy gradient, with Monte Carlo rollouts turning the discriminator's verdict on whole sequences
into a reward for every token.

One pure `train_step` per phase (the trainer compiles one for each; `phase_of(step)` says which):
  1. `g_pretrain_steps` of maximum likelihood on real sequences;
  2. `d_pretrain_steps` of discriminator training on real against generated sequences;
  3. adversarial steps: one policy-gradient update of G, whose reward for token t is D's mean
     probability of "real" over `num_rollouts` completions of the first t tokens by the rollout
     policy (a delayed copy of G, `rollout_update_rate`), then `d_steps` discriminator updates.
G and D keep separate Optax states. Datasets: 'oracle' (the paper's synthetic benchmark: a
randomly initialised LSTM generates the training data; metric NLL-oracle) and 'ptb' (sentences
cut or padded to `sequence_length`; metric BLEU-2..5 against the test set and self-BLEU).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import chunking
from gan_jax import decoding
from gan_jax import input_pipeline
from gan_jax import losses
from gan_jax import models
from gan_jax.state import Network, TrainState


def sample_sequences(module, params, rng, num: int, length: int, temperature: float = 1.0):
  """[num, length] tokens sampled from a `SentenceVAE` language model."""
  sample = lambda t, key, logits: decoding.sample_categorical(key, logits / temperature)
  return decoding.unroll(module, params, jnp.zeros((num, 0)), rng, length, sample)


def rollout_completions(module, params, rng, tokens, num_rollouts: int):
  """[T - 1, num_rollouts * B, T]: for each prefix length t = 1 .. T - 1, num_rollouts
  completions of every row of tokens [B, T] whose first t tokens are kept and whose others are
  sampled from the language model (row r * B + b completes tokens[b]). The prefixes are read
  once, teacher-forced, and each completion runs only its T - t steps from the prefix's carry
  (half the steps of rerunning every prefix), with the keys step t would have in a full unroll
  from `jax.random.fold_in(rng, t)`."""
  batch, length = tokens.shape
  rows = jnp.tile(tokens, (num_rollouts, 1))
  z = jnp.zeros((rows.shape[0], 0))
  carries = decoding.teacher_forced_carries(module, params, decoding.decoder_inputs(tokens)[:, :-1],
                                            jnp.zeros((batch, 0)))
  sample = lambda t, key, logits: decoding.sample_categorical(key, logits)
  completions = []
  for t in range(1, length):
    carry = jax.tree.map(lambda c: jnp.tile(c[t - 1], (num_rollouts, 1)), carries)
    tail = decoding.unroll(module, params, z, jax.random.fold_in(rng, t), length, sample,
                           start=(carry, rows[:, t - 1]), first_step=t)
    completions.append(jnp.concatenate([rows[:, :t], tail], axis=1))
  return jnp.stack(completions)


def token_log_probs(module, params, tokens):
  """[B, T] log G(y_t | y_<t) of given sequences, teacher-forced."""
  logits = decoding.teacher_forced_logits(module, params, decoding.decoder_inputs(tokens),
                                          jnp.zeros((tokens.shape[0], 0)))
  return losses.token_log_probs(logits, tokens)


def sample_in_chunks(jitted_sample, params, rng, num: int, length: int) -> np.ndarray:
  """[num, length] sequences from a jitted `sample_sequences`, a chunk at a time."""
  return np.concatenate([np.asarray(jitted_sample(params, jax.random.fold_in(rng, i),
                                                  min(chunking.CHUNK, num - i), length))
                         for i in range(0, num, chunking.CHUNK)])


def jit_sequence_nll(log_probs):
  """Jitted (params, tokens) -> [B] mean per-token NLL of each sequence, from `log_probs`:
  (params, tokens) -> [B, T] log-probabilities of the tokens."""
  return jax.jit(lambda params, tokens: -jnp.mean(log_probs(params, tokens), axis=-1))


def nll_in_chunks(jitted_nll, params, tokens) -> np.ndarray:
  """[num] a `jit_sequence_nll` function over `tokens`, a chunk at a time."""
  return np.concatenate([np.asarray(jitted_nll(params, chunk))
                         for chunk in chunking.in_chunks(tokens)])


class Oracle:
  """The synthetic benchmark's target: an LSTM language model with N(0, 1) weights."""

  def __init__(self, config):
    oracle = config.oracle
    self.module = models.SentenceVAE(vocab_size=oracle.vocab_size, embed_dim=oracle.embed_dim,
                                     hidden_size=oracle.hidden_size, latent_dim=0, cell='lstm',
                                     init_stddev=1.0)
    self.params = self.module.init(jax.random.PRNGKey(oracle.seed), jnp.ones((1, 2), jnp.int32),
                                   jnp.full((1,), 2))['params']
    self.length = config.sequence_length
    self.num_sequences = oracle.num_sequences
    self._sample = jax.jit(functools.partial(sample_sequences, self.module), static_argnums=(2, 3))
    self._nll = jit_sequence_nll(functools.partial(token_log_probs, self.module))

  def sample(self, rng, num: int) -> np.ndarray:
    return sample_in_chunks(self._sample, self.params, rng, num, self.length)

  def nll(self, tokens) -> np.ndarray:
    """Per-sequence mean per-token NLL under the oracle (NLL-oracle when tokens come from G)."""
    return nll_in_chunks(self._nll, self.params, tokens)


class TextGAN:
  """What the text GANs (SeqGAN, LeakGAN) share: the data ('oracle' or a text split cut or padded
  to `sequence_length`), SeqGAN's CNN discriminator with its Adam and update, and evaluation.
  A subclass adds its generator: `generate_tokens` and `sequence_nll`."""
  EVALUATION_OPTIONS = {}
  CONFIG_DEFAULTS = {'eval_test_sequences': 2000, 'd_l2_weight': 0.0}

  def __init__(self, config):
    self.config = config
    self.length = config.sequence_length
    if config.dataset == 'oracle':
      self.oracle = Oracle(config)
      self.vocab, self.vocab_size = None, config.oracle.vocab_size
    else:
      self.oracle = None
      self.vocab = input_pipeline.vocabulary(config.dataset)
      self.vocab_size = len(self.vocab)
    self.dtype = models.compute_dtype(config)
    self.discriminator = models.SeqGANDiscriminator(vocab_size=self.vocab_size, dtype=self.dtype,
                                                    **config.discriminator.to_dict())
    self.d_tx = optax.adam(config.optimizer.d_learning_rate)

  def train_data(self) -> dict[str, np.ndarray]:
    """The real sequences: the oracle's samples, or the text split cut/padded to the length."""
    if self.oracle:
      tokens = self.oracle.sample(jax.random.PRNGKey(self.config.oracle.seed + 1),
                                  self.oracle.num_sequences)
    else:
      tokens = self._fixed_length(input_pipeline.load_split(self.config.dataset, 'train'))
    return {'tokens': tokens.astype(np.int32)}

  def _fixed_length(self, split) -> np.ndarray:
    tokens = split['tokens'][:, :self.length]
    return np.pad(tokens, ((0, 0), (0, self.length - tokens.shape[1])))  # <pad> is 0

  def _d_update(self, d: Network, real, fake, rng):
    """One D update on real against fake sequences: BCE, plus `d_l2_weight` times half the
    squared norm of the output layer's weights and bias (SeqGAN's reference code, 0.2)."""
    def loss_fn(params):
      logits = lambda x, key: self.discriminator.apply({'params': params}, x, train=True,
                                                       rngs={'dropout': key})
      real_key, fake_key = jax.random.split(rng)
      output = params[max((k for k in params if k.startswith('Dense_')),
                          key=lambda k: int(k.split('_')[1]))]
      l2 = sum(jnp.sum(w ** 2) for w in jax.tree.leaves(output)) / 2
      return (losses.discriminator_bce(logits(real, real_key), logits(fake, fake_key))
              + self.config.d_l2_weight * l2)

    loss, grads = jax.value_and_grad(loss_fn)(d.params)
    return d.apply_gradients(grads, self.d_tx), loss

  def _d_updates(self, d: Network, real, sample_fake, rng):
    """`d_steps` updates of D, each against fresh fakes `sample_fake(key)`: D and the last loss."""
    loss = jnp.zeros(())
    for i in range(self.config.d_steps):
      sample_key, update_key = jax.random.split(jax.random.fold_in(rng, i))
      d, loss = self._d_update(d, real, sample_fake(sample_key), update_key)
    return d, loss

  def generate_tokens(self, state: TrainState, num: int, seed: int) -> np.ndarray:
    """[num, length] token ids sampled from the generator."""
    raise NotImplementedError

  def sequence_nll(self, state: TrainState, tokens) -> np.ndarray:
    """[num] the generator's mean per-token NLL of each of the given sequences."""
    raise NotImplementedError

  def sample_text(self, state: TrainState, num_samples: int = 10,
                  seed: int | None = None) -> list[str]:
    """Sentences sampled from the generator (token ids for the oracle benchmark)."""
    tokens = self.generate_tokens(state, num_samples,
                                  self.config.seed + 1 if seed is None else seed)
    if self.vocab is None:
      return [' '.join(map(str, row)) for row in tokens]
    return [self.vocab.decode(row) for row in tokens]

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """Oracle: NLL-oracle (mean per-token NLL of num_samples generated sequences under the
    oracle: their quality) and NLL-test (the generator's mean per-token NLL of
    `eval_test_sequences` fresh oracle samples: its coverage, which a generator that collapses
    onto a few good sequences loses), and NLL-oracle's standard error. Text: BLEU-2..5 of
    generated sentences against the test set, and self-BLEU."""
    num = num_samples or self.config.eval_num_samples
    tokens = self.generate_tokens(state, num, self.config.seed + 2)
    if self.oracle:
      held_out = self.oracle.sample(jax.random.PRNGKey(self.config.oracle.seed + 2),
                                    self.config.eval_test_sequences)
      nll = self.oracle.nll(tokens)
      return {'nll_oracle': float(np.mean(nll)),
              # the estimate's noise: the standard error of the mean over the samples
              'nll_oracle_stderr': float(np.std(nll, ddof=1) / np.sqrt(len(nll))),
              'nll_test': float(np.mean(self.sequence_nll(state, held_out)))}
    references = [self.vocab.decode(row).split() for row in
                  self._fixed_length(input_pipeline.load_split(self.config.dataset, 'test'))]
    hypotheses = [self.vocab.decode(row).split() for row in tokens]
    return bleu_scores(hypotheses, references)


class SeqGAN(TextGAN):
  CONFIG_DEFAULTS = {**TextGAN.CONFIG_DEFAULTS, 'optimizer.pg_loss_reduction': 'mean'}

  def __init__(self, config):
    super().__init__(config)
    self.generator = models.SentenceVAE(vocab_size=self.vocab_size, latent_dim=0,
                                        dtype=self.dtype, **config.generator.to_dict())
    opt = config.optimizer
    # G's update count passes g_pretrain_steps when the policy-gradient updates begin (D
    # pre-training does not update G): from then on, G learns at pg_learning_rate.
    g_learning_rate = optax.piecewise_constant_schedule(
        opt.g_learning_rate, {config.g_pretrain_steps: opt.pg_learning_rate / opt.g_learning_rate})
    self.g_tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip), optax.adam(g_learning_rate))
    self._sample = jax.jit(functools.partial(sample_sequences, self.generator),
                           static_argnums=(2, 3))
    self._nll = jit_sequence_nll(functools.partial(token_log_probs, self.generator))

  def init(self, rng) -> TrainState:
    g_key, d_key, rng = jax.random.split(rng, 3)
    tokens = jnp.ones((2, self.length), jnp.int32)
    g_vars = self.generator.init(g_key, tokens, jnp.full((2,), self.length))
    d_vars = self.discriminator.init(d_key, tokens)
    g = Network.create(g_vars, self.g_tx)
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, networks={
        'generator': g, 'discriminator': Network.create(d_vars, self.d_tx),
        'rollout': g.replace(opt_state=())})

  def rewards(self, rollout_params, d_params, tokens, rng):
    """[B, T] rewards: for t < T, D's mean probability of "real" over num_rollouts completions of
    tokens[:, :t] by the rollout policy; for t = T, D's verdict on the sequence itself. All
    B * (T - 1) * num_rollouts completions run as one batch."""
    batch, length = tokens.shape
    n = self.config.num_rollouts
    completed = rollout_completions(self.generator, rollout_params, rng, tokens, n)
    verdict = lambda x: jax.nn.sigmoid(self.discriminator.apply({'params': d_params}, x))
    rollout_rewards = verdict(completed.reshape(-1, length)).reshape(
        length - 1, n, batch).mean(axis=1).T
    return jnp.concatenate([rollout_rewards, verdict(tokens)[:, None]], axis=1)

  def phase_of(self, step: int) -> int:
    """The training phase at a (host) step: 0 MLE pre-training of G, 1 D pre-training, 2
    adversarial."""
    config = self.config
    return (int(step >= config.g_pretrain_steps)
            + int(step >= config.g_pretrain_steps + config.d_pretrain_steps))

  def train_step(self, state: TrainState, batch, rng, phase: int):
    """One step of `phase` (= `phase_of(state.step)`, static): each phase is its own program, as
    one program picking the phase with `lax.switch` runs several times slower on XLA's CPU
    backend (D pre-training: 5.4 s vs 1.1 s a step)."""
    config = self.config
    real = batch['tokens']
    n = real.shape[0]
    nets = state.networks
    zero = jnp.zeros(())

    def metrics(mle=zero, d_loss=zero, pg_loss=zero, reward=zero):
      return {'g_mle_nll': mle, 'd_loss': d_loss, 'pg_loss': pg_loss, 'mean_reward': reward}

    def mle_phase(nets):
      g = nets['generator']
      nll, grads = jax.value_and_grad(
          lambda p: -jnp.mean(token_log_probs(self.generator, p, real)))(g.params)
      g = g.apply_gradients(grads, self.g_tx)
      return {**nets, 'generator': g, 'rollout': g.replace(opt_state=())}, metrics(mle=nll)

    def d_phase(nets, rng):
      fake = lambda key: sample_sequences(self.generator, nets['generator'].params, key, n,
                                          self.length)
      d, loss = self._d_updates(nets['discriminator'], real, fake, rng)
      return {**nets, 'discriminator': d}, loss

    def pretrain_d_phase(nets):
      nets, loss = d_phase(nets, rng)
      return nets, metrics(d_loss=loss)

    def adversarial_phase(nets):
      sample_key, rollout_key, d_key = jax.random.split(rng, 3)
      g = nets['generator']
      fake = sample_sequences(self.generator, g.params, sample_key, n, self.length)
      rewards = self.rewards(nets['rollout'].params, nets['discriminator'].params, fake,
                             rollout_key)
      pg_loss, grads = jax.value_and_grad(lambda p: losses.policy_gradient_loss(
          token_log_probs(self.generator, p, fake), rewards,
          config.optimizer.pg_loss_reduction))(g.params)
      g = g.apply_gradients(grads, self.g_tx)
      rollout = nets['rollout'].replace(params=optax.incremental_update(
          g.params, nets['rollout'].params, 1.0 - config.rollout_update_rate))
      nets, d_loss = d_phase({**nets, 'generator': g, 'rollout': rollout}, d_key)
      return nets, metrics(d_loss=d_loss, pg_loss=pg_loss, reward=jnp.mean(rewards))

    nets, out = [mle_phase, pretrain_d_phase, adversarial_phase][phase](nets)
    return (state.replace(step=state.step + 1, networks=nets),
            {**out, 'phase': jnp.asarray(phase, jnp.int32)})

  def generate_tokens(self, state: TrainState, num: int, seed: int) -> np.ndarray:
    return sample_in_chunks(self._sample, state.networks['generator'].params,
                            jax.random.PRNGKey(seed), num, self.length)

  def sequence_nll(self, state: TrainState, tokens) -> np.ndarray:
    return nll_in_chunks(self._nll, state.networks['generator'].params, tokens)


def bleu_scores(hypotheses, references, orders=(2, 3, 4, 5)) -> dict[str, float]:
  """Texygen's protocol (Zhu et al. 2018), with NLTK's BLEU and its smoothing method 1 (epsilon
  0.1 added to zero n-gram counts): BLEU-n averages sentence BLEU of each hypothesis against all
  references; self-BLEU-n, of each hypothesis against the other hypotheses (lower: more
  diverse; it needs two or more hypotheses)."""
  from nltk.translate import bleu_score  # pylint: disable=g-import-not-at-top
  smoothing = bleu_score.SmoothingFunction().method1
  result = {}
  for n in orders:
    weights = (1.0 / n,) * n
    result[f'bleu_{n}'] = float(np.mean([
        bleu_score.sentence_bleu(references, h, weights, smoothing) for h in hypotheses]))
    if len(hypotheses) > 1:
      result[f'self_bleu_{n}'] = float(np.mean([
          bleu_score.sentence_bleu(hypotheses[:i] + hypotheses[i + 1:], h, weights, smoothing)
          for i, h in enumerate(hypotheses)]))
  return result
