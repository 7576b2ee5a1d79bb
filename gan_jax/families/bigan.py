"""BiGAN (Donahue et al. 2017) and ALI (Dumoulin et al. 2017) on the shared trainer: a generator
G(z), an encoder E(x) and a discriminator D(x, z) on joint pairs, which learns to tell data
pairs (x, E(x)) from generated pairs (G(z), z); G and E learn together to make the two joint
distributions indistinguishable, so E inverts G.

Each step: one D update on both kinds of pairs, then one update of G and E (each with its own
Optax state) against the updated D with the labels swapped (non-saturating). `bigan.stochastic`
makes E Gaussian, its codes drawn by reparameterisation (ALI); otherwise E is deterministic
(BiGAN). Networks are the paper's permutation-invariant MNIST MLPs (`models.BiGANMLP`): G with
BatchNorm and ReLU, E and D with leaky ReLU and BatchNorm after their first layer, z joining
D's second layer; L2 weight decay `optimizer.weight_decay` on every network. z is uniform on
[-1, 1] (BiGAN; a deterministic E's codes are squashed into that range) or Gaussian
(`bigan.prior`).

`optimizer.schedule` sets the learning rates' schedule (`schedules`; the authors' is 'linear').
`sampling_batch_norm='standing'` evaluates with BatchNorm statistics recomputed for the final
weights (E's from training images, G's from prior draws; the authors' "deploy" statistics)
instead of training's running averages.

Evaluation reports the sample metrics, the metrics of reconstructions G(E(x)) of test digits
with their class agreement, and E as a representation: 1-nearest-neighbour (cosine) and
linear-probe test accuracy on its codes E(x) (`nn_accuracy`, `linear_accuracy`; the paper's
NNC_e, CLS_e) and on its last hidden features (`hidden_nn_accuracy`, `hidden_linear_accuracy`;
NNC_e-, CLS_e-, where the paper's ~97% is measured).
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
from gan_jax.state import Network, TrainState, standing_statistics

EVALUATION_BATCH_NORM = ('running', 'standing')
STANDING_STATS_SAMPLES = 10_000  # training images for E's statistics, prior draws for G's


class BiGAN(families.UnconditionalImages):
  image_shape = (28, 28, 1)  # MNIST
  num_classes = 0
  EVALUATION_OPTIONS = {'sampling_batch_norm': 'sampling_batch_norm'}
  # Runs before these switches trained at a constant rate and evaluated with running averages.
  CONFIG_DEFAULTS = {'sampling_batch_norm': 'running', 'optimizer.schedule': 'constant',
                     'optimizer.schedule_steps': 0}

  def __init__(self, config):
    self.config = config
    spec = config.bigan
    latent.check_noise_distribution('bigan.prior', spec.prior)
    if config.sampling_batch_norm not in EVALUATION_BATCH_NORM:
      raise ValueError(f'sampling_batch_norm={config.sampling_batch_norm!r}; use one of '
                       f'{", ".join(EVALUATION_BATCH_NORM)}')
    dtype = models.compute_dtype(config)
    pixels = int(np.prod(self.image_shape))
    self.latent_dim = spec.latent_dim
    self.generator = models.BiGANMLP(tuple(spec.generator_sizes) + (pixels,), 'relu', 0, dtype)
    self.encoder = models.BiGANMLP(
        tuple(spec.encoder_sizes) + ((2 if spec.stochastic else 1) * spec.latent_dim,),
        'leaky_relu', 1, dtype)
    self.discriminator = models.BiGANMLP(tuple(spec.discriminator_sizes) + (1,), 'leaky_relu', 1,
                                         dtype)
    opt = config.optimizer
    learning_rate = schedules.from_config(opt, opt.learning_rate, config.num_train_steps)
    self.tx = optax.chain(optax.add_decayed_weights(opt.weight_decay),
                          optax.adam(learning_rate, b1=opt.b1))

  def init(self, rng) -> TrainState:
    g_key, e_key, d_key, rng = jax.random.split(rng, 4)
    x, z = jnp.zeros((2, int(np.prod(self.image_shape)))), jnp.zeros((2, self.latent_dim))
    networks = {
        'generator': Network.create(self.generator.init(g_key, z, z), self.tx),
        'encoder': Network.create(self.encoder.init(e_key, x), self.tx),
        'discriminator': Network.create(self.discriminator.init(d_key, x, z), self.tx)}
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, networks=networks)

  # Pure functions of the parameters; images in [0, 1], flattened.

  @staticmethod
  def _run(module, network: Network, params, x, condition=None, train: bool = True):
    """(output, last hidden features, batch statistics): in training those of this batch."""
    if not train:
      return (*module.apply(network.variables(params), x, condition, train=False),
              network.batch_stats)
    outputs, updates = module.apply(network.variables(params), x, condition, train=True,
                                    mutable=['batch_stats'])
    return (*outputs, updates['batch_stats'])

  def _posterior(self, e: Network, params, x, train: bool):
    """((mean, logvar) of E's codes (a point mass when deterministic), features, statistics)."""
    out, features, stats = self._run(self.encoder, e, params, x, train=train)
    if self.config.bigan.stochastic:
      return tuple(jnp.split(out, 2, axis=-1)), features, stats
    if self.config.bigan.prior == 'uniform':
      # Into the prior's range, 2 sigmoid - 1 as in the authors' code: unbounded codes let D
      # tell E(x) from z by their range alone.
      out = 2.0 * jax.nn.sigmoid(out) - 1.0
    posterior = latent.point_mass(out)
    return posterior, features, stats

  def _images(self, g: Network, params, z, train: bool):
    out, _, stats = self._run(self.generator, g, params, z, z, train=train)
    return jax.nn.sigmoid(out), stats

  def _critic(self, d: Network, params, x, z):
    return self._run(self.discriminator, d, params, x, z)[0][:, 0]

  def train_step(self, state: TrainState, batch, rng):
    g, e, d = (state.networks[k] for k in ('generator', 'encoder', 'discriminator'))
    prior_key, code_key = jax.random.split(rng)
    x = batch['image'].astype(jnp.float32).reshape((batch['image'].shape[0], -1)) / 255.0
    z = self.sample_latents(prior_key, x.shape[0])

    def pairs(g_params, e_params):
      """The data pair (x, E(x)), the generated pair (G(z), z), and G's and E's statistics."""
      (mean, logvar), _, e_stats = self._posterior(e, e_params, x, train=True)
      codes = (losses.reparameterize(code_key, mean, logvar) if self.config.bigan.stochastic
               else mean)
      fake, g_stats = self._images(g, g_params, z, train=True)
      return (x, codes), (fake, z), (g_stats, e_stats)

    data_pair, generated_pair, _ = pairs(g.params, e.params)

    def d_loss(params):  # D's running statistics are kept but never used (D is not evaluated)
      data_logits, _, stats = self._run(self.discriminator, d, params, *data_pair)
      return losses.discriminator_bce(data_logits[:, 0],
                                      self._critic(d, params, *generated_pair)), stats

    (d_loss_value, d_stats), d_grads = jax.value_and_grad(d_loss, has_aux=True)(d.params)
    d = d.apply_gradients(d_grads, self.tx, d_stats)

    def ge_loss(params):  # the labels swapped: generated pairs as data, data pairs as generated
      data_pair, generated_pair, stats = pairs(params['generator'], params['encoder'])
      return losses.discriminator_bce(self._critic(d, d.params, *generated_pair),
                                      self._critic(d, d.params, *data_pair)), stats

    (ge_loss_value, (g_stats, e_stats)), grads = jax.value_and_grad(ge_loss, has_aux=True)(
        {'generator': g.params, 'encoder': e.params})
    networks = {'generator': g.apply_gradients(grads['generator'], self.tx, g_stats),
                'encoder': e.apply_gradients(grads['encoder'], self.tx, e_stats),
                'discriminator': d}
    return state.replace(step=state.step + 1, networks=networks), {
        'd_loss': d_loss_value, 'ge_loss': ge_loss_value}

  # Generation and encoding (GeneratesImages, EncodesImages).

  def sample_latents(self, rng, n: int):
    return latent.sample_noise(rng, (n, self.latent_dim), self.config.bigan.prior)

  def encode(self, state: TrainState, images):
    """Images in [0, 1] -> (mean, log-variance) of E's codes."""
    return self._posterior(state.networks['encoder'], None,
                           images.reshape((len(images), -1)), train=False)[0]

  def generate(self, state: TrainState, z, labels=None):
    del labels
    g = state.networks['generator']
    return self._images(g, None, z, train=False)[0].reshape((-1, *self.image_shape))

  @functools.partial(jax.jit, static_argnums=0)
  def with_standing_statistics(self, state: TrainState, images) -> TrainState:
    """state with E's BatchNorm statistics those of `images` (uint8) and G's those of as many
    prior draws, for the current weights (D is never evaluated)."""
    x = images.astype(jnp.float32).reshape((len(images), -1)) / 255.0
    z = self.sample_latents(jax.random.PRNGKey(self.config.seed + 3), len(images))
    networks = dict(state.networks,
                    encoder=standing_statistics(self.encoder, state.networks['encoder'], x),
                    generator=standing_statistics(self.generator, state.networks['generator'],
                                                  z, z))
    return state.replace(networks=networks)

  @functools.partial(jax.jit, static_argnums=0)
  def represent(self, state: TrainState, images):
    """Images in [0, 1] -> (E's code means, E's last hidden features), the probes' inputs."""
    (mean, _), features, _ = self._posterior(
        state.networks['encoder'], None, images.reshape((len(images), -1)), train=False)
    return mean, features

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """Sample and reconstruction metrics of num_samples images, and 1-NN / linear-probe test
    accuracy of the encoder's code means and last hidden features (fitted on the whole
    training set)."""
    n = num_samples or self.config.eval_num_samples
    split = lambda name: input_pipeline.load_split(self.config.dataset, name)
    train, test = split('train'), split('test')
    if self.config.sampling_batch_norm == 'standing':
      state = self.with_standing_statistics(state, train['image'][:STANDING_STATS_SAMPLES])
    results = reference.sample_metrics(self, state, n)

    representations = {}
    for name, data in (('train', train), ('test', test)):
      parts = [jax.device_get(self.represent(state, chunk.astype(np.float32) / 255.0))
               for chunk in chunking.in_chunks(data['image'])]
      representations[name] = [np.concatenate(p) for p in zip(*parts)]
    generate = jax.jit(self.generate)
    reconstructions = np.concatenate([np.asarray(generate(state, c))
                                      for c in chunking.in_chunks(representations['test'][0][:n])])
    results.update(reference.reconstruction_metrics(
        test['image'][:n].astype(np.float32) / 255.0, reconstructions))
    for prefix, i in (('', 0), ('hidden_', 1)):
      args = (representations['train'][i], train['label'],
              representations['test'][i], test['label'])
      results[f'{prefix}nn_accuracy'] = metrics.nearest_neighbour_accuracy(*args)
      results[f'{prefix}linear_accuracy'] = metrics.linear_probe_accuracy(*args)
    return results
