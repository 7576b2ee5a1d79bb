"""LeakGAN on SeqGAN's synthetic oracle benchmark (Guo et al. 2018, section 4.1; the oracle and
data of `seqgan_oracle`: an N(0, 1) LSTM over 5,000 tokens, 10,000 sequences of length 20).

Sizes and rates of the authors' synthetic-data code (github.com/CR-Gjx/LeakGAN): manager and
worker LSTMs of 32 units, token embeddings 32, goals in D's 1,720-d feature space projected to
k = 16, c = 4; Adam 1.5e-3 for manager and worker (gradients clipped at 5 each), 5e-5 for D
(SeqGAN's CNN with a highway layer, no dropout); 4 rollouts every c tokens, rewards rescaled by
rank with delta = 16. Their schedule (10 rounds of 15 D epochs and 8 G epochs, then 800
adversarial steps of 15 D epochs each) is hours of GPU time; here a round is 100 D steps and
400 G steps of batch 64 (2.6 epochs), and an adversarial step has 3 D updates.
The authors also sample their reported NLL-oracle with logits scaled by 1.5 (temperature 2/3),
which trades diversity for it; evaluation here samples at temperature 1 (`nll_oracle`) and at
each of `eval_temperatures` (`nll_oracle_t<T>`), with NLL-test (G's NLL of held-out oracle
samples, which falls only if G covers the oracle) beside.
"""
import ml_collections

from gan_jax import configs


def get_config():
  config = configs.base_config('seqgan_oracle')
  config.model = 'leakgan'
  config.generator = ml_collections.ConfigDict(dict(
      embed_dim=32, hidden_size=32, goal_size=16, step_size=4))
  config.discriminator.dropout_rate = 0.0
  config.optimizer = ml_collections.ConfigDict(dict(
      g_learning_rate=1.5e-3, d_learning_rate=5e-5, grad_clip=5.0))
  del config.rollout_update_rate
  config.d_l2_weight = 0.0  # the authors' code sets 0.2 but never passes it to D
  config.pretrain_rounds = 10
  config.d_pretrain_steps = 100        # per round, first
  config.g_pretrain_steps = 400        # per round, after D's
  config.num_rollouts = 4
  config.reward_delta = 16.0           # rank-rescaled rewards: sigmoid(delta (0.5 - rank / B))
  config.d_steps = 3                   # D updates per D pre-training and adversarial step
  config.num_train_steps = 5_200       # 10 rounds of 500, then 200 adversarial steps
  config.eval_every_steps = 1000       # every 2 rounds (5,000 samples: minutes of this CPU)
  config.eval_num_samples = 5_000
  config.eval_test_sequences = 2_000
  config.eval_temperatures = (2 / 3,)
  return config
