"""SeqGAN on Penn Treebank sentences, cut or padded to 20 tokens (<eos> and <pad> are tokens the
generator learns to emit). G: GRU LM (embedding 64, hidden 128); metrics BLEU-2..5 of 200
generated sentences against the test set (cut the same way) and self-BLEU, Texygen's protocol with
NLTK's smoothing method 1."""
from gan_jax import configs


def get_config():
  config = configs.base_config('seqgan_oracle')
  config.dataset = 'ptb'
  del config.oracle
  config.generator.update(embed_dim=64, hidden_size=128, cell='gru')
  config.optimizer.update(g_learning_rate=1e-3, pg_learning_rate=1e-3)
  config.eval_num_samples = 200
  # The schedule and D its results were measured with (docs/results.md); the oracle's longer D
  # pre-training and reference-code D are not yet measured on PTB.
  config.d_pretrain_steps = 300
  config.d_steps = 3
  config.d_l2_weight = 0.0
  config.optimizer.pg_loss_reduction = 'mean'
  config.num_train_steps = 6_400
  return config
