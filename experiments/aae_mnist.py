"""The adversarial autoencoder on MNIST (Makhzani et al. 2016, section 2/Appendix): encoder,
decoder and code discriminator are MLPs with two hidden layers of 1,000 ReLU units, an 8-d
code (the paper's MNIST likelihood experiments), a Gaussian prior (`--config.aae.prior=mixture`:
10 Gaussians on a circle in two code dimensions). Adam for the three networks (the paper used
SGD with momentum), batch 100.
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'aae'
  config.dataset = 'mnist'
  config.seed = 0
  config.batch_size = 100
  config.num_train_steps = 30_000  # 50 epochs
  config.log_every_steps = 500
  config.checkpoint_every_steps = 2000
  config.sample_every_steps = 2000
  config.eval_every_steps = 10_000
  config.eval_num_samples = 10_000
  config.max_checkpoints_to_keep = 3
  config.compute_dtype = 'float32'

  # categories > 0 splits the code into a categorical y and a style z (aae_semi_mnist,
  # aae_cluster_mnist); labeled_examples > 0 adds their supervised phase.
  config.aae = ml_collections.ConfigDict(dict(latent_dim=8, hidden_sizes=(1000, 1000),
                                              prior='gaussian', categories=0,
                                              labeled_examples=0, labeled_batch_size=100,
                                              encoder_state_per_phase=False,
                                              input_noise=0.0, critic_noise=0.0,
                                              encoder_ema_decay=0.0))
  config.optimizer = ml_collections.ConfigDict(dict(ae_learning_rate=2e-4, d_learning_rate=2e-4,
                                                    b1=0.5, schedule='constant', schedule_steps=0))
  return config
