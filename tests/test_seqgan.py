import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import decoding
from gan_jax import families
from gan_jax import generate
from gan_jax import losses
from gan_jax import train
from gan_jax.families import seqgan
from conftest import requires_ptb, tiny_config
from test_train import assert_trees_close

TINY_SEQGAN = {'oracle.vocab_size': 50, 'oracle.num_sequences': 64, 'sequence_length': 6,
               'discriminator.filter_sizes': (1, 2, 3), 'discriminator.num_filters': (4, 4, 4),
               'discriminator.embed_dim': 8, 'num_rollouts': 2, 'g_pretrain_steps': 2,
               'd_pretrain_steps': 1, 'd_steps': 1, 'eval_num_samples': 100}


def test_policy_gradient_is_reinforce():
  # A one-step categorical policy pi = softmax(theta); REINFORCE's gradient estimate of
  # E[r] is mean_b r_b (onehot(a_b) - pi), and the loss is its negative.
  theta = jnp.array([0.5, -1.0, 2.0, 0.0])
  actions = jnp.array([0, 2, 2, 3, 1])
  rewards = jnp.array([1.0, 0.2, 0.7, 0.0, 0.4])

  def loss(theta, rewards):
    log_probs = jax.nn.log_softmax(theta)[actions][:, None]  # [B, T=1]
    return losses.policy_gradient_loss(log_probs, rewards[:, None])

  reinforce = jnp.mean(rewards[:, None] * (jax.nn.one_hot(actions, 4) - jax.nn.softmax(theta)), 0)
  np.testing.assert_allclose(jax.grad(loss)(theta, rewards), -reinforce, rtol=1e-6)
  np.testing.assert_allclose(
      loss(theta, rewards), -jnp.mean(rewards * jax.nn.log_softmax(theta)[actions]), rtol=1e-6)
  # Rewards are constants: rewards that depend on theta leave the gradient unchanged.
  np.testing.assert_allclose(jax.grad(lambda t: loss(t, rewards * jnp.sum(t)))(theta),
                             -reinforce * jnp.sum(theta), rtol=1e-5)


def test_oracle_prefers_its_own_samples_to_random_sequences():
  config = tiny_config('seqgan_oracle')  # the paper's oracle: vocabulary 5,000, length 20
  oracle = seqgan.Oracle(config)
  own = oracle.sample(jax.random.PRNGKey(0), 200)
  assert own.shape == (200, 20) and own.max() < 5000
  random = np.random.default_rng(0).integers(0, 5000, size=(200, 20))
  own_nll, random_nll = np.mean(oracle.nll(own)), np.mean(oracle.nll(random))
  assert own_nll < random_nll - 1.0
  assert np.log(5000) - 1 < random_nll  # random text is near (or above) log |V|


def full_recomputation(module, params, rng, tokens, num_rollouts):
  """The rollouts as SeqGAN's reference code runs them: for each prefix length t, every step of
  a fresh unroll from <bos>, copying the prefix's tokens and sampling the rest."""
  rows = jnp.tile(tokens, (num_rollouts, 1))
  out = []
  for t in range(1, tokens.shape[1]):
    copy_or_sample = lambda step, key, logits: jnp.where(
        step < t, rows[:, step], decoding.sample_categorical(key, logits))
    out.append(decoding.unroll(module, params, jnp.zeros((rows.shape[0], 0)),
                               jax.random.fold_in(rng, t), tokens.shape[1], copy_or_sample))
  return jnp.stack(out)


@pytest.mark.parametrize('cell', ['lstm', 'gru'])
def test_incremental_rollouts_equal_the_full_recomputation_and_rewards_are_probabilities(cell):
  model = families.build(tiny_config('seqgan_oracle', **TINY_SEQGAN, **{'generator.cell': cell}))
  state = model.init(jax.random.PRNGKey(0))
  g = state.networks['generator'].params
  tokens = seqgan.sample_sequences(model.generator, g, jax.random.PRNGKey(2), 3, 6)
  rollouts = seqgan.rollout_completions(model.generator, g, jax.random.PRNGKey(4), tokens, 2)
  assert rollouts.shape == (5, 6, 6)
  for t in range(1, 6):  # every completion keeps its prefix
    np.testing.assert_array_equal(rollouts[t - 1, :, :t], jnp.tile(tokens, (2, 1))[:, :t])
  # Same keys, same samples: continuing from the prefix's carry is the full unroll's tail.
  np.testing.assert_array_equal(
      rollouts, full_recomputation(model.generator, g, jax.random.PRNGKey(4), tokens, 2))
  assert not np.array_equal(rollouts[0, :3], rollouts[0, 3:])  # the two rollouts differ
  d = state.networks['discriminator'].params
  rewards = model.rewards(g, d, tokens, jax.random.PRNGKey(3))
  assert rewards.shape == (3, 6) and bool(jnp.all((rewards > 0) & (rewards < 1)))
  np.testing.assert_allclose(rewards[:, -1], jax.nn.sigmoid(
      model.discriminator.apply({'params': d}, tokens)), rtol=1e-5)


