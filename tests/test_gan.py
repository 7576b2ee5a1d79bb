"""The GAN family's sampling statistics and the switches of the dcgan_mnist recipe, each through
GAN.train_step on a tiny model."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from gan_jax import augment
from gan_jax import chunking
from gan_jax import families
from gan_jax import losses
from gan_jax import schedules
from gan_jax import train
from gan_jax.families import gan
from conftest import tiny_config
from test_train import assert_trees_close, synthetic_batch


def trained(config, steps=3, seed=1):
  """(model, state) after `steps` jitted train steps on a fixed synthetic batch."""
  model = families.build(config)
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  step = jax.jit(model.train_step)
  for i in range(steps):
    state, _ = step(state, batch, jax.random.PRNGKey(seed + i))
  return model, state


def tiny_dcgan(**overrides):
  return tiny_config('dcgan_mnist', **{'discriminator.dropout_rate': 0.0, **overrides})


@pytest.fixture(scope='module')
def ema_run():
  # A fast EMA (0.5) drifts far from the raw weights' statistics within three steps.
  return trained(tiny_dcgan(ema_decay=0.5))


def test_standing_statistics_are_those_of_the_ema_weights(ema_run):
  model, state = ema_run
  g = model.sampling_generator(state)
  ema = state.networks['generator_ema']
  # First BatchNorm by hand: batch moments of Dense_0(z) with the EMA kernel (no bias).
  z = model.sample_latents(jax.random.PRNGKey(model.config.seed + 3), gan.STANDING_STATS_SAMPLES)
  h = np.asarray(z, np.float64) @ np.asarray(ema.params['Dense_0']['kernel'], np.float64)
  stats = g.batch_stats['BatchNorm_0']
  np.testing.assert_allclose(stats['mean'], h.mean(0), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(stats['var'], h.var(0), rtol=1e-3, atol=1e-5)
  # What the EMA network carries from training (the raw generator's averages) is far off.
  raw = ema.batch_stats['BatchNorm_0']
  assert np.abs(raw['var'] - h.var(0)).max() > 0.1 * h.var(0).max()
  # Every layer: sampling the calibration latents in eval mode equals normalising them by their
  # own batch statistics (train mode) with the EMA weights.
  expected = model.generator.apply(ema.variables(), z, train=True, mutable=['batch_stats'])[0]
  np.testing.assert_allclose(model.generate(state, z), gan.to_unit_range(expected, 'tanh'),
                             atol=2e-5)


def test_evaluation_samples_are_generated_data_parallel_on_the_state_mesh(ema_run, devices):
  model, state = ema_run
  mesh = train.make_mesh(devices)
  replicated = jax.device_put(state, NamedSharding(mesh, P()))
  z = model.sample_latents(jax.random.PRNGKey(5), 16)
  (sharded_z,) = chunking.data_parallel(replicated, z)
  images = model._generate_with(jax.jit(model.sampling_generator)(replicated), sharded_z)
  assert images.sharding.spec == P('data') and len(images.sharding.device_set) == 8
  # Split over 8 devices, the samples are those of one device.
  np.testing.assert_allclose(model.evaluation_images(replicated, 24)[0],
                             model.evaluation_images(jax.device_get(state), 24)[0], atol=1e-5)
  # A count the mesh does not divide is generated whole.
  twelve = z[:12]
  assert chunking.data_parallel(replicated, twelve)[0] is twelve


def test_sampling_uses_the_ema_weights_not_the_raw_generator(ema_run):
  model, state = ema_run
  z = model.sample_latents(jax.random.PRNGKey(5), 16)
  before = model.generate(state, z)
  raw = state.networks['generator']
  broken = state.replace(networks={**state.networks, 'generator': raw.replace(
      params=jax.tree.map(jnp.zeros_like, raw.params),
      batch_stats=jax.tree.map(lambda x: x + 100.0, raw.batch_stats))})
  np.testing.assert_array_equal(model.generate(broken, z), before)
  np.testing.assert_array_equal(model.evaluation_images(broken, 16)[0],
                                model.evaluation_images(state, 16)[0])
  # The same model without EMA samples from the raw generator: the broken one changes it.
  no_ema = gan.GAN(tiny_dcgan(ema_decay=0.0))
  assert not np.allclose(no_ema.generate(broken, z), no_ema.generate(state, z))


@pytest.mark.parametrize('mode, depends_on_batch', [('standing', False), ('running', False),
                                                    ('batch', True)])
def test_sampling_batch_norm_modes(ema_run, mode, depends_on_batch):
  _, state = ema_run
  model = gan.GAN(tiny_dcgan(ema_decay=0.5, sampling_batch_norm=mode))
  z = model.sample_latents(jax.random.PRNGKey(6), 8)
  other = z.at[1:].set(model.sample_latents(jax.random.PRNGKey(7), 7))
  first, first_with_others = model.generate(state, z)[0], model.generate(state, other)[0]
  assert np.allclose(first, first_with_others, atol=1e-6) != depends_on_batch
  if mode == 'running':  # the stored averages, as sampling was before standing statistics
    ema = state.networks['generator_ema']
    expected = model.generator.apply(ema.variables(), z, train=False)
    np.testing.assert_allclose(model.generate(state, z), gan.to_unit_range(expected, 'tanh'),
                               atol=1e-6)


def test_unknown_sampling_batch_norm_is_a_clear_error():
  with pytest.raises(ValueError, match='use one of running, standing, batch'):
    gan.GAN(tiny_dcgan(sampling_batch_norm='eval'))


def tiny_mlp_gan(**overrides):
  """The switches below are the family's, not the network's: the MLP GAN compiles fastest."""
  return tiny_config('gan_mnist', **{'generator.hidden_sizes': (8,),
                                     'discriminator.hidden_sizes': (8,), **overrides})


def _one_step(config, state, seed):
  model = families.build(config)
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  return jax.jit(model.train_step)(state, batch, jax.random.PRNGKey(seed))


def _init(config):
  return families.build(config).init(jax.random.PRNGKey(0))


def test_lazy_r1_acts_every_nth_step_weighted_n_times():
  lazy = tiny_mlp_gan(r1_weight=10.0, r1_every=2)
  off = tiny_mlp_gan()
  every = tiny_mlp_gan(r1_weight=20.0)  # the lazy step's effective weight, every step
  state = _init(off)
  # Step 0 (0 % 2 == 0): the penalty, at 2 x 10, changes D's update.
  lazy_state, lazy_metrics = _one_step(lazy, state, 1)
  off_state, _ = _one_step(off, state, 1)
  every_state, every_metrics = _one_step(every, state, 1)
  assert float(lazy_metrics['r1']) > 0
  np.testing.assert_allclose(lazy_metrics['r1'], every_metrics['r1'], rtol=1e-5)
  # D's gradients, as Adam's first moments (Adam's first update is about sign(gradient)).
  d = lambda s: s.networks['discriminator'].opt_state[0].mu
  assert_trees_close(d(lazy_state), d(every_state), rtol=1e-4, atol=1e-7)
  assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(d(lazy_state)),
                                                    jax.tree.leaves(d(off_state))))
  # Step 1: no penalty, the same update as without R1.
  lazy_state2, lazy_metrics2 = _one_step(lazy, lazy_state, 2)
  off_state2, _ = _one_step(off, lazy_state, 2)
  assert float(lazy_metrics2['r1']) == 0.0
  assert_trees_close(d(lazy_state2), d(off_state2), rtol=1e-6, atol=1e-9)


def test_bad_r1_every_is_a_clear_error():
  with pytest.raises(ValueError, match='r1_every=0'):
    gan.GAN(tiny_mlp_gan(r1_weight=1.0, r1_every=0))


def test_gradient_clipping_bounds_what_adam_sees():
  clip = 1e-3
  config = tiny_mlp_gan(**{'optimizer.grad_clip_norm': clip, 'optimizer.b1': 0.5})
  state, _ = _one_step(config, _init(config), 1)
  plain = tiny_mlp_gan(**{'optimizer.b1': 0.5})
  unclipped, _ = _one_step(plain, _init(plain), 1)
  for name in ('generator', 'discriminator'):
    # After one step Adam's first moment is (1 - b1) x the gradient it was given.
    mu = state.networks[name].opt_state[1][0].mu
    norm = float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(mu))))
    np.testing.assert_allclose(norm, 0.5 * clip, rtol=1e-4)
    raw_mu = unclipped.networks[name].opt_state[0].mu
    assert float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(raw_mu)))) > 10 * clip


def test_cosine_schedule_reaches_zero_at_the_last_step():
  config = tiny_mlp_gan(num_train_steps=1, **{'optimizer.schedule': 'cosine'})
  state, _ = _one_step(config, _init(config), 1)
  after, _ = _one_step(config, state, 2)  # step 1 = num_train_steps: learning rate 0
  for name in ('generator', 'discriminator'):
    assert_trees_close(after.networks[name].params, state.networks[name].params, rtol=0, atol=0)
  constant, _ = _one_step(tiny_mlp_gan(num_train_steps=1), state, 2)
  assert not np.allclose(jax.tree.leaves(constant.networks['generator'].params)[0],
                         jax.tree.leaves(state.networks['generator'].params)[0])


def test_schedule_steps_sets_the_span_and_a_longer_one_stops_short_of_zero():
  """A cosine over 4 steps in a 2-step run: rates 1e-3 and 8.5e-4 (over 2 steps the second would
  be 5e-4), and the run trains exactly as the first 2 steps of a 4-step run."""
  base = {'optimizer.schedule': 'cosine', 'optimizer.d_learning_rate': 1e-3}
  spans = {}
  for steps, span in [(2, 4), (4, 0)]:
    config = tiny_mlp_gan(num_train_steps=steps, **base, **{'optimizer.schedule_steps': span})
    rate = schedules.from_config(config.optimizer, 1e-3, config.num_train_steps)
    spans[(steps, span)] = [float(rate(i)) for i in range(2)]
    state = _init(config)
    second, _ = _one_step(config, _one_step(config, state, 1)[0], 2)
    first = jax.tree.leaves(state.networks['discriminator'].params)[0]
    spans[(steps, span)].append(np.asarray(jax.tree.leaves(
        second.networks['discriminator'].params)[0] - first))
  assert spans[(2, 4)][:2] == pytest.approx([1e-3, 1e-3 * (1 + np.cos(np.pi / 4)) / 2])
  assert spans[(2, 4)][:2] == spans[(4, 0)][:2]
  np.testing.assert_allclose(spans[(2, 4)][2], spans[(4, 0)][2], rtol=1e-6, atol=1e-9)


def test_linear_schedule_holds_the_rate_for_half_the_run_then_decays_to_zero():
  rate = schedules.learning_rate('linear', 1e-3, 10)
  np.testing.assert_allclose([float(rate(i)) for i in (0, 4, 5, 6, 9, 10)],
                             [1e-3, 1e-3, 1e-3, 8e-4, 2e-4, 0.0], rtol=1e-6, atol=1e-12)


def test_burda_schedule_stages():
  # 3,280 "epochs" of one step each: Burda et al.'s stage ends, 3^0 + ... + 3^i epochs.
  assert schedules.burda_boundaries(3280) == [1, 4, 13, 40, 121, 364, 1093]
  rate = schedules.learning_rate('burda', 1e-3, 3280)
  for i, step in enumerate([0, 1, 4, 13, 40, 121, 364, 1093]):
    np.testing.assert_allclose(float(rate(step)), 1e-3 * 10 ** (-i / 7), rtol=1e-5)
  np.testing.assert_allclose(float(rate(3279)), 1e-4, rtol=1e-5)


def test_translation_moves_a_pixel_by_at_most_an_eighth_of_the_image():
  x = jnp.full((64, 28, 28, 1), -1.0).at[:, 14, 14, 0].set(1.0)
  out = augment.translation(x, jax.random.PRNGKey(0), background=-1.0)
  rows, cols = np.nonzero(np.asarray(out[..., 0]) > 0)[1:]
  assert len(rows) == 64  # the pixel is kept in every image, nothing else appears
  shifts = np.stack([rows - 14, cols - 14])
  assert np.abs(shifts).max() <= 4 and len({tuple(s) for s in shifts.T}) > 10


def test_cutout_blanks_one_square_of_half_the_image():
  x = jnp.ones((32, 28, 28, 1))
  out = np.asarray(augment.cutout(x, jax.random.PRNGKey(0), background=-1.0))[..., 0]
  for image in out:
    rows, cols = np.nonzero(image == -1.0)
    assert set(np.unique(image)) <= {-1.0, 1.0}
    # A full 14 x 14 square, cut at the borders.
    assert rows.max() - rows.min() + 1 <= 14 and cols.max() - cols.min() + 1 <= 14
    assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
  assert np.mean([np.sum(image == -1.0) for image in out]) > 100


def test_augmentation_is_differentiable_and_reaches_d():
  x = jax.random.uniform(jax.random.PRNGKey(1), (8, 28, 28, 1), minval=-1, maxval=1)
  policy = augment.parse_policy('translation,cutout,brightness,contrast')
  grad = jax.grad(lambda x: jnp.sum(augment.augment(x, jax.random.PRNGKey(2), policy, -1.0, 2.0)
                                    ** 2))(x)
  assert np.count_nonzero(np.asarray(grad)) > 0.3 * grad.size
  config = tiny_mlp_gan(augment='translation,cutout')
  state = _init(config)
  _, augmented = _one_step(config, state, 1)
  _, plain = _one_step(tiny_mlp_gan(), state, 1)
  assert not np.isclose(augmented['d_loss'], plain['d_loss'])
  with pytest.raises(ValueError, match='unknown augmentation flip'):
    augment.parse_policy('translation,flip')


@pytest.mark.parametrize('penalty', ['r1', 'gradient_penalty'])
def test_penalties_through_the_penalty_discriminator_equal_the_phase_form(penalty):
  """R1 and WGAN-GP differentiate D twice through XLA's own convolutions (the phase-form input
  gradient is slow to differentiate again); same parameters, same penalty and same parameter
  gradient."""
  # 16 channels into D's second convolution: the phase form is used there.
  model = gan.GAN(tiny_dcgan(**{'discriminator.base_features': 16}))
  assert model.penalty_discriminator.phase_form_input_gradient is False
  x = jax.random.uniform(jax.random.PRNGKey(0), (4, 28, 28, 1), minval=-1, maxval=1)
  fake = jax.random.uniform(jax.random.PRNGKey(2), (4, 28, 28, 1), minval=-1, maxval=1)
  params = model.discriminator.init(jax.random.PRNGKey(1), x, train=False)['params']

  def penalty_of(module):
    d_fn = lambda p: lambda x: module.apply({'params': p}, x, train=False)
    if penalty == 'r1':
      return lambda p: losses.r1_penalty(d_fn(p), x)
    return lambda p: losses.gradient_penalty(d_fn(p), x, fake, jax.random.PRNGKey(3))

  value, grads = jax.value_and_grad(penalty_of(model.penalty_discriminator))(params)
  expected_value, expected_grads = jax.value_and_grad(penalty_of(model.discriminator))(params)
  np.testing.assert_allclose(value, expected_value, rtol=1e-5)
  assert_trees_close(grads, expected_grads, rtol=1e-4, atol=1e-7)
  assert float(value) > 0


def _cross_entropy(class_logits, labels):
  log_probs = jax.nn.log_softmax(np.asarray(class_logits, np.float64))
  return -float(np.mean(log_probs[np.arange(len(labels)), labels]))


def test_auxiliary_classifier_losses_by_hand():
  """D's classifier term is its cross-entropy on the real images' labels before the update; G's
  loss adds the updated D's cross-entropy on the labels G was asked for."""
  config = tiny_dcgan(num_classes=10, classifier_weight=2.0, code_classes=0,
                      **{'discriminator.hidden_features': 0})
  model = families.build(config)
  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  rng = jax.random.PRNGKey(3)
  new_state, metrics = jax.jit(model.train_step)(state, batch, rng)
  assert state.networks['discriminator'].params['Dense_1']['kernel'].shape == (7 * 7 * 8, 10)

  def class_logits(d_params, x, labels):
    logits, sown = model.discriminator.apply(
        {'params': d_params}, x, labels, train=False, mutable=['intermediates'])
    return logits, sown['intermediates']['class_logits'][0]

  real = gan.to_model_range(batch['image'], 'tanh')
  _, real_classes = class_logits(state.networks['discriminator'].params, real, batch['label'])
  np.testing.assert_allclose(metrics['d_classifier'],
                             _cross_entropy(real_classes, batch['label']), rtol=1e-5)
  # The fake batch of the step: the same keys as train_step's, G before its update.
  keys = jax.random.split(rng, gan.NUM_STEP_KEYS)
  z, labels = model.sample_latents(keys[0], 16), model.sample_labels(keys[1], 16)
  g = state.networks['generator']
  fake = model.generator.apply(g.variables(), z, labels, train=True, mutable=['batch_stats'])[0]
  logits, fake_classes = class_logits(new_state.networks['discriminator'].params, fake, labels)
  g_classifier = _cross_entropy(fake_classes, np.asarray(labels))
  np.testing.assert_allclose(metrics['g_classifier'], g_classifier, rtol=1e-4)
  np.testing.assert_allclose(metrics['g_loss'], losses.generator_non_saturating(logits)
                             + 2.0 * g_classifier, rtol=1e-4)
  with pytest.raises(ValueError, match='set num_classes'):
    gan.GAN(tiny_dcgan(classifier_weight=1.0))


