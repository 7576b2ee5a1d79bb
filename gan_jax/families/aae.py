"""Adversarial autoencoders (Makhzani et al. 2016) on the shared trainer: an autoencoder whose
codes a discriminator pushes toward a prior, so the decoder generates from prior samples.

Each step has the paper's phases on one batch: reconstruction (encoder and decoder lower the
Bernoulli cross-entropy of the decoded image against the [0, 1] input), then regularisation
(D learns to tell prior samples from the encoder's codes, and the encoder learns to make its
codes pass as prior samples, non-saturating). Encoder, decoder and each D keep their own Optax
state; the encoder's is updated by every phase, or with `aae.encoder_state_per_phase` each phase
moves the encoder with Adam moments of its own (as separate optimisers per phase would).

With `aae.categories` > 0 the code is split (the paper's sections 5 and 6): the encoder gives a
softmax y over that many categories and a style z; the decoder reads [y, z]; a second
discriminator ('category_discriminator') pushes y toward one-hot draws of a uniform categorical,
the first pushes z toward N(0, I). Without labels y clusters the data (`cluster_error`: each
category takes the label of the training digit it is most confident of, the paper's rule;
`cluster_error_majority`: the most common label of the training digits it holds).
With `aae.labeled_examples` > 0 (that many training digits, balanced over the classes) a third
phase lowers y's cross-entropy on `aae.labeled_batch_size` of them (semi-supervised;
`classification_error` on the test set).

Config: `aae.latent_dim` (of z), `aae.hidden_sizes` (of all the MLPs), `aae.prior` ('gaussian':
N(0, I); 'mixture': 10 Gaussians, std 0.5, centred on a circle of radius 4 in the first two code
dimensions, N(0, 1) in the others), learning rates `optimizer.ae_learning_rate` (every phase of
the autoencoder) and `optimizer.d_learning_rate` on `optimizer.schedule` (gan_jax/schedules.py),
Gaussian noise on the encoder's training inputs (`aae.input_noise`, std in pixel units) and on
the codes each critic reads (`aae.critic_noise`). `aae.encoder_ema_decay` > 0 keeps an
exponential moving average of the encoder's weights (Polyak averaging) that reads the category
for evaluation instead of the last weights, whose classification error moves by a point between
neighbouring checkpoints. Evaluation reports the reference-classifier metrics of decoded
prior samples, and of reconstructions of test digits with the share whose class the reference
classifier reads the same as the input's (`recon_agreement`).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import chunking
from gan_jax import families
from gan_jax import input_pipeline
from gan_jax import latent
from gan_jax import losses
from gan_jax import metrics
from gan_jax import models
from gan_jax import reference
from gan_jax import schedules
from gan_jax.state import Network, TrainState

PRIORS = ('gaussian', 'mixture')
MIXTURE_COMPONENTS, MIXTURE_RADIUS, MIXTURE_STD = 10, 4.0, 0.5


def sample_prior(rng, prior: str, n: int, latent_dim: int):
  """[n, latent_dim] draws from the code prior."""
  z = jax.random.normal(rng, (n, latent_dim))
  if prior == 'gaussian':
    return z
  component = jax.random.randint(jax.random.fold_in(rng, 1), (n,), 0, MIXTURE_COMPONENTS)
  angle = 2 * jnp.pi * component / MIXTURE_COMPONENTS
  centre = MIXTURE_RADIUS * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)
  return z.at[:, :2].set(centre + MIXTURE_STD * z[:, :2])


def balanced_subset(labels, count: int, seed: int):
  """Indices of `count` items, count / classes of each class, drawn without replacement."""
  classes = int(labels.max()) + 1
  if count % classes:
    raise ValueError(f'aae.labeled_examples={count} must be a multiple of the {classes} classes')
  order = np.random.default_rng(seed).permutation(len(labels))
  return np.concatenate([order[labels[order] == c][:count // classes] for c in range(classes)])


class AAE(families.UnconditionalImages):
  image_shape = (28, 28, 1)  # MNIST
  num_classes = 0
  EVALUATION_OPTIONS = {}
  CONFIG_DEFAULTS = {'aae.categories': 0, 'aae.labeled_examples': 0,
                     'aae.labeled_batch_size': 100, 'aae.encoder_state_per_phase': False,
                     'aae.input_noise': 0.0, 'aae.critic_noise': 0.0,
                     'aae.encoder_ema_decay': 0.0, 'optimizer.schedule': 'constant',
                     'optimizer.schedule_steps': 0}

  def __init__(self, config):
    self.config = config
    spec = config.aae
    if spec.prior not in PRIORS:
      raise ValueError(f'aae.prior={spec.prior!r}; use one of {", ".join(PRIORS)}')
    if spec.prior == 'mixture' and spec.latent_dim < 2:
      raise ValueError('aae.prior=mixture places its components in two code dimensions: set '
                       'aae.latent_dim >= 2')
    self.categories = spec.categories
    if spec.labeled_examples and not self.categories:
      raise ValueError('aae.labeled_examples trains a categorical code: set aae.categories')
    dtype = models.compute_dtype(config)
    hidden = tuple(spec.hidden_sizes)
    self.code_dim = self.categories + spec.latent_dim
    self.encoder = models.MLP(hidden + (self.code_dim,), dtype=dtype)
    self.decoder = models.MLP(hidden + (int(np.prod(self.image_shape)),), dtype=dtype)
    self.discriminator = models.MLP(hidden + (1,), dtype=dtype)
    self.labeled = None
    if spec.labeled_examples:
      train = input_pipeline.load_split(config.dataset, 'train')
      chosen = balanced_subset(train['label'], spec.labeled_examples, config.seed)
      self.labeled = {k: jnp.asarray(v[chosen]) for k, v in train.items()}
    opt = config.optimizer
    self.ae_tx = self._adam(opt.ae_learning_rate)
    self.d_tx = self._adam(opt.d_learning_rate)
    # One Adam state shared by the encoder's phases counts every phase's update.
    self.encoder_tx = (self.ae_tx if spec.encoder_state_per_phase else
                       self._adam(opt.ae_learning_rate, len(self._encoder_phases())))

  def _adam(self, base: float, updates_per_step: int = 1) -> optax.GradientTransformation:
    """Adam at `optimizer.schedule`'s rate for the step, for a state updated that many times
    per step."""
    opt = self.config.optimizer
    rate = schedules.from_config(opt, base, self.config.num_train_steps)
    if callable(rate) and updates_per_step > 1:
      rate = lambda count, per_step=rate: per_step(count // updates_per_step)
    return optax.adam(rate, b1=opt.b1)

  def init(self, rng) -> TrainState:
    e_key, g_key, d_key, y_key, rng = jax.random.split(rng, 5)
    style = jnp.zeros((1, self.config.aae.latent_dim))
    encoder = Network.create(self.encoder.init(e_key, jnp.zeros((1, *self.image_shape))),
                             self.encoder_tx)
    if self.config.aae.encoder_state_per_phase:
      encoder = encoder.replace(opt_state={phase: self.ae_tx.init(encoder.params)
                                           for phase in self._encoder_phases()})
    networks = {
        'encoder': encoder,
        'decoder': Network.create(self.decoder.init(g_key, jnp.zeros((1, self.code_dim))),
                                  self.ae_tx),
        'discriminator': Network.create(self.discriminator.init(d_key, style), self.d_tx)}
    if self.categories:
      networks['category_discriminator'] = Network.create(
          self.discriminator.init(y_key, jnp.zeros((1, self.categories))), self.d_tx)
    if self.config.aae.encoder_ema_decay:
      networks['encoder_ema'] = encoder.replace(opt_state=())
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, networks=networks)

  def _encoder_phases(self):
    return ('reconstruction', 'regularisation') + (('supervised',) if self.labeled is not None else ())

  def _update_encoder(self, e: Network, grads, phase: str) -> Network:
    """One phase's update of the encoder: with `aae.encoder_state_per_phase` from that phase's
    own Adam state, else from the one state every phase shares."""
    if not self.config.aae.encoder_state_per_phase:
      return e.apply_gradients(grads, self.encoder_tx)
    updates, phase_state = self.ae_tx.update(grads, e.opt_state[phase], e.params)
    return e.replace(params=optax.apply_updates(e.params, updates),
                     opt_state={**e.opt_state, phase: phase_state})

  def _encode(self, e_params, x):
    """(category logits or None, style z, the decoder's input [softmax(y), z])."""
    out = self.encoder.apply({'params': e_params}, x)
    if not self.categories:
      return None, out, out
    logits, style = out[:, :self.categories], out[:, self.categories:]
    return logits, style, jnp.concatenate([jax.nn.softmax(logits), style], -1)

  def train_step(self, state: TrainState, batch, rng):
    nets = dict(state.networks)
    e = nets['encoder']
    spec = self.config.aae
    x = batch['image'].astype(jnp.float32) / 255.0
    prior_key, category_key, labeled_key, noise_key, critic_key = jax.random.split(rng, 5)
    # The encoder reads its inputs with Gaussian noise (`aae.input_noise`, the paper's 0.3) and
    # the decoder reconstructs the clean images. Switched off, the step draws no noise.
    corrupt = lambda key, images: (images + spec.input_noise * jax.random.normal(key, images.shape)
                                   if spec.input_noise else images)
    x_in = corrupt(jax.random.fold_in(noise_key, 0), x)

    def reconstruction_loss(params):
      logits = self.decoder.apply({'params': params['decoder']},
                                  self._encode(params['encoder'], x_in)[2])
      return -jnp.mean(losses.bernoulli_log_likelihood(logits.reshape(x.shape), x))

    recon, grads = jax.value_and_grad(reconstruction_loss)({'encoder': e.params,
                                                            'decoder': nets['decoder'].params})
    e = self._update_encoder(e, grads['encoder'], 'reconstruction')
    nets['decoder'] = nets['decoder'].apply_gradients(grads['decoder'], self.ae_tx)

    # Regularisation: each D learns its prior against the encoder's codes, then E fools them.
    logits, style, _ = self._encode(e.params, x_in)
    regularised = {'discriminator': (style, self.sample_style(prior_key, x.shape[0]))}
    if self.categories:
      regularised['category_discriminator'] = (jax.nn.softmax(logits), jax.nn.one_hot(
          jax.random.randint(category_key, (x.shape[0],), 0, self.categories), self.categories))

    # `aae.critic_noise`: Gaussian noise on every code a critic reads, so the category critic
    # cannot tell confident softmax codes from one-hot draws by their exactness alone and is
    # left with how often each category is used.
    def critic(params, codes, key):
      if spec.critic_noise:
        codes = codes + spec.critic_noise * jax.random.normal(key, codes.shape)
      return self.discriminator.apply({'params': params}, codes)[:, 0]

    critic_keys = iter(jax.random.split(critic_key, 3 * len(regularised)))
    metrics_out = {'reconstruction': recon}
    for name, (codes, prior) in regularised.items():
      prior_noise, code_noise = next(critic_keys), next(critic_keys)
      value, d_grads = jax.value_and_grad(lambda p: losses.discriminator_bce(
          critic(p, prior, prior_noise), critic(p, codes, code_noise)))(nets[name].params)
      nets[name] = nets[name].apply_gradients(d_grads, self.d_tx)
      metrics_out['d_loss' if name == 'discriminator' else 'category_d_loss'] = value

    e_keys = [next(critic_keys) for _ in regularised]

    def e_loss(params):
      logits, style, _ = self._encode(params, x_in)
      loss = losses.generator_non_saturating(critic(nets['discriminator'].params, style,
                                                    e_keys[0]))
      if self.categories:
        loss += losses.generator_non_saturating(critic(
            nets['category_discriminator'].params, jax.nn.softmax(logits), e_keys[1]))
      return loss

    metrics_out['e_loss'], e_grads = jax.value_and_grad(e_loss)(e.params)
    e = self._update_encoder(e, e_grads, 'regularisation')

    if self.labeled is not None:  # semi-supervised classification on labeled digits
      size = self.config.aae.labeled_batch_size
      pick = jax.random.choice(labeled_key, len(self.labeled['label']), (size,),
                               replace=size > len(self.labeled['label']))
      images = corrupt(jax.random.fold_in(noise_key, 1),
                       self.labeled['image'][pick].astype(jnp.float32) / 255.0)
      metrics_out['supervised'], s_grads = jax.value_and_grad(
          lambda p: losses.classifier_cross_entropy(self._encode(p, images)[0],
                                                    self.labeled['label'][pick]))(e.params)
      e = self._update_encoder(e, s_grads, 'supervised')
    nets['encoder'] = e
    if spec.encoder_ema_decay:
      nets['encoder_ema'] = nets['encoder_ema'].replace(params=optax.incremental_update(
          e.params, nets['encoder_ema'].params, 1.0 - spec.encoder_ema_decay))
    return state.replace(step=state.step + 1, networks=nets), metrics_out

  # Generation and encoding (GeneratesImages, EncodesImages).

  def sample_style(self, rng, n: int):
    return sample_prior(rng, self.config.aae.prior, n, self.config.aae.latent_dim)

  def sample_latents(self, rng, n: int):
    """Decoder inputs: [one-hot uniform category, style] with categories, else prior codes."""
    style_key, category_key = jax.random.split(rng)
    style = self.sample_style(style_key, n)
    if not self.categories:
      return style
    categories = jax.random.randint(category_key, (n,), 0, self.categories)
    return jnp.concatenate([jax.nn.one_hot(categories, self.categories), style], -1)

  def encode(self, state: TrainState, images):
    """Images in [0, 1] -> (the decoder's input, a point-mass log-variance): deterministic, by
    the last weights (the decoder was trained on their codes)."""
    return latent.point_mass(self._encode(state.networks['encoder'].params, images)[2])

  def generate(self, state: TrainState, z, labels=None):
    """Bernoulli means (images in [0, 1]) decoded from codes; `labels` unused."""
    del labels
    logits = self.decoder.apply({'params': state.networks['decoder'].params}, z)
    return jax.nn.sigmoid(logits).reshape((-1, *self.image_shape))

  def category_probabilities(self, state: TrainState, images, last_weights: bool = False):
    """q(y | x) of uint8 images, a chunk at a time: by the encoder's moving average when
    `aae.encoder_ema_decay` keeps one (unless `last_weights`), else by its last weights."""
    averaged = self.config.aae.encoder_ema_decay and not last_weights
    params = state.networks['encoder_ema' if averaged else 'encoder'].params
    return np.concatenate([np.asarray(self._category_probabilities(params, c))
                           for c in chunking.in_chunks(images)])

  @functools.partial(jax.jit, static_argnums=0)  # compiled once per model, not per evaluation
  def _category_probabilities(self, encoder_params, images):
    return jax.nn.softmax(self._encode(encoder_params, images.astype(jnp.float32) / 255.0)[0])

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """Reference-classifier metrics of num_samples decoded prior samples, and (prefixed recon_)
    of the reconstructions of as many test digits; with categories, the category's test error
    (with `aae.encoder_ema_decay`, the moving average's, and the last weights' beside it)."""
    n = num_samples or self.config.eval_num_samples
    results = {**reference.sample_metrics(self, state, n),
               **reference.encoder_metrics(self, state, n)}
    if self.categories:
      results.update(self._category_errors(state))
      if self.config.aae.encoder_ema_decay:  # the average's gain over the last weights
        results.update({f'{name}_last_weights': value for name, value in
                        self._category_errors(state, last_weights=True).items()})
    return results

  def _category_errors(self, state: TrainState, last_weights: bool = False) -> dict[str, float]:
    """The category's test error as a classifier (with labels) or as clusters (without)."""
    test = input_pipeline.load_split(self.config.dataset, 'test')
    predicted = np.argmax(self.category_probabilities(state, test['image'], last_weights), -1)
    if self.labeled is not None:
      return {'classification_error': float(np.mean(predicted != test['label']))}
    train = input_pipeline.load_split(self.config.dataset, 'train')
    train_probs = self.category_probabilities(state, train['image'], last_weights)
    return {'cluster_error': metrics.most_confident_label_error(
                train_probs, train['label'], predicted, test['label']),
            'cluster_error_majority': metrics.majority_label_error(
                np.argmax(train_probs, -1), train['label'], predicted, test['label'])}
