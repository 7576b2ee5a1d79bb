"""The MLP GAN of gan_mnist, stabilised: same networks, loss, optimiser and budget, plus an R1
penalty (gamma = 1) on D and an EMA (0.999) of G's weights for sampling and evaluation.

Chosen from single 20k-step runs of gan_mnist with one switch each (README results): the plain
reference collapses to one constant image; R1 with EMA gave the best FID."""
from gan_jax import configs


def get_config():
  config = configs.base_config('gan_mnist')
  config.r1_weight = 1.0
  config.ema_decay = 0.999
  return config
