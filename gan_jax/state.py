"""The training state every model family shares: networks, each with its own Optax state."""
from typing import Any

import flax.struct
import jax
import optax


@flax.struct.dataclass
class Network:
  """One network's variables and its own optimiser state."""
  params: Any
  batch_stats: Any
  opt_state: Any

  @classmethod
  def create(cls, variables, tx: optax.GradientTransformation) -> 'Network':
    params = variables['params']
    return cls(params=params, batch_stats=variables.get('batch_stats', {}),
               opt_state=tx.init(params))

  def variables(self, params=None) -> dict:
    """Flax variables, optionally with other params (the ones being differentiated)."""
    return {'params': self.params if params is None else params, 'batch_stats': self.batch_stats}

  def apply_gradients(self, grads, tx: optax.GradientTransformation, batch_stats=None):
    updates, opt_state = tx.update(grads, self.opt_state, self.params)
    return self.replace(params=optax.apply_updates(self.params, updates), opt_state=opt_state,
                        batch_stats=self.batch_stats if batch_stats is None else batch_stats)


def standing_statistics(module, network: Network, *inputs) -> Network:
  """`network` with its BatchNorm statistics recomputed for its current weights from `inputs`
  (BigGAN's "standing statistics", Donahue et al.'s "deploy" statistics), where training left
  running averages of batches seen under older weights. `module` must take a
  `batch_norm_momentum`: at 0, one train-mode call stores exactly the statistics of `inputs`,
  layer by layer as each normalised layer feeds the next."""
  if not network.batch_stats:
    return network
  _, new_vars = module.clone(batch_norm_momentum=0.0).apply(
      network.variables(), *inputs, train=True, mutable=['batch_stats'])
  return network.replace(batch_stats=new_vars['batch_stats'])


@flax.struct.dataclass
class TrainState:
  """step, the base PRNG key (step keys are folded in from it), and the named networks."""
  step: jax.Array
  rng: jax.Array
  networks: dict[str, Network]
