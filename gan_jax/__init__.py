"""gan_jax: adversarial and variational generative models in JAX."""
import importlib.metadata
import os


def _prefer_xla_cpu_convolutions():
  """XLA:CPU in jaxlib 0.10 hands convolutions to the YNNPACK library; for this project's
  convolutions and their gradients XLA's own (Eigen) kernels were faster on 2 CPU cores
  (dcgan_mnist's step 772 -> 645 ms, benchmarks/README.md). Only the CPU backend reads the flag,
  only when it is set before JAX starts a backend, and a value in the user's XLA_FLAGS wins.
  Other jaxlib versions may not know the flag (XLA aborts on unknown flags): left alone there."""
  flag = '--xla_cpu_experimental_ynn_fusion_type'
  try:
    version = importlib.metadata.version('jaxlib')
  except importlib.metadata.PackageNotFoundError:
    return
  existing = os.environ.get('XLA_FLAGS', '')
  if version.split('.')[:2] == ['0', '10'] and flag not in existing:
    os.environ['XLA_FLAGS'] = f'{existing} {flag}=-individual_convolution'.strip()


_prefer_xla_cpu_convolutions()
