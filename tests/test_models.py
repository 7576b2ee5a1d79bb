import flax.linen as nn
import pytest
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import decoding
from gan_jax import models
from gan_jax.models import layers
from conftest import tiny_config


def count(params):
  return sum(x.size for x in jax.tree.leaves(params))


def test_mlp_gan_exact_parameter_counts():
  g, d = models.MLPGenerator(), models.MLPDiscriminator()
  g_params = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 100)))['params']
  d_params = d.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))['params']
  # G: 100*128+128 + 128*128+128 + 128*100+100 + 100*784+784; D: 784*128+128 + ... + 100*1+1.
  assert count(g_params) == 121_524
  assert count(d_params) == 129_993
  assert [g_params[f'Dense_{i}']['kernel'].shape for i in range(4)] == [
      (100, 128), (128, 128), (128, 100), (100, 784)]


def test_shapes_and_ranges():
  z = jax.random.normal(jax.random.PRNGKey(1), (3, 100))
  for name, low in (('dcgan_mnist', -1.0), ('gan_mnist', 0.0)):
    g, d = models.build_gan(tiny_config(name))
    variables = g.init(jax.random.PRNGKey(0), z, train=False)
    images = g.apply(variables, z, train=False)
    assert images.shape == (3, 28, 28, 1)
    assert float(images.min()) >= low and float(images.max()) <= 1.0
    logits = d.apply(d.init(jax.random.PRNGKey(0), images, train=False), images, train=False)
    assert logits.shape == (3,)


def test_dcgan_full_size_layers():
  g, d = models.DCGANGenerator(), models.DCGANDiscriminator()
  g_vars = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)
  assert g_vars['params']['Dense_0']['kernel'].shape == (100, 7 * 7 * 256)
  assert [g_vars['params'][f'ConvTranspose_{i}']['kernel'].shape for i in range(3)] == [
      (5, 5, 256, 128), (5, 5, 128, 64), (5, 5, 64, 1)]
  assert set(g_vars['batch_stats']) == {'BatchNorm_0', 'BatchNorm_1', 'BatchNorm_2'}
  d_vars = d.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)), train=False)
  assert [d_vars['params'][f'Conv_{i}']['kernel'].shape for i in range(2)] == [
      (5, 5, 1, 64), (5, 5, 64, 128)]
  assert np.prod(d_vars['params']['Dense_0']['kernel'].shape) == 7 * 7 * 128


def test_discriminator_hidden_layer_is_a_leaky_relu_dense_before_the_logit():
  d = models.DCGANDiscriminator(base_features=4, dropout_rate=0.0, hidden_features=16)
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 28, 28, 1))
  variables = d.init(jax.random.PRNGKey(1), x, train=False)
  params = variables['params']
  assert params['Dense_0']['kernel'].shape == (7 * 7 * 8, 16)
  assert params['Dense_1']['kernel'].shape == (16, 1)
  # The logit by hand from D's own conv features: Dense -> LeakyReLU(0.2) -> Dense.
  _, state = d.apply(variables, x, train=False, mutable=['intermediates'])
  hidden = state['intermediates']['features'][0]
  assert hidden.shape == (3, 16)
  conv = x
  for i in range(2):
    conv = nn.leaky_relu(nn.Conv(8 if i else 4, (5, 5), strides=(2, 2), padding='SAME').apply(
        {'params': params[f'Conv_{i}']}, conv), 0.2)
  flat = conv.reshape((3, -1))
  expected = nn.leaky_relu(flat @ params['Dense_0']['kernel'] + params['Dense_0']['bias'], 0.2)
  np.testing.assert_allclose(hidden, expected, rtol=1e-4, atol=1e-5)
  logits = d.apply(variables, x, train=False)
  np.testing.assert_allclose(
      logits, (expected @ params['Dense_1']['kernel'] + params['Dense_1']['bias'])[:, 0],
      rtol=1e-4, atol=1e-5)


def test_minibatch_stddev_is_zero_for_identical_samples():
  same = jnp.ones((8, 3, 3, 2))
  out = models.minibatch_stddev(same)
  assert out.shape == (8, 3, 3, 3)
  np.testing.assert_allclose(out[..., -1], 1e-4, rtol=1e-3)  # sqrt(0 + 1e-8)
  varied = models.minibatch_stddev(jax.random.normal(jax.random.PRNGKey(0), (8, 3, 3, 2)))
  assert float(varied[..., -1].mean()) > 0.5


