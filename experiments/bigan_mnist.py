"""BiGAN on MNIST (Donahue et al. 2017, section 4.2, permutation-invariant; sizes and settings from
the authors' train_mnist.sh and net.py): z uniform on [-1, 1]^50; G, E and the joint D are MLPs
with two hidden layers of 1,024 units: G with BatchNorm and ReLU, E and D with leaky ReLU (0.2)
and BatchNorm after the first layer, z joining D's second layer; Adam(2e-4, b1 0.5) for each
network with L2 weight decay 2.5e-5, batch 128; the rate held for half the run, then decayed
linearly to 0; evaluation with BatchNorm statistics recomputed for the final weights (both the
authors'; docs/results.md measures the decay against a constant rate, and the recomputed
statistics against running averages, which end the decayed run equal).
`--config.bigan.stochastic=True --config.bigan.prior=gaussian` is ALI (Dumoulin et al. 2017): a
Gaussian encoder sampled by reparameterisation. The paper trains 400 epochs (200 at a constant
rate, 200 decaying it); 20,000 steps here are 43. Evaluation reports E as features (1-NN in
cosine distance and a linear probe, on E(x) and on E's last hidden layer) beside the sample and
reconstruction metrics.
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'bigan'
  config.dataset = 'mnist'
  config.seed = 0
  config.batch_size = 128
  config.num_train_steps = 20_000  # ~43 epochs
  config.log_every_steps = 500
  config.checkpoint_every_steps = 2000
  config.sample_every_steps = 2000
  config.eval_every_steps = 5000
  config.eval_num_samples = 10_000
  config.max_checkpoints_to_keep = 3
  config.compute_dtype = 'float32'

  config.bigan = ml_collections.ConfigDict(dict(
      latent_dim=50, prior='uniform', stochastic=False, generator_sizes=(1024, 1024),
      encoder_sizes=(1024, 1024), discriminator_sizes=(1024, 1024)))
  config.sampling_batch_norm = 'standing'  # evaluation: the authors' deploy statistics
  config.optimizer = ml_collections.ConfigDict(dict(learning_rate=2e-4, b1=0.5,
                                                    weight_decay=2.5e-5, schedule='linear',
                                                    schedule_steps=0))
  return config