def test_seqgan_trains_through_all_phases_and_resumes_across_their_boundaries(tmp_path):
  config = tiny_config('seqgan_oracle', **TINY_SEQGAN, num_train_steps=4, log_every_steps=1)
  state = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  assert int(state.step) == 4
  lines = [json.loads(l) for l in (tmp_path / 'straight/metrics.jsonl').read_text().splitlines()]
  assert [l['phase'] for l in lines] == [0, 0, 1, 2]
  assert lines[0]['g_mle_nll'] > 0 and lines[2]['d_loss'] > 0 and 0 < lines[3]['mean_reward'] < 1
  model = families.build(config)
  assert model.evaluate(jax.device_get(state))['nll_oracle'] > 0
  assert (tmp_path / 'straight/samples/step_0000004.txt').is_file()
  # Stopped where D's pre-training begins, the resumed run compiles phases 1 and 2 from its
  # step and ends where the uninterrupted run ends.
  train.train_and_evaluate(tiny_config('seqgan_oracle', **TINY_SEQGAN, num_train_steps=2,
                                       log_every_steps=1), str(tmp_path / 'resumed'))
  resumed = train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  assert_trees_close(jax.device_get(resumed), jax.device_get(state))


def test_each_phase_trains_what_it_says_and_the_trainer_picks_it_by_step():
  """MLE pre-training moves G alone, D pre-training D alone, the adversarial phase both; the
  trainer's step at a phase's first step is that phase."""
  config = tiny_config('seqgan_oracle', **TINY_SEQGAN)
  model = families.build(config)
  mesh = train.make_mesh(jax.devices()[:1])
  batch = train.global_batch({'tokens': model.train_data()['tokens'][:config.batch_size]}, mesh)
  state = jax.device_get(train.create_state(model, config, mesh))
  d_start = config.g_pretrain_steps
  adversarial_start = d_start + config.d_pretrain_steps
  assert [model.phase_of(s) for s in (0, d_start - 1, d_start, adversarial_start - 1,
                                      adversarial_start)] == [0, 0, 1, 1, 2]
  moved = lambda a, b, net: not all(np.array_equal(x, y) for x, y in zip(
      jax.tree.leaves(a.networks[net].params), jax.tree.leaves(b.networks[net].params)))
  for start, g_moves, d_moves in ((0, True, False), (d_start, False, True),
                                  (adversarial_start, True, True)):
    # The trainer's step donates its input state: each step gets its own copy.
    at_start = jax.tree.map(np.array, state.replace(step=np.int32(start)))
    after, metrics = train.make_train_step(model, mesh, start)(at_start, batch)
    after = jax.device_get(after)
    assert int(metrics['phase']) == model.phase_of(start)
    assert moved(after, state, 'generator') == g_moves, start
    assert moved(after, state, 'discriminator') == d_moves, start


def test_generator_learning_rate_switches_when_the_policy_gradient_begins():
  config = tiny_config('seqgan_oracle', **TINY_SEQGAN, **{'optimizer.pg_learning_rate': 1e-3})
  tx = families.build(config).g_tx
  params, grads = {'w': jnp.ones(2)}, {'w': jnp.full(2, 0.1)}
  opt_state, sizes = tx.init(params), []
  for _ in range(config.g_pretrain_steps + 2):
    updates, opt_state = tx.update(grads, opt_state, params)
    sizes.append(float(jnp.abs(updates['w'][0])))  # Adam on a constant gradient: ~ the rate
  np.testing.assert_allclose(sizes, [1e-2] * config.g_pretrain_steps + [1e-3] * 2, rtol=1e-3)


