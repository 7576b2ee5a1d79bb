"""PyTorch twins of gan_jax's dcgan_mnist, gan_mnist and vae_mnist train steps, for timing only.

Same layers, widths, initialisation scales (Flax's lecun_normal: a normal truncated at 2 std with
variance 1 / fan_in; zero biases), BatchNorm settings (momentum 0.1 in PyTorch's convention =
0.9 in Flax's, eps 1e-5), losses and optimisers (one Adam per network) as the experiment configs.
The step does what `gan_jax.families.gan.GAN.train_step` and
`gan_jax.families.vae.VAE.train_step` do: one D update on a real and a generated batch, then one
G update through the updated D (D's weights frozen there, as JAX differentiates G's parameters
only); the VAE step binarises, takes one reparameterised sample and the analytic KL.

torch is an optional extra of the benchmarks (`pip install torch`), never a dependency of gan_jax.
"""
import math

from flax import traverse_util
import torch
from torch import nn
import torch.nn.functional as F


def lecun_normal_(weight: torch.Tensor, fan_in: int):
  """Flax's default kernel init: truncated normal (+-2 std) with variance 1 / fan_in."""
  std = math.sqrt(1.0 / fan_in) / 0.87962566103423978  # the std of N(0, 1) cut at +-2
  with torch.no_grad():
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)
    return weight


def _init_like_flax(module: nn.Module):
  for layer in module.modules():
    if isinstance(layer, nn.Linear):
      lecun_normal_(layer.weight, layer.in_features)
    elif isinstance(layer, nn.Conv2d):
      lecun_normal_(layer.weight, layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1])
    elif isinstance(layer, nn.ConvTranspose2d):  # Flax's fan-in of a transposed conv: in * k * k
      lecun_normal_(layer.weight, layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1])
    else:
      continue
    if layer.bias is not None:
      nn.init.zeros_(layer.bias)
  return module


class DCGANGenerator(nn.Module):
  """z -> Dense 7*7*4f -> BN/LReLU -> ConvT 2f (5x5, s1) -> BN/LReLU -> ConvT f (s2) -> BN/LReLU
  -> ConvT 1 (s2) -> tanh; 'SAME' padding of a stride-2 transpose = padding 2, output_padding 1."""

  def __init__(self, latent_dim=100, f=64, channels=1):
    super().__init__()
    self.f = f
    self.project = nn.Linear(latent_dim, 7 * 7 * 4 * f, bias=False)
    self.norm0 = nn.BatchNorm1d(7 * 7 * 4 * f)
    self.body = nn.Sequential(
        nn.ConvTranspose2d(4 * f, 2 * f, 5, stride=1, padding=2, bias=False),
        nn.BatchNorm2d(2 * f), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(2 * f, f, 5, stride=2, padding=2, output_padding=1, bias=False),
        nn.BatchNorm2d(f), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(f, channels, 5, stride=2, padding=2, output_padding=1), nn.Tanh())
    _init_like_flax(self)

  def forward(self, z):
    x = F.leaky_relu(self.norm0(self.project(z)), 0.2)
    return self.body(x.view(-1, 4 * self.f, 7, 7))


class DCGANDiscriminator(nn.Module):
  """Conv 64 / Conv 128 (5x5, s2, 'SAME' = padding 2), LeakyReLU(0.2), dropout 0.3, then (with
  hidden_features) Dense + LeakyReLU(0.2), then Dense 1."""

  def __init__(self, f=64, channels=1, dropout_rate=0.3, hidden_features=0):
    super().__init__()
    flat = 7 * 7 * 2 * f
    head = ([nn.Linear(flat, hidden_features), nn.LeakyReLU(0.2), nn.Linear(hidden_features, 1)]
            if hidden_features else [nn.Linear(flat, 1)])
    self.net = nn.Sequential(
        nn.Conv2d(channels, f, 5, stride=2, padding=2), nn.LeakyReLU(0.2), nn.Dropout(dropout_rate),
        nn.Conv2d(f, 2 * f, 5, stride=2, padding=2), nn.LeakyReLU(0.2), nn.Dropout(dropout_rate),
        nn.Flatten(), *head)
    _init_like_flax(self)

  def forward(self, x):
    return self.net(x)[:, 0]


def _mlp(sizes, activation):
  layers = []
  for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
    layers += [nn.Linear(fan_in, fan_out), activation()]
  return layers[:-1]  # no activation after the last layer


class MLPGenerator(nn.Module):
  """Goodfellow et al. (2014): Dense 128-128-100 ReLU -> 784 sigmoid."""

  def __init__(self, latent_dim=100, hidden=(128, 128, 100)):
    super().__init__()
    self.net = nn.Sequential(*_mlp((latent_dim, *hidden, 784), nn.ReLU), nn.Sigmoid())
    _init_like_flax(self)

  def forward(self, z):
    return self.net(z).view(-1, 1, 28, 28)


class MLPDiscriminator(nn.Module):
  def __init__(self, hidden=(128, 128, 100)):
    super().__init__()
    self.net = nn.Sequential(nn.Flatten(), *_mlp((784, *hidden, 1), nn.ReLU))
    _init_like_flax(self)

  def forward(self, x):
    return self.net(x)[:, 0]