def test_categorical_code_losses_by_hand_and_its_latents():
  """InfoGAN's code: G's latents end in a one-hot of a uniform code; D's loss adds Q's
  cross-entropy on the fake batch before D's update, G's loss the updated Q's on the same codes."""
  config = tiny_dcgan(code_classes=10, info_weight=0.5)
  model = families.build(config)
  z = np.asarray(model.sample_latents(jax.random.PRNGKey(5), 4000))
  assert z.shape == (4000, config.latent_dim + 10)
  codes = z[:, config.latent_dim:]
  np.testing.assert_array_equal(codes.sum(-1), 1.0)
  np.testing.assert_array_equal(np.isin(codes, (0.0, 1.0)), True)
  assert np.all(np.abs(codes.mean(0) - 0.1) < 0.02)  # uniform over the 10 values
  assert abs(z[:, :config.latent_dim].std() - 1.0) < 0.02

  state = model.init(jax.random.PRNGKey(0))
  batch = jax.tree.map(jnp.asarray, synthetic_batch())
  rng = jax.random.PRNGKey(3)
  new_state, metrics = jax.jit(model.train_step)(state, batch, rng)
  keys = jax.random.split(rng, gan.NUM_STEP_KEYS)
  z = model.sample_latents(keys[0], 16)
  g = state.networks['generator']
  fake = model.generator.apply(g.variables(), z, None, train=True, mutable=['batch_stats'])[0]

  def q_logits(d_params):
    logits, sown = model.discriminator.apply({'params': d_params}, fake, None, train=False,
                                             mutable=['intermediates'])
    return logits, sown['intermediates']['code_logits'][0]

  codes = np.argmax(np.asarray(z)[:, config.latent_dim:], -1)
  np.testing.assert_allclose(
      metrics['d_info'], 0.5 * _cross_entropy(q_logits(state.networks['discriminator'].params)[1],
                                              codes), rtol=1e-4)
  logits, q_after = q_logits(new_state.networks['discriminator'].params)
  g_info = 0.5 * _cross_entropy(q_after, codes)  # weighted by info_weight
  np.testing.assert_allclose(metrics['g_info'], g_info, rtol=1e-4)
  np.testing.assert_allclose(metrics['g_loss'], losses.generator_non_saturating(logits) + g_info,
                             rtol=1e-4)


