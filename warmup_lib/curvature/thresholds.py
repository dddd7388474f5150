"""Stability thresholds: the largest curvature an optimizer at learning rate eta can follow.

On a quadratic with curvature lambda, gradient descent x <- x - eta lambda x is stable iff
|1 - eta lambda| < 1, i.e. lambda < 2 / eta.  Heavy-ball momentum beta moves the edge to
(2 + 2 beta) / eta, and Adam (whose update is pre-conditioned by P) is stable while the
pre-conditioned sharpness lambda^{P^-1 H} < (2 + 2 beta1) / ((1 - beta1) eta), 38/eta at beta1 = 0.9.
"""

from __future__ import annotations

__all__ = ["sgd_threshold", "momentum_threshold", "adam_threshold"]


def sgd_threshold(eta: float) -> float:
    """Stability threshold of (S)GD on a quadratic: lambda^H < 2 / eta."""
    return 2.0 / eta


def momentum_threshold(eta: float, beta: float) -> float:
    """Stability threshold of heavy-ball momentum: lambda^H < (2 + 2 beta) / eta."""
    return (2.0 + 2.0 * beta) / eta


def adam_threshold(eta: float, beta1: float) -> float:
    """Adam's threshold on the pre-conditioned sharpness: (2 + 2 beta1) / ((1 - beta1) eta); 38/eta at 0.9."""
    return (2.0 + 2.0 * beta1) / ((1.0 - beta1) * eta)
