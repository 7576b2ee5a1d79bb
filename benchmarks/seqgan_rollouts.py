"""Wall time of SeqGAN's jitted rollout rewards for one adversarial step of `seqgan_oracle` (a
fresh G and D; median of 5 calls after the compiling one).

  python benchmarks/seqgan_rollouts.py
"""
import time

import jax
import numpy as np

from gan_jax import configs, families
from gan_jax.families import seqgan


def main():
  config = configs.load_config('seqgan_oracle')
  model = families.build(config)
  state = model.init(jax.random.PRNGKey(0))
  g, d = state.networks['generator'].params, state.networks['discriminator'].params
  tokens = seqgan.sample_sequences(model.generator, g, jax.random.PRNGKey(1), config.batch_size,
                                   model.length)
  rewards = jax.jit(model.rewards)
  start = time.perf_counter()
  jax.block_until_ready(rewards(g, d, tokens, jax.random.PRNGKey(2)))
  compile_s = time.perf_counter() - start
  times = []
  for i in range(5):
    start = time.perf_counter()
    jax.block_until_ready(rewards(g, d, tokens, jax.random.PRNGKey(3 + i)))
    times.append(time.perf_counter() - start)
  print(f'batch {config.batch_size} rollouts {config.num_rollouts} length {model.length}: '
        f'first call {compile_s:.2f} s, median {np.median(times):.3f} s (min {min(times):.3f})')


if __name__ == '__main__':
  main()
