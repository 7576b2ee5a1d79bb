"""Sentence VAE on Penn Treebank (Bowman et al. 2016), with GRUs.

Encoder: embedding 256 -> GRU 256, last state -> diagonal Gaussian z (32-d). Decoder: GRU 256
started from tanh(Dense(z)), fed [word embedding, z] at every step, softmax over the 10k
vocabulary (+ <pad>, <bos>, <eos>). Teacher forcing; against posterior collapse a linear KL
anneal and word dropout (both switches, with cyclical annealing and free bits). Adam 1e-3,
gradients clipped at norm 5, batch 64 sentences in length buckets.
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'text_vae'
  config.dataset = 'ptb'
  config.seed = 0
  config.batch_size = 64
  config.num_train_steps = 6570  # 10 epochs of 657 batches
  # Batches are cut to the smallest of these lengths that holds their longest sentence (the
  # longest PTB training sentence is 82 words + <eos>); docs/results.md measures the waste.
  config.bucket_lengths = (12, 16, 20, 24, 28, 32, 40, 48, 83)
  config.log_every_steps = 100
  config.eval_every_steps = 1314  # every 2 epochs
  config.checkpoint_every_steps = 657
  config.sample_every_steps = 1314
  config.max_checkpoints_to_keep = 3

  config.text_model = ml_collections.ConfigDict(dict(
      embed_dim=256, hidden_size=256, latent_dim=32,
      dropout_rate=0.0,  # on the decoder's input embeddings and outputs (before the softmax)
      tie_embeddings=False))  # output layer = the decoder embedding's transpose
  config.kl_schedule = 'linear'        # constant | linear | cyclical
  config.kl_anneal_steps = 4000        # ramp length (cyclical: the cycle length)
  config.kl_anneal_start = 0.0         # the weight the ramp starts from (Texar's VAE: 0.1)
  config.word_dropout = 0.25           # decoder inputs replaced by <unk>
  config.free_bits = 0.0               # nats per latent dimension
  config.optimizer = ml_collections.ConfigDict(dict(
      learning_rate=1e-3, grad_clip=5.0, schedule='constant'))  # constant | cosine (to 0)
  config.max_decode_length = 40
  config.compute_dtype = 'float32'  # 'bfloat16': mixed precision (float32 params and optimiser)

  config.eval_num_sentences = 1000     # in-training evaluation: the first 1,000 test sentences
  config.eval_importance_samples = 20  # k during training; gan_jax.evaluate's --importance_samples
  config.eval_chunk = 10               # importance samples per pass
  config.eval_batch_size = 25          # test sentences per pass
  return config
