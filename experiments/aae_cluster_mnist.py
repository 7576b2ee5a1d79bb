"""Unsupervised clustering with an adversarial autoencoder on MNIST (Makhzani et al. 2016,
section 6): aae_semi_mnist without labels and with 16 categories. Metric: `cluster_error`,
the test error when each category takes the label of the training digit it is most confident
of (the paper's rule; 9.55% with 16 clusters).
"""
from gan_jax import configs


def get_config():
  config = configs.base_config('aae_semi_mnist')
  config.aae.categories = 16
  config.aae.labeled_examples = 0
  return config
