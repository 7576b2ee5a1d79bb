import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import families
from gan_jax import train
from gan_jax.families import leakgan
from conftest import tiny_config
from test_train import assert_trees_close

TINY = {'oracle.vocab_size': 30, 'oracle.num_sequences': 64, 'sequence_length': 8,
        'discriminator.filter_sizes': (1, 2, 3), 'discriminator.num_filters': (4, 5, 3),
        'discriminator.embed_dim': 8, 'generator.hidden_size': 8, 'generator.embed_dim': 8,
        'generator.goal_size': 4, 'generator.step_size': 4, 'num_rollouts': 2,
        'pretrain_rounds': 1, 'd_pretrain_steps': 1, 'g_pretrain_steps': 1, 'd_steps': 1,
        'eval_num_samples': 40, 'eval_test_sequences': 20}


@pytest.fixture(scope='module')
def model_and_state():
  model = families.build(tiny_config('leakgan_oracle', **TINY))
  return model, model.init(jax.random.PRNGKey(0))


def params(state):
  return tuple(state.networks[k].params for k in leakgan.LeakGAN.NETWORKS)


def test_worker_logits_are_its_action_matrix_times_the_projected_goal(model_and_state):
  model, state = model_and_state
  w = state.networks['worker'].params
  rng = np.random.default_rng(0)
  hidden = rng.normal(size=(2, 8)).astype(np.float32)
  goal_sum = rng.normal(size=(2, 12)).astype(np.float32)
  # By hand: O = reshape(h W + b) [V, k]; w = psi(goal sum) / |psi(goal sum)|; logits = O w.
  w = jax.tree.map(lambda x: (np.asarray(x) + np.random.default_rng(1).normal(size=x.shape)).astype(
      np.float32), w)
  logits = model.worker.apply({'params': w}, hidden, goal_sum, method='logits')  # nonzero bias
  actions = (hidden @ w['out_kernel'] + w['out_bias']).reshape(2, 30, 4)
  projected = goal_sum @ np.asarray(w['goal_projection']['kernel'])
  unit = projected / np.linalg.norm(projected, axis=-1, keepdims=True)
  np.testing.assert_allclose(logits, np.einsum('bvk,bk->bv', actions, unit), rtol=1e-5, atol=1e-5)
  # Only the goal's direction matters.
  np.testing.assert_allclose(model.worker.apply({'params': w}, hidden, 3 * goal_sum,
                                                method='logits'), logits, rtol=1e-5, atol=1e-5)
  # Teacher forcing's [B, T, ...] inputs (flattened for the product): position t as alone.
  by_position = model.worker.apply({'params': w}, np.stack([hidden, hidden[::-1]], axis=1),
                                   np.stack([goal_sum, 2 * goal_sum], axis=1), method='logits')
  np.testing.assert_allclose(by_position[:, 0], logits, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(by_position[:, 1], model.worker.apply(
      {'params': w}, hidden[::-1], goal_sum, method='logits'), rtol=1e-5, atol=1e-5)


def test_leaked_features_are_d_highway_output_of_each_prefix_alone(model_and_state):
  model, state = model_and_state
  d = state.networks['discriminator'].params
  tokens = jax.random.randint(jax.random.PRNGKey(1), (3, 8), 0, 30)
  features = model.prefix_features(d, tokens)
  assert features.shape == (3, 9, 4 + 5 + 3) and model.feature_size == 12
  # f_T: D's features of the whole sequence; f_t does not see the tokens from t on.
  _, full = model.discriminator.apply({'params': d}, tokens, mutable=['intermediates'])
  np.testing.assert_allclose(features[:, -1], full['intermediates']['features'][0], rtol=1e-5)
  changed = tokens.at[:, 5:].set((tokens[:, 5:] + 7) % 30)
  later = model.prefix_features(d, changed)
  np.testing.assert_array_equal(later[:, :6], features[:, :6])
  assert not np.allclose(later[:, 6:], features[:, 6:])
  # The manager's goals are unit vectors in that feature space (at initialisation the empty
  # prefix's features, and so the first goal, are 0: all biases start at 0).
  goals = model.manager_goals(state.networks['manager'].params, features)
  np.testing.assert_allclose(jnp.linalg.norm(goals[:, 1:], axis=-1), 1.0, rtol=1e-5)


def test_goal_sums_and_intrinsic_rewards_against_loops():
  rng = np.random.default_rng(1)
  b, t, f, c = 2, 6, 5, 3
  goals = rng.normal(size=(b, t, f)).astype(np.float32)
  features = rng.normal(size=(b, t + 1, f)).astype(np.float32)
  initial = rng.normal(size=(f,)).astype(np.float32)
  expected_sums = np.stack([np.sum([goals[:, i] if i >= 0 else np.broadcast_to(initial, (b, f))
                                    for i in range(s - c + 1, s + 1)], axis=0) for s in range(t)], 1)
  np.testing.assert_allclose(leakgan.goal_sums(goals, initial, c), expected_sums, rtol=1e-5)
  cos = lambda x, y: np.sum(x * y, -1) / np.linalg.norm(x, axis=-1) / np.linalg.norm(y, axis=-1)
  expected = np.zeros((b, t))
  for s in range(t):  # token s: state s + 1 against the c states before it and their goals
    for i in range(1, c + 1):
      if s + 1 - i >= 0:
        expected[:, s] += cos(features[:, s + 1] - features[:, s + 1 - i], goals[:, s + 1 - i]) / c
  np.testing.assert_allclose(leakgan.intrinsic_rewards(features, goals, c), expected, rtol=1e-4,
                             atol=1e-6)
  manager = np.stack([cos(features[:, s + c] - features[:, s], goals[:, s])
                      for s in range(t - c + 1)], 1)
  np.testing.assert_allclose(leakgan.manager_cosines(features, goals, c), manager, rtol=1e-5)


def test_rescaled_rewards_follow_the_rank_within_each_column():
  rewards = jnp.array([[0.10, 0.7], [0.90, 0.2], [0.50, 0.1], [0.30, 0.9]])
  rank = np.array([[4, 2], [1, 3], [2, 4], [3, 1]])  # 1: the column's highest
  expected = 1 / (1 + np.exp(-16.0 * (0.5 - rank / 4)))
  np.testing.assert_allclose(leakgan.rescaled_rewards(rewards, 16.0), expected, rtol=1e-6)
  # Any increasing map of D's scores leaves them unchanged.
  np.testing.assert_allclose(leakgan.rescaled_rewards(jnp.log(rewards) * 5 + 2, 16.0), expected,
                             rtol=1e-6)


def test_rollouts_keep_their_prefixes_and_sampling_agrees_with_teacher_forcing(model_and_state):
  model, state = model_and_state
  p = params(state)
  tokens = model.sample(p, jax.random.PRNGKey(2), 4, 8)
  rows = jnp.tile(tokens, (3, 1))
  known = jnp.repeat(jnp.array([0, 3, 5]), 4)
  completed = model.sample(p, jax.random.PRNGKey(3), 12, 8, 1.0, rows, known)
  for row, k in enumerate(np.asarray(known)):
    np.testing.assert_array_equal(completed[row, :k], rows[row, :k])
  assert not np.array_equal(completed[:4], tokens)  # the free rows are new samples
  # Greedy sampling (a tiny temperature) picks the teacher-forced argmax at every step: the
  # sampler's features, goals and worker state are those teacher forcing computes.
  greedy = model.sample(p, jax.random.PRNGKey(4), 5, 8, 1e-6)
  m, w, d = p
  goals = model.manager_goals(m, model.prefix_features(d, greedy))
  logits = model.worker_logits(w, greedy, model.goal_sums(m, goals))
  np.testing.assert_array_equal(jnp.argmax(logits, -1), greedy)
  rewards = model.rewards(p, tokens, jax.random.PRNGKey(5))
  assert rewards.shape == (4, 2)  # T / c blocks
  # The last block's reward is D's verdict on the sequence, rescaled by rank.
  verdict = model.discriminator.apply({'params': d}, tokens)
  np.testing.assert_allclose(rewards[:, 1], leakgan.rescaled_rewards(verdict[:, None], 16.0)[:, 0])


def test_leakgan_trains_through_all_phases_and_resumes_across_their_boundaries(tmp_path):
  config = tiny_config('leakgan_oracle', **TINY, num_train_steps=4, log_every_steps=1)
  state = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  lines = [json.loads(l) for l in (tmp_path / 'straight/metrics.jsonl').read_text().splitlines()]
  assert [l['phase'] for l in lines] == [1, 0, 2, 2]  # D's pre-training first in each round
  assert lines[0]['d_loss'] > 0 and lines[1]['g_mle_nll'] > 0 and lines[1]['manager_loss'] != 0
  assert 0 < lines[2]['mean_reward'] < 1 and lines[3]['worker_loss'] != 0
  model = families.build(config)
  result = model.evaluate(jax.device_get(state))
  assert set(result) == {'nll_oracle', 'nll_oracle_stderr', 'nll_test', 'nll_oracle_t0.667'}
  assert 0 < result['nll_oracle_stderr'] < 0.5
  assert np.log(30) - 1 < result['nll_test'] < np.log(30) + 1  # near uniform after 1 MLE step
  assert (tmp_path / 'straight/samples/step_0000004.txt').is_file()
  # Separate Optax states, each advanced by its own network's updates: D once in its
  # pre-training step and once per adversarial step (d_steps=1), manager and worker in G's
  # pre-training step and each adversarial step.
  counts = {net: int(jax.tree.leaves(state.networks[net].opt_state)[0]) for net in model.NETWORKS}
  assert counts == {'manager': 3, 'worker': 3, 'discriminator': 3}
  # Stopped after G's pre-training, the resumed run compiles the adversarial phase and ends
  # where the uninterrupted run ends.
  train.train_and_evaluate(tiny_config('leakgan_oracle', **TINY, num_train_steps=2,
                                       log_every_steps=1), str(tmp_path / 'resumed'))
  resumed = train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  assert_trees_close(jax.device_get(resumed), jax.device_get(state))
