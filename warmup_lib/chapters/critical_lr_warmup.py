"""Training runs that start from the critical learning rate (paper sections 6.1 and 7), through
:func:`warmup_lib.runs.train.run` and the results store.

* Warmup from eta_init = eta_c (paper Fig. 5):
  :func:`~warmup_lib.runs.measure.measure_critical_lr` runs the paper's forward-pass search
  (:func:`warmup_lib.critical.search.critical_lr`) at the run's own initialisation on the batch its
  first update trains on; :func:`from_critical_lr` puts
  eta_init = min(eta_c, eta_trgt) into the run's :class:`~warmup_lib.config.ScheduleConfig`
  (warmup 'from_init', eta_t = min(eta_init + eta_trgt (t+1)/T_wrm, eta_trgt)), so the stored run
  is described by its config alone.  :func:`~warmup_lib.runs.measure.load_or_search` records every
  search (eta_c, bracket, forward passes) in ``<root>/<experiment>/critical_lr.json``, so a rerun reuses the measured eta_c
  and finds its runs in the store.
* :func:`critical_warmup_grid` runs the paper's Fig. 5 grid over (eta_trgt, T_wrm): for every
  cell the linear warmup from 0 and the warmup from eta_c (searched from eta0 = eta_trgt/T_wrm,
  capped at eta_trgt, as the paper does for a fair comparison), with T_reach and T_save.
* Persistent catapult warmup (paper Alg. 3, Fig. 7): :func:`run_persistent_catapult` trains
  ``cfg`` (a constant schedule at eta_trgt) while a
  :class:`~warmup_lib.critical.warmup.PersistentCatapultWarmup` sets the rate of every update.
  The config does not describe that schedule, so such runs live in their own experiment folder
  whose name holds the warmup's settings (:func:`persistent_experiment`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from warmup_lib.runs import store
from warmup_lib.critical.warmup import GRADIENT_PASS_COST, PersistentCatapultWarmup, t_reach, t_save
from warmup_lib.config import RunConfig
from warmup_lib.runs.executors import make_executor
from warmup_lib.runs.measure import load_or_measure_lambda0, load_or_search
from warmup_lib.runs.train import RunResult, run


def critical_warmup_grid(experiment: str, base: RunConfig, multiples: list[float], warmup_steps: list[int],
                         delta: float = 0.1, lambda0_batches: int = 10, executor: str = "sequential",
                         workers: int | None = None, root: str | Path = "results") -> pd.DataFrame:
    """The paper's Fig. 5 experiment: for eta_trgt = c/lambda_0 (c in ``multiples``) and T_wrm in
    ``warmup_steps``, the linear warmup from 0 and the warmup from eta_init = min(eta_c, eta_trgt),
    eta_c searched at initialisation from eta0 = eta_trgt/T_wrm and capped at eta_trgt (the
    paper's Alg. 1 cap).  Runs missing from the store are run by ``executor``.

    One row per cell: c, eta_trgt, warmup_steps, lambda_0, eta0, eta_c, eta_c_lambda0 = eta_c
    lambda_0, forward_passes (trial forwards), total_passes (T_fp = trials + 2 for the gradient),
    capped, t_reach (:func:`~warmup_lib.critical.warmup.t_reach`), t_save
    (:func:`~warmup_lib.critical.warmup.t_save` with T_fp), save_fraction = t_save/T_wrm, and per
    schedule ('linear', 'critical') the outcome and best / final test accuracy.
    """
    lambda_0 = load_or_measure_lambda0(experiment, base, lambda0_batches, root)["lambda_0"]
    cells = []
    for warmup in warmup_steps:
        for c in multiples:
            eta_trgt = c / lambda_0
            linear = base.replace(**{"schedule.eta_trgt": eta_trgt, "schedule.warmup_steps": warmup})
            search = load_or_search(experiment, linear, eta0=eta_trgt / warmup, delta=delta, eta_max=eta_trgt, root=root)
            cells.append((c, linear, search, from_critical_lr(linear, search["eta_c"])))
    missing = [cfg for _, linear, _, critical in cells for cfg in (linear, critical)
               if not store.is_done(experiment, cfg, root)]
    if missing:
        runner = make_executor(executor, workers=workers)
        try:
            runner.run(experiment, missing, root=root, progress=False)
        finally:
            runner.close()
    rows = []
    for c, linear, search, critical in cells:
        eta_trgt, warmup = linear.schedule.eta_trgt, linear.schedule.warmup_steps
        eta_init = critical.schedule.eta_init
        row = {"c": c, "eta_trgt": eta_trgt, "warmup_steps": warmup, "lambda_0": lambda_0, "eta0": search["eta0"],
               "eta_c": search["eta_c"], "eta_c_lambda0": search["eta_c"] * lambda_0,
               "forward_passes": search["forward_passes"], "total_passes": search["total_passes"],
               "capped": search["capped"], "t_reach": t_reach(eta_init, eta_trgt, warmup),
               "t_save": t_save(eta_init, eta_trgt, warmup, search["total_passes"])}
        row["save_fraction"] = row["t_save"] / warmup
        for name, cfg in (("linear", linear), ("critical", critical)):
            summary = store.load_run(experiment, cfg, root).summary
            row.update({f"{name}_outcome": summary["outcome"],
                        f"{name}_best_test_accuracy": summary["best_test_accuracy"],
                        f"{name}_final_test_accuracy": summary["final_test_accuracy"],
                        f"{name}_run_id": store.run_id(cfg)})
        rows.append(row)
    return pd.DataFrame(rows)


def from_critical_lr(cfg: RunConfig, eta_c: float) -> RunConfig:
    """``cfg`` with the paper's warmup from eta_init = min(eta_c, eta_trgt): schedule 'from_init',
    same eta_trgt and T_wrm (slope eta_trgt/T_wrm), so eta_trgt is reached after
    T_reach = ceil(T_wrm (1 - eta_c/eta_trgt)) updates (1 if eta_c >= eta_trgt)."""
    if not eta_c > 0:
        raise ValueError(f"eta_c: got {eta_c!r}; must be > 0")
    eta_init = min(float(eta_c), cfg.schedule.eta_trgt)
    return cfg.replace(**{"schedule.warmup": "from_init", "schedule.eta_init": eta_init})


def persistent_experiment(experiment: str, delta: float, eta0: float, max_forward_passes: int) -> str:
    """Folder name for persistent-catapult runs with these settings (the store's run id covers
    only the config, so the warmup's settings go into the experiment name)."""
    return f"{experiment}_pcw_delta{delta:g}_eta0{eta0:g}_fp{max_forward_passes}"


class PersistentCatapultCallback:
    """A :class:`~warmup_lib.runs.train.Callback` that runs :class:`PersistentCatapultWarmup` inside
    :func:`warmup_lib.runs.train.run`.

    Before update t it measures the batch loss L(theta_t) (one forward pass: the trainer's own
    forward comes after the callbacks) and calls the warmup's ``step``, which may re-estimate
    eta_c; a step pre-hook on the optimizer then sets every group's lr = eta * lr_mult, overriding
    the config's constant eta_trgt.  Once eta = eta_trgt (or the budget is spent) it stops
    measuring.  Columns: pcw_eta (the rate of update t), pcw_search_passes (trial forwards of a
    re-estimation at t, NaN otherwise).
    """

    def __init__(self, eta_trgt: float, delta: float, eta0: float, max_forward_passes: int, method: str = "paper") -> None:
        self.settings = dict(eta_trgt=eta_trgt, delta=delta, eta0=eta0, max_forward_passes=max_forward_passes,
                             method=method)
        self.warmup: PersistentCatapultWarmup | None = None

    def _override_lr(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        for group in optimizer.param_groups:
            group["lr"] = self.warmup.eta * group.get("lr_mult", 1.0)

    def __call__(self, step: int, model: torch.nn.Module, loss_fn, inputs: torch.Tensor, targets: torch.Tensor,
                 optimizer: torch.optim.Optimizer) -> Mapping[str, float]:
        if self.warmup is None:
            self.warmup = PersistentCatapultWarmup(optimizer, model, loss_fn, **self.settings)
            optimizer.register_step_pre_hook(self._override_lr)
        warmup = self.warmup
        if warmup.reached_target or warmup.budget_exhausted:
            return {"pcw_eta": warmup.eta}
        with torch.no_grad():
            loss = loss_fn(model(inputs), targets)
        searches = len(warmup.records)
        eta = warmup.step(loss, inputs, targets)
        passes = warmup.records[-1].forward_passes if len(warmup.records) > searches else math.nan
        return {"pcw_eta": eta, "pcw_search_passes": passes}


def run_persistent_catapult(cfg: RunConfig, delta: float = 0.1, eta0: float = 1e-4, max_forward_passes: int = 500,
                            experiment: str | None = None, root: str | Path = "results") -> RunResult:
    """Train ``cfg`` with persistent catapult warmup towards ``cfg.schedule.eta_trgt``.

    ``cfg`` must have a constant schedule (warmup_steps 1, decay 'constant'): its eta_trgt is the
    target and the warmup sets every rate below it.  The records' ``lr`` column is the rate used.
    Summary additions: pcw_reestimates, pcw_forward_passes (trial forwards plus 2 per search for
    its gradient), pcw_reach_step (first update at eta_trgt, None if never reached).  With
    ``experiment``, the run is loaded from / saved to :func:`persistent_experiment`'s folder.
    """
    schedule = cfg.schedule
    if schedule.warmup_steps != 1 or schedule.decay != "constant":
        raise ValueError(f"schedule: got warmup_steps={schedule.warmup_steps}, decay={schedule.decay!r}; persistent "
                         "catapult warmup needs a constant schedule (warmup_steps 1, decay 'constant') at eta_trgt")
    folder = persistent_experiment(experiment, delta, eta0, max_forward_passes) if experiment else None
    if folder and store.is_done(folder, cfg, root):
        return store.load_run(folder, cfg, root)
    callback = PersistentCatapultCallback(schedule.eta_trgt, delta, eta0, max_forward_passes)
    result = run(cfg, callbacks=[callback])
    records = result.records
    records["lr"] = records["pcw_eta"]
    searches = records["pcw_search_passes"].dropna() if "pcw_search_passes" in records else records["lr"].iloc[:0]
    reached = records.index[records["lr"] >= schedule.eta_trgt]
    result.summary.update(pcw_reestimates=len(searches),
                          pcw_forward_passes=int(searches.sum()) + GRADIENT_PASS_COST * len(searches),
                          pcw_reach_step=int(records["step"][reached[0]]) if len(reached) else None,
                          lr_reach_step=int(records["step"][reached[0]]) if len(reached) else None,
                          pcw_settings={"delta": delta, "eta0": eta0, "max_forward_passes": max_forward_passes})
    if folder:
        store.save_run(folder, cfg, result, root)
    return result
