"""DCGAN on MNIST: the TensorFlow tutorial's networks (Radford et al. 2016 in 28x28 form) with a
hidden layer in D, trained with the recipe that measured best per CPU-minute
(docs/gan_recipes.md has every trial and its numbers).

G: z(100) -> Dense 7*7*256 -> BN/LeakyReLU -> ConvT 128 (5x5, s1) -> ConvT 64 (5x5, s2) -> ConvT 1 (5x5, s2), tanh.
D: Conv 64 (5x5, s2) -> Conv 128 (5x5, s2), LeakyReLU -> Dense 1024, LeakyReLU -> Dense 1 (logit).
G's input also carries InfoGAN's categorical code (10 values, one-hot; Chen et al. 2016), which
D's Q head learns to read back: G learns to draw a digit class per code value, so fewer samples
fall between classes. Non-saturating BCE on logits; Adam(1e-3, b1=0, b2=0.99) for each network
with a cosine decay over 25,600 steps, stopped at 16,000; lazy R1 (gamma 1, every 16 steps) on
D; samples and evaluation from an EMA (0.998) of G's weights with BatchNorm statistics
recomputed for them. Global batch 32, 16,000 steps: 37.0 minutes of the 2-core CPU, FID 2.77,
class score 9.82 (docs/gan_recipes.md).
The tutorial's own recipe and networks (batch 256, Adam 2e-4 / b1 0.5, D dropout 0.3) are
`dcgan_mnist_tf`.
"""
import ml_collections

from gan_jax import configs


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'dcgan'
  config.dataset = 'mnist'
  config.seed = 0
  config.batch_size = 32  # global, across all devices and processes
  config.num_train_steps = 16_000  # ~36 min of steps alone on the 2-core CPU at ~7.4 steps/s
  config.log_every_steps = 100
  config.checkpoint_every_steps = 1000
  config.sample_every_steps = 500
  config.eval_every_steps = 8000
  config.eval_num_samples = 10_000
  config.max_checkpoints_to_keep = 3

  config.latent_dim = 100
  config.compute_dtype = 'float32'  # 'bfloat16': mixed precision (float32 params and optimiser)
  config.generator = ml_collections.ConfigDict(dict(
      base_features=64, output_activation='tanh'))
  config.discriminator = ml_collections.ConfigDict(dict(
      base_features=64, dropout_rate=0.0, hidden_features=1024))

  config.loss = 'non_saturating'
  config.optimizer = ml_collections.ConfigDict(dict(
      g_learning_rate=1e-3, d_learning_rate=1e-3, b1=0.0, b2=0.99))
  config = configs.add_gan_switches(config)
  config.optimizer.schedule = 'cosine'
  # The cosine spans 25,600 steps and the run stops at 16,000, at 31% of the peak rate: decayed
  # to 0 by the run's end the GAN stops improving early (docs/gan_recipes.md).
  config.optimizer.schedule_steps = 25_600
  config.r1_weight = 1.0
  config.r1_every = 16
  config.ema_decay = 0.998  # half-life ~350 steps; 0.995: FID 16.29 at 10,000
  config.code_classes = 10  # FID 12.0 / class score 9.26 at 6,000 steps, without: 16.7 / 8.83
  return config
