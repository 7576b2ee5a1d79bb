"""The classifier family: trains the reference MNIST classifier on the shared trainer."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import input_pipeline
from gan_jax import models
from gan_jax import reference
from gan_jax.state import Network, TrainState


def random_shift(images, rng, max_shift: int):
  """Translates each image by up to max_shift pixels in each direction, filling with zeros."""
  if max_shift == 0:
    return images
  n, h, w, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
  offsets = jax.random.randint(rng, (n, 2), 0, 2 * max_shift + 1)
  crop = lambda image, offset: jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                                     (h, w, image.shape[-1]))
  return jax.vmap(crop)(padded, offsets)


class Classifier:
  """Softmax cross-entropy on uint8 MNIST scaled to [0, 1], the range generators are mapped to."""
  image_shape = (28, 28, 1)  # MNIST
  EVALUATION_OPTIONS = {}
  CONFIG_DEFAULTS = {}

  def __init__(self, config):
    self.config = config
    self.module = models.MNISTClassifier(**config.classifier.to_dict(),
                                         dtype=models.compute_dtype(config))
    schedule = optax.cosine_decay_schedule(config.optimizer.learning_rate, config.num_train_steps)
    self.tx = optax.adam(schedule)
    self.apply_fn = reference.make_apply_fn(self.module)

  def init(self, rng) -> TrainState:
    init_key, rng = jax.random.split(rng)
    variables = self.module.init(init_key, jnp.zeros((1, *self.image_shape)), train=False)
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng,
                      networks={'classifier': Network.create(variables, self.tx)})

  def train_step(self, state: TrainState, batch, rng):
    net = state.networks['classifier']
    shift_key, dropout_key = jax.random.split(rng)
    images = random_shift(batch['image'].astype(jnp.float32) / 255.0, shift_key,
                          self.config.max_shift)

    def loss_fn(params):
      logits, _ = self.module.apply(net.variables(params), images, train=True,
                                    rngs={'dropout': dropout_key})
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch['label']).mean()
      return loss, logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(net.params)
    net = net.apply_gradients(grads, self.tx)
    metrics = {'loss': loss, 'accuracy': jnp.mean(jnp.argmax(logits, -1) == batch['label'])}
    return state.replace(step=state.step + 1, networks={'classifier': net}), metrics

  def evaluate(self, state: TrainState, num_samples: int | None = None) -> dict[str, float]:
    """Loss and accuracy on the test set (num_samples is for generative families)."""
    del num_samples
    test = input_pipeline.load_split(self.config.dataset, 'test')
    logits = reference.classify(self.apply_fn, state.networks['classifier'].params,
                      test['image'].astype(np.float32) / 255.0)[0]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, test['label']).mean()
    return {'test_accuracy': float(np.mean(np.argmax(logits, -1) == test['label'])),
            'test_loss': float(loss)}