def test_spectral_norm_makes_the_discriminator_1_lipschitz():
  d = models.MLPDiscriminator(hidden_sizes=(64, 64), spectral_norm=True)
  x = jax.random.normal(jax.random.PRNGKey(0), (16, 28, 28, 1))
  variables = d.init(jax.random.PRNGKey(1), x, train=False)
  for _ in range(30):  # converge the power iteration
    _, updates = d.apply(variables, x, train=True, mutable=['batch_stats'])
    variables = {**variables, **updates}
  y = x + 0.1 * jax.random.normal(jax.random.PRNGKey(2), x.shape)
  dx, dy = d.apply(variables, x, train=False), d.apply(variables, y, train=False)
  distances = jnp.linalg.norm((x - y).reshape(16, -1), axis=1)
  assert bool(jnp.all(jnp.abs(dx - dy) <= 1.01 * distances))
  plain = models.MLPDiscriminator(hidden_sizes=(64, 64))
  # Without it the weights are free; the scale test above is what the wrapper adds.
  assert 'batch_stats' not in plain.init(jax.random.PRNGKey(1), x, train=False)


def test_conditional_discriminator_depends_on_labels():
  d = models.DCGANDiscriminator(base_features=4, num_classes=10)
  x = jnp.ones((2, 28, 28, 1))
  variables = d.init(jax.random.PRNGKey(0), x, jnp.array([0, 0]), train=False)
  variables['params']['Embed_0']['embedding'] = jax.random.normal(
      jax.random.PRNGKey(1), variables['params']['Embed_0']['embedding'].shape)
  a = d.apply(variables, x, jnp.array([0, 0]), train=False)
  b = d.apply(variables, x, jnp.array([3, 3]), train=False)
  assert not np.allclose(a, b)


def assert_same_layer(fast, reference, x):
  """Same parameter shapes and initial values from the same key, same outputs and gradients."""
  variables = reference.init(jax.random.PRNGKey(1), x)
  jax.tree.map(np.testing.assert_array_equal, fast.init(jax.random.PRNGKey(1), x), variables)
  np.testing.assert_allclose(fast.apply(variables, x), reference.apply(variables, x), atol=1e-5)
  loss = lambda module: lambda v, x: jnp.sum(jnp.sin(module.apply(v, x)))
  grads = jax.grad(loss(fast), argnums=(0, 1))(variables, x)
  expected = jax.grad(loss(reference), argnums=(0, 1))(variables, x)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), grads, expected)


@pytest.mark.parametrize('kernel_size', [5, 4, 3])
def test_subpixel_conv_transpose_equals_conv_transpose(kernel_size):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 7, 7, 6))
  assert_same_layer(models.SubpixelConvTranspose(5, kernel_size),
                    nn.ConvTranspose(5, (kernel_size, kernel_size), strides=(2, 2), padding='SAME'), x)


@pytest.mark.parametrize('kernel_size,height,width,padding', [
    (5, 14, 14, 'SAME'), (5, 7, 9, 'SAME'), (4, 28, 28, 'SAME'), (3, 9, 8, 'VALID'),
    (5, 10, 10, ((3, 0), (0, 2)))])
def test_phase_form_stride2_conv_equals_lax(kernel_size, height, width, padding):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, 16))
  layer = lambda **kw: nn.Conv(5, (kernel_size, kernel_size), strides=(2, 2), padding=padding, **kw)
  assert_same_layer(layer(conv_general_dilated=models.conv_general_dilated), layer(), x)


def _jaxpr_equations(fn, *args):
  """Every equation of fn's jaxpr, sub-jaxprs (custom-VJP bodies, pjit) included."""
  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      yield eqn
      for param in eqn.params.values():
        for sub in (param if isinstance(param, (list, tuple)) else [param]):
          inner = getattr(sub, 'jaxpr', sub)
          if hasattr(inner, 'eqns'):
            yield from walk(inner)
  return list(walk(jax.make_jaxpr(fn)(*args).jaxpr))


