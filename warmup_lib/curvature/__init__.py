"""Curvature of the training loss: Hessian-vector products, eigensolvers, sharpness, thresholds.

- :mod:`~warmup_lib.curvature.hessian`: matrix-free Hessian-vector products H v (double backward or
  forward-over-reverse), in a float64 copy if asked, over one or several batches.
- :mod:`~warmup_lib.curvature.eigensolvers`: restarted Lanczos (and scipy's ARPACK) over an HVP.
- :mod:`~warmup_lib.curvature.spectrum`: the sharpness lambda_max(H) and Adam's pre-conditioned
  sharpness lambda_max(P^-1 H).
- :mod:`~warmup_lib.curvature.directional`: the curvature u^T H u / u^T u along one direction and
  batch sharpness, the mean over minibatches of g_B^T H_B g_B / g_B^T g_B.
- :mod:`~warmup_lib.curvature.thresholds`: 2/eta, (2 + 2 beta)/eta and 38/eta.
- :mod:`~warmup_lib.curvature.tracker`: :class:`SharpnessTracker`, for any training loop.
- :mod:`~warmup_lib.curvature.signals`: :class:`CurvatureSignals`, a trainer callback measuring the
  warmup signals side by side (sharpness, pre-conditioned sharpness, eta_c, batch sharpness) with their costs.
"""

from warmup_lib.curvature.directional import BatchSharpness, batch_sharpness, directional_curvature
from warmup_lib.curvature.eigensolvers import ConvergenceWarning, EigenResult, top_eigenpairs
from warmup_lib.curvature.hessian import HVPOperator, hvp
from warmup_lib.curvature.spectrum import adam_preconditioner, preconditioned_sharpness, sharpness
from warmup_lib.curvature.thresholds import adam_threshold, momentum_threshold, sgd_threshold
from warmup_lib.curvature.tracker import SharpnessTracker
from warmup_lib.curvature.signals import CurvatureSignals  # last: it imports warmup_lib.critical, which imports us

__all__ = [
    "BatchSharpness", "ConvergenceWarning", "CurvatureSignals", "EigenResult", "HVPOperator", "SharpnessTracker",
    "adam_preconditioner", "adam_threshold", "batch_sharpness", "directional_curvature", "hvp", "momentum_threshold",
    "preconditioned_sharpness", "sgd_threshold", "sharpness", "top_eigenpairs",
]
