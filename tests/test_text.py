import math
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import decoding
from gan_jax import families
from gan_jax import input_pipeline
from gan_jax import losses
from gan_jax import models
from gan_jax import train
from gan_jax.families import text
from gan_jax.input_pipeline import Vocabulary
from conftest import TINY_TEXT, requires_ptb, tiny_config

def _ptb_lines(split):
  path = pathlib.Path(os.environ['GAN_JAX_DATA']) / 'ptb' / f'ptb.{split}.txt'
  return [line.strip() for line in path.read_text().splitlines()]


@requires_ptb
def test_vocabulary_and_round_trip_on_the_real_files():
  vocab = input_pipeline.vocabulary('ptb')
  # Mikolov's 10k vocabulary counts <eos>: 9,999 words plus <pad>, <bos>, <eos>.
  assert len(vocab) == 10_002 and vocab.words[:3] == ['<pad>', '<bos>', '<eos>']
  assert vocab.words[3] == 'the' and vocab.unk == vocab.ids['<unk>']
  for split in ('train', 'test'):
    lines = _ptb_lines(split)
    data = input_pipeline.load_split('ptb', split)
    assert len(data['tokens']) == len(lines)
    # Every sentence decodes back to a line of the file, and no word is unknown.
    decoded = {vocab.decode(row) for row in data['tokens']}
    assert decoded == set(lines)
    assert all(w in vocab.ids for line in lines[:2000] for w in line.split())
  assert list(vocab.encode('the <unk> zzzz')) == [3, vocab.unk, vocab.unk, Vocabulary.EOS]
  assert input_pipeline.load_split('ptb', 'train')['length'].max() == 83  # 82 words + <eos>


def test_bucketed_batches_fit_their_bucket_and_cover_each_epoch():
  rng = np.random.default_rng(0)
  lengths = rng.integers(1, 30, size=200).astype(np.int32)
  tokens = np.where(np.arange(30) < lengths[:, None], 5, 0).astype(np.int32)
  tokens[np.arange(200), lengths - 1] = np.arange(200) + 10  # identifies each sentence
  data = {'tokens': tokens, 'length': lengths}
  batches = _iterator(data)
  seen, padded, useful = [], 0, 0
  for _ in range(10):  # one epoch
    batch = next(batches)
    width = batch['tokens'].shape[1]
    assert width in (8, 16, 30) and batch['length'].max() <= width
    assert width == 8 or batch['length'].max() > {16: 8, 30: 16}[width]  # the smallest that fits
    seen += list(batch['tokens'][np.arange(20), batch['length'] - 1] - 10)
    padded, useful = padded + batch['tokens'].size, useful + batch['length'].sum()
  assert sorted(seen) == list(range(200))
  assert useful / padded > lengths.sum() / tokens.size  # less padding than one fixed length
  # Resumable: an iterator set to batch 13 (epoch 2) yields what the first one yields there.
  for _ in range(3):
    next(batches)
  resumed = _iterator(data)
  resumed.set_state({'next_batch': 13})
  np.testing.assert_array_equal(next(resumed)['tokens'], next(batches)['tokens'])
  with pytest.raises(ValueError, match='exceeds the largest bucket length 16'):
    input_pipeline.BatchIterator(data, 20, seed=1, bucket_lengths=(8, 16))


def _iterator(data):
  return input_pipeline.BatchIterator(data, 20, seed=1, bucket_lengths=(8, 16, 30), pool_batches=5)


def test_sequence_log_likelihood_hand_computed():
  # Two steps, vocabulary of 2; uniform logits give log(1/2) per counted position.
  logits = jnp.zeros((2, 3, 2))
  targets = jnp.array([[0, 1, 1], [1, 0, 0]])
  np.testing.assert_allclose(losses.sequence_log_likelihood(logits, targets, jnp.array([3, 1])),
                             [3 * math.log(0.5), math.log(0.5)], rtol=1e-6)
  # A peaked distribution: p(target) = e^2 / (e^2 + 1) at the one counted step.
  logits = jnp.array([[[2.0, 0.0], [0.0, 50.0]]])
  np.testing.assert_allclose(losses.sequence_log_likelihood(logits, jnp.array([[0, 0]]),
                                                            jnp.array([1])),
                             [2.0 - math.log(math.exp(2) + 1)], rtol=1e-6)


