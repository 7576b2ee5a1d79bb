"""Unsupervised clustering with an adversarial autoencoder on MNIST (Makhzani et al. 2016,
section 6): aae_semi_mnist without labels and with 16 categories. Metric: `cluster_error`,
the test error when each category takes the label of the training digit it is most confident
of (the paper's rule; 9.55% with 16 clusters).
The critics read their codes with Gaussian noise (std 0.3, as musyoku/adversarial-autoencoder's
critics do): without it the encoder's confident softmax codes pass for one-hot draws while
using only 6 of the 16 categories (cluster error 53.25% at 10,000 steps); with it all 16 are
used (37.39%, docs/results.md).
"""
from gan_jax import configs


def get_config():
  config = configs.base_config('aae_semi_mnist')
  config.aae.categories = 16
  config.aae.labeled_examples = 0
  config.aae.critic_noise = 0.3
  return config
