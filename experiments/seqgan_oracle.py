"""SeqGAN on the paper's synthetic benchmark (Yu et al. 2017, section 4).

The oracle: an LSTM (embedding and hidden 32, vocabulary 5,000) with N(0, 1) weights generates
10,000 sequences of length 20, the training data; NLL-oracle scores generated sequences by their
mean per-token NLL under it. G: the same-sized LSTM, Adam 1e-2 with gradients clipped at 5;
D: the paper's CNN (widths 1-10, 15, 20; 100-200 filters each) with a highway layer and dropout,
Adam 1e-4. Schedule: MLE pre-training, D pre-training, then adversarial steps (one policy-gradient
update of G with 16 rollouts per token, then D updates). The MLE baseline is the same config
with no adversarial steps: --config.num_train_steps=<g_pretrain_steps + d_pretrain_steps>, or the
curve at the end of pre-training.
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'seqgan'
  config.dataset = 'oracle'
  config.seed = 0
  config.batch_size = 64
  config.sequence_length = 20
  config.compute_dtype = 'float32'  # 'bfloat16': mixed precision (float32 params and optimiser)
  config.oracle = ml_collections.ConfigDict(dict(
      vocab_size=5000, embed_dim=32, hidden_size=32, num_sequences=10_000, seed=88))

  config.generator = ml_collections.ConfigDict(dict(embed_dim=32, hidden_size=32, cell='lstm'))
  config.discriminator = ml_collections.ConfigDict(dict(
      embed_dim=64, filter_sizes=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
      num_filters=(100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160),
      dropout_rate=0.25))
  config.optimizer = ml_collections.ConfigDict(dict(
      g_learning_rate=1e-2, d_learning_rate=1e-4, grad_clip=5.0,
      pg_learning_rate=1e-2,  # G's rate in the adversarial phase (the paper: the MLE rate)
      pg_loss_reduction='mean'))  # 'sum': over the batch too, as the reference code
  config.d_l2_weight = 0.0  # on D's output layer (the reference code: 0.2)

  config.g_pretrain_steps = 6_000      # ~38 epochs of the 10,000 sequences
  config.d_pretrain_steps = 300
  config.num_rollouts = 16             # Monte Carlo completions per token
  config.rollout_update_rate = 0.8     # rollout policy <- 0.8 rollout + 0.2 G after each G step
  config.d_steps = 3                   # D updates per step in D pre-training and adversarial steps
  config.num_train_steps = 6_400       # + 100 adversarial steps

  config.log_every_steps = 100
  config.eval_every_steps = 100        # NLL-oracle of 10,000 samples: a few seconds
  config.eval_num_samples = 10_000
  config.checkpoint_every_steps = 500
  config.sample_every_steps = 1000
  config.max_checkpoints_to_keep = 3
  return config