def test_kl_schedules():
  steps = jnp.array([0, 50, 100, 150, 200, 250, 300])
  np.testing.assert_allclose(losses.kl_weight(steps, 'constant', 100), 1.0)
  np.testing.assert_allclose(losses.kl_weight(steps, 'linear', 200),
                             [0, 0.25, 0.5, 0.75, 1, 1, 1])
  # Cyclical, cycle 200: rises over the first half of each cycle, then holds 1.
  np.testing.assert_allclose(losses.kl_weight(steps, 'cyclical', 200),
                             [0, 0.5, 1, 1, 0, 0.5, 1])
  # From a start weight (Texar's 0.1): the same ramps, lifted to start at 0.1.
  np.testing.assert_allclose(losses.kl_weight(steps, 'linear', 200, start=0.1),
                             [0.1, 0.325, 0.55, 0.775, 1, 1, 1], rtol=1e-6)
  np.testing.assert_allclose(losses.kl_weight(steps, 'cyclical', 200, start=0.1),
                             [0.1, 0.55, 1, 1, 0.1, 0.55, 1], rtol=1e-6)
  with pytest.raises(ValueError, match='unknown KL schedule'):
    losses.kl_weight(steps, 'sigmoid', 100)


def test_mutual_information_on_constructed_posteriors():
  z_key, eps_key = jax.random.split(jax.random.PRNGKey(0))
  n, d = 512, 4
  logvars = jnp.full((n, d), 2 * math.log(0.01))
  # Identical posteriors: z says nothing about x. The aggregate posterior is each posterior, so
  # the estimate is exactly E log q(z|x) minus its Monte-Carlo average (about 0 +- 0.06 here).
  same = jnp.zeros((n, d))
  z = same + 0.01 * jax.random.normal(eps_key, (n, d))
  noise = (-0.5 * d * (math.log(2 * math.pi) + 1) - 0.5 * jnp.sum(logvars[0])
           - jnp.mean(losses.gaussian_log_density(z, same, logvars)))
  assert float(losses.mutual_information(same, logvars, z)) == pytest.approx(float(noise), abs=1e-3)
  assert abs(float(noise)) < 0.3
  # Far-apart sharp posteriors: z identifies x, so I(x; z) = H(x) = log n.
  apart = 100.0 * jax.random.normal(z_key, (n, d))
  z = apart + 0.01 * jax.random.normal(eps_key, (n, d))
  assert float(losses.mutual_information(apart, logvars, z)) == pytest.approx(
      math.log(n) + float(noise), abs=1e-3)  # the same draws, so the same Monte-Carlo noise


def test_word_dropout_spares_bos_and_hits_the_rate():
  inputs = jnp.full((200, 50), 7).at[:, 0].set(Vocabulary.BOS)
  dropped = text.word_dropout(jax.random.PRNGKey(0), inputs, 0.3, unk=4)
  assert bool(jnp.all(dropped[:, 0] == Vocabulary.BOS))
  assert float(jnp.mean(dropped[:, 1:] == 4)) == pytest.approx(0.3, abs=0.01)
  assert set(np.unique(dropped[:, 1:]).tolist()) == {4, 7}


def test_dropout_hits_the_rate_and_keeps_the_mean():
  module = models.SentenceVAE(vocab_size=20, embed_dim=8, hidden_size=8, latent_dim=0,
                              dropout_rate=0.3)
  tokens = jax.random.randint(jax.random.PRNGKey(1), (100, 50), 1, 20)
  params = module.init(jax.random.PRNGKey(0), tokens[:1], jnp.full((1,), 50))['params']
  embed = lambda **kwargs: module.apply({'params': params}, tokens, method=module.embed, **kwargs)
  # Dropped embeddings over kept ones: 0 or 1 / (1 - rate), elementwise.
  dropped = embed(train=True, rngs={'dropout': jax.random.PRNGKey(2)}) / embed()
  assert float(jnp.mean(dropped == 0)) == pytest.approx(0.3, abs=0.01)
  np.testing.assert_allclose(dropped[dropped != 0], 1 / 0.7, rtol=1e-5)  # the rest: exactly 0
  assert float(jnp.mean(dropped)) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize('hidden_size', [8, 12])
