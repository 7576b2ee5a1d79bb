"""InfoGAN on MNIST (Chen et al. 2016, section 7.1): G's input is 62 noise variables, one
categorical code of 10 values and two continuous codes uniform on [-1, 1]; D's Q head (Dense
layers on D's last hidden features, the body shared) reads the codes back, and the
mutual-information loss (lambda 1 for every code, as in the authors' code; the continuous codes
as unit-variance Gaussians around Q's means) makes G's samples readable. The paper's latent
split; the networks and the recipe are `dcgan_mnist`'s, which measured best per CPU-minute on
this project (the paper's own: a 1024-unit FC + two 4x4 deconvolutions in G, batch 128, Adam
2e-4 for D and 1e-3 for G).

Metric beyond the sample metrics: `code_error`, the categorical code as a classifier of the real
test digits after matching its values to the classes one-to-one (the paper: 5% error). The
samples/ grids have one code value per row and the first continuous code sweeping [-2, 2] along
each row (the paper's figure 2).
"""
from gan_jax import configs


def get_config():
  config = configs.base_config('dcgan_mnist')
  config.latent_dim = 62
  config.code_classes = 10
  config.code_continuous = 2
  config.info_weight = 1.0
  return config
