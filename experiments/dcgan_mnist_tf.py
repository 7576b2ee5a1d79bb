"""The TensorFlow DCGAN tutorial's recipe (Radford et al. 2016 in 28x28 form), kept as the
reference that `dcgan_mnist` is measured against (docs/dcgan_recipes.md).

G: z(100) -> Dense 7*7*256 -> BN/LeakyReLU -> ConvT 128 (5x5, s1) -> ConvT 64 (5x5, s2) -> ConvT 1 (5x5, s2), tanh.
D: Conv 64 (5x5, s2) -> Conv 128 (5x5, s2), LeakyReLU + dropout -> Dense 1 (logit).
Non-saturating BCE on logits, Adam(2e-4, b1=0.5) for both networks, global batch 256.
"""
import ml_collections

from gan_jax import configs


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'dcgan'
  config.dataset = 'mnist'
  config.seed = 0
  config.batch_size = 256  # global, across all devices and processes
  config.num_train_steps = 10_000
  config.log_every_steps = 50
  config.checkpoint_every_steps = 500
  config.sample_every_steps = 500
  config.eval_every_steps = 1000
  config.eval_num_samples = 10_000
  config.max_checkpoints_to_keep = 3

  config.latent_dim = 100
  config.compute_dtype = 'float32'  # 'bfloat16': mixed precision (float32 params and optimiser)
  config.generator = ml_collections.ConfigDict(dict(
      base_features=64, output_activation='tanh'))
  config.discriminator = ml_collections.ConfigDict(dict(
      base_features=64, dropout_rate=0.3))

  config.loss = 'non_saturating'
  config.optimizer = ml_collections.ConfigDict(dict(
      name='adam', g_learning_rate=2e-4, d_learning_rate=2e-4, b1=0.5, b2=0.999))
  return configs.add_gan_switches(config)