def test_tied_output_layer_is_the_embedding_transposed(hidden_size):
  """With `tie_embeddings` the logits are (projected) hidden states times the input embedding's
  transpose plus a bias, and the model has no output matrix of its own; a hidden state of the
  embedding's width is used as it is."""
  module = models.SentenceVAE(vocab_size=20, embed_dim=8, hidden_size=hidden_size, latent_dim=4,
                              tie_embeddings=True)
  tokens = jax.random.randint(jax.random.PRNGKey(1), (3, 5), 1, 20)
  params = module.init(jax.random.PRNGKey(0), tokens, jnp.full((3,), 5))['params']
  params = {**params, 'output_bias': jnp.arange(20.0) / 10}
  assert 'output' not in params
  assert ('output_projection' in params) == (hidden_size != 8)
  hidden = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (3, 5, hidden_size)), np.float64)
  projected = (hidden @ np.asarray(params['output_projection']['kernel'], np.float64)
               if hidden_size != 8 else hidden)
  expected = projected @ np.asarray(params['decoder_embed']['embedding'], np.float64).T
  logits = module.apply({'params': params}, jnp.asarray(hidden, jnp.float32), method=module.logits)
  np.testing.assert_allclose(logits, expected + np.arange(20.0) / 10, rtol=1e-5, atol=1e-6)


@requires_ptb
def test_teacher_forcing_equals_the_step_by_step_decoder_and_drops_out_only_in_training():
  config = tiny_config('text_vae_ptb', **TINY_TEXT, **{'text_model.dropout_rate': 0.3})
  model = families.build(config)
  params = model.init(jax.random.PRNGKey(0)).networks['text_vae'].params
  test = input_pipeline.load_split('ptb', 'test')
  tokens, lengths = jnp.asarray(test['tokens'][:4, :10]), jnp.minimum(test['length'][:4], 10)
  z = model.sample_latents(jax.random.PRNGKey(1), 4)
  inputs = decoding.decoder_inputs(tokens)
  apply = lambda *args, method: model.module.apply({'params': params}, *args, method=method)
  carry, rows = apply(z, method=model.module.initial_carry), []
  for t in range(inputs.shape[1]):
    carry, hidden = apply(carry, inputs[:, t], z, method=model.module.step)
    rows.append(apply(hidden, method=model.module.logits))
  np.testing.assert_allclose(decoding.teacher_forced_logits(model.module, params, inputs, z),
                             jnp.stack(rows, axis=1), atol=1e-5)
  plain = model.log_likelihood(params, tokens, lengths, z)
  key = jax.random.PRNGKey(2)
  assert model.module.dropout_rate == 0.3
  dropped = model.log_likelihood(params, tokens, lengths, z, dropout_rng=key)
  assert not np.allclose(dropped, plain)
  np.testing.assert_array_equal(dropped, model.log_likelihood(params, tokens, lengths, z,
                                                              dropout_rng=key))


@requires_ptb
def test_learning_rate_schedules_and_runs_from_before_the_switches():
  config = tiny_config('text_vae_ptb', **TINY_TEXT, num_train_steps=10,
                       **{'optimizer.schedule': 'cosine'})
  params = {'w': jnp.ones(3)}
  grads = {'w': jnp.full(3, 0.1)}
  tx = families.build(config).tx
  opt_state = tx.init(params)
  for step in range(11):
    updates, opt_state = tx.update(grads, opt_state, params)
    # Cosine from lr to 0 over num_train_steps; Adam's update is -lr * sign(g) at first.
    expected = config.optimizer.learning_rate * 0.5 * (1 + math.cos(math.pi * min(step, 10) / 10))
    np.testing.assert_allclose(updates['w'], -expected, rtol=2e-3, atol=1e-9)
  # A config written before `text_model.dropout_rate` and `optimizer.schedule` existed: no
  # dropout, and a constant learning rate (Adam's first step is -lr * sign(g)).
  with config.unlocked():
    del config.text_model.dropout_rate, config.optimizer.schedule
  old = families.build(config)
  assert old.module.dropout_rate == 0.0
  updates, _ = old.tx.update(grads, old.tx.init(params), params)
  np.testing.assert_allclose(updates['w'], -config.optimizer.learning_rate, rtol=1e-4)
  with config.unlocked():
    config.optimizer.schedule = 'exponential'
  with pytest.raises(ValueError, match='use one of constant, cosine, linear, burda'):
    families.build(config)


