"""LeakGAN (Guo et al. 2018) on the shared trainer: a hierarchical generator that reads the
discriminator's own features of the text so far (the "leaked" information).

The discriminator is SeqGAN's CNN; its highway output f_t of the prefix x_<t is leaked to a
manager LSTM, which emits a unit goal g_t in the feature space; a worker LSTM turns the previous
token into a [V, k] matrix O_t, and the policy is softmax(O_t w_t), w_t the projection psi of
the sum of the last `step_size` (c) goals. Manager, worker and D keep separate Optax states.

Phases (`phase_of`):
  0. maximum likelihood for the worker, and for the manager the cosine between its goal g_t and
     the feature change f_{t+c} - f_t it should predict on real text;
  1. D on real against generated sequences;
  0 and 1 interleave for `pretrain_rounds` rounds (D first, so the manager reads a trained D).
  2. adversarial steps: the manager learns -Q_t cos(f_{t+c} - f_t, g_t) on G's own samples,
     with Q from Monte Carlo rollouts every c tokens scored by D and rescaled by their rank in
     the batch (bootstrapped rescaled activation); the worker, REINFORCE with the intrinsic
     reward r_t = 1/c sum_i cos(f_t - f_{t-i}, g_{t-i}) (how well it followed the goals); then
     `d_steps` D updates on fresh samples.
No gradient reaches D from G: features are functions of integer tokens, and each loss is
differentiated only with respect to its own network.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import decoding
from gan_jax import input_pipeline
from gan_jax import losses
from gan_jax import models
from gan_jax.families.seqgan import TextGAN, jit_sequence_nll, nll_in_chunks, sample_in_chunks
from gan_jax.state import Network, TrainState


def rescaled_rewards(rewards, delta: float):
  """Bootstrapped rescaled activation: [B, K] rewards -> sigmoid(delta (0.5 - rank / B)) per
  column, rank 1 for the column's highest reward and B for its lowest. Only the order within
  the batch matters, so D's scale drifting during training does not change the rewards' scale."""
  batch = rewards.shape[0]
  rank = jnp.argsort(jnp.argsort(-rewards, axis=0), axis=0) + 1
  return jax.nn.sigmoid(delta * (0.5 - rank / batch))


def cosine(a, b, eps=1e-8):
  """Cosine similarity over the last axis."""
  norms = jnp.sqrt(jnp.maximum(jnp.sum(a * a, -1) * jnp.sum(b * b, -1), eps))
  return jnp.sum(a * b, -1) / norms


def goal_sums(goals, initial_goal, step_size: int):
  """[B, T, F] goals g_t -> [B, T, F] sum of g_{t-c+1} .. g_t, the initial goal standing in for
  the goals before the first."""
  batch, _, size = goals.shape
  padded = jnp.concatenate(
      [jnp.broadcast_to(initial_goal, (batch, step_size - 1, size)), goals], axis=1)
  cumulative = jnp.cumsum(padded, axis=1)
  before = jnp.concatenate([jnp.zeros((batch, 1, size)), cumulative[:, :-step_size]], axis=1)
  return cumulative[:, step_size - 1:] - before


def intrinsic_rewards(features, goals, step_size: int):
  """[B, T] the worker's reward for token t, which takes the text from state t to t + 1:
  1/c sum_{i=1..c} cos(f_{t+1} - f_{t+1-i}, g_{t+1-i}) over the i with t + 1 - i >= 0
  (features [B, T+1, F]: f_0 .. f_T; goals [B, T, F])."""
  length = goals.shape[1]
  total = jnp.zeros(goals.shape[:2])
  for i in range(1, step_size + 1):
    # token t >= i - 1: state t + 1 against state t + 1 - i and its goal
    moved = features[:, i:] - features[:, :length + 1 - i]
    term = cosine(moved, goals[:, :length + 1 - i])
    total = total.at[:, i - 1:].add(term)
  return total / step_size


def manager_cosines(features, goals, step_size: int):
  """[B, T - c + 1]: cos(f_{t+c} - f_t, g_t) for t = 0 .. T - c."""
  length = goals.shape[1]
  return cosine(features[:, step_size:] - features[:, :length + 1 - step_size],
                goals[:, :length + 1 - step_size])


class LeakGAN(TextGAN):
  NETWORKS = ('manager', 'worker', 'discriminator')  # the order of the `params` tuples below

  def __init__(self, config):
    super().__init__(config)
    gen = config.generator
    self.step_size = gen.step_size
    if self.length % self.step_size:
      raise ValueError(f'sequence_length={self.length} must be a multiple of '
                       f'generator.step_size={self.step_size}')
    self.feature_size = sum(n for size, n in zip(config.discriminator.filter_sizes,
                                                  config.discriminator.num_filters)
                            if size <= self.length)
    self.manager = models.LeakGANManager(self.feature_size, gen.hidden_size, dtype=self.dtype)
    self.worker = models.LeakGANWorker(self.vocab_size, gen.embed_dim, gen.hidden_size,
                                       gen.goal_size, dtype=self.dtype)
    opt = config.optimizer
    self.g_tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip),
                            optax.adam(opt.g_learning_rate))
    self._sample = jax.jit(self.sample, static_argnums=(2, 3, 4))  # num, length, temperature
    self._nll = jit_sequence_nll(self.token_log_probs)

  def init(self, rng) -> TrainState:
    m_key, w_key, d_key, rng = jax.random.split(rng, 4)
    features = jnp.zeros((1, self.feature_size))
    m_vars = self.manager.init(m_key, self._zero_carry(1), features)
    w_vars = self.worker.init(w_key, self._zero_carry(1), jnp.zeros((1,), jnp.int32), features)
    d_vars = self.discriminator.init(d_key, jnp.ones((2, self.length), jnp.int32))
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, networks={
        'manager': Network.create(m_vars, self.g_tx), 'worker': Network.create(w_vars, self.g_tx),
        'discriminator': Network.create(d_vars, self.d_tx)})

  def _zero_carry(self, batch: int):
    zeros = jnp.zeros((batch, self.config.generator.hidden_size), jnp.float32)
    return zeros, zeros

  # The generator's pieces, as functions of the parameters of manager, worker and D.

  def features(self, d_params, tokens, known):
    """[B, F] D's features of the first `known` tokens (an int, or one per row) of [B, T]
    tokens, the others masked."""
    known = jnp.reshape(jnp.asarray(known), (-1, 1))
    mask = jnp.broadcast_to(jnp.arange(self.length)[None] < known, tokens.shape)
    _, out = self.discriminator.apply({'params': d_params}, tokens, mask=mask,
                                      mutable=['intermediates'])
    return out['intermediates']['features'][0]

  def prefix_features(self, d_params, tokens):
    """[B, T + 1, F]: f_t of every prefix x_<t, t = 0 .. T, as one batch through D (constants:
    no gradient reaches D from the generator's losses)."""
    batch = tokens.shape[0]
    rows = jnp.repeat(tokens, self.length + 1, axis=0)  # row b (T + 1) + t: prefix t of b
    known = jnp.tile(jnp.arange(self.length + 1), batch)
    features = self.features(d_params, rows, known)
    return jax.lax.stop_gradient(features.reshape(batch, self.length + 1, -1))

  def manager_goals(self, m_params, features):
    """[B, T, F] goals g_t, the manager having read f_0 .. f_t ([B, T + 1, F] features)."""
    step = lambda carry, f: self.manager.apply({'params': m_params}, carry, f)
    _, goals = jax.lax.scan(step, self._zero_carry(features.shape[0]),
                            jnp.swapaxes(features[:, :-1], 0, 1))
    return jnp.swapaxes(goals, 0, 1)

  def goal_sums(self, m_params, goals):
    initial = self.manager.apply({'params': m_params}, method='initial_goal')
    return goal_sums(goals, initial, self.step_size)

  def worker_logits(self, w_params, tokens, sums):
    """[B, T, V] the worker's logits for [B, T] tokens (teacher forcing), given the goal sums:
    the recurrence under `lax.scan`, the output layer on all steps at once."""
    worker = lambda *args, **kw: self.worker.apply({'params': w_params}, *args, **kw)
    _, hidden = jax.lax.scan(lambda carry, token: worker(carry, token, method='step'),
                             self._zero_carry(tokens.shape[0]), decoding.decoder_inputs(tokens).T)
    return worker(jnp.swapaxes(hidden, 0, 1), sums, method='logits')

  def token_log_probs(self, params, tokens):
    """[B, T] log pi(x_t | x_<t) of given sequences; params (manager, worker, discriminator)."""
    m_params, w_params, d_params = params
    goals = self.manager_goals(m_params, self.prefix_features(d_params, tokens))
    logits = self.worker_logits(w_params, tokens, self.goal_sums(m_params, goals))
    return losses.token_log_probs(logits, tokens)

  def sample(self, params, rng, num: int, length: int, temperature: float = 1.0,
             prefix=None, prefix_length=0):
    """[num, length] sequences generated step by step: at step t D's features of the tokens so
    far go to the manager, the sum of its last c goals to the worker, whose logits (divided by
    `temperature`) give token t. Row b keeps the first `prefix_length` (an int or [num]) tokens
    of `prefix` (rollouts)."""
    del length  # always self.length; an argument for sample_in_chunks
    m_params, w_params, d_params = params
    prefix = jnp.zeros((num, self.length), jnp.int32) if prefix is None else prefix
    initial = self.manager.apply({'params': m_params}, method='initial_goal')

    def step(state, inputs):
      m_carry, w_carry, recent, tokens, previous = state
      t, key = inputs
      m_carry, goal = self.manager.apply({'params': m_params}, m_carry,
                                         self.features(d_params, tokens, t))
      recent = jnp.concatenate([recent[1:], goal[None]])
      w_carry, logits = self.worker.apply({'params': w_params}, w_carry, previous,
                                          jnp.sum(recent, axis=0))
      token = jnp.where(t < prefix_length, prefix[:, t],
                        decoding.sample_categorical(key, logits / temperature)).astype(jnp.int32)
      return (m_carry, w_carry, recent, tokens.at[:, t].set(token), token), None

    start = (self._zero_carry(num), self._zero_carry(num),
             jnp.broadcast_to(initial, (self.step_size, num, self.feature_size)),
             jnp.zeros((num, self.length), jnp.int32),
             jnp.full((num,), input_pipeline.Vocabulary.BOS, jnp.int32))
    (_, _, _, tokens, _), _ = jax.lax.scan(
        step, start, (jnp.arange(self.length), jax.random.split(rng, self.length)))
    return tokens

  def rewards(self, params, tokens, rng):
    """[B, T / c] Q of each block of c tokens: for the blocks before the last, D's mean
    probability of "real" over `num_rollouts` completions of the text up to the block's end by
    the current generator; for the last, D's verdict on the sequence; each column rescaled by
    rank (`rescaled_rewards`). All completions run as one batch."""
    batch = tokens.shape[0]
    n, c = self.config.num_rollouts, self.step_size
    ends = np.arange(c, self.length, c)
    rows = jnp.tile(tokens, (len(ends) * n, 1))  # row (e n + r) B + b: end e, rollout r, seq b
    known = jnp.repeat(jnp.asarray(ends), n * batch)
    completed = self.sample(params, rng, rows.shape[0], self.length, 1.0, rows, known)
    verdict = lambda x: jax.nn.sigmoid(self.discriminator.apply({'params': params[2]}, x))
    rollout = verdict(completed).reshape(len(ends), n, batch).mean(axis=1).T
    raw = jnp.concatenate([rollout, verdict(tokens)[:, None]], axis=1)
    return rescaled_rewards(raw, self.config.reward_delta)

  def _generator_update(self, nets, tokens, manager_weights=None, worker_rewards=None):
    """One update of manager and worker on tokens: the manager's -mean(Q cos(f_{t+c} - f_t,
    g_t)) and the worker's REINFORCE -mean_b sum_t r_t log pi / T. `manager_weights` [B, T - c +
    1] Q (None: 1, pre-training); `worker_rewards(features, goals)` [B, T] (None: maximum
    likelihood)."""
    m, w = nets['manager'], nets['worker']
    features = self.prefix_features(nets['discriminator'].params, tokens)

    def manager_loss(m_params):
      cosines = manager_cosines(features, self.manager_goals(m_params, features), self.step_size)
      return -jnp.mean(cosines if manager_weights is None else manager_weights * cosines)

    goals = self.manager_goals(m.params, features)  # the worker's goals: constants to it
    sums = self.goal_sums(m.params, goals)

    def worker_loss(w_params):
      log_probs = losses.token_log_probs(self.worker_logits(w_params, tokens, sums), tokens)
      if worker_rewards is None:
        return -jnp.mean(log_probs)
      return losses.policy_gradient_loss(log_probs, worker_rewards(features, goals)) / self.length

    m_loss, m_grads = jax.value_and_grad(manager_loss)(m.params)
    w_loss, w_grads = jax.value_and_grad(worker_loss)(w.params)
    return ({**nets, 'manager': m.apply_gradients(m_grads, self.g_tx),
             'worker': w.apply_gradients(w_grads, self.g_tx)}, m_loss, w_loss)

  def phase_of(self, step: int) -> int:
    """0: G's pre-training, 1: D's pre-training (interleaved in rounds, D first), 2:
    adversarial."""
    config = self.config
    round_steps = config.d_pretrain_steps + config.g_pretrain_steps
    if step >= config.pretrain_rounds * round_steps:
      return 2
    return int(step % round_steps < config.d_pretrain_steps)

  def train_step(self, state: TrainState, batch, rng, phase: int):
    """One step of `phase` (static: each phase is its own compiled program, as in SeqGAN)."""
    real = batch['tokens']
    n = real.shape[0]
    nets = state.networks
    zero = jnp.zeros(())

    def metrics(**values):
      names = ('g_mle_nll', 'manager_loss', 'worker_loss', 'd_loss', 'mean_reward')
      return {name: values.get(name, zero) for name in names}

    def d_updates(nets, rng):
      fake = lambda key: self.sample(self._params(nets), key, n, self.length)
      d, loss = self._d_updates(nets['discriminator'], real, fake, rng)
      return {**nets, 'discriminator': d}, loss

    if phase == 0:
      nets, m_loss, nll = self._generator_update(nets, real)
      out = metrics(g_mle_nll=nll, manager_loss=m_loss)
    elif phase == 1:
      nets, d_loss = d_updates(nets, rng)
      out = metrics(d_loss=d_loss)
    else:
      sample_key, rollout_key, d_key = jax.random.split(rng, 3)
      fake = self.sample(self._params(nets), sample_key, n, self.length)
      rewards = self.rewards(self._params(nets), fake, rollout_key)  # [B, T / c]
      c = self.step_size
      # g_t (t = 0 .. T - c) is judged by the Q of the block it starts in
      q = rewards[:, np.arange(self.length - c + 1) // c]
      nets, m_loss, w_loss = self._generator_update(
          nets, fake, q, lambda f, g: intrinsic_rewards(f, g, c))
      nets, d_loss = d_updates(nets, d_key)
      out = metrics(manager_loss=m_loss, worker_loss=w_loss, d_loss=d_loss,
                    mean_reward=jnp.mean(rewards))
    return (state.replace(step=state.step + 1, networks=nets),
            {**out, 'phase': jnp.asarray(phase, jnp.int32)})

  def _params(self, networks):
    return tuple(networks[k].params for k in self.NETWORKS)

  def generate_tokens(self, state: TrainState, num: int, seed: int,
                      temperature: float = 1.0) -> np.ndarray:
    sample = lambda params, key, k, length: self._sample(params, key, k, length, temperature)
    return sample_in_chunks(sample, self._params(state.networks), jax.random.PRNGKey(seed), num,
                            self.length)

  def sequence_nll(self, state: TrainState, tokens) -> np.ndarray:
    return nll_in_chunks(self._nll, self._params(state.networks), tokens)

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """TextGAN's metrics; on the oracle also NLL-oracle of samples at each of
    `eval_temperatures` (the reference code reports its NLL-oracle at 2/3)."""
    result = super().evaluate(state, num_samples)
    for temperature in (self.config.eval_temperatures if self.oracle else ()):
      tokens = self.generate_tokens(state, num_samples or self.config.eval_num_samples,
                                    self.config.seed + 2, temperature)
      result[f'nll_oracle_t{temperature:.3g}'] = float(np.mean(self.oracle.nll(tokens)))
    return result
