"""Stability thresholds: the largest curvature an optimizer at learning rate eta can follow.

On a quadratic with curvature lambda, gradient descent x <- x - eta lambda x is stable iff
|1 - eta lambda| < 1, i.e. lambda < 2 / eta.  Heavy-ball momentum beta moves the edge to
(2 + 2 beta) / eta, and Adam (whose update is pre-conditioned by P) is stable while the
pre-conditioned sharpness lambda^{P^-1 H} < (2 + 2 beta1) / ((1 - beta1) eta), 38/eta at beta1 = 0.9.
"""

from __future__ import annotations

__all__ = ["sgd_threshold", "momentum_threshold", "adam_threshold"]


def sgd_threshold(eta: float) -> float:
    """The stability threshold of gradient descent (and SGD) at learning rate eta: 2/eta.

    On a quadratic of curvature lambda, the step x <- (1 - eta lambda) x is stable iff
    -1 < 1 - eta lambda < 1, i.e. lambda < 2/eta; gradient descent follows the loss while the
    sharpness lambda^H stays below 2/eta.

    Args:
        eta: the learning rate, > 0.

    Returns:
        2/eta, the largest sharpness gradient descent at eta can follow.
    """
    return 2.0 / eta


def momentum_threshold(eta: float, beta: float) -> float:
    """The stability threshold of heavy-ball momentum at learning rate eta: (2 + 2 beta)/eta.

    On a quadratic of curvature lambda, x_{t+1} = x_t - eta lambda x_t + beta (x_t - x_{t-1}) is
    stable iff lambda < (2 + 2 beta)/eta; beta = 0 gives gradient descent's 2/eta.

    Args:
        eta: the learning rate, > 0.
        beta: the momentum coefficient, in [0, 1).

    Returns:
        (2 + 2 beta)/eta, the largest sharpness lambda^H momentum at eta can follow.
    """
    return (2.0 + 2.0 * beta) / eta


def adam_threshold(eta: float, beta1: float) -> float:
    """Adam's stability threshold on the pre-conditioned sharpness: (2 + 2 beta1) / ((1 - beta1) eta).

    Adam's step is momentum with an average m_t = beta1 m_{t-1} + (1 - beta1) g_t, pre-conditioned
    by P; on a quadratic it is stable while the pre-conditioned sharpness
    lambda^{P^-1 H} < (2 + 2 beta1) / ((1 - beta1) eta), which is 38/eta at beta1 = 0.9.

    Args:
        eta: the learning rate, > 0.
        beta1: Adam's first-moment coefficient, in [0, 1).

    Returns:
        (2 + 2 beta1) / ((1 - beta1) eta), the largest lambda^{P^-1 H} Adam at eta can follow.
    """
    return (2.0 + 2.0 * beta1) / ((1.0 - beta1) * eta)
