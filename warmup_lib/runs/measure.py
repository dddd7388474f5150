"""Quantities measured at a run's initialisation, and their cache in the results store.

A run's learning rates are often set from a measurement of its own initialisation: the sharpness
lambda_0 (eta_trgt = c / lambda_0), the critical learning rate eta_c (warmup from eta_init = eta_c),
Adam's pre-conditioned sharpness lambda_0^{P^-1 H}.  Each is measured on the run's own set-up
(:func:`warmup_lib.runs.train.init_run`) and recorded once in ``<root>/<experiment>/<quantity>.json``
under one key scheme, :func:`measurement_key`: the hash of the config without the fields the
quantity does not depend on, plus the measurement's own settings.  A rerun reads the recorded value,
so a stored run never depends on a measurement that was not recorded.

| quantity | measured by | depends on the config except |
|---|---|---|
| ``lambda0`` | :func:`measure_lambda0` | schedule, optimizer, run length and cadences |
| ``critical_lr`` | :func:`measure_critical_lr` | schedule, run length and cadences |
| ``initial_curvature`` | :func:`measure_initial_curvature` | schedule, run length and cadences |
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from warmup_lib.atomic import atomic_write_json
from warmup_lib.config import RunConfig
from warmup_lib.critical.warmup import GRADIENT_PASS_COST
from warmup_lib.runs.store import experiment_dir

__all__ = [
    "QUANTITIES", "measurement_key", "load_or_measure", "measure_lambda0", "measure_critical_lr",
    "measure_initial_curvature", "load_or_measure_lambda0", "load_or_search", "load_or_measure_initial_curvature",
]

# Fields a measurement at initialisation never reads: the learning-rate schedule (the measurement
# sets its own rates), the run's length and its evaluation and tracking cadences.
_NOT_AT_INIT = ("schedule", "steps", "eval_every", "sharpness_every", "pre_sharpness_every", "adam_state_every",
                "adam_state_columns", "failure_factor", "stall_grad_ratio", "stall_accuracy")
QUANTITIES = {
    "lambda0": (*_NOT_AT_INIT, "optim"),  # the Hessian of the loss does not see the optimizer
    "critical_lr": _NOT_AT_INIT,
    "initial_curvature": _NOT_AT_INIT,
}


def measurement_key(cfg: RunConfig, quantity: str, **settings: Any) -> str:
    """The cache key of ``quantity`` measured on ``cfg``'s initialisation with ``settings``.

    Args:
        cfg: the run's config.
        quantity: one of :data:`QUANTITIES`.
        settings: the measurement's own settings (batches, tolerance, search start, ...), plain values.

    Returns:
        The first 16 hex digits of sha256 over the JSON of the config without the fields in
        ``QUANTITIES[quantity]``, with ``settings`` added.

    Raises:
        ValueError: naming the allowed quantities when ``quantity`` is not one of them.
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity: got {quantity!r}; allowed values are {sorted(QUANTITIES)}")
    relevant = cfg.to_dict()
    for name in QUANTITIES[quantity]:
        relevant.pop(name, None)  # a field of config.ADDED_FIELDS at its default is not in the dict
    relevant["settings"] = settings
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def load_or_measure(experiment: str, quantity: str, cfg: RunConfig, measure: Callable[[], dict[str, Any]],
                    root: str | Path = "results", **settings: Any) -> dict[str, Any]:
    """The recorded ``quantity`` of ``cfg`` with ``settings``; ``measure()`` it and record it if absent.

    Args:
        experiment: the store's experiment folder.
        quantity: one of :data:`QUANTITIES`; the record is ``<root>/<experiment>/<quantity>.json``.
        cfg: the run's config.
        measure: computes the record (a JSON-able dict) when it is not recorded yet.
        root: the results store's root.
        settings: the measurement's settings, part of the key.

    Returns:
        The record, as stored.
    """
    path = experiment_dir(experiment, root) / f"{quantity}.json"
    table = json.loads(path.read_text()) if path.exists() else {}
    key = measurement_key(cfg, quantity, **settings)
    if key not in table:
        table[key] = measure()
        atomic_write_json(path, table)
    return table[key]