def test_code_grid_rows_hold_one_code_each():
  model, state = trained(tiny_dcgan(code_classes=3), steps=1)
  grid = np.asarray(model.sample_grid(state))
  assert grid.shape[0] == 3 * gan.GRID_COLUMNS
  noise = model.sample_latents(jax.random.PRNGKey(model.config.seed + 1), grid.shape[0])
  noise = noise[:, :model.config.latent_dim]
  for code in range(3):
    z = model.with_codes(noise, jnp.full((grid.shape[0],), code))
    rows = slice(code * gan.GRID_COLUMNS, (code + 1) * gan.GRID_COLUMNS)
    np.testing.assert_allclose(grid[rows], np.asarray(model.generate(state, z))[rows], atol=1e-6)
  with pytest.raises(ValueError, match='use one of the two'):
    gan.GAN(tiny_dcgan(code_classes=3, num_classes=10))


def test_continuous_codes_losses_by_hand_latents_and_grid():
  """InfoGAN's continuous codes: G's latents end in uniform [-1, 1] codes after the one-hot; the
  info loss adds half the squared error of Q's means to the categorical cross-entropy."""
  config = tiny_dcgan(code_classes=3, code_continuous=2, info_weight=2.0,
                      info_continuous_weight=0.1)
  model = families.build(config)
  z = np.asarray(model.sample_latents(jax.random.PRNGKey(5), 4000))
  width = config.latent_dim
  assert z.shape == (4000, width + 3 + 2)
  np.testing.assert_array_equal(z[:, width:width + 3].sum(-1), 1.0)
  continuous = z[:, width + 3:]
  assert continuous.min() >= -1 and continuous.max() <= 1
  assert np.all(np.abs(continuous.mean(0)) < 0.05) and np.all(np.abs(continuous.var(0) - 1 / 3) < 0.02)
  np.testing.assert_array_equal(model.continuous_codes_of(jnp.asarray(z)), continuous)

  sown = {'code_logits': jnp.zeros((2, 3)), 'code_means': jnp.array([[0.0, 0.0], [1.0, 1.0]])}
  zz = model.with_codes(jnp.zeros((2, width)), jnp.array([0, 2]),
                        jnp.array([[1.0, 0.0], [1.0, -1.0]]))
  # 2 * log 3 (uniform logits) + 0.1 * mean(0.5 * 1, 0.5 * (0 + 4))
  assert float(model._code_loss(sown, zz)) == pytest.approx(2 * np.log(3) + 0.125, rel=1e-6)

  state, metrics = jax.jit(model.train_step)(model.init(jax.random.PRNGKey(0)),
                                             jax.tree.map(jnp.asarray, synthetic_batch()),
                                             jax.random.PRNGKey(3))
  assert np.isfinite(metrics['d_info']) and metrics['d_info'] > 2 * np.log(3) - 0.2
  assert set(state.networks['discriminator'].params) >= {'code_head', 'code_mean_head'}
  # The grid: a row per code value, the first continuous code sweeping [-2, 2] along each row
  # on one noise, the second at 0.
  grid = np.asarray(model.sample_grid(state))
  noise = model.sample_latents(jax.random.PRNGKey(config.seed + 1), grid.shape[0])[:, :width]
  row = slice(gan.GRID_COLUMNS, 2 * gan.GRID_COLUMNS)  # code 1
  sweep = jnp.stack([jnp.linspace(-2.0, 2.0, gan.GRID_COLUMNS),
                     jnp.zeros(gan.GRID_COLUMNS)], axis=-1)
  z_row = model.with_codes(jnp.repeat(noise[gan.GRID_COLUMNS:gan.GRID_COLUMNS + 1],
                                      gan.GRID_COLUMNS, axis=0),
                           jnp.ones(gan.GRID_COLUMNS, jnp.int32), sweep)
  np.testing.assert_allclose(grid[row], np.asarray(model.generate(state, z_row)), atol=1e-6)


