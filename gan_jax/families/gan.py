"""The GAN model family: alternating D and G updates, each network with its own Optax state.

Every stabiliser is a config switch read here, used by the one train step:
`loss` (non_saturating, minimax, hinge, least_squares, wasserstein, energy), `r1_weight`, `gp_weight`
(WGAN-GP with loss=wasserstein), `label_smoothing` (one-sided, BCE losses),
`feature_matching`, `discriminator.spectral_norm`, `discriminator.minibatch_stddev`,
`ema_decay` (sample and evaluate with an EMA of G's weights), and separate learning rates
`optimizer.g_learning_rate` / `optimizer.d_learning_rate` (TTUR), `optimizer.schedule`
(gan_jax/schedules.py: constant, or a decay to 0 over the run, or over `optimizer.schedule_steps`
when set),
`optimizer.grad_clip_norm` (each network's gradient clipped to this global norm), `r1_every`
(lazy R1: the penalty every N steps, weighted N times), `augment` (DiffAugment policy for D's
inputs, gan_jax/augment.py). `num_classes` > 0 makes both networks class-conditional;
`classifier_weight` adds AC-GAN's auxiliary classifier (D learns the real images' classes, G is
pushed to be read as the class it was asked for).
`code_classes` > 0 appends InfoGAN's categorical code (a one-hot, uniform over this many values)
and `code_continuous` > 0 that many continuous codes (uniform on [-1, 1]) to G's noise, and adds
the mutual-information loss (weights `info_weight`, and `info_continuous_weight` for the
continuous codes' part): D's Q head learns to read the codes back
from G's samples, and G to make them readable, without labels (Chen et al. 2016). Evaluation
then also reports `code_error`, the categorical code's test error as a classifier.
`model='ebgan'` with `loss='energy'` is the energy-based GAN (Zhao et al. 2017): D is an
autoencoder whose reconstruction error is the energy, trained with the margin
`energy_margin`, and `pull_away_weight` adds its pull-away term to G's loss.
`sampling_batch_norm` chooses the statistics a BatchNorm generator samples with (see
SAMPLING_BATCH_NORM). `noise_distribution` is G's noise prior (latent.NOISE_DISTRIBUTIONS;
'uniform' on [-1, 1] is the InfoGAN authors' MNIST setting).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

from gan_jax import augment
from gan_jax import chunking
from gan_jax import input_pipeline
from gan_jax import latent
from gan_jax import losses
from gan_jax import metrics
from gan_jax import models
from gan_jax import reference
from gan_jax import schedules
from gan_jax.state import Network, TrainState, standing_statistics
from gan_jax.writers import GRID_COLUMNS


def to_model_range(images_uint8, output_activation: str):
  """uint8 pixels -> the generator's output range ([-1, 1] for tanh, [0, 1] for sigmoid)."""
  x = images_uint8.astype(jnp.float32) / 255.0
  return 2.0 * x - 1.0 if output_activation == 'tanh' else x


def to_unit_range(images, output_activation: str):
  return (images + 1.0) / 2.0 if output_activation == 'tanh' else images


# How a BatchNorm generator normalises when it samples:
#   'running':  the running averages kept by training (of the raw generator's weights);
#   'standing': statistics recomputed for the weights being sampled (the EMA weights when on)
#               from STANDING_STATS_SAMPLES fixed latents, as BigGAN's "standing statistics";
#   'batch':    the statistics of each generated batch itself.
SAMPLING_BATCH_NORM = ('running', 'standing', 'batch')
STANDING_STATS_SAMPLES = 2048
NUM_STEP_KEYS = 10  # train_step splits its key this many ways; keys[0] draws the step's z


