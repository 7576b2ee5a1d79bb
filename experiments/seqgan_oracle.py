"""SeqGAN on the paper's synthetic benchmark (Yu et al. 2017, section 4).

The oracle: an LSTM (embedding and hidden 32, vocabulary 5,000) with N(0, 1) weights generates
10,000 sequences of length 20, the training data; NLL-oracle scores generated sequences by their
mean per-token NLL under it. G: the same-sized LSTM, Adam 1e-2 with gradients clipped at 5;
D: the paper's CNN (widths 1-10, 15, 20; 100-200 filters each) with a highway layer and dropout,
Adam 1e-4, with the reference code's L2 penalty on its output layer (0.2) and 5 updates per step.
Schedule: 6,000 MLE steps, 1,500 D pre-training steps, then 400 adversarial steps (one
policy-gradient update of G at rate 1e-3, the loss summed over the batch as in the reference
code, with 16 rollouts per token, then D's updates): NLL-oracle 8.921 after MLE, 8.777 +- 0.006
at the end (8.808 after 300; docs/results.md; ~2.5 h of one CPU core). With the 300 D
pre-training steps of earlier recipes D stays too weak to reward G usefully (8.966). The MLE
baseline is the curve at the end of MLE pre-training (step 6,000).
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
      pg_learning_rate=1e-3,  # G's rate in the adversarial phase (the paper's MLE rate ruins G)
      pg_loss_reduction='sum'))  # over the batch too, as the reference code ('mean': per row)
  config.d_l2_weight = 0.2  # on D's output layer, as the reference code

  config.g_pretrain_steps = 6_000      # ~38 epochs of the 10,000 sequences
  config.d_pretrain_steps = 1_500      # D's loss ~0.06 by the end (1.2 after 300)
  config.num_rollouts = 16             # Monte Carlo completions per token
  config.rollout_update_rate = 0.8     # rollout policy <- 0.8 rollout + 0.2 G after each G step
  config.d_steps = 5                   # D updates per step in D pre-training and adversarial steps
  config.num_train_steps = 7_900       # + 400 adversarial steps

  config.log_every_steps = 100
  config.eval_every_steps = 100        # NLL-oracle of 10,000 samples: a few seconds
  config.eval_num_samples = 10_000
  config.checkpoint_every_steps = 500
  config.sample_every_steps = 1000
  config.max_checkpoints_to_keep = 3
  return config
