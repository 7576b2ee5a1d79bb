"""Class-conditional DCGAN on MNIST: dcgan_mnist with one-hot labels appended to G's noise and a
projection discriminator (Miyato & Koyama 2018). Sample grids have one row per class; evaluation
adds the reference classifier's agreement with the requested label."""
from gan_jax import configs


def get_config():
  config = configs.base_config('dcgan_mnist')
  config.num_classes = 10
  return config