class GAN:
  """Builds modules, optimisers and losses from a config; its methods are pure functions."""
  image_shape = (28, 28, 1)  # MNIST
  EVALUATION_OPTIONS = {'sampling_batch_norm': 'sampling_batch_norm'}
  # The switches of configs.add_gan_switches, off, as runs before them trained; those runs
  # sampled with BatchNorm's running averages.
  CONFIG_DEFAULTS = {
      'num_classes': 0, 'classifier_weight': 0.0, 'code_classes': 0, 'code_continuous': 0,
      'info_weight': 1.0, 'info_continuous_weight': 1.0,
      'pull_away_weight': 0.0, 'r1_weight': 0.0, 'r1_every': 1, 'augment': '', 'gp_weight': 0.0, 'label_smoothing': 0.0,
      'feature_matching': False, 'ema_decay': 0.0, 'sampling_batch_norm': 'running',
      'noise_distribution': 'gaussian',
      'optimizer.schedule': 'constant', 'optimizer.schedule_steps': 0,
      'optimizer.grad_clip_norm': 0.0, 'discriminator.spectral_norm': False,
      'discriminator.minibatch_stddev': False}

  def __init__(self, config):
    self.config = config
    self.generator, self.discriminator = models.build_gan(config)
    # The discriminator that R1 and the gradient penalty differentiate twice.
    self.penalty_discriminator = (
        self.discriminator.clone(phase_form_input_gradient=False)
        if hasattr(self.discriminator, 'phase_form_input_gradient') else self.discriminator)
    opt = config.optimizer
    self.g_tx = self._optimizer(opt.g_learning_rate)
    self.d_tx = self._optimizer(opt.d_learning_rate)
    self.d_loss_fn, self.g_loss_fn = losses.GAN_LOSSES[config.loss]
    # d_real / d_fake log D's mean probability of 'real', or for energies the mean energy.
    self.d_summary = jax.nn.sigmoid
    if config.loss == 'energy':
      self.d_loss_fn = functools.partial(self.d_loss_fn, margin=config.energy_margin)
      self.d_summary = lambda energy: energy
    self.pull_away_weight = config.pull_away_weight
    smoothing = config.label_smoothing
    if smoothing:
      if self.d_loss_fn is not losses.discriminator_bce:
        raise ValueError('label_smoothing applies to the BCE losses (non_saturating, minimax), '
                         f'not to loss={config.loss}')
      self.d_loss_fn = functools.partial(losses.discriminator_bce, real_label=1.0 - smoothing)
    self.num_classes = config.num_classes
    self.classifier_weight = config.classifier_weight
    if self.classifier_weight and not self.num_classes:
      raise ValueError('classifier_weight needs a class-conditional GAN: set num_classes too')
    self.code_classes = config.code_classes
    self.code_continuous = config.code_continuous
    self.has_codes = bool(self.code_classes or self.code_continuous)
    self.info_weight = config.info_weight
    self.info_continuous_weight = config.info_continuous_weight
    if self.code_classes and self.num_classes:
      raise ValueError('code_classes and num_classes both set: a conditional GAN is told its '
                       'classes; use one of the two')
    self.r1_weight = config.r1_weight
    self.r1_every = config.r1_every
    if self.r1_every < 1:
      raise ValueError(f'r1_every={self.r1_every}: the R1 penalty is applied every N >= 1 steps')
    self.augment_policy = augment.parse_policy(config.augment)
    self.gp_weight = config.gp_weight
    self.feature_matching = config.feature_matching
    self.ema_decay = config.ema_decay
    self.output_activation = config.generator.output_activation
    self.sampling_batch_norm = config.sampling_batch_norm
    if self.sampling_batch_norm not in SAMPLING_BATCH_NORM:
      raise ValueError(f'sampling_batch_norm={self.sampling_batch_norm!r}; use one of '
                       f'{", ".join(SAMPLING_BATCH_NORM)}')
    self.noise_distribution = config.noise_distribution
    latent.check_noise_distribution('noise_distribution', self.noise_distribution)
    self._generate_with = jax.jit(self.generate_with)

  def _optimizer(self, learning_rate: float) -> optax.GradientTransformation:
    """Adam for one network, with the config's schedule and gradient clipping."""
    opt, steps = self.config.optimizer, self.config.num_train_steps
    adam = optax.adam(schedules.from_config(opt, learning_rate, steps), b1=opt.b1, b2=opt.b2)
    clip = opt.grad_clip_norm
    return optax.chain(optax.clip_by_global_norm(clip), adam) if clip else adam

  def augment(self, x, rng):
    """D's view of a batch in the model's range: DiffAugment with the config's policy."""
    if not self.augment_policy:
      return x
    background, pixel_range = (-1.0, 2.0) if self.output_activation == 'tanh' else (0.0, 1.0)
    return augment.augment(x, rng, self.augment_policy, background, pixel_range)

  def init(self, rng) -> TrainState:
    g_key, d_key, rng = jax.random.split(rng, 3)
    # A batch of 4 for init: minibatch stddev groups samples by 4.
    labels = jnp.zeros((4,), jnp.int32) if self.num_classes else None
    g_vars = self.generator.init(g_key, jnp.zeros((4, self.latent_width)), labels,
                                 train=False)
    d_vars = self.discriminator.init(d_key, jnp.zeros((4, *self.image_shape)), labels,
                                     train=False)
    networks = {'generator': Network.create(g_vars, self.g_tx),
                'discriminator': Network.create(d_vars, self.d_tx)}
    if self.ema_decay:
      networks['generator_ema'] = networks['generator'].replace(opt_state=())
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, networks=networks)

  @property
  def latent_width(self) -> int:
    """G's input width: the noise, then the categorical code's one-hot and the continuous codes
    when on."""
    return self.config.latent_dim + self.code_classes + self.code_continuous

  def with_codes(self, noise, codes=None, continuous=None):
    """Noise [n, latent_dim], integer codes [n] and continuous codes [n, code_continuous] ->
    G's latents [n, latent_width]."""
    parts = [noise]
    if self.code_classes:
      parts.append(jax.nn.one_hot(codes, self.code_classes))
    if self.code_continuous:
      parts.append(continuous)
    return jnp.concatenate(parts, axis=-1)

  def codes_of(self, z):
    """The categorical codes [n] of latents [n, latent_width]."""
    start = self.config.latent_dim
    return jnp.argmax(z[:, start:start + self.code_classes], axis=-1)

  def continuous_codes_of(self, z):
    """The continuous codes [n, code_continuous] of latents [n, latent_width]."""
    return z[:, self.config.latent_dim + self.code_classes:]

  def sample_noise(self, rng, n: int):
    """[n, latent_dim] draws from G's noise prior."""
    return latent.sample_noise(rng, (n, self.config.latent_dim), self.noise_distribution)

  def sample_latents(self, rng, n: int):
    if not self.has_codes:  # the key used whole: latents of a key stay what they were
      return self.sample_noise(rng, n)
    # Two keys without continuous codes, so a categorical-code run's latents stay as they were.
    keys = jax.random.split(rng, 3 if self.code_continuous else 2)
    noise = self.sample_noise(keys[0], n)
    codes = (jax.random.randint(keys[1], (n,), 0, self.code_classes) if self.code_classes
             else None)
    continuous = (jax.random.uniform(keys[-1], (n, self.code_continuous), minval=-1.0,
                                     maxval=1.0) if self.code_continuous else None)
    return self.with_codes(noise, codes, continuous)

  def sample_labels(self, rng, n: int):
    return jax.random.randint(rng, (n,), 0, self.num_classes) if self.num_classes else None

  def _discriminate(self, d: Network, params, x, labels, rng, train=True):
    """Logits, what D's head sowed ('features': its last hidden features; 'class_logits' with
    the auxiliary classifier) and D's updated batch stats (spectral-norm vectors)."""
    logits, variables = self.discriminator.apply(
        d.variables(params), x, labels, train=train, rngs={'dropout': rng},
        mutable=['batch_stats', 'intermediates'])
    sown = {name: values[0] for name, values in variables['intermediates'].items()}
    return logits, sown, variables.get('batch_stats', {})

  def _classifier_loss(self, sown, labels):
    return losses.classifier_cross_entropy(sown['class_logits'], labels)

  def _code_loss(self, sown, z):
    """InfoGAN's weighted bound on -I(codes; G(z)) up to the codes' constant entropy:
    info_weight times Q's cross-entropy for the categorical code, plus info_continuous_weight
    times the negative log-density of a unit-variance Gaussian around Q's means for the
    continuous codes (the reference code fixes the standard deviation)."""
    loss = jnp.zeros(())
    if self.code_classes:
      loss += self.info_weight * losses.classifier_cross_entropy(sown['code_logits'],
                                                                 self.codes_of(z))
    if self.code_continuous:
      loss += self.info_continuous_weight * losses.unit_gaussian_nll(
          sown['code_means'], self.continuous_codes_of(z))
    return loss

  def _critic(self, d_params, d_stats, labels):
    """D's logits as a function of its input alone, for the input-gradient penalties."""
    return lambda x: self.penalty_discriminator.apply(
        {'params': d_params, 'batch_stats': d_stats}, x, labels, train=False)

  def _r1_loss(self, step, d_params, d_stats, real, labels):
    """R1's term of D's loss and the penalty itself. Lazy when r1_every > 1: computed only on
    every r1_every-th step and weighted up by r1_every (StyleGAN2's lazy regularisation)."""
    penalty = lambda: losses.r1_penalty(self._critic(d_params, d_stats, labels), real)
    if self.r1_every == 1:
      r1 = penalty()
      return self.r1_weight * r1, r1
    r1 = jax.lax.cond(step % self.r1_every == 0, penalty, lambda: jnp.zeros(()))
    return self.r1_weight * self.r1_every * r1, r1

  def train_step(self, state: TrainState, batch, rng):
    """One D update on real and fake batches, then one G update against the updated D.

    G runs forward once: its fake batch feeds D's update, and G's gradient is its VJP applied
    to the gradient of G's loss at that same batch through the updated D (what differentiating
    a second, identical forward pass would give, without the second pass).
    """
    g, d = state.networks['generator'], state.networks['discriminator']
    keys = jax.random.split(rng, NUM_STEP_KEYS)
    real = to_model_range(batch['image'], self.output_activation)
    n = real.shape[0]
    real_labels = batch['label'] if self.num_classes else None
    z, fake_labels = self.sample_latents(keys[0], n), self.sample_labels(keys[1], n)

    def generate_fake(g_params):
      fake, new_vars = self.generator.apply(g.variables(g_params), z, fake_labels, train=True,
                                            mutable=['batch_stats'])
      return fake, new_vars.get('batch_stats', {})

    fake, g_vjp, g_batch_stats = jax.vjp(generate_fake, g.params, has_aux=True)

    seen_real = self.augment(real, keys[7])

    def d_loss(d_params):
      # Real and fake in separate calls, so batch statistics (minibatch stddev) never mix them.
      real_logits, real_sown, d_stats = self._discriminate(d, d_params, seen_real, real_labels,
                                                           keys[2])
      fake_logits, fake_sown, d_stats = self._discriminate(
          d.replace(batch_stats=d_stats), d_params, self.augment(fake, keys[8]), fake_labels,
          keys[3])
      loss = self.d_loss_fn(real_logits, fake_logits)
      terms = {}
      if self.classifier_weight:  # D's classifier learns from real images only
        terms['d_classifier'] = self._classifier_loss(real_sown, real_labels)
        loss += self.classifier_weight * terms['d_classifier']
      if self.has_codes:  # Q learns to read the codes back from G's samples
        terms['d_info'] = self._code_loss(fake_sown, z)
        loss += terms['d_info']
      if self.r1_weight:
        r1_loss, terms['r1'] = self._r1_loss(state.step, d_params, d_stats, seen_real,
                                             real_labels)
        loss += r1_loss
      if self.gp_weight:
        terms['gradient_penalty'] = losses.gradient_penalty(
            self._critic(d_params, d_stats, real_labels), real, fake, keys[4])
        loss += self.gp_weight * terms['gradient_penalty']
      return loss, (real_logits, fake_logits, d_stats, terms)

    (d_loss_value, (real_logits, fake_logits, d_stats, terms)), d_grads = jax.value_and_grad(
        d_loss, has_aux=True)(d.params)
    d = d.apply_gradients(d_grads, self.d_tx, batch_stats=d_stats)

    def g_loss(fake):
      logits, fake_sown, _ = self._discriminate(d, d.params, self.augment(fake, keys[9]),
                                                fake_labels, keys[5])
      if self.feature_matching:
        _, real_sown, _ = self._discriminate(d, d.params, seen_real, real_labels, keys[6])
        loss = losses.feature_matching(jax.lax.stop_gradient(real_sown['features']),
                                       fake_sown['features'])
      else:
        loss = self.g_loss_fn(logits)
      g_terms = {}
      if self.classifier_weight:
        g_terms['g_classifier'] = self._classifier_loss(fake_sown, fake_labels)
        loss += self.classifier_weight * g_terms['g_classifier']
      if self.has_codes:
        g_terms['g_info'] = self._code_loss(fake_sown, z)
        loss += g_terms['g_info']
      if self.pull_away_weight:  # EBGAN: spread the batch's codes in D's encoder
        g_terms['pull_away'] = losses.pull_away(fake_sown['features'])
        loss += self.pull_away_weight * g_terms['pull_away']
      return loss, g_terms

    (g_loss_value, g_terms), fake_grads = jax.value_and_grad(g_loss, has_aux=True)(fake)
    g_grads, = g_vjp(fake_grads)
    g = g.apply_gradients(g_grads, self.g_tx, batch_stats=g_batch_stats)
    networks = {'generator': g, 'discriminator': d}
    if self.ema_decay:
      networks['generator_ema'] = self.ema_update(state.networks['generator_ema'], g)

    metrics = {'d_loss': d_loss_value, 'g_loss': g_loss_value,
               'd_real': jnp.mean(self.d_summary(real_logits)),
               'd_fake': jnp.mean(self.d_summary(fake_logits)), **terms, **g_terms}
    return state.replace(step=state.step + 1, networks=networks), metrics

  def ema_update(self, ema: Network, g: Network) -> Network:
    """The EMA of G's weights after G's update (BatchNorm statistics: G's own)."""
    return ema.replace(params=optax.incremental_update(g.params, ema.params, 1.0 - self.ema_decay),
                       batch_stats=g.batch_stats)

  def sampling_generator(self, state: TrainState) -> Network:
    """The generator that samples: the EMA weights when on, with the BatchNorm statistics that
    `sampling_batch_norm` asks for ('standing': recomputed for these weights)."""
    g = state.networks['generator_ema' if self.ema_decay else 'generator']
    if self.sampling_batch_norm != 'standing':
      return g
    key = jax.random.PRNGKey(self.config.seed + 3)
    z = self.sample_latents(key, STANDING_STATS_SAMPLES)
    labels = (jnp.arange(STANDING_STATS_SAMPLES) % self.num_classes if self.num_classes
              else None)
    return standing_statistics(self.generator, g, z, labels)

  def generate(self, state: TrainState, z, labels=None):
    """Images in [0, 1] from latents, from `sampling_generator(state)`."""
    return self.generate_with(self.sampling_generator(state), z, labels)

  def generate_with(self, g: Network, z, labels=None):
    """Images in [0, 1] from latents with the generator network `g` (a sampling_generator, made
    once for many batches)."""
    batch_statistics = self.sampling_batch_norm == 'batch' and bool(g.batch_stats)
    images = self.generator.apply(g.variables(), z, labels, train=batch_statistics,
                                  mutable=['batch_stats'] if batch_statistics else False)
    return to_unit_range(images[0] if batch_statistics else images, self.output_activation)

  def sample_grid(self, state: TrainState):
    """Samples from fixed noise (the same at every call of a run), for the PNG grids; with
    classes, one row per class, and with codes the code grid."""
    key = jax.random.PRNGKey(self.config.seed + 1)
    if self.has_codes:
      return self.code_grid(state, key)
    if self.num_classes:
      labels = jnp.repeat(jnp.arange(self.num_classes), GRID_COLUMNS)
      return self.generate(state, self.sample_latents(key, len(labels)), labels)
    return self.generate(state, self.sample_latents(key, GRID_COLUMNS ** 2))

  def code_grid(self, state: TrainState, rng, continuous_index: int = 0):
    """A row per categorical code value (or GRID_COLUMNS rows without one). With continuous
    codes each row keeps one noise while code `continuous_index` sweeps [-2, 2] along it, past
    its training range [-1, 1] (InfoGAN's figure 2), the other codes at 0."""
    rows = self.code_classes or GRID_COLUMNS
    n = rows * GRID_COLUMNS
    noise = self.sample_latents(rng, n)[:, :self.config.latent_dim]
    codes = jnp.repeat(jnp.arange(rows), GRID_COLUMNS) if self.code_classes else None
    continuous = None
    if self.code_continuous:
      noise = jnp.repeat(noise[::GRID_COLUMNS], GRID_COLUMNS, axis=0)
      sweep = jnp.tile(jnp.linspace(-2.0, 2.0, GRID_COLUMNS), rows)
      continuous = jnp.zeros((n, self.code_continuous)).at[:, continuous_index].set(sweep)
    return self.generate(state, self.with_codes(noise, codes, continuous))

  def evaluation_images(self, state: TrainState, num_samples: int):
    """(images in [0, 1], labels or None) generated from fixed evaluation noise, data-parallel
    on the mesh of `state`; with classes, equally many of each."""
    key = jax.random.PRNGKey(self.config.seed + 2)
    labels = np.arange(num_samples) % self.num_classes if self.num_classes else None
    images = []
    g = jax.jit(self.sampling_generator)(state)
    for start in tqdm.tqdm(range(0, num_samples, chunking.CHUNK), mininterval=5,
                           desc='samples', unit='chunk', leave=False):
      stop = min(start + chunking.CHUNK, num_samples)
      z = self.sample_latents(jax.random.fold_in(key, start), stop - start)
      z, chunk_labels = chunking.data_parallel(
          state, z, None if labels is None else labels[start:stop])
      images.append(chunking.to_host(self._generate_with(g, z, chunk_labels)))
    return np.concatenate(images), labels

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """Reference-classifier metrics of num_samples evaluation images (with classes, and the
    classifier's agreement with the asked-for label)."""
    images, labels = self.evaluation_images(state, num_samples or self.config.eval_num_samples)
    results = reference.image_metrics(images, labels)
    if self.code_classes:
      results['code_error'] = self.code_classification_error(state)
    return results

  def code_classification_error(self, state: TrainState) -> float:
    """Test error of the categorical code that Q reads from the real test images, used as a
    classifier with its values matched one-to-one to the classes (InfoGAN's ~5% on MNIST)."""
    test = input_pipeline.load_split(self.config.dataset, 'test')
    d = state.networks['discriminator']
    read = jax.jit(lambda d, images: jnp.argmax(self._discriminate(
        d, d.params, to_model_range(images, self.output_activation), None,
        jax.random.PRNGKey(0), train=False)[1]['code_logits'], axis=-1))
    codes = np.concatenate([np.asarray(read(d, chunk))
                            for chunk in chunking.in_chunks(test['image'])])
    return metrics.cluster_error(codes, test['label'])
