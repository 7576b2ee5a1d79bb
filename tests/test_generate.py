import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from gan_jax import generate
from gan_jax import input_pipeline
from gan_jax import latent
from gan_jax import train
from gan_jax import writers
from gan_jax.tools import images as image_tools
from conftest import REPO, requires_mnist, tiny_config

TILE = 28 + 2  # a grid cell: the image and its padding


def test_slerp_keeps_endpoints_and_the_norm():
  z0, z1 = jax.random.normal(jax.random.PRNGKey(0), (2, 50))
  z1 = z1 / jnp.linalg.norm(z1) * jnp.linalg.norm(z0)
  t = jnp.linspace(0.0, 1.0, 7)
  path = latent.slerp(z0, z1, t)
  np.testing.assert_allclose(path[0], z0, atol=1e-5)
  np.testing.assert_allclose(path[-1], z1, atol=1e-5)
  np.testing.assert_allclose(jnp.linalg.norm(path, axis=-1), jnp.linalg.norm(z0), rtol=1e-5)
  # Constant angular speed: equal angles between neighbours.
  unit = path / jnp.linalg.norm(path, axis=-1, keepdims=True)
  angles = jnp.arccos(jnp.clip(jnp.sum(unit[1:] * unit[:-1], -1), -1, 1))
  np.testing.assert_allclose(angles, angles[0], rtol=1e-3)
  # The linear midpoint of two near-orthogonal Gaussian latents is shorter by about sqrt(2).
  assert jnp.linalg.norm(latent.lerp(z0, z1, t)[3]) < 0.8 * jnp.linalg.norm(z0)
  # Parallel latents: the circle is undefined, and slerp falls back to the straight line.
  np.testing.assert_allclose(latent.slerp(z0, 2 * z0, t), latent.lerp(z0, 2 * z0, t), rtol=1e-5)


def test_style_transfer_and_analogy_arithmetic():
  means = jnp.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
  z = jnp.array([[1.0, 2.0], [11.0, -1.0]])
  out = latent.transfer_style(z, jnp.array([0, 1]), means)
  assert out.shape == (2, 3, 2)
  np.testing.assert_allclose(out[0, 0], z[0])  # its own class gives the latent back
  np.testing.assert_allclose(out[1, 2], [1.0, 9.0])  # style (1, -1) on class 2's mean
  np.testing.assert_allclose(latent.class_means(jnp.concatenate([means, means + 2]),
                                                np.array([0, 1, 2, 0, 1, 2]), 3), means + 1)
  with pytest.raises(ValueError, match=r'no latents of class \[2\]'):
    latent.class_means(means, np.array([0, 1, 1]), 3)
  np.testing.assert_allclose(latent.analogy(jnp.array([[4.0], [6.0]]), jnp.array([[1.0]]),
                                            jnp.array([[2.0], [2.0]])), [6.0])


def test_nearest_matches_brute_force():
  bank = jax.random.normal(jax.random.PRNGKey(1), (500, 8))
  queries = bank[jnp.array([3, 77])] + 0.01
  order, distances = latent.nearest(bank, queries, 5)
  for q in range(2):
    brute = np.linalg.norm(np.asarray(bank) - np.asarray(queries[q]), axis=-1)
    np.testing.assert_array_equal(order[q], np.argsort(brute)[:5])
    np.testing.assert_allclose(distances[q], np.sort(brute)[:5], rtol=1e-3, atol=1e-3)
  assert list(order[:, 0]) == [3, 77]


def test_sample_like_stays_near_the_liked():
  means = jnp.array([[0.0, 0.0], [4.0, 4.0]])
  logvars = jnp.full_like(means, 2 * jnp.log(0.1))
  z = latent.sample_like(jax.random.PRNGKey(0), means, logvars, 1000)
  # Within the liked items' hull (x = y, 0..4) up to a few posterior standard deviations.
  assert jnp.all((z >= -0.5) & (z <= 4.5)) and jnp.max(jnp.abs(z[:, 0] - z[:, 1])) < 0.8
  one = latent.sample_like(jax.random.PRNGKey(0), means[1:], logvars[1:], 3, spread=0.0)
  np.testing.assert_allclose(one, jnp.tile(means[1:], (3, 1)), rtol=1e-6)


