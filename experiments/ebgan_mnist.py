"""The energy-based GAN on MNIST (Zhao, Mathieu and LeCun 2017): D is an autoencoder whose
energy is the L2 norm of an image's reconstruction error; D learns low energy on data and
energy up to the margin m on samples, loss D(x) + [m - D(G(z))]^+, and G lowers the energy of
its samples, plus the pull-away term (EBGAN-PT) that spreads a batch's codes in D's encoder.
Margin 10 and pull-away weight 0.1 are the paper's MNIST values.

G is dcgan_mnist's; D's encoder is dcgan_mnist's two 5x5 stride-2 convolutions (64, 128) to a
128-unit code, its decoder their mirror (models.AutoencoderDiscriminator). Adam(2e-4, b1 0.5)
for both networks, batch 64, samples and evaluation from an EMA (0.998) of G's weights.
`--config.discriminator.denoise_std=0.3` makes D a denoising autoencoder (the adversarial
document model's D); `--config.pull_away_weight=0` is the plain EBGAN.
"""
import ml_collections

from gan_jax import configs


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'ebgan'
  config.dataset = 'mnist'
  config.seed = 0
  config.batch_size = 64
  config.num_train_steps = 10_000
  config.log_every_steps = 100
  config.checkpoint_every_steps = 1000
  config.sample_every_steps = 500
  config.eval_every_steps = 5000
  config.eval_num_samples = 10_000
  config.max_checkpoints_to_keep = 3

  config.latent_dim = 100
  config.compute_dtype = 'float32'
  config.generator = ml_collections.ConfigDict(dict(base_features=64, output_activation='tanh'))
  config.discriminator = ml_collections.ConfigDict(dict(base_features=64, code_dim=128,
                                                        denoise_std=0.0))
  config.loss = 'energy'
  config.energy_margin = 10.0
  config.optimizer = ml_collections.ConfigDict(dict(
      g_learning_rate=2e-4, d_learning_rate=2e-4, b1=0.5, b2=0.999))
  config = configs.add_gan_switches(config)
  config.pull_away_weight = 0.1
  config.ema_decay = 0.998
  return config
