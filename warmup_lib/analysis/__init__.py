"""Reading trajectories and tables of runs; nothing here trains.

- :mod:`~warmup_lib.analysis.trajectory`: loss excursions and catapults, the early regime
  (progressive sharpening or sharpness reduction), the first collision with 2/eta.
"""

from warmup_lib.analysis.trajectory import (
    Catapult, Collision, EarlyRegime, detect_catapults, early_regime, first_collision, loss_excursions,
)

__all__ = [
    "Catapult", "Collision", "EarlyRegime", "detect_catapults", "early_regime", "first_collision",
    "loss_excursions",
]