def _grid_shape(result):
  rows = -(-result['images'] // result['columns'])
  scale = writers.GRID_SCALE
  return ((rows * TILE + 2) * scale, (result['columns'] * TILE + 2) * scale)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """Tiny trained checkpoints: an MLP VAE, an unconditional and a conditional DCGAN."""
  workdirs = {}
  for name, overrides in [('vae_mnist', {}), ('dcgan_mnist', {}), ('cdcgan_mnist', {
      'generator.base_features': 4, 'discriminator.base_features': 4})]:
    workdir = tmp_path_factory.mktemp(name)
    train.train_and_evaluate(tiny_config(name, num_train_steps=2, **overrides), str(workdir))
    workdirs[name] = str(workdir)
  return workdirs


@requires_mnist
@pytest.mark.parametrize('run_name,mode,kwargs,images,columns', [
    ('vae_mnist', 'samples', {}, 64, 8),
    ('cdcgan_mnist', 'samples', {}, 80, 8),  # one row per class
    ('dcgan_mnist', 'codes', {}, 80, 8),  # one row per value of its categorical code
    ('vae_mnist', 'reconstruct', {'images': ['3', '5', '8']}, 16, 8),  # input row, recon row
    ('vae_mnist', 'interpolate', {'images': ['1', '2'], 'steps': 6}, 12, 6),  # linear, spherical
    ('dcgan_mnist', 'interpolate', {'num': 3, 'steps': 5}, 30, 5),
    ('vae_mnist', 'arithmetic', {'num': 4}, 55, 11),  # 4 sources + the analogy row
    ('cdcgan_mnist', 'arithmetic', {'num': 2}, 33, 11),
    ('vae_mnist', 'like', {'like_items': ['0', '7'], 'num': 8, 'nearest': 7}, 32, 8),
])
def test_generate_modes_write_grids_of_the_right_shape(runs, tmp_path, run_name, mode, kwargs,
                                                       images, columns):
  out = tmp_path / f'{mode}.png'
  result = generate.run(runs[run_name], mode, str(out), **kwargs)
  assert (result['images'], result['columns'], result['step']) == (images, columns, 2)
  grid = np.asarray(Image.open(out))
  assert grid.shape == _grid_shape(result)
  assert grid.std() > 0  # not one flat colour
  if mode == 'arithmetic':
    assert 0.0 <= result['style_transfer_agreement'] <= 1.0
    assert result['ink_thick_7s'] > result['ink_thin_1s']
  if mode == 'like':
    neighbours = result['nearest_training_items']
    assert [len(n) for n in neighbours] == [7, 7]
    assert all(a['distance'] <= b['distance'] for n in neighbours for a, b in zip(n, n[1:]))
    assert sum(result['generated_class_counts']) == 8


@requires_mnist
def test_image_files_are_read_and_resized(runs, tmp_path):
  image = input_pipeline.load_split('mnist', 'test')['image'][4, ..., 0]
  Image.fromarray(image).resize((56, 56)).save(tmp_path / 'digit.png')
  loaded = image_tools.load_images([str(tmp_path / 'digit.png'), '4'], (28, 28, 1))
  assert loaded.shape == (2, 28, 28, 1)
  assert np.mean(np.abs(loaded[0] - loaded[1])) < 0.05  # the same digit, up to resampling
  result = generate.run(runs['vae_mnist'], 'like', str(tmp_path / 'like.png'),
                        like_items=[str(tmp_path / 'digit.png')], num=4, nearest=3)
  assert len(result['nearest_training_items']) == 1


@requires_mnist
@pytest.mark.parametrize('run_name,mode,kwargs,message', [
    ('dcgan_mnist', 'reconstruct', {}, r'--mode=reconstruct needs an encoder.*use a run with an encoder'),
    ('dcgan_mnist', 'like', {'like_items': ['1']}, r'--mode=like needs an encoder'),
    ('dcgan_mnist', 'interpolate', {'images': ['1', '2']}, r'needs an encoder'),
    ('vae_mnist', 'like', {}, r'needs --like='),
    ('cdcgan_mnist', 'codes', {}, r'--mode=codes needs a run with latent codes'),
    ('vae_mnist', 'codes', {}, r'--mode=codes needs a run with latent codes'),
    ('vae_mnist', 'like', {'like_items': ['/nonexistent.png']}, r"cannot read image '/nonex"),
    ('vae_mnist', 'reconstruct', {'images': ['10000']}, r'index 10000 is out of range'),
    ('vae_mnist', 'interpolate', {'images': ['1', '2', '3']}, r'pass an even number'),
    ('vae_mnist', 'paint', {}, r"unknown mode 'paint'; choose one of samples, "),
])
def test_bad_requests_get_clear_errors(runs, tmp_path, run_name, mode, kwargs, message):
  with pytest.raises(generate.GenerateError, match=message):
    generate.run(runs[run_name], mode, str(tmp_path / 'x.png'), **kwargs)
  assert not (tmp_path / 'x.png').exists()


@requires_mnist
def test_cli_prints_json_last_and_fails_cleanly(runs, tmp_path):
  out = tmp_path / 'samples.png'
  ok = subprocess.run([sys.executable, '-m', 'gan_jax.generate', f'--workdir={runs["vae_mnist"]}',
                       '--mode=samples', '--num=16', f'--out={out}', '--scale=2'],
                      cwd=REPO, capture_output=True, text=True, check=True)
  assert json.loads(ok.stdout.strip().splitlines()[-1])['images'] == 16
  assert np.asarray(Image.open(out)).shape == ((2 * TILE + 2) * 2, (8 * TILE + 2) * 2)
  bad = subprocess.run([sys.executable, '-m', 'gan_jax.generate', f'--workdir={runs["dcgan_mnist"]}',
                        '--mode=like', '--like=1', f'--out={out}'],
                       cwd=REPO, capture_output=True, text=True)
  assert bad.returncode == 1
  assert bad.stderr.strip().splitlines()[-1].startswith('error: --mode=like needs an encoder')
  assert 'Traceback' not in bad.stderr