class MLPVAE(nn.Module):
  """784-200-200 tanh encoder -> 50-d Gaussian, mirrored decoder -> Bernoulli logits."""

  def __init__(self, hidden=(200, 200), latent_dim=50):
    super().__init__()
    self.encoder = nn.Sequential(*_mlp((784, *hidden), nn.Tanh), nn.Tanh(),
                                 nn.Linear(hidden[-1], 2 * latent_dim))
    self.decoder = nn.Sequential(*_mlp((latent_dim, *reversed(hidden)), nn.Tanh), nn.Tanh(),
                                 nn.Linear(hidden[0], 784))
    _init_like_flax(self)


class GANStep:
  """One train step of a GAN: D on real and fake, then G through the updated D."""

  def __init__(self, generator, discriminator, latent_dim, lr, betas, tanh_output, device):
    self.g, self.d = generator.to(device), discriminator.to(device)
    self.g_opt = torch.optim.Adam(self.g.parameters(), lr=lr, betas=betas)
    self.d_opt = torch.optim.Adam(self.d.parameters(), lr=lr, betas=betas)
    self.latent_dim, self.tanh_output, self.device = latent_dim, tanh_output, device

  def compile(self):
    """torch.compile's networks (the usual `model = torch.compile(model)`); the step around them
    stays eager, as backward() and the optimisers need."""
    self.g, self.d = torch.compile(self.g), torch.compile(self.d)

  def __call__(self, images_uint8, z=None):
    """One step on a uint8 NCHW batch, with G's latents `z` (default: drawn here)."""
    real = images_uint8.float() / 255.0
    real = 2.0 * real - 1.0 if self.tanh_output else real
    if z is None:
      z = torch.randn(real.shape[0], self.latent_dim, device=self.device)
    # PyTorch's DCGAN example: G runs once; D learns from the detached batch, and G's loss goes
    # through the updated D to that same batch (what the JAX step computes).
    fake = self.g(z)
    real_logits, fake_logits = self.d(real), self.d(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    self.d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    self.d_opt.step()

    self.d.requires_grad_(False)
    logits = self.d(fake)
    g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    self.g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    self.g_opt.step()
    self.d.requires_grad_(True)
    return d_loss.detach(), g_loss.detach()


class VAEStep:
  """One ELBO step: dynamic binarisation, one reparameterised sample, analytic KL."""

  def __init__(self, vae, lr, device):
    self.vae = vae.to(device)
    self.opt = torch.optim.Adam(self.vae.parameters(), lr=lr, eps=1e-4)
    self.latent_dim = vae.decoder[0].in_features

  def compile(self):
    self.vae.encoder = torch.compile(self.vae.encoder)
    self.vae.decoder = torch.compile(self.vae.decoder)

  def __call__(self, images_uint8):
    x = torch.bernoulli(images_uint8.float().flatten(1) / 255.0)
    mean, logvar = self.vae.encoder(x).chunk(2, dim=-1)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    logits = self.vae.decoder(z)
    log_px_z = -F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(-1)
    kl = 0.5 * (mean ** 2 + logvar.exp() - 1.0 - logvar).sum(-1)
    loss = (kl - log_px_z).mean()
    self.opt.zero_grad(set_to_none=True)
    loss.backward()
    self.opt.step()
    return loss.detach()


# The GAN switches the twin's step does not implement, with the value that turns each off: a
# config with any of them on is refused, so both sides always run the same algorithm.
GAN_SWITCHES_OFF = {'loss': 'non_saturating', 'num_classes': 0, 'code_classes': 0,
                    'r1_weight': 0.0, 'gp_weight': 0.0, 'augment': '', 'label_smoothing': 0.0,
                    'feature_matching': False, 'ema_decay': 0.0, 'optimizer.schedule': 'constant',
                    'optimizer.grad_clip_norm': 0.0, 'discriminator.spectral_norm': False,
                    'discriminator.minibatch_stddev': False}


def check_gan_switches(config) -> None:
  fields = traverse_util.flatten_dict(config.to_dict(), sep='.')
  on = {name: off for name, off in GAN_SWITCHES_OFF.items() if fields[name] != off}
  if on:
    raise ValueError('the PyTorch twin implements none of ' + ', '.join(on) + '; compare the '
                     'same algorithm with ' + ' '.join(f'--config.{k}={v}' for k, v in on.items()))


def make_step(config, device: str):
  """The PyTorch train step for a gan_jax experiment config (dcgan, mlp_gan or vae)."""
  if config.model in ('dcgan', 'mlp_gan'):
    check_gan_switches(config)
  if config.model == 'dcgan':
    g = DCGANGenerator(config.latent_dim, config.generator.base_features)
    d = DCGANDiscriminator(config.discriminator.base_features,
                           dropout_rate=config.discriminator.dropout_rate,
                           hidden_features=config.discriminator.hidden_features)
  elif config.model == 'mlp_gan':
    g = MLPGenerator(config.latent_dim, tuple(config.generator.hidden_sizes))
    d = MLPDiscriminator(tuple(config.discriminator.hidden_sizes))
  elif config.model == 'vae':
    return VAEStep(MLPVAE(tuple(config.vae.hidden_sizes), config.vae.latent_dim),
                   config.optimizer.learning_rate, device)
  else:
    raise ValueError(f'no PyTorch twin of model {config.model!r}; have dcgan, mlp_gan, vae')
  opt = config.optimizer
  if opt.g_learning_rate != opt.d_learning_rate:
    raise ValueError('the PyTorch twin uses one learning rate for G and D')
  return GANStep(g, d, config.latent_dim, opt.g_learning_rate, (opt.b1, opt.b2),
                 config.generator.output_activation == 'tanh', device)
