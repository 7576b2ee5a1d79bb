"""Class-conditional DCGAN on MNIST: dcgan_mnist's networks and optimiser with one-hot labels
appended to G's noise, a projection discriminator (Miyato & Koyama 2018) and AC-GAN's auxiliary
classifier on D's features (Odena et al. 2017; D learns the real labels, G to be read as the label
it was asked for), 4,500 steps (measured in docs/gan_recipes.md). Sample grids have one row per
class; evaluation adds the reference classifier's agreement with the requested label."""
from gan_jax import configs


def get_config():
  config = configs.base_config('dcgan_mnist')
  config.num_classes = 10
  config.classifier_weight = 1.0
  # The measured networks: G 64 base features, D without a hidden layer (the projection and the
  # classifier on the conv features judge the digit).
  config.generator.base_features = 64
  config.discriminator.hidden_features = 0
  config.batch_size = 64
  config.num_train_steps = 4500
  config.eval_every_steps = 1500
  # The measured recipe where dcgan_mnist's has moved on since: the cosine over the run's own
  # 4,500 steps, EMA 0.995, and no InfoGAN code (the labels say the class).
  config.optimizer.schedule_steps = 0
  config.ema_decay = 0.995
  config.code_classes = 0
  return config