def measure_lambda0(cfg: RunConfig, batches: int = 10) -> dict[str, Any]:
    """lambda_0 = (1/M) sum_m lambda_max(H(theta_0; batch_m)) at the initialisation of ``cfg``'s run.

    The batches are the first M of the run's own batch stream (one for full batch).  Measured in
    float64 (Lanczos, relative residual 1e-6).

    Args:
        cfg: the run's config.
        batches: M, the training batches averaged (the authors use 10); ignored for full batch.

    Returns:
        ``{"lambda_0", "per_batch", "batches"}``.
    """
    from warmup_lib.curvature.spectrum import sharpness
    from warmup_lib.runs.train import init_run

    setup = init_run(cfg, with_optimizer=False)
    count = 1 if cfg.batch_size is None else batches
    values = [float(sharpness(setup.model, setup.loss_fn, *setup.next_batch(), dtype=torch.float64, tol=1e-6))
              for _ in range(count)]
    return {"lambda_0": sum(values) / len(values), "per_batch": values, "batches": count}


def measure_critical_lr(cfg: RunConfig, eta0: float, delta: float = 0.1, eta_max: float | None = None,
                        method: str = "paper") -> dict[str, Any]:
    """eta_c at the initialisation of ``cfg``'s run, on the batch its first update trains on.

    The search (:func:`warmup_lib.critical.search.critical_lr`) runs on the run's own set-up
    (GI-/RI-Adam: v0 from the first batch, the search on the second).

    Args:
        cfg: the run's config.
        eta0: where the search starts.
        delta: the loss-rise tolerance of the search.
        eta_max: the cap of the search (the paper caps Alg. 1 at eta_trgt); None for no cap.
        method: 'paper' (doubling then bisection) or 'model'.

    Returns:
        The search as plain numbers: eta_c, eta_lower, loss0, forward_passes (trial forwards),
        total_passes (= forward_passes + 2 for the one gradient, the T_fp of T_save), capped,
        within_tolerance, trials ([eta, one-step loss] in the order tried) and the settings.
    """
    from warmup_lib.critical.search import critical_lr
    from warmup_lib.runs.train import init_run

    setup = init_run(cfg, lr=0.0)
    search = critical_lr(setup.model, setup.loss_fn, *setup.next_batch(), setup.optimizer, eta0=eta0, delta=delta,
                         eta_max=eta_max, method=method)
    return {"eta_c": search.eta_c, "eta_lower": search.eta_lower, "loss0": search.loss0,
            "forward_passes": search.forward_passes, "total_passes": search.forward_passes + GRADIENT_PASS_COST,
            "capped": search.capped, "within_tolerance": search.within_tolerance,
            "trials": [list(trial) for trial in search.losses], "eta0": eta0, "delta": delta, "eta_max": eta_max,
            "method": method}


def measure_initial_curvature(cfg: RunConfig, tol: float = 1e-3) -> dict[str, Any]:
    """lambda_0^H and lambda_0^{P^-1 H} of an Adam-family run ``cfg`` at its initialisation.

    Measured before update 0 on the batch update 0 trains on, with the run's own optimizer state
    (GI-/RI-Adam's v0), so the values equal the run's step-0 tracker values (same solver, ``tol``).

    Args:
        cfg: the run's config; its optimizer must be 'adam', 'gi_adam' or 'ri_adam'.
        tol: the eigensolver's relative residual.

    Returns:
        ``{"lambda_H", "lambda_PH", "participation", "num_params"}``, where the participation ratio
        1 / sum_i u_i^4 of the top unit eigenvector u of P^-1/2 H P^-1/2 is about 1 when u sits on a
        single parameter and up to n when it is spread evenly.

    Raises:
        ValueError: naming ``optim.name`` when the optimizer is not Adam-type.
    """
    from warmup_lib.curvature.spectrum import preconditioned_sharpness, sharpness
    from warmup_lib.optim.factory import GRADIENT_INIT_V0
    from warmup_lib.runs.train import init_run

    if cfg.optim.name not in ("adam", *GRADIENT_INIT_V0):
        raise ValueError(f"optim.name: got {cfg.optim.name!r}; allowed values are 'adam', 'gi_adam', 'ri_adam'")
    setup = init_run(cfg, lr=cfg.schedule.eta_trgt)
    batch = setup.next_batch()
    lambda_h = sharpness(setup.model, setup.loss_fn, *batch, tol=tol)
    result = preconditioned_sharpness(setup.model, setup.loss_fn, *batch, setup.optimizer, tol=tol, return_info=True)
    top = result.eigenvectors.reshape(-1).double()
    top = top / top.norm()
    return {"lambda_H": float(lambda_h), "lambda_PH": float(result.value),
            "participation": float(1.0 / top.pow(4).sum()), "num_params": top.numel()}