def test_uniform_noise_prior_keeps_the_codes_and_refuses_unknown_priors():
  """noise_distribution='uniform': the noise part of G's latents is uniform on [-1, 1] (variance
  1/3, not the Gaussian's 1); the codes after it are drawn as before."""
  width = tiny_dcgan().latent_dim
  key = jax.random.PRNGKey(5)
  uniform = np.asarray(families.build(tiny_dcgan(
      code_classes=3, code_continuous=1, noise_distribution='uniform')).sample_latents(key, 4000))
  gaussian = np.asarray(families.build(tiny_dcgan(
      code_classes=3, code_continuous=1)).sample_latents(key, 4000))
  noise = uniform[:, :width]
  assert noise.min() >= -1 and noise.max() <= 1
  assert abs(noise.var() - 1 / 3) < 0.01 and abs(noise.mean()) < 0.01
  assert abs(gaussian[:, :width].var() - 1) < 0.02
  np.testing.assert_array_equal(uniform[:, width:], gaussian[:, width:])
  assert families.build(tiny_config('infogan_mnist_paper')).noise_distribution == 'uniform'
  with pytest.raises(ValueError, match='noise_distribution=.laplace.; use one of gaussian, uniform'):
    gan.GAN(tiny_dcgan(noise_distribution='laplace'))