def test_bleu_against_nltk_known_cases():
  references = [['the', 'cat', 'sat', 'on', 'the', 'mat'], ['a', 'dog', 'ran', 'in', 'the', 'park']]
  exact = seqgan.bleu_scores([references[0]], references)
  assert exact['bleu_2'] == pytest.approx(1.0) and exact['bleu_5'] == pytest.approx(1.0)
  # Hand-computed BLEU-2 of "the cat ran": unigram precision 3/3, bigram 1/2 ("the cat"),
  # brevity penalty exp(1 - 6/3) (closest reference length 6): sqrt(1 * 0.5) * e^-1.
  partial = seqgan.bleu_scores([['the', 'cat', 'ran']], references, orders=(2,))
  assert partial['bleu_2'] == pytest.approx(np.sqrt(0.5) * np.exp(-1.0), rel=1e-6)
  same = seqgan.bleu_scores([references[1]] * 3, references, orders=(3,))
  assert same['self_bleu_3'] == pytest.approx(1.0)  # no diversity at all


@requires_ptb
def test_seqgan_ptb_reports_bleu(tmp_path):
  overrides = {k: v for k, v in TINY_SEQGAN.items() if not k.startswith('oracle')}
  overrides.update({'generator.hidden_size': 8, 'generator.embed_dim': 8, 'eval_num_samples': 5})
  config = tiny_config('seqgan_ptb', **overrides)
  state = train.train_and_evaluate(config, str(tmp_path))
  result = families.build(config).evaluate(jax.device_get(state))
  assert set(result) == {f'{p}bleu_{n}' for p in ('', 'self_') for n in (2, 3, 4, 5)}
  assert all(0 <= v <= 1 for v in result.values())
  # gan_jax.generate samples sentences from a SeqGAN run, reproducibly, and only samples.
  samples = generate.run(str(tmp_path), 'samples', str(tmp_path / 'samples.txt'), num=4, seed=3)
  assert len(samples['samples']) == 4 and all(isinstance(s, str) for s in samples['samples'])
  assert (tmp_path / 'samples.txt').read_text().splitlines() == samples['samples']
  assert generate.run(str(tmp_path), 'samples', None, num=4, seed=3)['samples'] == samples['samples']
  with pytest.raises(generate.GenerateError, match='--mode=samples'):
    generate.run(str(tmp_path), 'interpolate', None)


def test_reference_d_penalty_and_summed_policy_gradient():
  """SeqGAN's reference code: D's loss adds 0.2 x half the squared norm of its output layer
  (weights and bias, not the convolutions); the policy-gradient loss sums over the batch."""
  config = tiny_config('seqgan_oracle', **TINY_SEQGAN, d_l2_weight=0.0)
  model = families.build(config)
  state = model.init(jax.random.PRNGKey(0))
  d = state.networks['discriminator']
  real = jnp.asarray(model.train_data()['tokens'][:8])
  fake = seqgan.sample_sequences(model.generator, state.networks['generator'].params,
                                 jax.random.PRNGKey(1), 8, model.length)
  plain = model._d_update(d, real, fake, jax.random.PRNGKey(2))[1]
  with config.unlocked():
    config.d_l2_weight = 0.2
  penalised = families.build(config)._d_update(d, real, fake, jax.random.PRNGKey(2))[1]
  output = d.params['Dense_2']  # the logit layer; Dense_0 and Dense_1 are the highway's
  assert output['kernel'].shape[-1] == 1
  by_hand = 0.2 * (np.sum(np.square(output['kernel'])) + np.sum(np.square(output['bias']))) / 2
  np.testing.assert_allclose(penalised - plain, by_hand, rtol=1e-4)
  log_probs = jnp.log(jnp.array([[0.5, 0.25], [0.1, 0.8], [0.3, 0.3]]))
  rewards = jnp.array([[1.0, 0.5], [0.2, 0.0], [0.7, 0.9]])
  total = -float(jnp.sum(log_probs * rewards))
  assert float(losses.policy_gradient_loss(log_probs, rewards, 'sum')) == pytest.approx(total)
  assert float(losses.policy_gradient_loss(log_probs, rewards)) == pytest.approx(total / 3)
  with pytest.raises(ValueError, match='use mean or sum'):
    losses.policy_gradient_loss(log_probs, rewards, 'max')