@pytest.fixture(scope='module')
def tiny_text_run(tmp_path_factory):
  # With the regularisation switches on, so that they run through the trainer too.
  config = tiny_config('text_vae_ptb', **TINY_TEXT,
                       **{'text_model.dropout_rate': 0.1, 'optimizer.schedule': 'cosine'})
  workdir = tmp_path_factory.mktemp('text_vae')
  state = train.train_and_evaluate(config, str(workdir))
  return config, workdir, jax.device_get(state)


@requires_ptb
def test_text_vae_trains_and_evaluates_on_the_shared_trainer(tiny_text_run):
  config, workdir, state = tiny_text_run
  assert int(state.step) == 4
  assert (workdir / 'samples' / 'step_0000004.txt').read_text().count('\n') == 10
  result = families.build(config).evaluate(state)
  assert result['sentences'] == 32 and result['importance_samples'] == 4
  one_sample = families.build(tiny_config('text_vae_ptb', **{
      **TINY_TEXT, 'eval_importance_samples': 1, 'eval_chunk': 1})).evaluate(state)
  # 4 importance samples bound the NLL more tightly than one (the one-sample ELBO estimate).
  assert result['nll'] < one_sample['nll'], (result['nll'], one_sample['nll'])
  assert result['ppl'] > 1 and 0 <= result['active_units'] <= 32
  assert 0 <= result['mutual_information'] <= math.log(32) + 0.1


@requires_ptb
def test_evaluation_cut_to_buckets_equals_evaluation_per_width(tiny_text_run):
  config, _, state = tiny_text_run
  settings = {**TINY_TEXT, 'eval_num_sentences': 50, 'eval_batch_size': 10}
  text._evaluate_batch.clear_cache()
  per_width = families.build(tiny_config('text_vae_ptb', **settings, bucket_lengths=())).evaluate(
      state)
  widths_compiled = text._evaluate_batch._cache_size()
  text._evaluate_batch.clear_cache()
  bucketed = families.build(tiny_config('text_vae_ptb', **settings)).evaluate(state)
  # 50 sentences in 5 length-sorted batches, each cut to its longest sentence (one compile
  # per distinct width: 5) or to the bucket that holds it (one per distinct bucket: 4).
  test_lengths = np.sort(input_pipeline.load_split(config.dataset, 'test')['length'][:50])
  widths = {int(test_lengths[i:i + 10].max()) for i in range(0, 50, 10)}
  buckets = {input_pipeline.bucket_width(config.bucket_lengths, n) for n in widths}
  assert widths_compiled == len(widths)
  assert text._evaluate_batch._cache_size() == len(buckets) < len(widths)
  for name in ('nll', 'elbo', 'kl', 'ppl', 'mutual_information'):
    assert bucketed[name] == pytest.approx(per_width[name], rel=1e-5), name


@requires_ptb
def test_language_model_nll_is_exact(tmp_path):
  config = tiny_config('lm_ptb', **TINY_TEXT)
  model = families.build(config)
  state = train.train_and_evaluate(config, str(tmp_path))
  result = model.evaluate(jax.device_get(state))
  assert 'mutual_information' not in result and result['kl'] == 0
  test = input_pipeline.load_split('ptb', 'test')
  params = state.networks['lm'].params
  tokens, lengths = test['tokens'][:32], test['length'][:32]
  direct = -model.log_likelihood(params, tokens, lengths, jnp.zeros((32, 0)))
  total_tokens = int(np.sum(lengths))
  # The importance-sampled NLL of a model without a latent is its exact likelihood.
  assert result['nll'] == pytest.approx(float(jnp.mean(direct)), rel=1e-5)
  assert result['ppl'] == pytest.approx(math.exp(float(jnp.sum(direct)) / total_tokens), rel=1e-4)


