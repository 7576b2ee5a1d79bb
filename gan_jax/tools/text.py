"""Tools on text runs: sentences from the prior, reconstructions and homotopies for families that
DecodesText (the sentence VAE; the language model samples only), samples for those that only
GeneratesText (SeqGAN)."""
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import families
from gan_jax import input_pipeline
from gan_jax import latent
from gan_jax.tools import GenerateError

MODES = ('samples', 'reconstruct', 'interpolate')
DEFAULT_NUM = 10  # sentences from the prior


def load_sentences(model, specs) -> dict[str, np.ndarray]:
  """{'tokens', 'length'} for sentences given as text (unknown words become <unk>) or as test-set
  indices."""
  test = input_pipeline.load_split(model.config.dataset, 'test')
  sentences = []
  for spec in specs:
    if spec.strip().isdigit():
      if int(spec) >= len(test['tokens']):
        raise GenerateError(f'test-set index {spec} is out of range: the test set has '
                            f'{len(test["tokens"])} sentences.')
      sentences.append(model.vocab.decode(test['tokens'][int(spec)]))
    elif spec.strip():
      sentences.append(spec.strip().lower())
    else:
      raise GenerateError('an empty --sentences item; pass a sentence or a test-set index.')
  return input_pipeline.encode_sentences(model.vocab, sentences)


def decoded(model, state, mode: str, rng, num: int, sentences, steps: int, decoding: dict) -> dict:
  """Sentences for a text run's `mode`, decoded with `decoding` (strategy, temperature, top_k,
  beam_width)."""
  if mode not in MODES:
    raise GenerateError(f'--mode={mode} is for image runs; a text run takes one of '
                        f'{", ".join(MODES)}.')
  decode_key, z_key = jax.random.split(rng)
  decode = lambda z: model.decode_text(state, z, decode_key, decoding)
  if mode == 'samples':
    return {'samples': decode(model.sample_latents(z_key, num))}
  if not model.has_encoder:
    raise GenerateError(f'--mode={mode} needs an encoder, and a {model.config.model} run (a '
                        'language model) has none; use a text_vae_ptb run.')
  if not sentences:
    raise GenerateError(f'--mode={mode} needs --sentences (a sentence or a test-set index; '
                        'repeat the flag).')
  batch = load_sentences(model, sentences)
  mean = model.encode_text(state, batch['tokens'], batch['length'])
  inputs = [model.vocab.decode(row) for row in batch['tokens']]
  if mode == 'reconstruct':
    return {'reconstructions': [{'input': i, 'output': o} for i, o in zip(inputs, decode(mean))]}
  if len(inputs) < 2:
    raise GenerateError('--mode=interpolate needs two --sentences (the homotopy\'s ends).')
  path = latent.lerp(mean[0], mean[1], jnp.linspace(0.0, 1.0, steps))
  return {'from': inputs[0], 'to': inputs[1], 'homotopy': decode(path)}


def run(model, state, mode: str, num: int | None, seed: int, sentences, steps: int,
        decoding: dict) -> dict:
  """The sentences of `mode` for a text run, as a dict of lists (and endpoints)."""
  num = DEFAULT_NUM if num is None else num
  if isinstance(model, families.DecodesText):
    return decoded(model, state, mode, jax.random.PRNGKey(seed), num, sentences, steps,
                   decoding)
  if mode != 'samples':
    raise GenerateError(f'--mode={mode}: a {model.config.model} run has no encoder; it takes '
                        '--mode=samples.')
  return {'samples': model.sample_text(state, num, seed)}  # its own sampling policy, T = 1