def load_or_measure_lambda0(experiment: str, cfg: RunConfig, batches: int = 10,
                            root: str | Path = "results") -> dict[str, Any]:
    """:func:`measure_lambda0` through the cache (:func:`load_or_measure`); the record's
    ``"lambda_0"`` is the value.

    lambda_0 = (1/M) sum_m lambda_max(H(theta_0; batch_m)), recorded in
    ``<root>/<experiment>/lambda0.json`` under :func:`measurement_key` with ``batches``.

    Args:
        experiment: the store's experiment folder.
        cfg: the run's config.
        batches: M, the training batches averaged (ignored for full batch, but part of the key).
        root: the results store's root.

    Returns:
        The record ``{"lambda_0", "per_batch", "batches"}``, loaded or measured now.
    """
    return load_or_measure(experiment, "lambda0", cfg, lambda: measure_lambda0(cfg, batches), root, batches=batches)


def load_or_search(experiment: str, cfg: RunConfig, eta0: float, delta: float = 0.1, eta_max: float | None = None,
                   method: str = "paper", root: str | Path = "results") -> dict[str, Any]:
    """:func:`measure_critical_lr` through the cache (:func:`load_or_measure`).

    eta_c is recorded in ``<root>/<experiment>/critical_lr.json`` under :func:`measurement_key`
    with the search's settings (eta0, delta, eta_max, method).

    Args:
        experiment: the store's experiment folder.
        cfg: the run's config.
        eta0: where the search starts.
        delta: the loss-rise tolerance of the search.
        eta_max: the cap of the search; None for no cap.
        method: 'paper' (doubling then bisection) or 'model'.
        root: the results store's root.

    Returns:
        The record of :func:`measure_critical_lr` (``"eta_c"`` is the value), loaded or measured now.
    """
    return load_or_measure(experiment, "critical_lr", cfg, lambda: measure_critical_lr(cfg, eta0, delta, eta_max, method),
                           root, eta0=eta0, delta=delta, eta_max=eta_max, method=method)


def load_or_measure_initial_curvature(experiment: str, cfg: RunConfig, tol: float = 1e-3,
                                      root: str | Path = "results") -> dict[str, Any]:
    """:func:`measure_initial_curvature` through the cache (:func:`load_or_measure`).

    lambda_0^H and lambda_0^{P^-1 H} are recorded in ``<root>/<experiment>/initial_curvature.json``
    under :func:`measurement_key` with ``tol``.

    Args:
        experiment: the store's experiment folder.
        cfg: the run's config; its optimizer must be 'adam', 'gi_adam' or 'ri_adam'.
        tol: the eigensolver's relative residual.
        root: the results store's root.

    Returns:
        The record ``{"lambda_H", "lambda_PH", "participation", "num_params"}``, loaded or measured now.

    Raises:
        ValueError: when the record is absent and the optimizer is not Adam-type.
    """
    return load_or_measure(experiment, "initial_curvature", cfg, lambda: measure_initial_curvature(cfg, tol), root,
                           tol=tol)
