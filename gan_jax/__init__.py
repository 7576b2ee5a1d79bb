"""gan_jax: adversarial and variational generative models in JAX/Flax."""
