"""The TensorFlow DCGAN tutorial's recipe on dcgan_mnist's networks (Radford et al. 2016 in
28x28 form), kept as the reference dcgan_mnist is measured against (docs/gan_recipes.md):
D with dropout 0.3, non-saturating BCE, Adam(2e-4, b1=0.5) for both networks at a constant rate,
no R1 and no EMA, global batch 256, 10,000 steps."""
from gan_jax import configs


def get_config():
  config = configs.base_config('dcgan_mnist')
  config.batch_size = 256
  config.num_train_steps = 10_000
  config.eval_every_steps = 1000
  config.log_every_steps = 50
  config.generator.base_features = 64  # the tutorial's networks
  config.discriminator.hidden_features = 0
  config.discriminator.dropout_rate = 0.3
  config.optimizer.update(dict(g_learning_rate=2e-4, d_learning_rate=2e-4, b1=0.5, b2=0.999,
                               schedule='constant', schedule_steps=0))
  config.r1_weight = 0.0
  config.r1_every = 1
  config.ema_decay = 0.0
  config.code_classes = 0
  return config
