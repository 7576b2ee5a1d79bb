"""VAE-GAN on MNIST (Larsen, Sønderby, Larochelle and Winther 2016): dcgan_mnist's G as the
decoder and its D (whose 1,024-unit hidden layer gives the feature space of the reconstruction
error, Larsen's Dis_l), an MLP encoder (two 1,024-unit layers) to a 100-d Gaussian posterior,
gamma 1e-2 weighting the decoder's feature reconstruction against its GAN loss (Larsen: the
decoder's loss is gamma * L_llike - L_GAN). Adam(2e-4, b1 0.5) for each network, batch 64,
samples and evaluation from an EMA (0.998) of the decoder. Compare with vae_mnist, whose
pixel-space Bernoulli likelihood gives blurry samples.
"""
import ml_collections

from gan_jax import configs


def get_config():
  config = configs.base_config('dcgan_mnist')
  config.model = 'vaegan'
  config.batch_size = 64
  config.num_train_steps = 10_000
  config.eval_every_steps = 5000
  config.optimizer = ml_collections.ConfigDict(dict(
      g_learning_rate=2e-4, d_learning_rate=2e-4, b1=0.5, b2=0.999))
  config = configs.add_gan_switches(config)
  config.r1_weight = 0.0
  config.code_classes = 0
  config.ema_decay = 0.998
  config.vaegan = ml_collections.ConfigDict(dict(encoder_sizes=(1024, 1024), gamma=1e-2))
  return config
