"""The critical learning rate eta_c and the warmups built on it (paper section 6.1, Algs. 1-2).

- :mod:`~warmup_lib.critical.search`: :func:`critical_lr`, the smallest rate at which one step of the
  optimizer raises the loss, found with forward passes only.
- :mod:`~warmup_lib.critical.warmup`: T_reach and T_save, :func:`suggest_warmup` (where a warmup
  should start) and :class:`PersistentCatapultWarmup` (a rate that re-estimates eta_c as it trains).
- :mod:`~warmup_lib.critical.cdat`: :class:`CurvatureAdaptiveLR`, CDAT's rate scale * a/b from the slope a
  and curvature b along the optimizer's next update (a warmup with no schedule), and its trainer callback.
"""

from warmup_lib.critical.cdat import CurvatureAdaptiveCallback, CurvatureAdaptiveLR
from warmup_lib.critical.search import CriticalLR, critical_lr
from warmup_lib.critical.warmup import (
    PersistentCatapultWarmup, Reestimate, WarmupSuggestion, suggest_warmup, t_reach, t_save,
)

__all__ = [
    "CriticalLR", "CurvatureAdaptiveCallback", "CurvatureAdaptiveLR", "PersistentCatapultWarmup", "Reestimate",
    "WarmupSuggestion", "critical_lr", "suggest_warmup", "t_reach", "t_save",
]
