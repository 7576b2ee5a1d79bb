"""The classic MLP VAE on dynamically binarised MNIST (Burda et al. 2015's architecture):
784-200-200 tanh encoder, 50-d Gaussian latent, mirrored decoder, Bernoulli likelihood on logits.
ELBO with the analytic KL; Adam(eps=1e-4), batch 100, with Burda et al.'s learning-rate schedule
(lr * 10^(-i/7) over 8 stages of 3^i epochs) fitted to 1,000 epochs. Burda et al. start at 1e-3
with batch 20; at batch 100, 3e-3 measured better (NLL 92.4 against 96.9 at 100 epochs; over the
1,000 epochs: see docs/results.md, ~76 min of one CPU core).
`--config.num_train_steps=60000 --config.optimizer.learning_rate=1e-3
--config.optimizer.schedule=constant` is the 9-minute version (NLL 91.1);
`--config.objective=iwae --config.num_importance_samples=50` trains the IWAE bound."""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'vae'
  config.dataset = 'mnist'
  config.seed = 0
  config.batch_size = 100
  config.num_train_steps = 600_000  # 1,000 epochs
  config.log_every_steps = 6000
  config.eval_every_steps = 120_000
  config.checkpoint_every_steps = 30_000
  config.sample_every_steps = 120_000
  config.max_checkpoints_to_keep = 3
  config.compute_dtype = 'float32'  # 'bfloat16': mixed precision (float32 params and optimiser)

  config.vae = ml_collections.ConfigDict(dict(hidden_sizes=(200, 200), latent_dim=50))
  config.objective = 'elbo'            # or 'iwae'
  config.num_importance_samples = 1    # k of the IWAE objective
  config.kl_warmup_steps = 0           # KL weight 0 -> 1 linearly over these steps
  config.free_bits = 0.0               # nats per latent dimension
  # schedule 'burda': Burda et al.'s 3^i-epoch stages at lr * 10^(-i/7), fit to num_train_steps
  config.optimizer = ml_collections.ConfigDict(dict(learning_rate=3e-3, schedule='burda'))

  config.eval_importance_samples = 100   # k of the NLL estimate during training (cheap);
                                         # gan_jax.evaluate uses 5000 (Burda et al.)
  config.eval_chunk = 100                # importance samples per pass
  config.eval_batch_size = 100           # test images per pass
  return config
