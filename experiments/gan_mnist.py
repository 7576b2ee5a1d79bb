"""The original MLP GAN (Goodfellow et al. 2014) on MNIST.

G: z ~ N(0, I_100) -> Dense 128 ReLU -> 128 ReLU -> 100 ReLU -> 784 sigmoid.
D: x(784) -> Dense 128 ReLU -> 128 ReLU -> 100 ReLU -> 1 (logit).
Non-saturating BCE on logits, Adam(2e-4, b1=0.5) for both networks.
"""
import ml_collections

from gan_jax import configs


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'mlp_gan'
  config.dataset = 'mnist'
  config.seed = 0
  config.compute_dtype = 'float32'  # 'bfloat16': mixed precision (float32 params and optimiser)
  config.batch_size = 128  # global, across all devices and processes
  config.num_train_steps = 20_000
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  config.sample_every_steps = 2000
  config.eval_every_steps = 5000
  config.eval_num_samples = 10_000
  config.max_checkpoints_to_keep = 3

  config.latent_dim = 100
  config.generator = ml_collections.ConfigDict(dict(
      hidden_sizes=(128, 128, 100), output_activation='sigmoid'))
  config.discriminator = ml_collections.ConfigDict(dict(
      hidden_sizes=(128, 128, 100)))

  config.loss = 'non_saturating'
  config.optimizer = ml_collections.ConfigDict(dict(
      g_learning_rate=2e-4, d_learning_rate=2e-4, b1=0.5, b2=0.999))
  return configs.add_gan_switches(config)
