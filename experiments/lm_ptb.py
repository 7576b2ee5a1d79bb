"""GRU language model on Penn Treebank: text_vae_ptb's decoder without a latent (and without
word dropout), trained the same way; the baseline the sentence VAE's NLL must not fall behind."""
from gan_jax import configs


def get_config():
  config = configs.base_config('text_vae_ptb')
  config.model = 'text_lm'
  config.text_model.latent_dim = 0
  config.word_dropout = 0.0
  config.kl_schedule = 'constant'
  return config
