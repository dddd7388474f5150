"""Where a "T-step linear warmup" starts and ends in other libraries: the rates of the first updates.

Every library counts the update t = 0, 1, ... (the one from theta_t to theta_{t+1}, the rate the
optimizer holds when it steps) and calls T = ``warmup_steps`` the warmup's length, but they place
the ramp differently:

* this library (:class:`~warmup_lib.schedules.Schedule`, the authors' convention):
  eta_t = eta_trgt (t+1)/T for t < T, then eta_trgt: eta_trgt/T first, eta_trgt at t = T-1.
* torch ``LinearLR(opt, start_factor=1/T, total_iters=T)`` (torch 2.13):
  eta_t = eta_trgt (1/T + (1 - 1/T) min(t, T)/T): the same first rate, a slope (T-1)/T as steep,
  eta_trgt at t = T (to rounding: torch multiplies the rate step by step).  Chained in
  ``SequentialLR(opt, [LinearLR(...), ConstantLR or CosineAnnealingLR], milestones=[T])`` the
  warmup is the same; the next scheduler takes over at t = T, from eta_trgt exactly.
* transformers ``get_linear_schedule_with_warmup(opt, T, total)`` (transformers 5.24, a
  ``LambdaLR``): eta_t = eta_trgt t/T for t < T, then eta_trgt max(0, (total - t)/(total - T)):
  update 0 has rate 0 (its gradient only enters the optimizer's state), eta_trgt at t = T.
* pytorch_warmup ``LinearWarmup(opt, warmup_period=T)`` (pytorch-warmup 0.2.0, which dampens the
  rate before the first update with its counter at 1): eta_t = eta_trgt min(1, (t+1)/T), this
  library's convention.

So one T means T-1, T or T updates to the target, and the first update is at eta_trgt/T or at 0.
:func:`warmup_conventions` tabulates them; the torch rows come from stepping a real torch scheduler,
the others from the closed forms below (tests/test_conventions.py checks them against the real
libraries).
"""

from __future__ import annotations

import math
import pandas as pd
import torch

from warmup_lib.schedules import Schedule

REACH_RTOL = 1e-12  # a rate within this relative distance of eta_trgt has reached it (torch's products round)


def transformers_linear_rate(step: int, eta_trgt: float, warmup_steps: int, total_steps: int) -> float:
    """The rate of update ``step`` under transformers' ``get_linear_schedule_with_warmup`` (5.24):
    eta_trgt t/T for t < T, then eta_trgt max(0, (total - t)/(total - T)) (divisors at least 1).

    Args:
        step: the update index t >= 0.
        eta_trgt: the optimizer's rate (the schedule's peak).
        warmup_steps: T, ``num_warmup_steps``.
        total_steps: ``num_training_steps``.

    Returns:
        eta_t, computed as transformers' ``LambdaLR`` does (base rate times the factor).
    """
    if step < warmup_steps:
        return eta_trgt * (float(step) / float(max(1, warmup_steps)))
    return eta_trgt * max(0.0, float(total_steps - step) / float(max(1, total_steps - warmup_steps)))


def pytorch_warmup_linear_rate(step: int, eta_trgt: float, warmup_steps: int) -> float:
    """The rate of update ``step`` under pytorch_warmup's ``LinearWarmup(opt, warmup_period=T)``
    (0.2.0) over a constant rate: eta_trgt min(1, (t+1)/T).

    Args:
        step: the update index t >= 0.
        eta_trgt: the optimizer's rate.
        warmup_steps: T, ``warmup_period``.

    Returns:
        eta_t, computed as pytorch_warmup does (the rate times the factor omega).
    """
    return eta_trgt * min(1.0, (step + 1) / warmup_steps)


