"""Model families, and the one interface the trainer, evaluate, generate, inspect and bench use.

A family is a class built from a config, `Family(config)`, whose methods are pure functions of
a `TrainState`. Every family has `config`, `init(rng) -> TrainState` and
`train_step(state, batch, rng) -> (state, metrics)`, which the trainer jits. Anything more a
family can do it declares by implementing a capability protocol below; generic code asks
`isinstance(model, Capability)` and never imports a concrete family.

`FAMILIES` maps `config.model` to the class, imported only when asked for. Adding a family is one
module in this package and one line here (plus its experiments and tests).

A config restored from an older checkpoint may lack fields added since; `build` gives it the
family's defaults (`fill_defaults`), so families read every field directly.
"""
import importlib
from typing import Any, Protocol, runtime_checkable

import jax

from gan_jax.writers import GRID_COLUMNS

# config.model -> 'module:Class' in gan_jax.families.
FAMILIES = {
    'dcgan': 'gan:GAN', 'mlp_gan': 'gan:GAN', 'infogan': 'gan:GAN', 'ebgan': 'gan:GAN',
    'vae': 'vae:VAE', 'conv_vae': 'vae:VAE',
    'aae': 'aae:AAE', 'bigan': 'bigan:BiGAN', 'vaegan': 'vaegan:VAEGAN',
    'text_vae': 'text:TextVAE', 'text_lm': 'text:TextVAE',
    'seqgan': 'seqgan:SeqGAN', 'leakgan': 'leakgan:LeakGAN',
    'classifier': 'classifier:Classifier',
}


def family_class(model: str) -> type:
  """The class that trains `config.model == model`."""
  if model not in FAMILIES:
    raise ValueError(f'unknown model {model!r}; known: {", ".join(FAMILIES)}')
  module, name = FAMILIES[model].split(':')
  return getattr(importlib.import_module(f'{__name__}.{module}'), name)


# Fields every family's modules read, with the value runs had before the field existed.
COMMON_DEFAULTS = {'compute_dtype': 'float32'}


def fill_defaults(config) -> None:
  """Sets each field of its family's defaults (COMMON_DEFAULTS and the class's
  CONFIG_DEFAULTS) that `config` lacks; fields it has are kept."""
  defaults = {**COMMON_DEFAULTS, **family_class(config.model).CONFIG_DEFAULTS}
  with config.unlocked():
    for dotted, value in defaults.items():
      *parents, name = dotted.split('.')
      node = config
      for parent in parents:
        node = node[parent]
      if name not in node:
        node[name] = value


def build(config) -> 'Family':
  """The family of `config.model`, built from `config` with the missing defaults filled in."""
  fill_defaults(config)
  return family_class(config.model)(config)


@runtime_checkable
class Family(Protocol):
  """What every family has."""
  config: Any
  # Dotted config fields added after checkpoints of this family were first written, each with
  # the value that reproduces what those runs did.
  CONFIG_DEFAULTS: dict[str, Any]

  def init(self, rng) -> Any:
    """A fresh TrainState (gan_jax/state.py)."""

  def train_step(self, state, batch, rng) -> tuple[Any, dict]:
    """One update, a pure function; `batch` is a dict of arrays sharded on the batch axis."""


@runtime_checkable
class MakesTrainingData(Protocol):
  """Trains on data it makes itself (SeqGAN's oracle) instead of `config.dataset`'s train split."""

  def train_data(self) -> dict:
    """The training set as a dict of arrays, batched like a dataset split."""


@runtime_checkable
class BatchesByLength(Protocol):
  """Trains on variable-length sequences batched by length, each batch padded to its bucket."""
  bucket_lengths: tuple[int, ...]  # () pads every batch to the longest sequence


@runtime_checkable
class RenamedNetworks(Protocol):
  """Has a network that older checkpoints saved under another name; they restore into today's."""
  previous_network_names: dict[str, str]  # today's name -> the name older checkpoints used


@runtime_checkable
class TrainsInPhases(Protocol):
  """Trains in phases (SeqGAN): `train_step` takes a static `phase`, compiled once per phase."""

  def phase_of(self, step: int) -> int:
    """The phase that host step `step` trains in."""


@runtime_checkable
class Evaluates(Protocol):
  """Has metrics, computed every `eval_every_steps` in training and by `gan_jax.evaluate`."""
  # The `gan_jax.evaluate` flags this family reads: flag name -> the config field it sets.
  EVALUATION_OPTIONS: dict[str, str]

  def evaluate(self, state, num_samples: int | None = None) -> dict[str, float]:
    """Scalars on `num_samples` test items or samples (default: the config's)."""


@runtime_checkable
class GeneratesImages(Protocol):
  """Maps latents (and, with classes, labels) to images in [0, 1]."""
  num_classes: int  # 0: unconditional
  image_shape: tuple[int, int, int]

  def sample_latents(self, rng, n: int):
    """[n, latent_dim] draws from the prior."""

  def sample_labels(self, rng, n: int):
    """[n] class labels, or None without classes."""

  def generate(self, state, z, labels=None):
    """[n, H, W, C] images in [0, 1]."""

  def sample_grid(self, state):
    """The images of a run's samples/ grids, from fixed noise."""


@runtime_checkable
class HasLatentCodes(Protocol):
  """Generates from interpretable codes beside the noise (InfoGAN): categorical and continuous."""
  has_codes: bool  # False: the family could, this run has no codes
  code_continuous: int

  def code_grid(self, state, rng, continuous_index: int = 0):
    """[rows * GRID_COLUMNS, H, W, C] images: a row per categorical code value, continuous code
    `continuous_index` sweeping along each row."""


@runtime_checkable
class EncodesImages(Protocol):
  """Has an encoder: images to a Gaussian posterior over the latents `generate` takes."""

  def encode(self, state, images) -> tuple[Any, Any]:
    """(mean, log-variance), each [n, latent_dim], of images in [0, 1]."""


@runtime_checkable
class GeneratesText(Protocol):
  """Samples sentences (a run's samples/ files and `generate --mode=samples`)."""

  def sample_text(self, state, num_samples: int = 10, seed: int | None = None) -> list[str]:
    """Sentences from fixed noise (default seed: the run's)."""


@runtime_checkable
class DecodesText(Protocol):
  """Decodes latents into sentences with a choice of decoding, and, when `has_encoder`, encodes
  sentences (a sentence VAE; a language model has no latent)."""
  has_encoder: bool
  vocab: Any

  def sample_latents(self, rng, n: int):
    """[n, latent_dim] draws from the prior ([n, 0] without a latent)."""

  def decode_text(self, state, z, rng, settings: dict) -> list[str]:
    """One sentence per latent; `settings`: strategy, temperature, top_k, beam_width."""

  def encode_text(self, state, tokens, lengths):
    """Posterior means [n, latent_dim] of [n, L] token ids with their lengths."""


class UnconditionalImages:
  """`sample_labels` and `sample_grid` of an image family without classes, from its own
  `sample_latents` and `generate`."""

  def sample_labels(self, rng, n: int):
    del rng, n  # unconditional
    return None

  def sample_grid(self, state):
    """Decoded from fixed prior samples, the same at every call of a run."""
    key = jax.random.PRNGKey(self.config.seed + 1)
    return self.generate(state, self.sample_latents(key, GRID_COLUMNS ** 2))
