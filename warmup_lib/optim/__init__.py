"""Optimizers and what they will do next.

- :mod:`~warmup_lib.optim.giadam`: :class:`GIAdam`, Adam with its second moment initialised from the
  first gradient (GI-Adam, v0 = g0^2) or from random values (RI-Adam); a ``torch.optim.Optimizer``.
- :mod:`~warmup_lib.optim.adopt`: :class:`ADOPT` (Taniguchi et al. 2024), Adam normalised by the
  previous second moment, with a clip t^(1/4); its first step only stores v0 = g0^2.
- :mod:`~warmup_lib.optim.factory`: builds the optimizer a :class:`~warmup_lib.config.OptimConfig`
  names and initialises GI-/RI-Adam's v0 from a batch.
- :mod:`~warmup_lib.optim.direction`: the update an optimizer *would* take next, without taking it
  (what the critical-learning-rate search needs).
- :mod:`~warmup_lib.optim.adam_state`: Adam's moment norms during training and GI-Adam's implicit
  warmup eta_t = eta sqrt(1 - beta2^t).
"""

from warmup_lib.optim.adam_state import implicit_warmup_factor, matching_linear_warmup
from warmup_lib.optim.adopt import ADOPT
from warmup_lib.optim.direction import next_update_direction
from warmup_lib.optim.factory import build_optimizer, initialise_second_moment
from warmup_lib.optim.giadam import GIAdam

__all__ = [
    "ADOPT", "GIAdam", "build_optimizer", "implicit_warmup_factor", "initialise_second_moment",
    "matching_linear_warmup", "next_update_direction",
]
