"""Adversarial autoencoders (Makhzani et al. 2016) on the shared trainer: an autoencoder whose
codes a discriminator pushes toward a prior, so the decoder generates from prior samples.

Each step has the paper's two phases on one batch: reconstruction (encoder and decoder lower
the Bernoulli cross-entropy of the decoded image against the [0, 1] input), then regularisation
(D learns to tell prior samples from the encoder's codes, and the encoder learns to make its
codes pass as prior samples, non-saturating). Encoder, decoder and D each keep their own Optax
state; the encoder's is updated by both phases.

Config: `aae.latent_dim`, `aae.hidden_sizes` (of all three MLPs), `aae.prior` ('gaussian': N(0,
I); 'mixture': 10 Gaussians, std 0.5, centred on a circle of radius 4 in the first two code
dimensions, N(0, 1) in the others), learning rates `optimizer.ae_learning_rate` (both phases of
the autoencoder) and `optimizer.d_learning_rate`. Evaluation reports the reference-classifier
metrics of decoded prior samples, and of reconstructions of test digits with the share whose
class the reference classifier reads the same as the input's (`recon_agreement`).
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import chunking
from gan_jax import input_pipeline
from gan_jax import latent
from gan_jax import losses
from gan_jax import models
from gan_jax import reference
from gan_jax.state import Network, TrainState
from gan_jax.writers import GRID_COLUMNS

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


class AAE:
  image_shape = (28, 28, 1)  # MNIST
  num_classes = 0
  EVALUATION_OPTIONS = {}
  CONFIG_DEFAULTS = {}

  def __init__(self, config):
    self.config = config
    spec = config.aae
    if spec.prior not in PRIORS:
      raise ValueError(f'aae.prior={spec.prior!r}; use one of {", ".join(PRIORS)}')
    if spec.prior == 'mixture' and spec.latent_dim < 2:
      raise ValueError('aae.prior=mixture places its components in two code dimensions: set '
                       'aae.latent_dim >= 2')
    dtype = models.compute_dtype(config)
    hidden = tuple(spec.hidden_sizes)
    self.encoder = models.MLP(hidden + (spec.latent_dim,), dtype=dtype)
    self.decoder = models.MLP(hidden + (int(np.prod(self.image_shape)),), dtype=dtype)
    self.discriminator = models.MLP(hidden + (1,), dtype=dtype)
    opt = config.optimizer
    self.ae_tx = optax.adam(opt.ae_learning_rate, b1=opt.b1)
    self.d_tx = optax.adam(opt.d_learning_rate, b1=opt.b1)

  def init(self, rng) -> TrainState:
    e_key, g_key, d_key, rng = jax.random.split(rng, 4)
    code = jnp.zeros((1, self.config.aae.latent_dim))
    networks = {
        'encoder': Network.create(self.encoder.init(e_key, jnp.zeros((1, *self.image_shape))),
                                  self.ae_tx),
        'decoder': Network.create(self.decoder.init(g_key, code), self.ae_tx),
        'discriminator': Network.create(self.discriminator.init(d_key, code), self.d_tx)}
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, networks=networks)

  def train_step(self, state: TrainState, batch, rng):
    e, g, d = (state.networks[k] for k in ('encoder', 'decoder', 'discriminator'))
    x = batch['image'].astype(jnp.float32) / 255.0

    def reconstruction_loss(params):
      codes = self.encoder.apply({'params': params['encoder']}, x)
      logits = self.decoder.apply({'params': params['decoder']}, codes)
      return -jnp.mean(losses.bernoulli_log_likelihood(logits.reshape(x.shape), x))

    recon, grads = jax.value_and_grad(reconstruction_loss)({'encoder': e.params,
                                                            'decoder': g.params})
    e = e.apply_gradients(grads['encoder'], self.ae_tx)
    g = g.apply_gradients(grads['decoder'], self.ae_tx)

    codes = self.encoder.apply({'params': e.params}, x)
    prior = sample_prior(rng, self.config.aae.prior, x.shape[0], self.config.aae.latent_dim)

    def d_loss(params):
      critic = lambda z: self.discriminator.apply({'params': params}, z)[:, 0]
      return losses.discriminator_bce(critic(prior), critic(codes))

    d_loss_value, d_grads = jax.value_and_grad(d_loss)(d.params)
    d = d.apply_gradients(d_grads, self.d_tx)

    def e_loss(params):
      fooled = self.discriminator.apply({'params': d.params},
                                        self.encoder.apply({'params': params}, x))[:, 0]
      return losses.generator_non_saturating(fooled)

    e_loss_value, e_grads = jax.value_and_grad(e_loss)(e.params)
    e = e.apply_gradients(e_grads, self.ae_tx)
    networks = {'encoder': e, 'decoder': g, 'discriminator': d}
    return state.replace(step=state.step + 1, networks=networks), {
        'reconstruction': recon, 'd_loss': d_loss_value, 'e_loss': e_loss_value}

  # Generation and encoding (GeneratesImages, EncodesImages).

  def sample_latents(self, rng, n: int):
    return sample_prior(rng, self.config.aae.prior, n, self.config.aae.latent_dim)

  def sample_labels(self, rng, n: int):
    del rng, n  # unconditional
    return None

  def encode(self, state: TrainState, images):
    """Images in [0, 1] -> (codes, a point-mass log-variance): the encoder is deterministic."""
    codes = self.encoder.apply({'params': state.networks['encoder'].params}, images)
    return latent.point_mass(codes)

  def generate(self, state: TrainState, z, labels=None):
    """Bernoulli means (images in [0, 1]) decoded from codes; `labels` unused."""
    del labels
    logits = self.decoder.apply({'params': state.networks['decoder'].params}, z)
    return jax.nn.sigmoid(logits).reshape((-1, *self.image_shape))

  def sample_grid(self, state: TrainState, num_samples: int = GRID_COLUMNS ** 2):
    return self.generate(state, self.sample_latents(jax.random.PRNGKey(self.config.seed + 1),
                                                    num_samples))

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """Reference-classifier metrics of num_samples decoded prior samples, and (prefixed recon_)
    of the reconstructions of as many test digits."""
    n = num_samples or self.config.eval_num_samples
    decode = jax.jit(lambda state, key, count: self.generate(state, self.sample_latents(key, count)),
                     static_argnums=2)
    samples = chunking.sampled(lambda key, count: decode(state, key, count),
                               jax.random.PRNGKey(self.config.seed + 2), n)
    results = reference.image_metrics(samples)
    reconstruct = jax.jit(lambda state, x: self.generate(state, self.encode(state, x)[0]))
    test = input_pipeline.load_split(self.config.dataset, 'test')['image'][:n] / 255.0
    reconstructions = np.concatenate([np.asarray(reconstruct(state, chunk.astype(np.float32)))
                                      for chunk in chunking.in_chunks(test)])
    results.update(reference.reconstruction_metrics(test, reconstructions))
    return results