def test_infogan_paper_networks_q_has_its_own_layer_and_d_keeps_batch_statistics():
  """`model='infogan'` (the authors' networks): Q's heads read a hidden layer of Q's own, so that
  layer moves Q's outputs but not D's logit, while D's shared body moves both; D's BatchNorm
  statistics are carried through its training step."""
  config = tiny_config('infogan_mnist_paper')
  model, state = trained(config, steps=1)
  d = state.networks['discriminator']
  x = gan.to_model_range(jnp.asarray(synthetic_batch(8)['image']),
                         config.generator.output_activation)

  def outputs(params):
    logits, sown, _ = model._discriminate(d, params, x, None, jax.random.PRNGKey(0), train=False)
    return np.asarray(logits), np.asarray(sown['code_logits']), np.asarray(sown['code_means'])

  base = outputs(d.params)
  bump = lambda layer: {**d.params, layer: jax.tree.map(lambda w: w * 1.5, d.params[layer])}
  q_layer, body_layer = outputs(bump('Dense_1')), outputs(bump('Dense_0'))
  np.testing.assert_array_equal(q_layer[0], base[0])
  assert np.abs(q_layer[1] - base[1]).max() > 1e-3 and np.abs(q_layer[2] - base[2]).max() > 1e-3
  assert np.abs(body_layer[0] - base[0]).max() > 1e-3
  assert np.abs(body_layer[1] - base[1]).max() > 1e-3
  # One step moved D's running statistics off their initial (0, 1).
  stats = d.batch_stats['BatchNorm_0']
  assert np.abs(stats['mean']).max() > 1e-4 and np.abs(stats['var'] - 1).max() > 1e-4
  images = model.generate(state, model.sample_latents(jax.random.PRNGKey(1), 4))
  assert images.shape == (4, 28, 28, 1)
  assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0


