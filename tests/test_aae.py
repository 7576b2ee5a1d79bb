"""The adversarial autoencoder: its priors, its two training phases, evaluation and latent tools."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import families
from gan_jax import generate
from gan_jax import latent
from gan_jax import losses
from gan_jax import train
from gan_jax.families import aae
from conftest import requires_mnist, tiny_config
from test_train import synthetic_batch

TINY = {'aae.hidden_sizes': (16,), 'aae.latent_dim': 4, 'eval_num_samples': 200}


def test_mixture_prior_has_ten_components_on_a_circle():
  z = np.asarray(aae.sample_prior(jax.random.PRNGKey(0), 'mixture', 20000, 4))
  angle = np.mod(np.arctan2(z[:, 1], z[:, 0]), 2 * np.pi)
  component = np.round(angle / (2 * np.pi / 10)).astype(int) % 10
  for k in range(10):
    members = z[component == k]
    assert abs(len(members) / len(z) - 0.1) < 0.01
    centre = aae.MIXTURE_RADIUS * np.array([np.cos(2 * np.pi * k / 10), np.sin(2 * np.pi * k / 10)])
    np.testing.assert_allclose(members[:, :2].mean(0), centre, atol=0.05)
    np.testing.assert_allclose(members[:, :2].std(0), aae.MIXTURE_STD, atol=0.05)
  np.testing.assert_allclose(z[:, 2:].std(0), 1.0, atol=0.03)  # the other dimensions: N(0, 1)
  gaussian = np.asarray(aae.sample_prior(jax.random.PRNGKey(0), 'gaussian', 20000, 4))
  np.testing.assert_allclose(gaussian.std(0), 1.0, atol=0.03)


def test_a_step_updates_the_encoder_in_both_phases_and_the_others_once():
  model = families.build(tiny_config('aae_mnist', **TINY))
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  new, metrics = jax.jit(model.train_step)(state, batch, jax.random.PRNGKey(1))
  counts = {name: int(net.opt_state[0].count) for name, net in new.networks.items()}
  assert counts == {'encoder': 2, 'decoder': 1, 'discriminator': 1}
  # The reconstruction term is the Bernoulli cross-entropy of the untrained autoencoder.
  x = batch['image'].astype(jnp.float32) / 255.0
  logits = model.decoder.apply({'params': state.networks['decoder'].params},
                               model.encoder.apply({'params': state.networks['encoder'].params}, x))
  p = jax.nn.sigmoid(logits).reshape(x.shape)
  expected = -np.mean(np.sum(np.asarray(x * jnp.log(p) + (1 - x) * jnp.log1p(-p)), axis=(1, 2, 3)))
  assert float(metrics['reconstruction']) == pytest.approx(expected, rel=1e-4)
  with pytest.raises(ValueError, match='aae.prior'):
    families.build(tiny_config('aae_mnist', **{**TINY, 'aae.prior': 'uniform'}))


@requires_mnist
def test_aae_trains_evaluates_and_works_with_the_encoder_tools(tmp_path):
  config = tiny_config('aae_mnist', **TINY)
  train.train_and_evaluate(config, str(tmp_path))
  model, state, _ = train.load_trained(str(tmp_path))
  assert isinstance(model, families.EncodesImages) and isinstance(model, families.Evaluates)
  result = model.evaluate(state, 200)
  assert {'fid', 'class_score', 'recon_fid', 'recon_agreement'} <= set(result)
  codes, logvar = model.encode(state, jnp.zeros((3, 28, 28, 1)))
  assert codes.shape == (3, 4) and float(jnp.max(logvar)) == latent.POINT_MASS_LOGVAR
  recon = generate.run(str(tmp_path), 'reconstruct', str(tmp_path / 'r.png'), images=['3', '5'])
  assert recon['images'] == 16  # the input row and the reconstruction row, padded


SEMI = {**TINY, 'aae.categories': 10, 'aae.labeled_examples': 20, 'aae.labeled_batch_size': 20}


def test_balanced_subset_takes_each_class_equally_without_repeats():
  labels = np.repeat(np.arange(4), [50, 3, 20, 9])
  chosen = aae.balanced_subset(labels, 12, seed=0)
  assert len(set(chosen.tolist())) == 12
  assert np.bincount(labels[chosen]).tolist() == [3, 3, 3, 3]
  assert not np.array_equal(chosen, aae.balanced_subset(labels, 12, seed=1))
  with pytest.raises(ValueError, match='multiple of the 4 classes'):
    aae.balanced_subset(labels, 10, seed=0)


@requires_mnist
@pytest.mark.parametrize('noise', [0.0, 0.3])
def test_semi_supervised_step_by_hand_with_a_frozen_autoencoder(noise):
  """With the autoencoder's learning rate 0 every phase sees the initial encoder, so each loss
  can be computed from it: the category D on one-hot draws against softmax(y), and the
  supervised cross-entropy over all the labelled digits (the batch is all of them, permuted).
  With noise, the encoder reads noisy images and each critic noisy codes, on both sides."""
  model = families.build(tiny_config('aae_semi_mnist', **SEMI, **{  # one shared encoder state
      'optimizer.ae_learning_rate': 0.0, 'aae.encoder_state_per_phase': False,
      'aae.input_noise': noise, 'aae.critic_noise': noise}))
  assert np.bincount(np.asarray(model.labeled['label'])).tolist() == [2] * 10
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  rng = jax.random.PRNGKey(1)
  new, metrics = jax.jit(model.train_step)(state, batch, rng)
  counts = {name: int(net.opt_state[0].count) for name, net in new.networks.items()}
  assert counts == {'encoder': 3, 'decoder': 1, 'discriminator': 1, 'category_discriminator': 1}
  e = state.networks['encoder'].params
  _, category_key, labeled_key, noise_key, critic_key = jax.random.split(rng, 5)
  critic_keys = jax.random.split(critic_key, 6)  # (prior, code) for each critic, then E's
  x = batch['image'].astype(jnp.float32) / 255.0
  x = x + noise * jax.random.normal(jax.random.fold_in(noise_key, 0), x.shape)
  one_hot = jax.nn.one_hot(jax.random.randint(category_key, (len(x),), 0, 10), 10)
  probabilities = jax.nn.softmax(model.encoder.apply({'params': e}, x)[:, :10])
  critic = lambda codes, key: model.discriminator.apply(
      {'params': state.networks['category_discriminator'].params},
      codes + noise * jax.random.normal(key, codes.shape))[:, 0]
  p_real = jax.nn.sigmoid(critic(one_hot, critic_keys[2]))
  p_fake = jax.nn.sigmoid(critic(probabilities, critic_keys[3]))
  expected = -np.mean(np.log(p_real)) - np.mean(np.log1p(-p_fake))
  assert float(metrics['category_d_loss']) == pytest.approx(expected, rel=1e-4)
  pick = jax.random.choice(labeled_key, 20, (20,), replace=False)
  labeled = model.labeled['image'][pick].astype(jnp.float32) / 255.0
  labeled = labeled + noise * jax.random.normal(jax.random.fold_in(noise_key, 1), labeled.shape)
  log_p = jax.nn.log_softmax(model.encoder.apply({'params': e}, labeled)[:, :10])
  expected = -np.mean(np.asarray(log_p)[np.arange(20), np.asarray(model.labeled['label'])[pick]])
  assert float(metrics['supervised']) == pytest.approx(expected, rel=1e-4)
  with pytest.raises(ValueError, match='set aae.categories'):
    families.build(tiny_config('aae_mnist', **{**TINY, 'aae.labeled_examples': 20}))


@requires_mnist
def test_encoder_state_per_phase_gives_each_phase_its_own_adam_state():
  model = families.build(tiny_config('aae_semi_mnist', **SEMI, **{  # frozen: every phase's
      'aae.encoder_state_per_phase': True, 'optimizer.ae_learning_rate': 0.0}))  # gradient at init
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  new, _ = jax.jit(model.train_step)(state, batch, jax.random.PRNGKey(1))
  phases = new.networks['encoder'].opt_state
  assert {name: int(s[0].count) for name, s in phases.items()} == {
      'reconstruction': 1, 'regularisation': 1, 'supervised': 1}
  # Each state's first moment holds its own phase's gradient (1 - b1 times it), not a mix.
  e = state.networks['encoder'].params
  labeled = model.labeled['image'].astype(jnp.float32) / 255.0
  grad = jax.grad(lambda p: losses.classifier_cross_entropy(
      model.encoder.apply({'params': p}, labeled)[:, :10], model.labeled['label']))(e)
  b1 = model.config.optimizer.b1
  for mu, g in zip(jax.tree.leaves(phases['supervised'][0].mu), jax.tree.leaves(grad)):
    np.testing.assert_allclose(mu, (1 - b1) * g, rtol=1e-3, atol=1e-7)


@requires_mnist
def test_categorical_variants_evaluate_their_category_as_a_classifier(tmp_path):
  train.train_and_evaluate(tiny_config('aae_cluster_mnist', **TINY,
                                       **{'aae.encoder_ema_decay': 0.5}), str(tmp_path))
  model, state, _ = train.load_trained(str(tmp_path))
  assert 'category_discriminator' in state.networks
  result = model.evaluate(state, 200)
  assert 0.0 <= result['cluster_error'] < 0.9 and 0.0 <= result['cluster_error_majority'] < 0.9
  assert {'cluster_error_last_weights', 'cluster_error_majority_last_weights'} <= set(result)
  codes, _ = model.encode(state, jnp.zeros((3, 28, 28, 1)))
  np.testing.assert_allclose(np.sum(np.asarray(codes[:, :16]), -1), 1.0, rtol=1e-5)  # softmax
  assert codes.shape == (3, 20)
  semi = families.build(tiny_config('aae_semi_mnist', **SEMI))
  result = semi.evaluate(semi.init(jax.random.PRNGKey(0)), 200)
  assert 'classification_error' in result and 'cluster_error' not in result
  assert 'classification_error_last_weights' not in result  # no average kept


@requires_mnist
def test_encoder_ema_averages_the_weights_and_the_category_is_read_by_the_average():
  model = families.build(tiny_config('aae_semi_mnist', **SEMI, **{'aae.encoder_ema_decay': 0.75}))
  states = [model.init(jax.random.PRNGKey(0))]
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  step = jax.jit(model.train_step)
  for i in range(2):
    states.append(step(states[-1], batch, jax.random.PRNGKey(i))[0])
  raw = [s.networks['encoder'].params for s in states]
  # ema_0 = e_0; ema_t = 0.75 ema_{t-1} + 0.25 e_t
  expected = jax.tree.map(lambda a, b, c: 0.75 * (0.75 * a + 0.25 * b) + 0.25 * c, *raw)
  ema = states[-1].networks['encoder_ema'].params
  for got, want in zip(jax.tree.leaves(ema), jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  images = batch['image'][:4]
  read = lambda params: jax.nn.softmax(model.encoder.apply(
      {'params': params}, images.astype(jnp.float32) / 255.0)[:, :10])
  probabilities = model.category_probabilities(states[-1], np.asarray(images))
  np.testing.assert_allclose(probabilities, read(ema), rtol=1e-5, atol=1e-7)
  assert np.abs(probabilities - np.asarray(read(raw[-1]))).max() > 1e-4
  np.testing.assert_allclose(
      model.category_probabilities(states[-1], np.asarray(images), last_weights=True),
      read(raw[-1]), rtol=1e-5, atol=1e-7)
  # Codes for the decoder come from the weights it was trained with.
  codes, _ = model.encode(states[-1], images.astype(jnp.float32) / 255.0)
  np.testing.assert_allclose(codes[:, :10], read(raw[-1]), rtol=1e-5, atol=1e-7)


def test_schedule_follows_the_step_also_for_a_state_every_encoder_phase_updates():
  """With one Adam state for the encoder's two phases, its count advances twice a step; the
  scheduled rate must still be the step's (cosine over 4 steps here)."""
  model = families.build(tiny_config('aae_mnist', **TINY, **{
      'optimizer.schedule': 'cosine', 'num_train_steps': 4}))
  params = grads = {'w': jnp.ones(3)}  # constant gradients: each Adam update is -rate
  shared, once = model.encoder_tx, model.d_tx
  shared_state, once_state = shared.init(params), once.init(params)
  for step in range(4):
    rate = 2e-4 * 0.5 * (1 + np.cos(np.pi * step / 4))
    for _ in range(2):
      update, shared_state = shared.update(grads, shared_state, params)
      np.testing.assert_allclose(update['w'], -rate, rtol=1e-4)
    update, once_state = once.update(grads, once_state, params)
    np.testing.assert_allclose(update['w'], -rate, rtol=1e-4)
  # In training (cosine over 2 steps): the second step's rate is half the base; read from the
  # shared state's count (2 and 3 in that step) it would be 0 and the encoder would not move.
  model = families.build(tiny_config('aae_mnist', **TINY, **{
      'optimizer.schedule': 'cosine', 'num_train_steps': 2}))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  first, _ = jax.jit(model.train_step)(model.init(jax.random.PRNGKey(0)), batch,
                                       jax.random.PRNGKey(1))
  second, _ = jax.jit(model.train_step)(first, batch, jax.random.PRNGKey(2))
  for name in ('encoder', 'decoder'):
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                         first.networks[name].params, second.networks[name].params)
    assert max(jax.tree.leaves(moved)) > 1e-5, name