@requires_ptb
def test_decoders_on_a_tiny_model(tiny_text_run):
  config, _, state = tiny_text_run
  model = families.build(config)
  params = state.networks['text_vae'].params
  z = model.sample_latents(jax.random.PRNGKey(3), 6)
  key = jax.random.PRNGKey(4)
  greedy = model.decode(params, z, key, 'greedy', 12)
  assert greedy.shape == (6, 12)
  # After <eos>, only padding.
  for row in np.asarray(greedy):
    eos = np.flatnonzero(row == Vocabulary.EOS)
    if len(eos):
      assert np.all(row[eos[0] + 1:] == Vocabulary.PAD)
  np.testing.assert_array_equal(model.decode(params, z, key, 'beam', 12, beam_width=1), greedy)
  np.testing.assert_array_equal(model.decode(params, z, key, 'sample', 12, top_k=1), greedy)
  np.testing.assert_array_equal(model.decode(params, z, key, 'sample', 12, temperature=1e-4),
                                greedy)
  sampled = model.decode(params, z, key, 'sample', 12, temperature=2.0)
  assert not np.array_equal(sampled, greedy)
  # Beam search finds a sequence at least as likely as greedy's.
  beam = model.decode(params, z, key, 'beam', 12, beam_width=4)

  def score(tokens):
    lengths = jnp.minimum(jnp.argmax(tokens == Vocabulary.EOS, axis=1) + 1, 12)
    lengths = jnp.where(jnp.any(tokens == Vocabulary.EOS, axis=1), lengths, 12)
    return model.log_likelihood(params, tokens, lengths, z)

  assert bool(jnp.all(score(beam) >= score(greedy) - 1e-4))


@requires_ptb
def test_generate_prints_sentences(tiny_text_run, tmp_path):
  from gan_jax import generate
  _, workdir, _ = tiny_text_run
  out = tmp_path / 'samples.txt'
  result = generate.run(str(workdir), 'samples', str(out), num=3,
                        decoding_settings={'strategy': 'sample', 'temperature': 1.0,
                                           'top_k': 5, 'beam_width': 1})
  assert len(result['samples']) == 3 and out.read_text().count('\n') == 3
  result = generate.run(str(workdir), 'reconstruct', None, sentences=['0', 'the market fell'])
  assert [r['input'] for r in result['reconstructions']][1] == 'the market fell'
  result = generate.run(str(workdir), 'interpolate', None, sentences=['0', '1'], steps=5)
  assert len(result['homotopy']) == 5 and result['from'] != result['to']
  for mode, kwargs, message in [
      ('like', {}, 'is for image runs'),
      ('interpolate', {'sentences': ['0']}, 'needs two --sentences'),
      ('reconstruct', {}, 'needs --sentences'),
      ('reconstruct', {'sentences': ['99999']}, 'index 99999 is out of range')]:
    with pytest.raises(generate.GenerateError, match=message):
      generate.run(str(workdir), mode, None, **kwargs)


def test_inverse_cdf_sampling_matches_the_distribution():
  logits = jnp.log(jnp.array([[0.5, 0.0, 0.2, 0.3]]))  # one impossible token
  draws = jax.vmap(lambda key: decoding.sample_categorical(key, logits)[0])(
      jax.random.split(jax.random.PRNGKey(0), 20_000))
  freq = np.bincount(np.asarray(draws), minlength=4) / 20_000
  np.testing.assert_allclose(freq, [0.5, 0.0, 0.2, 0.3], atol=0.012)  # ~3 standard errors
  peaked = jnp.full((5, 7), -jnp.inf).at[jnp.arange(5), jnp.array([0, 6, 3, 3, 1])].set(0.0)
  np.testing.assert_array_equal(decoding.sample_categorical(jax.random.PRNGKey(1), peaked),
                                [0, 6, 3, 3, 1])
