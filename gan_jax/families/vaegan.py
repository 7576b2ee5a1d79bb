"""VAE-GAN (Larsen et al. 2016): a VAE whose decoder is a GAN's generator and whose
reconstruction error is measured in the discriminator's hidden features (Dis_l) instead of
pixels, so reconstructions and samples are judged by what D has learned to look at.

Per step (Larsen's algorithm 1): the encoder gives q(z | x) and z by reparameterisation; the
decoder G maps z (reconstructions x~) and prior draws z_p (samples x_p) to images; D learns real x
against x~ and x_p (with the GAN family's R1 penalty on x when `r1_weight` is set); then, through
the updated D, the encoder lowers KL + L_llike and the decoder gamma * L_llike + its GAN loss on
x~ and x_p (Larsen's weighting of the decoder's two losses, `vaegan.gamma`). L_llike is half the
squared distance of D's last hidden features of x and x~ (a unit-variance Gaussian in feature
space), summed over features, averaged over the batch. Encoder, decoder and D keep their own Optax
states.

Built on the GAN family (its networks, losses, switches, EMA sampling and metrics) with an
encoder: `vaegan.encoder_sizes` (an MLP to the latent mean and log-variance).
"""
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import chunking
from gan_jax import input_pipeline
from gan_jax import losses
from gan_jax import models
from gan_jax import reference
from gan_jax.families import gan
from gan_jax.state import Network, TrainState


class VAEGAN(gan.GAN):
  CONFIG_DEFAULTS = gan.GAN.CONFIG_DEFAULTS

  def __init__(self, config):
    super().__init__(config)
    if self.has_codes or self.num_classes:
      raise ValueError('vaegan supports neither classes nor InfoGAN codes: set num_classes, '
                       'code_classes and code_continuous to 0')
    if self.noise_distribution != 'gaussian':
      raise ValueError('vaegan decodes prior draws beside codes its KL term pulls toward '
                       'N(0, I): keep noise_distribution=gaussian')
    self.encoder = models.MLP(tuple(config.vaegan.encoder_sizes) + (2 * config.latent_dim,),
                              dtype=models.compute_dtype(config))
    self.gamma = config.vaegan.gamma

  def init(self, rng) -> TrainState:
    e_key, rng = jax.random.split(rng)
    state = super().init(rng)
    e_vars = self.encoder.init(e_key, jnp.zeros((1, *self.image_shape)))
    return state.replace(networks={**state.networks,
                                   'encoder': Network.create(e_vars, self.g_tx)})

  def posterior(self, e_params, x):
    """(mean, logvar) of q(z | x) for images in the model's range."""
    return jnp.split(self.encoder.apply({'params': e_params}, x), 2, axis=-1)

  def _features(self, d: Network, x):
    """D's last hidden features (Dis_l) in evaluation mode (no dropout noise)."""
    return self._discriminate(d, d.params, x, None, jax.random.PRNGKey(0), train=False)[1][
        'features']

  def train_step(self, state: TrainState, batch, rng):
    g, d, e = (state.networks[k] for k in ('generator', 'discriminator', 'encoder'))
    z_key, prior_key, real_key, fake_key, g_key = jax.random.split(rng, 5)
    x = gan.to_model_range(batch['image'], self.output_activation)
    n = x.shape[0]
    z_prior = self.sample_latents(prior_key, n)

    def decode(e_params, g_params):
      mean, logvar = self.posterior(e_params, x)
      z = losses.reparameterize(z_key, mean, logvar)
      images, new_vars = self.generator.apply(
          g.variables(g_params), jnp.concatenate([z, z_prior]), None, train=True,
          mutable=['batch_stats'])
      return (images, mean, logvar), new_vars['batch_stats']

    # One decoder forward serves D's update and both losses; the losses' gradients are pulled
    # back through it with its VJP (as the GAN family does for G).
    (images, mean, logvar), decode_vjp, g_stats = jax.vjp(decode, e.params, g.params,
                                                          has_aux=True)

    def d_loss(d_params):
      real_logits, _, d_stats = self._discriminate(d, d_params, x, None, real_key)
      fake_logits, _, d_stats = self._discriminate(d.replace(batch_stats=d_stats), d_params,
                                                   images, None, fake_key)
      loss, terms = self.d_loss_fn(real_logits, fake_logits), {}
      if self.r1_weight:
        r1_loss, terms['r1'] = self._r1_loss(state.step, d_params, d_stats, x, None)
        loss += r1_loss
      return loss, (d_stats, terms)

    (d_loss_value, (d_stats, d_terms)), d_grads = jax.value_and_grad(d_loss, has_aux=True)(
        d.params)
    d = d.apply_gradients(d_grads, self.d_tx, batch_stats=d_stats)
    real_features = jax.lax.stop_gradient(self._features(d, x))

    def encoder_and_decoder_losses(images, mean, logvar):
      llike = jnp.mean(0.5 * jnp.sum((self._features(d, images[:n]) - real_features) ** 2,
                                     axis=-1))
      kl = jnp.mean(losses.gaussian_kl(mean, logvar))
      logits, _, _ = self._discriminate(d, d.params, images, None, g_key)
      gan_loss = self.g_loss_fn(logits)
      return (kl + llike, self.gamma * llike + gan_loss), (kl, llike, gan_loss)

    (e_loss, g_loss), loss_vjp, (kl, llike, gan_loss) = jax.vjp(
        encoder_and_decoder_losses, images, mean, logvar, has_aux=True)
    e_grads, _ = decode_vjp(loss_vjp((jnp.ones(()), jnp.zeros(()))))
    _, g_grads = decode_vjp(loss_vjp((jnp.zeros(()), jnp.ones(()))))
    networks = {'encoder': e.apply_gradients(e_grads, self.g_tx),
                'generator': g.apply_gradients(g_grads, self.g_tx, batch_stats=g_stats),
                'discriminator': d}
    if self.ema_decay:
      networks['generator_ema'] = self.ema_update(state.networks['generator_ema'],
                                                  networks['generator'])
    return state.replace(step=state.step + 1, networks=networks), {
        'd_loss': d_loss_value, 'e_loss': e_loss, 'g_loss': g_loss, 'kl': kl, 'llike': llike,
        'g_gan': gan_loss, **d_terms}

  def encode(self, state: TrainState, images):
    """Images in [0, 1] -> (mean, log-variance) of q(z | x)."""
    x = gan.to_model_range(jnp.round(images * 255.0).astype(jnp.uint8), self.output_activation)
    return self.posterior(state.networks['encoder'].params, x)

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """The GAN's sample metrics, and the metrics of reconstructions of as many test digits
    (decoded from posterior means, with the sampling generator)."""
    results = super().evaluate(state, num_samples)
    n = num_samples or self.config.eval_num_samples
    test = input_pipeline.load_split(self.config.dataset, 'test')['image'][:n] / 255.0
    g = jax.jit(self.sampling_generator)(state)
    reconstruct = jax.jit(lambda state, g, x: self.generate_with(g, self.encode(state, x)[0]))
    reconstructions = np.concatenate([np.asarray(reconstruct(state, g, c.astype(np.float32)))
                                      for c in chunking.in_chunks(test)])
    results.update(reference.reconstruction_metrics(test, reconstructions))
    return results