def test_code_classification_error_reads_q_on_the_test_split(monkeypatch):
  """The code's test error: Q's argmax on each test image, its values matched to the classes.
  Synthetic test digits whose pixels hold their label; a Q that reads label + 1 (mod 10) is a
  perfect classifier after matching, a constant Q errs on all but the largest class."""
  model = gan.GAN(tiny_dcgan(code_classes=10))
  state = model.init(jax.random.PRNGKey(0))
  labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 3] * 100, np.int32)
  images = np.broadcast_to((labels * 20).astype(np.uint8)[:, None, None, None],
                           (len(labels), 28, 28, 1))
  monkeypatch.setattr(gan.input_pipeline, 'load_split',
                      lambda dataset, split: {'image': images, 'label': labels})

  def read_label_plus_one(d, params, x, class_labels, rng, train=True):
    label = jnp.round((x[:, 0, 0, 0] + 1) / 2 * 255 / 20).astype(jnp.int32)
    return None, {'code_logits': jax.nn.one_hot((label + 1) % 10, 10)}, {}

  monkeypatch.setattr(model, '_discriminate', read_label_plus_one)
  assert model.code_classification_error(state) == 0.0
  monkeypatch.setattr(model, '_discriminate', lambda *args, **kwargs: (
      None, {'code_logits': jnp.zeros((args[2].shape[0], 10)).at[:, 4].set(1.0)}, {}))
  assert model.code_classification_error(state) == pytest.approx(1 - 300 / 1200)


