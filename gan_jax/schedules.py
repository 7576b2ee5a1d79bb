"""Learning-rate schedules named by `config.optimizer.schedule`, shared by the families."""
import numpy as np
import optax

SCHEDULES = ('constant', 'cosine', 'linear', 'burda')
BURDA_STAGES = 8  # Burda et al. (2015): stages i = 0..7


def burda_boundaries(num_train_steps: int, stages: int = BURDA_STAGES) -> list[int]:
  """Steps where Burda et al.'s stages end, their 3^i-epoch lengths scaled to num_train_steps
  (the paper's own schedule is num_train_steps = 3,280 epochs)."""
  lengths = 3.0 ** np.arange(stages)
  return [int(round(b)) for b in np.cumsum(lengths)[:-1] / lengths.sum() * num_train_steps]


def learning_rate(schedule: str, base: float, num_train_steps: int):
  """'constant': base; 'cosine': base -> 0 over num_train_steps; 'linear': base for the first
  half, then linearly to 0 (the niter + niter_decay schedule of Radford et al.'s and Donahue et
  al.'s code); 'burda': base * 10^(-i/7) in stage i of burda_boundaries."""
  if schedule == 'constant':
    return base
  if schedule == 'cosine':
    return optax.cosine_decay_schedule(base, num_train_steps)
  if schedule == 'linear':
    half = num_train_steps // 2
    return optax.join_schedules(
        [optax.constant_schedule(base), optax.linear_schedule(base, 0.0, num_train_steps - half)],
        [half])
  if schedule == 'burda':
    # piecewise_constant_schedule multiplies by each boundary's scale in turn.
    return optax.piecewise_constant_schedule(
        base, {b: 10.0 ** (-1 / 7) for b in burda_boundaries(num_train_steps)})
  raise ValueError(f'optimizer.schedule={schedule!r}: use one of {", ".join(SCHEDULES)}')


def from_config(opt, base: float, num_train_steps: int):
  """The learning rate an optimizer config asks for: `opt.schedule` spanning
  `opt.schedule_steps` steps when set, else the run's num_train_steps. A span longer than the run stops it before the rate reaches the
  schedule's end (dcgan_mnist measured better so, docs/gan_recipes.md)."""
  return learning_rate(opt.schedule, base, opt.schedule_steps or num_train_steps)
