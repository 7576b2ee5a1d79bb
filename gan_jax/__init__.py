"""gan_jax: adversarial and variational generative models in JAX."""
import os

# XLA:CPU hands convolutions to the YNNPACK library by default (jax 0.10); for this project's
# convolutions and their gradients XLA's own (Eigen) kernels were faster: dcgan_mnist's step
# 772 -> 645 ms on 2 CPU cores (benchmarks/README.md). Only the CPU backend reads the flag, and
# only if set before JAX starts its backend; a value in the user's XLA_FLAGS wins.
_CPU_CONV_FLAG = '--xla_cpu_experimental_ynn_fusion_type'
if _CPU_CONV_FLAG not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             f' {_CPU_CONV_FLAG}=-individual_convolution').strip()
