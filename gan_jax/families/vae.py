"""The VAE family on the shared trainer: dynamically binarised MNIST, ELBO or IWAE objective.

Config switches: `optimizer.schedule` ('constant', or 'burda': Burda et al.'s 8 stages of 3^i
epochs at 1e-3 * 10^(-i/7), scaled to num_train_steps), `objective` ('elbo' with the analytic KL, or 'iwae' with
`num_importance_samples` k), `kl_warmup_steps` (the KL weight rises linearly from 0 to 1),
`free_bits` (nats per latent dimension). Evaluation reports the test ELBO, the importance-weighted
NLL estimate with `eval_importance_samples` samples, KL, reconstruction term and active units,
and the sample and reconstruction metrics of the reference classifier (as for the other image
families).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

from gan_jax import families
from gan_jax import input_pipeline
from gan_jax import losses
from gan_jax import models
from gan_jax import reference
from gan_jax import schedules
from gan_jax.state import Network, TrainState


def binarize(images_uint8, rng):
  """Dynamic binarisation: each pixel is 1 with probability intensity / 255."""
  return jax.random.bernoulli(rng, images_uint8.astype(jnp.float32) / 255.0).astype(jnp.float32)


VAE_MODULES = {'vae': models.MLPVAE, 'conv_vae': models.ConvVAE}  # config.model -> module


class VAE(families.UnconditionalImages):
  image_shape = (28, 28, 1)  # MNIST
  num_classes = 0
  EVALUATION_OPTIONS = {'importance_samples': 'eval_importance_samples'}
  # Runs before the schedule switches trained at a constant rate over the whole run.
  CONFIG_DEFAULTS = {'optimizer.schedule': 'constant', 'optimizer.schedule_steps': 0}

  def __init__(self, config):
    self.config = config
    self.module = VAE_MODULES[config.model](**config.vae.to_dict(),
                                            dtype=models.compute_dtype(config))
    opt = config.optimizer
    self.tx = optax.adam(schedules.from_config(opt, opt.learning_rate, config.num_train_steps),
                         eps=1e-4)

  def init(self, rng) -> TrainState:
    init_key, rng = jax.random.split(rng)
    variables = self.module.init(init_key, jnp.zeros((1, *self.image_shape)))
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng,
                      networks={'vae': Network.create(variables, self.tx)})

  def log_weights(self, params, x, rng, k: int):
    """[k, batch] log p(x, z_i) - log q(z_i | x) for z_i ~ q(z | x), and q's (mean, logvar)."""
    mean, logvar = self.module.apply({'params': params}, x, method=self.module.encode)
    z = losses.reparameterize(rng, mean, logvar, (k,))
    logits = self.module.apply({'params': params}, z, method=self.module.decode)
    log_px_z = losses.bernoulli_log_likelihood(logits, x)
    log_pz = losses.gaussian_log_density(z, 0.0, jnp.zeros_like(z))
    log_qz = losses.gaussian_log_density(z, mean, logvar)
    return log_px_z + log_pz - log_qz, (mean, logvar, log_px_z)

  def train_step(self, state: TrainState, batch, rng):
    net = state.networks['vae']
    binarize_key, sample_key = jax.random.split(rng)
    x = binarize(batch['image'], binarize_key)
    config = self.config
    kl_weight = losses.kl_weight(state.step, 'linear', config.kl_warmup_steps)

    def loss_fn(params):
      k = config.num_importance_samples if config.objective == 'iwae' else 1
      log_w, (mean, logvar, log_px_z) = self.log_weights(params, x, sample_key, k)
      kl = losses.gaussian_kl(mean, logvar)
      if config.objective == 'iwae':
        loss = -jnp.mean(losses.iwae_bound(log_w))
      else:
        loss = (-jnp.mean(log_px_z[0])
                + kl_weight * losses.kl_term(mean, logvar, config.free_bits))
      return loss, {'elbo': jnp.mean(log_px_z[0] - kl), 'kl': jnp.mean(kl),
                    'reconstruction': jnp.mean(log_px_z[0])}

    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(net.params)
    net = net.apply_gradients(grads, self.tx)
    metrics = {'loss': loss, 'kl_weight': kl_weight, **metrics}
    return state.replace(step=state.step + 1, networks={'vae': net}), metrics

  def sample_latents(self, rng, n: int):
    return jax.random.normal(rng, (n, self.config.vae.latent_dim))

  def encode(self, state: TrainState, images):
    """Images in [0, 1] -> (mean, log-variance) of q(z | x)."""
    return self.module.apply({'params': state.networks['vae'].params}, images,
                             method=self.module.encode)

  def generate(self, state: TrainState, z, labels=None):
    """Bernoulli means (images in [0, 1]) decoded from latents; `labels` is unused (the GANs'
    signature, so latent tools treat both families alike)."""
    del labels
    return jax.nn.sigmoid(self.module.apply({'params': state.networks['vae'].params}, z,
                                            method=self.module.decode))

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """Test-set ELBO, IWAE NLL (k = eval_importance_samples), KL, reconstruction, active units,
    on the first num_samples test images (default: all) binarised with a fixed key; the
    reference-classifier metrics of as many samples (Bernoulli means) and (prefixed recon_) of
    the reconstructions of those test digits."""
    test = input_pipeline.load_split(self.config.dataset, 'test')['image'][:num_samples]
    params = state.networks['vae'].params
    x_all = binarize(test, jax.random.PRNGKey(self.config.seed + 3))
    k = self.config.eval_importance_samples
    chunk = min(k, self.config.eval_chunk)
    per_example = {'nll': [], 'elbo': [], 'kl': [], 'reconstruction': [], 'mean': []}
    for start in tqdm.tqdm(range(0, len(test), self.config.eval_batch_size), mininterval=5,
                           desc=f'test NLL (k={k})', unit='batch', leave=False):
      x = x_all[start:start + self.config.eval_batch_size]
      key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed + 4), start)
      out = _evaluate_batch(self, params, x, key, k, chunk)
      for name, value in out.items():
        per_example[name].append(np.asarray(value))
    result = {name: float(np.mean(np.concatenate(v))) for name, v in per_example.items()
              if name != 'mean'}
    result['active_units'] = int(losses.active_units(np.concatenate(per_example['mean'])))
    result['importance_samples'] = k
    result.update(reference.sample_metrics(self, state, len(test)))
    result.update(reference.encoder_metrics(self, state, len(test)))
    return result


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _evaluate_batch(model: VAE, params, x, key, k: int, chunk: int):
  """Per-example NLL estimate from k importance samples, taken `chunk` at a time and combined by
  a running logsumexp so memory stays bounded; and the one-sample ELBO terms."""
  nll_key, elbo_key = jax.random.split(key)
  nll = losses.chunked_iwae_nll(lambda rng, n: model.log_weights(params, x, rng, n)[0], nll_key,
                                k, chunk, x.shape[0])
  _, (mean, logvar, log_px_z) = model.log_weights(params, x, elbo_key, 1)
  kl = losses.gaussian_kl(mean, logvar)
  return {'nll': nll, 'elbo': log_px_z[0] - kl, 'kl': kl,
          'reconstruction': log_px_z[0], 'mean': mean}
