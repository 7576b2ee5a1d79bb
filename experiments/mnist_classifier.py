"""The reference MNIST classifier whose features and logits every GAN metric uses.

A VGG-style CNN (2 x [conv3x3 32, conv3x3 32, maxpool], 2 x 64, Dense 128, dropout 0.5) on
random +-2 px shifts, Adam 1e-3 with cosine decay, 8 epochs at batch 128. Its weights ship with
the package (gan_jax/assets/mnist_classifier.msgpack) so that metrics mean the same everywhere.
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'classifier'
  config.dataset = 'mnist'
  config.seed = 0
  config.compute_dtype = 'float32'  # 'bfloat16': mixed precision (float32 params and optimiser)
  config.batch_size = 128
  config.num_train_steps = 3750  # 8 epochs of 60,000 images
  config.log_every_steps = 100
  config.eval_every_steps = 750
  config.checkpoint_every_steps = 750
  config.sample_every_steps = 0  # nothing to sample
  config.max_checkpoints_to_keep = 2

  config.classifier = ml_collections.ConfigDict(dict(
      block_features=(32, 64), hidden_size=128, dropout_rate=0.5))
  config.max_shift = 2  # augmentation: random translation in pixels
  config.optimizer = ml_collections.ConfigDict(dict(learning_rate=1e-3))
  return config