def torch_linear_lr_rates(eta_trgt: float, warmup_steps: int, updates: int) -> list[float]:
    """The rates a real ``torch.optim.lr_scheduler.LinearLR(opt, start_factor=1/T, total_iters=T)``
    gives updates 0, ..., ``updates`` - 1 of an SGD optimizer built with lr = eta_trgt.

    Args:
        eta_trgt: the optimizer's rate.
        warmup_steps: T.
        updates: how many updates to step through.

    Returns:
        The rate the optimizer held at each update (read before ``optimizer.step()``).
    """
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=eta_trgt)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup_steps, total_iters=warmup_steps)
    rates = []
    for _ in range(updates):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradient: nothing moves, but torch expects the optimizer to step first
        scheduler.step()
    return rates


def _check(eta_trgt: float, warmup_steps: int, updates: int, total_steps: int | None, horizon: int) -> None:
    def require(ok: bool, name: str, message: str) -> None:
        if not ok:
            raise ValueError(f"{name}: {message}")

    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    require(isinstance(eta_trgt, (int, float)) and not isinstance(eta_trgt, bool) and math.isfinite(eta_trgt)
            and eta_trgt > 0, "eta_trgt", f"got {eta_trgt!r}; must be a finite number > 0")
    require(is_int(warmup_steps) and warmup_steps >= 1, "warmup_steps", f"got {warmup_steps!r}; must be an int >= 1")
    require(is_int(updates) and updates >= 1, "updates", f"got {updates!r}; must be an int >= 1")
    require(total_steps is None or (is_int(total_steps) and total_steps >= horizon), "total_steps",
            f"got {total_steps!r}; must be None or an int >= max(updates, warmup_steps + 1) = {horizon}")


def warmup_conventions(eta_trgt: float, warmup_steps: int, updates: int = 4,
                       total_steps: int | None = None) -> pd.DataFrame:
    """The rates of the first updates under a 'T-step linear warmup' of each library (module docstring).

    Rows: this library's linear warmup (:class:`~warmup_lib.schedules.Schedule`), torch's
    ``LinearLR(start_factor=1/T, total_iters=T)`` (stepped live), transformers'
    ``get_linear_schedule_with_warmup(opt, T, total_steps)`` and pytorch_warmup's
    ``LinearWarmup(opt, warmup_period=T)`` (closed forms: :func:`transformers_linear_rate`,
    :func:`pytorch_warmup_linear_rate`).  Only transformers' recipe decays after the warmup (to 0
    at ``total_steps``); the others stay at eta_trgt.

    Args:
        eta_trgt: the target rate, > 0 (the rate the optimizer is built with).
        warmup_steps: T, an int >= 1.
        updates: how many updates to show, an int >= 1.
        total_steps: the run's length (transformers' ``num_training_steps``), an int >= max(updates,
            warmup_steps + 1); None is that smallest length.

    Returns:
        One row per recipe: "recipe", the rates of "update 0", ..., "update {updates - 1}", and
        "first update at eta_trgt", the 0-based index of the first update whose rate is eta_trgt
        (to a relative 1e-12).

    Raises:
        ValueError: naming the first invalid argument.
    """
    horizon = max(updates, warmup_steps + 1)  # every recipe has reached eta_trgt by update T
    _check(eta_trgt, warmup_steps, updates, total_steps, horizon)
    total = horizon if total_steps is None else total_steps
    rates_of = {
        "warmup_lib Schedule (linear)": Schedule(eta_trgt, warmup_steps, total).values()[:horizon].tolist(),
        f"torch LinearLR(start_factor=1/{warmup_steps}, total_iters={warmup_steps})":
            torch_linear_lr_rates(eta_trgt, warmup_steps, horizon),
        f"transformers get_linear_schedule_with_warmup({warmup_steps}, {total})":
            [transformers_linear_rate(t, eta_trgt, warmup_steps, total) for t in range(horizon)],
        f"pytorch_warmup LinearWarmup(warmup_period={warmup_steps})":
            [pytorch_warmup_linear_rate(t, eta_trgt, warmup_steps) for t in range(horizon)],
    }
    rows = []
    for recipe, rates in rates_of.items():
        first = next(t for t, rate in enumerate(rates) if rate >= eta_trgt * (1 - REACH_RTOL))
        rows.append({"recipe": recipe, **{f"update {t}": rates[t] for t in range(updates)},
                     "first update at eta_trgt": first})
    return pd.DataFrame(rows)
