"""Reading trajectories and tables of runs; nothing here trains.

- :mod:`~warmup_lib.analysis.trajectory`: loss excursions and catapults, the early regime
  (progressive sharpening or sharpness reduction), the first collision with 2/eta.
- :mod:`~warmup_lib.analysis.phase`: phase-diagram statistics of a sweep table: the largest
  trainable eta per T_wrm, the warmup gain, cell means, variance shares, best-to-boundary.
"""

from warmup_lib.analysis.phase import largest_trainable, largest_trainable_eta
from warmup_lib.analysis.trajectory import (
    Catapult, Collision, EarlyRegime, Excursion, detect_catapults, early_regime, first_collision, loss_excursions,
)

__all__ = [
    "Catapult", "Collision", "EarlyRegime", "Excursion", "detect_catapults", "early_regime", "first_collision",
    "largest_trainable", "largest_trainable_eta", "loss_excursions",
]
