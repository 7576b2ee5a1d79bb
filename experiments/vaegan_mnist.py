"""VAE-GAN on MNIST (Larsen, Sønderby, Larochelle and Winther 2016): dcgan_mnist's G as the
decoder and its D (whose 1,024-unit hidden layer gives the feature space of the reconstruction
error, Larsen's Dis_l), an MLP encoder (two 1,024-unit layers) to a 100-d Gaussian posterior,
gamma 1e-2 weighting the decoder's feature reconstruction against its GAN loss (Larsen: the
decoder's loss is gamma * L_llike - L_GAN), batch 64 (Larsen's). The optimisation is
dcgan_mnist's measured GAN recipe, not the paper's RMSProp: Adam(1e-3, b1 0, b2 0.99) for each
network with a cosine decay over 16,000 steps, lazy R1 (gamma 1, every 16 steps) on D's real
images, samples and evaluation from an EMA (0.998) of the decoder. Against Adam(2e-4, b1 0.5)
without R1 it reached sample FID 160.7 instead of 284.0 at step 1,500 (docs/results.md).
Compare with vae_mnist, whose pixel-space Bernoulli likelihood gives blurry samples.
"""
import ml_collections

from gan_jax import configs


def get_config():
  config = configs.base_config('dcgan_mnist')
  config.model = 'vaegan'
  config.batch_size = 64
  # ~45 min of steps on the 2-core CPU (0.67 s each); the cosine spans 16,000 steps, so a longer
  # run (--config.num_train_steps=10000, resumable) continues the same schedule.
  config.num_train_steps = 4000
  config.eval_every_steps = 2000
  config.optimizer = ml_collections.ConfigDict(dict(
      g_learning_rate=1e-3, d_learning_rate=1e-3, b1=0.0, b2=0.99))
  config = configs.add_gan_switches(config)
  config.optimizer.schedule = 'cosine'
  config.optimizer.schedule_steps = 16_000
  config.r1_weight = 1.0
  config.r1_every = 16
  config.code_classes = 0
  config.ema_decay = 0.998
  config.vaegan = ml_collections.ConfigDict(dict(encoder_sizes=(1024, 1024), gamma=1e-2))
  return config
