"""InfoGAN on MNIST as the authors ran it (Chen et al. 2016, section 7.1 and appendix C.1;
github.com/openai/InfoGAN, `launchers/run_mnist_exp.py`): their networks (`model='infogan'`,
gan_jax/models/image.py: BatchNorm MLP-conv G, D with a Q head of its own hidden layer), 62
noise variables + a 10-value categorical code + 2 continuous codes uniform on [-1, 1], lambda 1
for every code, Adam with b1 0.5 (D 2e-4, G 1e-3) at a constant rate, batch 128, 50 "epochs" of
100 updates (5,000 steps), no R1, no EMA; the 62 noise variables uniform on [-1, 1] and images
in [0, 1] with a sigmoid output, as theirs. `infogan_mnist` is the same latent split on
`dcgan_mnist`'s networks and recipe; this file is the paper's side of that comparison.
Metric: `code_error` (the paper: 5%).
"""
import ml_collections

from gan_jax import configs


def get_config():
  config = configs.base_config('infogan_mnist')
  config.model = 'infogan'
  config.batch_size = 128
  config.num_train_steps = 5_000
  config.checkpoint_every_steps = 500
  config.eval_every_steps = 2_500
  config.noise_distribution = 'uniform'
  config.generator = ml_collections.ConfigDict(dict(output_activation='sigmoid'))
  config.discriminator = ml_collections.ConfigDict(dict(spectral_norm=False,
                                                        minibatch_stddev=False))
  config.optimizer.update(dict(g_learning_rate=1e-3, d_learning_rate=2e-4, b1=0.5, b2=0.999,
                               schedule='constant', schedule_steps=0))
  config.r1_weight = 0.0
  config.r1_every = 1
  config.ema_decay = 0.0
  return config
