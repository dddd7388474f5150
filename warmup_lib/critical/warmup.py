"""Warmup from the critical learning rate (paper sections 6.1 and 7): T_reach, T_save, a one-call
suggestion, and the persistent catapult warmup (Alg. 3) as a scheduler for a user's own loop.

Warmup from eta_init = eta_c uses :func:`warmup_lib.schedules.warmup_from_init`,
eta_t = min(eta_c + eta_trgt (t+1)/T_wrm, eta_trgt) for updates t = 0, 1, ..., whose slope is the
linear warmup's eta_trgt/T_wrm; it reaches eta_trgt after

    T_reach = T_wrm (1 - eta_c/eta_trgt)  updates (paper),  1 if eta_c >= eta_trgt,

instead of the linear warmup's T_wrm, at the price of T_fp extra forward passes (~ T_fp/2 steps):

    T_save = T_wrm eta_c/eta_trgt - T_fp/2.

Rounding: updates are whole, so :func:`t_reach` is the number of updates up to and including the
first one at eta_trgt, ceil(T_wrm (1 - eta_c/eta_trgt)) clipped to [1, T_wrm] (read off the
schedule itself, so it agrees with it to the last bit), and :func:`t_save` = (T_wrm - T_reach)
- T_fp/2 = floor(T_wrm eta_c/eta_trgt) - T_fp/2 for eta_c < eta_trgt, T_wrm - 1 - T_fp/2 above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from warmup_lib.critical.search import CriticalLR, LossFn, critical_lr
from warmup_lib.schedules import reach_step

NO_CATAPULT_FACTOR = 1000.0  # suggest_warmup: no loss rise up to this multiple of eta_trgt = no catapult
NO_CATAPULT_FALLBACK = 0.1  # the paper's heuristic eta_init = eta_trgt / 10 in that case
GRADIENT_PASS_COST = 2  # the search's one gradient costs about one training step = 2 forward passes


def t_reach(eta_c: float, eta_trgt: float, warmup_steps: int) -> int:
    """Updates until warmup from eta_c first uses eta_trgt: ceil(T_wrm (1 - eta_c/eta_trgt)) in
    [1, T_wrm] (the paper's T_reach = T_wrm (1 - eta_c/eta_trgt), 1 if eta_c >= eta_trgt)."""
    return reach_step(eta_trgt, warmup_steps, min(eta_c, eta_trgt), warmup="from_init") + 1


def t_save(eta_c: float, eta_trgt: float, warmup_steps: int, forward_passes: int) -> float:
    """Steps saved against a linear warmup of T_wrm steps, net of T_fp extra forward passes at half
    a step each: T_wrm - T_reach - T_fp/2 (the paper's T_wrm eta_c/eta_trgt - T_fp/2, rounded down)."""
    if forward_passes < 0:
        raise ValueError(f"forward_passes: got {forward_passes!r}; must be >= 0")
    return warmup_steps - t_reach(eta_c, eta_trgt, warmup_steps) - forward_passes / 2


@dataclass(frozen=True)
class WarmupSuggestion:
    """Result of :func:`suggest_warmup`.  ``reason`` is one of "eta_c below eta_trgt" (start the
    warmup at eta_c), "no warmup needed" (the one-step loss still falls at eta_trgt, so eta_c >=
    eta_trgt and T_reach = 1), "no catapult" (the loss never rose, even at NO_CATAPULT_FACTOR x
    eta_trgt: the one-step test cannot see the instability, so fall back to eta_trgt/10)."""

    eta_c: float
    eta_init: float
    eta_trgt: float
    reason: str
    search: CriticalLR
    warmup_steps: int | None = None
    t_reach: int | None = None
    t_save: float | None = None


def suggest_warmup(model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor,
                   optimizer: torch.optim.Optimizer, eta_trgt: float, warmup_steps: int | None = None,
                   delta: float = 0.1, eta0: float | None = None, method: str = "model") -> WarmupSuggestion:
    """Where to start the warmup: eta_init = min(eta_c, eta_trgt), eta_c from :func:`critical_lr`
    at the current parameters on this batch (eta0 defaults to eta_trgt/T_wrm as in the paper's
    Fig. 5, else min(1e-4, eta_trgt)).  With ``warmup_steps``, also T_reach and T_save, where T_fp
    counts the trial forwards plus 2 for the search's gradient.  Nothing is mutated.

    >>> import torch
    >>> from warmup_lib import GIAdam, suggest_warmup
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    >>> x = torch.randn(256, 8); y = x[:, :1] * x[:, 1:2]
    >>> sgd = torch.optim.SGD(model.parameters(), lr=0.0)
    >>> s = suggest_warmup(model, torch.nn.functional.mse_loss, x, y, sgd, eta_trgt=10.0, warmup_steps=1000)
    >>> s.reason, s.eta_init == s.eta_c, s.t_reach == 1000 - int(1000 * s.eta_c / 10.0)
    ('eta_c below eta_trgt', True, True)
    """
    if not eta_trgt > 0:
        raise ValueError(f"eta_trgt: got {eta_trgt!r}; must be > 0")
    if eta0 is None:
        eta0 = eta_trgt / warmup_steps if warmup_steps else min(1e-4, eta_trgt)
    search = critical_lr(model, loss_fn, inputs, targets, optimizer, eta0=eta0, delta=delta,
                         eta_max=NO_CATAPULT_FACTOR * eta_trgt, method=method)
    if search.capped:
        eta_init, reason = NO_CATAPULT_FALLBACK * eta_trgt, "no catapult"
    elif search.eta_c >= eta_trgt:
        eta_init, reason = eta_trgt, "no warmup needed"
    else:
        eta_init, reason = search.eta_c, "eta_c below eta_trgt"
    if warmup_steps is None:
        return WarmupSuggestion(search.eta_c, eta_init, eta_trgt, reason, search)
    forward_passes = search.forward_passes + GRADIENT_PASS_COST
    return WarmupSuggestion(search.eta_c, eta_init, eta_trgt, reason, search, warmup_steps,
                            t_reach(eta_init, eta_trgt, warmup_steps),
                            t_save(eta_init, eta_trgt, warmup_steps, forward_passes))


@dataclass(frozen=True)
class Reestimate:
    """One re-estimation of :class:`PersistentCatapultWarmup`: at update ``step`` the batch loss
    ``loss`` fell below ``reference_loss``; the search from ``eta_before`` gave the bracket
    [``eta_lower``, ``eta_c``] with ``forward_passes`` trials, and eta became ``eta_c``."""

    step: int
    loss: float
    reference_loss: float
    eta_before: float
    eta_c: float
    eta_lower: float
    forward_passes: int
    within_tolerance: bool


class PersistentCatapultWarmup:
    """Persistent catapult warmup (paper Alg. 3) driving a user's own training loop.

    Each iteration, after ``loss.backward()`` and before ``optimizer.step()``, call
    ``scheduler.step(loss, inputs, targets)`` with the batch loss L(theta_t) at the current
    parameters.  If L(theta_t) < L(theta*) (the loss at the last re-estimation; +inf at the first
    call) and eta < eta_trgt, it re-estimates eta_c at theta_t on that batch with
    :func:`critical_lr` (from the current eta, capped at eta_trgt, tolerance ``delta``), sets
    eta = eta_c, theta* = theta_t, and records a :class:`Reestimate`.  Every call sets each param
    group's lr = eta * lr_mult (lr_mult = 1 if absent), so the update that follows uses the new
    rate.  Re-estimation stops for good once eta = eta_trgt, or when ``max_forward_passes`` trial
    forwards have been spent (``budget_exhausted``; eta then stays where it is).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, model: nn.Module, loss_fn: LossFn, eta_trgt: float,
                 delta: float = 0.1, eta0: float | None = None, max_forward_passes: int = 500,
                 method: str = "paper") -> None:
        if not eta_trgt > 0:
            raise ValueError(f"eta_trgt: got {eta_trgt!r}; must be > 0")
        self.optimizer, self.model, self.loss_fn = optimizer, model, loss_fn
        self.eta_trgt, self.delta, self.method = eta_trgt, delta, method
        self.eta = min(1e-4, eta_trgt) if eta0 is None else eta0
        if not 0 < self.eta <= eta_trgt:
            raise ValueError(f"eta0: got {eta0!r}; must be > 0 and <= eta_trgt ({eta_trgt!r})")
        self.max_forward_passes = max_forward_passes
        self.forward_passes = 0
        self.reference_loss = math.inf
        self.steps = 0
        self.records: list[Reestimate] = []
        self._apply()

    @property
    def reached_target(self) -> bool:
        return self.eta >= self.eta_trgt

    @property
    def budget_exhausted(self) -> bool:
        return self.forward_passes >= self.max_forward_passes

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.eta * group.get("lr_mult", 1.0)

    def step(self, loss: float | torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        """Observe L(theta_t) on (inputs, targets); re-estimate eta_c if due; return the eta to use."""
        loss = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if loss < self.reference_loss and not self.reached_target and not self.budget_exhausted:
            search = critical_lr(self.model, self.loss_fn, inputs, targets, self.optimizer, eta0=self.eta,
                                 delta=self.delta, eta_max=self.eta_trgt, method=self.method,
                                 max_forward_passes=self.max_forward_passes - self.forward_passes)
            self.records.append(Reestimate(self.steps, loss, self.reference_loss, self.eta, search.eta_c,
                                           search.eta_lower, search.forward_passes, search.within_tolerance))
            self.forward_passes += search.forward_passes
            self.eta, self.reference_loss = search.eta_c, loss
        self._apply()
        self.steps += 1
        return self.eta
