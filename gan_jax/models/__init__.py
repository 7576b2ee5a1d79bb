"""Flax Linen networks by domain: `image` (GANs, VAEs, the reference classifier, built on the
`layers` module) and `text` (recurrent sentence models, SeqGAN's discriminator, LeakGAN's
manager and worker)."""
from gan_jax.models.image import (MLP, AutoencoderDiscriminator, BiGANMLP, ConvVAE,
                                  DCGANDiscriminator, DCGANGenerator, MLPDiscriminator,
                                  MLPGenerator, MLPVAE, MNISTClassifier, build_gan)
from gan_jax.models.layers import (COMPUTE_DTYPES, SubpixelConvTranspose, compute_dtype,
                                   conv_general_dilated, minibatch_stddev)
from gan_jax.models.text import (LeakGANManager, LeakGANWorker, SentenceVAE,
                                 SeqGANDiscriminator)

__all__ = ['COMPUTE_DTYPES', 'MLP', 'AutoencoderDiscriminator', 'BiGANMLP', 'ConvVAE',
           'DCGANDiscriminator', 'DCGANGenerator', 'LeakGANManager', 'LeakGANWorker',
           'MLPDiscriminator',
           'MLPGenerator', 'MLPVAE', 'MNISTClassifier', 'SentenceVAE', 'SeqGANDiscriminator',
           'SubpixelConvTranspose', 'build_gan', 'compute_dtype', 'conv_general_dilated',
           'minibatch_stddev']
