"""A convolutional VAE on dynamically binarised MNIST: vae_mnist's objective, optimiser and
evaluation with a conv encoder (5x5 stride-2 convs, 32 and 64 channels) and a mirrored decoder;
100 epochs at a constant learning rate (its step is ~7x the MLP's)."""
import ml_collections

from gan_jax import configs


def get_config():
  config = configs.base_config('vae_mnist')
  config.model = 'conv_vae'
  config.vae = ml_collections.ConfigDict(dict(features=(32, 64), latent_dim=50))
  config.num_train_steps = 60_000  # 100 epochs
  config.optimizer.schedule = 'constant'
  config.log_every_steps = 600
  config.eval_every_steps = config.checkpoint_every_steps = config.sample_every_steps = 6000
  return config
