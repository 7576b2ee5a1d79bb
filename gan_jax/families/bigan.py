"""BiGAN (Donahue et al. 2017) and ALI (Dumoulin et al. 2017) on the shared trainer: a generator
G(z), an encoder E(x) and a discriminator D(x, z) on joint pairs, which learns to tell data
pairs (x, E(x)) from generated pairs (G(z), z); G and E learn together to make the two joint
distributions indistinguishable, so E inverts G.

Each step: one D update on both kinds of pairs, then one update of G and E (each with its own
Optax state) against the updated D with the labels swapped (non-saturating). `bigan.stochastic`
makes E Gaussian, its codes drawn by reparameterisation (ALI); otherwise E is deterministic
(BiGAN). Networks are MLPs (the papers' permutation-invariant MNIST setting); z is uniform on
[-1, 1] (BiGAN) or Gaussian (`bigan.prior`). Evaluation reports the sample metrics, the metrics
of reconstructions G(E(x)) of test digits with their class agreement, and E's codes as features:
1-nearest-neighbour (cosine) and linear-probe test accuracy.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import chunking
from gan_jax import input_pipeline
from gan_jax import latent
from gan_jax import losses
from gan_jax import metrics
from gan_jax import models
from gan_jax import reference
from gan_jax.state import Network, TrainState
from gan_jax.writers import GRID_COLUMNS

PRIORS = ('uniform', 'gaussian')


class BiGAN:
  image_shape = (28, 28, 1)  # MNIST
  num_classes = 0
  EVALUATION_OPTIONS = {}
  CONFIG_DEFAULTS = {}

  def __init__(self, config):
    self.config = config
    spec = config.bigan
    if spec.prior not in PRIORS:
      raise ValueError(f'bigan.prior={spec.prior!r}; use one of {", ".join(PRIORS)}')
    dtype = models.compute_dtype(config)
    pixels = int(np.prod(self.image_shape))
    self.latent_dim = spec.latent_dim
    self.generator = models.MLP(tuple(spec.generator_sizes) + (pixels,), dtype=dtype)
    self.encoder = models.MLP(tuple(spec.encoder_sizes)
                              + ((2 if spec.stochastic else 1) * spec.latent_dim,), dtype=dtype)
    self.discriminator = models.MLP(tuple(spec.discriminator_sizes) + (1,), dtype=dtype)
    opt = config.optimizer
    self.tx = optax.adam(opt.learning_rate, b1=opt.b1)

  def init(self, rng) -> TrainState:
    g_key, e_key, d_key, rng = jax.random.split(rng, 4)
    pixels = int(np.prod(self.image_shape))
    networks = {
        'generator': Network.create(self.generator.init(g_key, jnp.zeros((1, self.latent_dim))),
                                    self.tx),
        'encoder': Network.create(self.encoder.init(e_key, jnp.zeros((1, pixels))), self.tx),
        'discriminator': Network.create(
            self.discriminator.init(d_key, jnp.zeros((1, pixels + self.latent_dim))), self.tx)}
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, networks=networks)

  # Pure functions of the parameters; images in [0, 1], flattened.

  def posterior(self, e_params, x):
    """(mean, logvar) of E's codes for [n, pixels] images (a point mass when deterministic)."""
    out = self.encoder.apply({'params': e_params}, x)
    if self.config.bigan.stochastic:
      return jnp.split(out, 2, axis=-1)
    return latent.point_mass(out)

  def _codes(self, e_params, x, rng):
    mean, logvar = self.posterior(e_params, x)
    return losses.reparameterize(rng, mean, logvar) if self.config.bigan.stochastic else mean

  def _images(self, g_params, z):
    return jax.nn.sigmoid(self.generator.apply({'params': g_params}, z))

  def _critic(self, d_params, x, z):
    return self.discriminator.apply({'params': d_params}, jnp.concatenate([x, z], -1))[:, 0]

  def train_step(self, state: TrainState, batch, rng):
    g, e, d = (state.networks[k] for k in ('generator', 'encoder', 'discriminator'))
    prior_key, code_key = jax.random.split(rng)
    x = batch['image'].astype(jnp.float32).reshape((batch['image'].shape[0], -1)) / 255.0
    z = self.sample_latents(prior_key, x.shape[0])

    def pairs(g_params, e_params):
      return (x, self._codes(e_params, x, code_key)), (self._images(g_params, z), z)

    data_pair, generated_pair = pairs(g.params, e.params)
    d_loss, d_grads = jax.value_and_grad(lambda p: losses.discriminator_bce(
        self._critic(p, *data_pair), self._critic(p, *generated_pair)))(d.params)
    d = d.apply_gradients(d_grads, self.tx)

    def ge_loss(params):  # the labels swapped: generated pairs as data, data pairs as generated
      data_pair, generated_pair = pairs(params['generator'], params['encoder'])
      return losses.discriminator_bce(self._critic(d.params, *generated_pair),
                                      self._critic(d.params, *data_pair))

    ge_loss_value, grads = jax.value_and_grad(ge_loss)({'generator': g.params,
                                                        'encoder': e.params})
    networks = {'generator': g.apply_gradients(grads['generator'], self.tx),
                'encoder': e.apply_gradients(grads['encoder'], self.tx), 'discriminator': d}
    return state.replace(step=state.step + 1, networks=networks), {
        'd_loss': d_loss, 'ge_loss': ge_loss_value}

  # Generation and encoding (GeneratesImages, EncodesImages).

  def sample_latents(self, rng, n: int):
    if self.config.bigan.prior == 'uniform':
      return jax.random.uniform(rng, (n, self.latent_dim), minval=-1.0, maxval=1.0)
    return jax.random.normal(rng, (n, self.latent_dim))

  def sample_labels(self, rng, n: int):
    del rng, n  # unconditional
    return None

  def encode(self, state: TrainState, images):
    """Images in [0, 1] -> (mean, log-variance) of E's codes."""
    return self.posterior(state.networks['encoder'].params, images.reshape((len(images), -1)))

  def generate(self, state: TrainState, z, labels=None):
    del labels
    return self._images(state.networks['generator'].params, z).reshape((-1, *self.image_shape))

  def sample_grid(self, state: TrainState, num_samples: int = GRID_COLUMNS ** 2):
    return self.generate(state, self.sample_latents(jax.random.PRNGKey(self.config.seed + 1),
                                                    num_samples))

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """Sample and reconstruction metrics of num_samples images, and 1-NN / linear-probe test
    accuracy of the encoder's code means (fitted on the whole training set)."""
    n = num_samples or self.config.eval_num_samples
    generate, encode = jax.jit(self.generate), jax.jit(lambda s, x: self.encode(s, x)[0])
    sample = jax.jit(lambda state, key, count: self.generate(state, self.sample_latents(key, count)),
                     static_argnums=2)
    samples = chunking.sampled(lambda key, count: sample(state, key, count),
                               jax.random.PRNGKey(self.config.seed + 2), n)
    results = reference.image_metrics(samples)
    split = lambda name: input_pipeline.load_split(self.config.dataset, name)
    train, test = split('train'), split('test')
    codes = {name: np.concatenate([np.asarray(encode(state, c.astype(np.float32) / 255.0))
                                   for c in chunking.in_chunks(data['image'])])
             for name, data in (('train', train), ('test', test))}
    reconstructions = np.concatenate([np.asarray(generate(state, c))
                                      for c in chunking.in_chunks(codes['test'][:n])])
    results.update(reference.reconstruction_metrics(
        test['image'][:n].astype(np.float32) / 255.0, reconstructions))
    args = (codes['train'], train['label'], codes['test'], test['label'])
    results['nn_accuracy'] = metrics.nearest_neighbour_accuracy(*args)
    results['linear_accuracy'] = metrics.linear_probe_accuracy(*args)
    return results