def tiny_ebgan(**overrides):
  return tiny_config('ebgan_mnist', **{'generator.base_features': 4,
                                       'discriminator.base_features': 4,
                                       'discriminator.code_dim': 8, **overrides})


def test_ebgan_energy_is_the_reconstruction_error_and_trains_with_the_pull_away_term():
  # A margin above every sample's energy, so D's loss is linear in the mean energies.
  model = families.build(tiny_ebgan(energy_margin=1000.0, **{'discriminator.denoise_std': 0.5}))
  state = model.init(jax.random.PRNGKey(0))
  d = state.networks['discriminator']
  x = gan.to_model_range(jnp.asarray(synthetic_batch()['image']), 'tanh')
  energy, sown = model.discriminator.apply(d.variables(), x, train=False,
                                           mutable=['intermediates'])
  # A decoder of zeros reconstructs 0: the energy is then each image's own L2 norm.
  zeroed = jax.tree_util.tree_map_with_path(
      lambda path, p: jnp.zeros_like(p) if 'SubpixelConvTranspose_1' in str(path) else p,
      d.params)
  blank = model.discriminator.apply({'params': zeroed}, x, train=False)
  np.testing.assert_allclose(blank, np.linalg.norm(np.asarray(x).reshape(len(x), -1), axis=-1),
                             rtol=1e-5)
  assert sown['intermediates']['features'][0].shape == (len(x), 8)
  # Denoising: in training D sees a noisy input (another energy), in evaluation the clean one.
  noisy = model.discriminator.apply(d.variables(), x, train=True,
                                    rngs={'dropout': jax.random.PRNGKey(1)})
  assert np.abs(np.asarray(noisy) - np.asarray(energy)).max() > 1e-3

  _, metrics = jax.jit(model.train_step)(state, jax.tree.map(jnp.asarray, synthetic_batch()),
                                         jax.random.PRNGKey(3))
  assert set(metrics) >= {'pull_away', 'd_real', 'd_fake'}
  # d_real / d_fake are mean energies (not sigmoids), so D's loss is their margin combination.
  assert float(metrics['d_real']) > 1.0
  np.testing.assert_allclose(metrics['d_loss'], float(metrics['d_real']) + 1000.0
                             - float(metrics['d_fake']), rtol=1e-5)
  with pytest.raises(ValueError, match='supports none of code_classes'):
    families.build(tiny_ebgan(code_classes=10))
