"""Adam's state during training: moment norms, the size of its steps, and GI-Adam's implicit warmup.

**Moment norms** (the authors' ``mu_norm_step`` / ``nu_norm_step``, paper App. G): ||m_t||_2 and
||v_t||_2 over all parameters flattened, read from the optimizer state before update t.  After a
large early gradient spike ||v|| stays large for about 1/(1 - beta2) steps, so every later step
eta m_hat / sqrt(v_hat) is tiny: the paper's picture of Adam's *training failures*.

**Step size** measured from the run: the RMS over parameters of the update theta_{t+1} - theta_t.
Adam's first update is eta_0 sign(g_0) in every coordinate with g_0 != 0 (m_hat_1 = g_0 and
v_hat_1 = g_0^2), so in units of eta_trgt the RMS step starts at about 1 without warmup, at 1/T_wrm
with a linear warmup and at sqrt(1 - beta2) with GI-Adam.

**Implicit warmup of GI-Adam** (paper section 6.2).  With v_0 = g_0^2 and both bias corrections kept,
a stationary gradient gives v_t = g^2 for every t, so v_hat_t = g^2 / (1 - beta2^t) and the update is
that of bias-free RMSProp with momentum under the learning rate

    eta_t = eta_trgt sqrt(1 - beta2^t),        t = 1, 2, ... counting updates

(:func:`implicit_warmup_factor`).  It loses, relative to eta_trgt,

    D = sum_{t >= 1} (1 - sqrt(1 - beta2^t))  ~  2 (1 - ln 2) / (1 - beta2)   (about 614 steps at 0.999)

learning-rate-steps (:func:`implicit_warmup_deficit`).  A linear warmup of T_wrm steps loses
(T_wrm - 1)/2 of them, so the explicit warmup of *matching length* (equal lost area) is
T_wrm = 1 + 2 D (:func:`matching_linear_warmup`, 1228 steps at beta2 = 0.999).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch


__all__ = ["AdamStateTracker", "implicit_warmup_factor", "implicit_warmup_deficit", "matching_linear_warmup"]


def _check_beta2(beta2: float) -> None:
    if not (isinstance(beta2, (int, float)) and 0.0 <= beta2 < 1.0):
        raise ValueError(f"beta2: got {beta2!r}; must be a number in [0, 1)")


def implicit_warmup_factor(step: int | np.ndarray, beta2: float = 0.999) -> np.ndarray:
    """sqrt(1 - beta2^(t+1)) for the 0-based update index ``step`` t (update t is the (t+1)-th).

    GI-Adam at a constant eta_trgt steps like bias-free RMSProp with momentum at
    eta_trgt * implicit_warmup_factor(t) (module docstring); 0.032 at t = 0 for beta2 = 0.999.
    """
    _check_beta2(beta2)
    step = np.asarray(step, dtype=float)
    if np.any(step < 0) or np.any(step != np.round(step)):
        raise ValueError(f"step: got {step!r}; must be integers >= 0 (0-based update index)")
    return np.sqrt(-np.expm1((step + 1.0) * math.log(beta2))) if beta2 > 0 else np.ones_like(step)


def implicit_warmup_deficit(beta2: float = 0.999, rtol: float = 1e-12) -> float:
    """D = sum_{t >= 1} (1 - sqrt(1 - beta2^t)): the learning-rate-steps GI-Adam's warmup loses.

    Summed term by term until the remaining tail, about term / (1 - beta2) since the terms fall like
    beta2^t / 2, is below ``rtol`` of the sum.
    """
    _check_beta2(beta2)
    total, t = 0.0, 1
    while True:
        term = 1.0 - math.sqrt(-math.expm1(t * math.log(beta2))) if beta2 > 0 else 0.0
        total += term
        if term <= rtol * (1.0 - beta2) * max(total, 1.0):
            return total
        t += 1


def matching_linear_warmup(beta2: float = 0.999) -> int:
    """The linear warmup length T_wrm that loses as much learning rate as GI-Adam's implicit warmup.

    A linear warmup eta_t = eta_trgt min(1, (t+1)/T_wrm) loses sum_t (1 - (t+1)/T_wrm) = (T_wrm - 1)/2
    learning-rate-steps; equating with :func:`implicit_warmup_deficit` gives T_wrm = 1 + 2 D, rounded.
    """
    return max(1, round(1.0 + 2.0 * implicit_warmup_deficit(beta2)))


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).double() for t in tensors]) if tensors else torch.zeros(0, dtype=torch.float64)


class AdamStateTracker:
    """Trainer callback (:class:`warmup_lib.runs.train.Callback`) recording Adam's state every ``every`` steps.

    Columns of record row t (all measured before update t):

    * ``m_norm``, ``v_norm``: ||m||_2 and ||v||_2 of the optimizer's ``exp_avg`` / ``exp_avg_sq`` over
      all parameters (0 before the first update of Adam; ||g_0^2|| for GI-Adam);
    * ``last_update_rms``: sqrt(mean_i (theta_t - theta_{t-1})_i^2), the RMS of the update made at
      step t - 1 (NaN at t = 0, and when the previous step was not tracked).  Shift it by one row
      (``records["last_update_rms"].shift(-1)``) to align it with the update of row t.

    It reads any optimizer with torch.optim.Adam's state keys (Adam, GIAdam) and never changes the
    model or the optimizer.  With ``every`` > 1 it also copies the parameters one step before each
    tracked step, so that ``last_update_rms`` is measured on every tracked step.
    """

    def __init__(self, every: int = 1) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every: got {every!r}; must be an int >= 1")
        self.every = every
        self._previous: tuple[int, torch.Tensor] | None = None

    def __call__(self, step: int, model: torch.nn.Module, loss_fn: Callable, inputs: torch.Tensor,
                 targets: torch.Tensor, optimizer: torch.optim.Optimizer) -> dict[str, float] | None:
        needs_parameters = step % self.every == 0 or (step + 1) % self.every == 0
        parameters = _flat([p for p in model.parameters() if p.requires_grad]) if needs_parameters else None
        record = None
        if step % self.every == 0:
            states = [optimizer.state.get(p, {}) for group in optimizer.param_groups for p in group["params"]]
            m = _flat([s["exp_avg"] for s in states if "exp_avg" in s])
            v = _flat([s["exp_avg_sq"] for s in states if "exp_avg_sq" in s])
            update_rms = math.nan
            if self._previous is not None and self._previous[0] == step - 1:
                update_rms = float((parameters - self._previous[1]).square().mean().sqrt())
            record = {"m_norm": float(m.norm()), "v_norm": float(v.norm()), "last_update_rms": update_rms}
        self._previous = (step, parameters) if parameters is not None else None
        return record