def test_cpu_tuned_forms_are_used_on_the_cpu_alone(monkeypatch):
  """Off the CPU the same layers (same parameters, same values) are the plain XLA operations:
  the transposed convolution as lax.conv_transpose (an input dilated by 2), the strided
  convolution without the phase-form custom gradient, sampling with jax.random.categorical."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 7, 7, 16))
  up = models.SubpixelConvTranspose(5, 5)
  down = nn.Conv(5, (5, 5), strides=(2, 2), padding='SAME',
                 conv_general_dilated=models.conv_general_dilated)
  variables = {name: layer.init(jax.random.PRNGKey(1), x) for name, layer in
               (('up', up), ('down', down))}
  logits = jnp.log(jnp.array([[0.5, 0.1, 0.4]] * 3))

  def forms():
    up_out = up.apply(variables['up'], x)
    dilations = {eqn.params['lhs_dilation'] for eqn in _jaxpr_equations(
        lambda x: up.apply(variables['up'], x), x) if eqn.primitive.name == 'conv_general_dilated'}
    grad = lambda v, x: jax.grad(lambda x: jnp.sum(jnp.sin(down.apply(v, x))))(x)
    custom = any('custom_vjp' in eqn.primitive.name
                 for eqn in _jaxpr_equations(grad, variables['down'], x))
    draws = decoding.sample_categorical(jax.random.PRNGKey(2), logits)
    return up_out, grad(variables['down'], x), dilations, custom, draws

  monkeypatch.setattr(layers, 'cpu_tuned', lambda: True)
  up_cpu, grad_cpu, dilations_cpu, custom_cpu, _ = forms()
  assert dilations_cpu == {(1, 1)} and custom_cpu
  monkeypatch.setattr(layers, 'cpu_tuned', lambda: False)
  up_plain, grad_plain, dilations_plain, custom_plain, draws = forms()
  assert dilations_plain == {(2, 2)} and not custom_plain
  np.testing.assert_allclose(up_plain, up_cpu, atol=1e-5)
  np.testing.assert_allclose(grad_plain, grad_cpu, rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(draws, jax.random.categorical(jax.random.PRNGKey(2), logits))


def test_vae_modules_shapes():
  x = jnp.zeros((3, 28, 28, 1))
  for module in (models.MLPVAE(), models.ConvVAE()):
    variables = module.init(jax.random.PRNGKey(0), x)
    mean, logvar = module.apply(variables, x, method=module.encode)
    assert mean.shape == logvar.shape == (3, 50)
    z = jnp.zeros((4, 3, 50))  # [importance samples, batch, latent]
    assert module.apply(variables, z, method=module.decode).shape == (4, 3, 28, 28, 1)


def test_bigan_mlp_by_hand_batch_normalised_after_the_first_layer_with_the_condition():
  """Donahue et al.'s joint discriminator: h1 = lrelu(W1 x + b1); h2 = lrelu(BN([h1, z] W2));
  logit = h2 W3 + b3; BN with this batch's statistics in training."""
  module = models.BiGANMLP((5, 4, 1), 'leaky_relu', 1)
  x, z = jax.random.normal(jax.random.PRNGKey(0), (6, 3)), jax.random.normal(
      jax.random.PRNGKey(1), (6, 2))
  variables = module.init(jax.random.PRNGKey(2), x, z)
  p = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.PRNGKey(3), a.shape),
                   variables['params'])  # BN's scale and offset away from 1 and 0
  (logit, hidden), updates = module.apply({**variables, 'params': p}, x, z, train=True,
                                          mutable=['batch_stats'])
  lrelu = lambda a: np.where(a > 0, a, 0.2 * a)
  h1 = lrelu(x @ p['Dense_0']['kernel'] + p['Dense_0']['bias'])
  assert 'bias' not in p['Dense_1']  # BatchNorm's offset stands in for it
  pre = np.concatenate([h1, z], -1) @ p['Dense_1']['kernel']
  mean, var = pre.mean(0), pre.var(0)
  h2 = lrelu((pre - mean) / np.sqrt(var + 1e-5) * p['BatchNorm_0']['scale']
             + p['BatchNorm_0']['bias'])
  np.testing.assert_allclose(hidden, h2, atol=1e-5)
  np.testing.assert_allclose(logit, h2 @ p['Dense_2']['kernel'] + p['Dense_2']['bias'],
                             atol=1e-5)
  np.testing.assert_allclose(updates['batch_stats']['BatchNorm_0']['mean'], 0.1 * mean,
                             atol=1e-6)  # momentum 0.9 from zero
  # Generator form: ReLU, every hidden layer normalised, and a condition needs two hidden layers.
  g = models.BiGANMLP((5, 4, 3), 'relu', 0)
  assert 'bias' not in g.init(jax.random.PRNGKey(0), z, z)['params']['Dense_0']
  with pytest.raises(ValueError, match='at least two hidden layers'):
    models.BiGANMLP((5, 1)).init(jax.random.PRNGKey(0), x, z)
