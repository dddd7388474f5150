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
* The chapter itself (notebooks/06_critical_lr_warmup.ipynb): its base config
  (:func:`base_config`), the numbers its prose cites (``*_numbers``: glue name -> value), its
  figures (``plot_*``) and tables, and the per-seed values of its claims rows (:func:`claim_values`;
  the rows, with their criteria, are ``warmup_lib.claims.chapter06``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from warmup_lib import plots
from warmup_lib.runs import store
from warmup_lib.critical.warmup import GRADIENT_PASS_COST, PersistentCatapultWarmup, t_reach, t_save
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from warmup_lib.runs.executors import run_missing
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
    run_missing(experiment, [cfg for _, linear, _, critical in cells for cfg in (linear, critical)], root, workers,
                executor=executor)
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
    callback = PersistentCatapultCallback(schedule.eta_trgt, delta, eta0, max_forward_passes)
    finish = partial(_persistent_summary, cfg=cfg, delta=delta, eta0=eta0, max_forward_passes=max_forward_passes)
    return run_controlled(cfg, callback, finish, folder, root)


def run_controlled(cfg: RunConfig, callback: Any, finish: Callable[[RunResult], None], folder: str | None,
                   root: str | Path) -> RunResult:
    """Load the run of ``cfg`` from ``folder`` or train it with a rate-setting ``callback``, let
    ``finish`` complete its records and summary, and store it there.

    The store keys a run by its config alone, so a run whose rates a controller sets lives in a
    folder named after the controller's settings (``folder``; None: neither loaded nor stored).
    """
    if folder and store.is_done(folder, cfg, root):
        return store.load_run(folder, cfg, root)
    result = run(cfg, callbacks=[callback])
    finish(result)
    if folder:
        store.save_run(folder, cfg, result, root)
    return result


def _persistent_summary(result: RunResult, cfg: RunConfig, delta: float, eta0: float, max_forward_passes: int) -> None:
    """The records' lr is the rate the warmup set; the summary gains its re-estimates and passes."""
    schedule = cfg.schedule
    records = result.records
    records["lr"] = records["pcw_eta"]
    searches = records["pcw_search_passes"].dropna() if "pcw_search_passes" in records else records["lr"].iloc[:0]
    reached = records.index[records["lr"] >= schedule.eta_trgt]
    reach_step = int(records["step"][reached[0]]) if len(reached) else None  # the rates the warmup set
    result.summary.update(pcw_reestimates=len(searches),
                          pcw_forward_passes=int(searches.sum()) + GRADIENT_PASS_COST * len(searches),
                          pcw_reach_step=reach_step, lr_reach_step=reach_step,
                          pcw_settings={"delta": delta, "eta0": eta0, "max_forward_passes": max_forward_passes})


# ---------------------------------------------------------------------------------------------------
# The chapter (notebooks/06_critical_lr_warmup.ipynb): its runs, the numbers its prose cites, its
# figures and its claim criteria.
# ---------------------------------------------------------------------------------------------------

def base_config(params: Mapping[str, Any], loss: str) -> RunConfig:
    """The chapter's SGD run with loss ``loss``, from the notebook's parameters (the schedule is the
    config's default; the grid and the persistent warmup set eta_trgt and T_wrm).

    Args:
        params: the parameters cell's values: dataset, n_train, n_test, augment, data_root,
            data_download, arch, width, depth, widen, param, batch_size, steps, seed, eval_every,
            device.
        loss: 'xent' or 'mse'.

    Returns:
        The run config.
    """
    return RunConfig(
        data=DataConfig(name=params["dataset"], n_train=params["n_train"], n_test=params["n_test"],
                        augment=params["augment"], root=params["data_root"], download=params["data_download"]),
        model=ModelConfig(arch=params["arch"], width=params["width"], depth=params["depth"],
                          widen=params["widen"], param=params["param"]),
        optim=OptimConfig(name="sgd"), loss=loss, batch_size=params["batch_size"], steps=params["steps"],
        seed=params["seed"], eval_every=params["eval_every"], device=params["device"])


def threshold_ratio(eta_c: float, lambda_0: float) -> float:
    """eta_c in units of the classical threshold: eta_c / (2/lambda_0) = eta_c lambda_0 / 2.

    Args:
        eta_c: the one-step critical learning rate.
        lambda_0: the sharpness at initialisation.

    Returns:
        The ratio (>= 1 when the one-step test is at least as permissive as 2/lambda_0).
    """
    return eta_c * lambda_0 / 2


def search_numbers(search: Mapping[str, Any], lambda_0: float, lambda0_batches: int,
                   delta: float) -> dict[str, Any]:
    """The numbers the prose cites about the search at initialisation (keys: glue names).

    Args:
        search: a record of :func:`~warmup_lib.runs.measure.load_or_search` (eta_c, forward_passes,
            total_passes).
        lambda_0: the sharpness at initialisation, averaged over ``lambda0_batches`` batches.
        lambda0_batches: how many batches lambda_0 was averaged over.
        delta: the search's tolerance.

    Returns:
        glue name -> value.
    """
    return {"crit_lambda0_batches": lambda0_batches, "crit_lambda0": round(lambda_0, 2),
            "crit_two_over_lambda": round(2 / lambda_0, 4), "crit_init_eta_c": round(search["eta_c"], 4),
            "crit_init_ratio": round(threshold_ratio(search["eta_c"], lambda_0), 2),
            "crit_init_passes": search["total_passes"], "crit_init_trials": search["forward_passes"],
            "crit_delta": delta}


def plot_search(search: Mapping[str, Any], lambda_0: float, delta: float) -> plt.Figure:
    """The search's trials: the one-step loss L_B(theta_0 - eta g) of each trial eta (coloured by
    the order tried), L_B(theta_0), the band of accepted rises up to (1 + delta) L_B(theta_0),
    2/lambda_0 and the returned eta_c.

    Args:
        search: a search record (``trials`` as (eta, loss) pairs, ``loss0``, ``eta_c``).
        lambda_0: the sharpness at initialisation.
        delta: the search's tolerance.

    Returns:
        The figure (one panel).
    """
    trials, loss0 = np.array(search["trials"]), search["loss0"]
    fig, (ax,) = plots.figure()
    order = np.argsort(trials[:, 0])
    ax.plot(trials[order, 0], trials[order, 1], color="0.6", linewidth=0.8)
    ax.scatter(trials[:, 0], trials[:, 1], c=np.arange(len(trials)), cmap="viridis", s=18, zorder=3,
               label="trials (colour: order tried)")
    ax.axhline(loss0, **plots.THRESHOLD_STYLE, label=r"$L_B(\theta_0)$")
    ax.axhspan(loss0, loss0 * (1 + delta), color=plots.COLORS[2], alpha=0.15,
               label=r"accepted rise, up to $(1+\delta)L_B(\theta_0)$")
    ax.axvline(2 / lambda_0, color=plots.COLORS[3], linewidth=1.0, label=r"$2/\lambda_0$")
    ax.axvline(search["eta_c"], color=plots.COLORS[1], linewidth=1.2, label=r"$\eta_c$ (search result)")
    ax.set(xscale="log", xlabel=r"learning rate $\eta$ of the trial step (log scale)",
           ylabel=r"one-step loss $L_B(\theta_0 - \eta g)$")
    ax.legend(loc="lower left", fontsize=6)
    return fig


def split_by_eta_c(grid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grid's cells where the loss did not rise below the target (eta_c >= eta_trgt: the
    warmup starts at the target) and those where it did (eta_c < eta_trgt).

    Args:
        grid: a table of :func:`critical_warmup_grid`.

    Returns:
        ``(below, above)``: the rows with eta_trgt <= eta_c and those with eta_trgt > eta_c.
    """
    return grid[grid["eta_c"] >= grid["eta_trgt"]], grid[grid["eta_c"] < grid["eta_trgt"]]


def changed_outcomes(grid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells where starting at eta_c changed whether the run converged.

    Args:
        grid: a table of :func:`critical_warmup_grid`.

    Returns:
        ``(lost, gained)``: the rows where the linear warmup converged and the warmup from eta_c did
        not, and the rows where it was the other way round.
    """
    linear = grid["linear_outcome"] == "converged"
    critical = grid["critical_outcome"] == "converged"
    return grid[linear & ~critical], grid[~linear & critical]


def accuracy_gap(grid: pd.DataFrame, which: str = "best") -> float:
    """Mean over the cells where both schedules converged of the test accuracy from eta_c minus the
    one from 0 (a fraction; NaN when no cell qualifies).

    Args:
        grid: a table of :func:`critical_warmup_grid`.
        which: 'best' or 'final' test accuracy.

    Returns:
        mean(acc_critical - acc_linear) over the cells where both converged.
    """
    both = grid[(grid["linear_outcome"] == "converged") & (grid["critical_outcome"] == "converged")]
    return (both[f"critical_{which}_test_accuracy"] - both[f"linear_{which}_test_accuracy"]).mean()


def max_save_fraction(grid: pd.DataFrame) -> float:
    """The largest T_save/T_wrm over the cells with eta_trgt > eta_c (NaN when there are none)."""
    _, above = split_by_eta_c(grid)
    return above["save_fraction"].max() if len(above) else float("nan")


def grid_numbers(grid: pd.DataFrame, steps: int) -> dict[str, Any]:
    """The numbers the prose cites about the Fig. 5 grid (keys: glue names): cell counts on each
    side of eta_c, the largest saving, the search's cost, the accuracy gaps (in points) and the
    first cell lost and gained by starting at eta_c (NaN / 0 when there is none).

    Args:
        grid: a table of :func:`critical_warmup_grid`.
        steps: training steps per run.

    Returns:
        glue name -> value.
    """
    below, above = split_by_eta_c(grid)
    lost, gained = changed_outcomes(grid)
    both = grid[(grid["linear_outcome"] == "converged") & (grid["critical_outcome"] == "converged")]
    numbers = {
        "crit_runs": 2 * len(grid), "crit_steps": steps, "crit_below_cells": len(below),
        "crit_below_reach_one": int((below["t_reach"] == 1).sum()), "crit_above_cells": len(above),
        "crit_max_fraction": round(float(max_save_fraction(grid)), 2),
        "crit_above_eta_c": float(above["eta_c_lambda0"].iloc[0]) if len(above) else float("nan"),
        "crit_passes_min": int(grid["total_passes"].min()), "crit_passes_max": int(grid["total_passes"].max()),
        "crit_both_cells": len(both), "crit_accuracy_gap": round(float(100 * accuracy_gap(grid)), 2),
        "crit_final_gap": round(float(100 * accuracy_gap(grid, "final")), 2),
        "crit_lost": len(lost), "crit_gained": len(gained)}
    for name, rows in (("lost", lost), ("gained", gained)):
        numbers[f"crit_{name}_c"] = float(rows["c"].iloc[0]) if len(rows) else float("nan")
        numbers[f"crit_{name}_warmup"] = int(rows["warmup_steps"].iloc[0]) if len(rows) else 0
    return numbers


def plot_grid_heatmaps(grid: pd.DataFrame) -> plt.Figure:
    """The paper's Fig. 5: (a) T_reach and (b) T_save/T_wrm in percent over (eta_trgt, T_wrm), the
    values written in the cells, cells whose run from eta_c diverged hatched.

    Args:
        grid: a table of :func:`critical_warmup_grid`.

    Returns:
        The figure (two panels).
    """
    # room for the outcome legends
    fig, axes = plots.figure(ncols=2, figsize=(2 * plots.PANEL_WIDTH + 1.0, plots.PANEL_HEIGHT + 1.0))
    cells = grid.assign(variant="critical", seed=0, outcome=grid["critical_outcome"],
                        save_percent=(100 * grid["save_fraction"]).round())
    for ax, metric, title, cmap in ((axes[0], "t_reach", r"$T_{reach}$ (updates)", "magma"),
                                    (axes[1], "save_percent", r"$T_{save}/T_{wrm}$ (%)", "viridis")):
        plots.plot_phase_diagram(ax, cells, metric=metric, colorbar=False, cmap=cmap)  # values in the cells
        ax.set_title(title, loc="right")
    plots.label_panels(axes)
    return fig


GRID_COLUMNS = {"c": "eta_trgt*lambda_0", "warmup_steps": "T_wrm", "eta_c_lambda0": "eta_c*lambda_0",
                "total_passes": "T_fp", "t_reach": "T_reach", "t_save": "T_save",
                "linear_outcome": "from 0", "linear_best_test_accuracy": "best acc from 0",
                "critical_outcome": "from eta_c", "critical_best_test_accuracy": "best acc from eta_c"}


def grid_table(grid: pd.DataFrame) -> pd.DataFrame:
    """The grid as the chapter prints it: :data:`GRID_COLUMNS` renamed, rounded to 3 decimals."""
    return grid[list(GRID_COLUMNS)].rename(columns=GRID_COLUMNS).round(3)


def plot_accuracy(grid: pd.DataFrame) -> plt.Figure:
    """Best test accuracy (%) of the linear warmup from 0 (solid) and the warmup from eta_c
    (dashed) against eta_trgt lambda_0, one colour per T_wrm; runs that did not converge are left out.

    Args:
        grid: a table of :func:`critical_warmup_grid`.

    Returns:
        The figure (one panel).
    """
    fig, (ax,) = plots.figure(figsize=(plots.PANEL_WIDTH * 1.3, plots.PANEL_HEIGHT * 1.5))
    start = {"linear": "0", "critical": r"$\eta_c$"}
    for index, warmup in enumerate(grid["warmup_steps"].unique()):
        rows = grid[grid["warmup_steps"] == warmup].sort_values("c")
        for name, style in (("linear", "-"), ("critical", "--")):
            accuracy = rows[f"{name}_best_test_accuracy"].where(rows[f"{name}_outcome"] == "converged")
            ax.plot(rows["c"], 100 * accuracy, style, marker="o" if name == "linear" else "s", markersize=3,
                    color=plots.COLORS[index], label=rf"$T_{{wrm}}$ = {warmup}, from {start[name]}")
    ax.set(xlabel=r"$\eta_{trgt}\,\lambda_0$ (units of $1/\lambda_0$, log scale)", ylabel="best test accuracy (%)")
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=6, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    return fig


def slice_cell(grid: pd.DataFrame) -> pd.Series:
    """The cell the chapter shows run by run: the longest warmup, then the smallest target above
    eta_c whose run from eta_c converged (any cell of the grid if there is none).

    Args:
        grid: a table of :func:`critical_warmup_grid`.

    Returns:
        The grid's row.
    """
    _, above = split_by_eta_c(grid)
    candidates = above[above["critical_outcome"] == "converged"]
    candidates = candidates if len(candidates) else grid
    return candidates.sort_values(["warmup_steps", "c"], ascending=[False, True]).iloc[0]


def slice_runs(experiment: str, base: RunConfig, cell: pd.Series,
               root: str | Path = "results") -> dict[str, RunResult]:
    """The two runs of one grid cell: the linear warmup from 0 and the warmup from eta_c.

    Args:
        experiment: the grid's experiment folder.
        base: the grid's base config.
        cell: a row of the grid (eta_trgt, warmup_steps, eta_c).
        root: the results store.

    Returns:
        legend label -> stored run (loaded, or run when missing).
    """
    linear = base.replace(**{"schedule.eta_trgt": cell["eta_trgt"],
                             "schedule.warmup_steps": int(cell["warmup_steps"])})
    return {"linear warmup from 0": store.load_or_run(experiment, linear, root=root),
            r"warmup from $\eta_c$": store.load_or_run(experiment, from_critical_lr(linear, cell["eta_c"]),
                                                       root=root)}


def slice_numbers(cell: pd.Series) -> dict[str, Any]:
    """The numbers the prose cites about the cell of :func:`slice_cell` (keys: glue names)."""
    return {"crit_slice_c": float(cell["c"]), "crit_slice_warmup": int(cell["warmup_steps"]),
            "crit_slice_reach": int(cell["t_reach"]),
            "crit_slice_acc_linear": round(100 * float(cell["linear_best_test_accuracy"]), 1),
            "crit_slice_acc_critical": round(100 * float(cell["critical_best_test_accuracy"]), 1)}


def plot_slice(runs: Mapping[str, RunResult], eta_c: float) -> plt.Figure:
    """(a) The schedules eta_t of ``runs``, with eta_c dotted; (b) their training loss (log scale).

    Args:
        runs: legend label -> run, as :func:`slice_runs` returns them.
        eta_c: the cell's measured eta_c.

    Returns:
        The figure (two panels).
    """
    fig, axes = plots.figure(ncols=2)
    for index, (name, result) in enumerate(runs.items()):
        records = result.records
        axes[0].plot(records["step"], records["lr"], color=plots.COLORS[index], label=name)
        axes[1].plot(records["step"], records["loss"], color=plots.COLORS[index], linewidth=0.8, label=name)
    axes[0].axhline(eta_c, color=plots.COLORS[1], linewidth=0.6, linestyle=":", label=r"$\eta_c$")
    axes[0].set(xlabel="step t", ylabel=r"learning rate $\eta_t$")
    axes[1].set(xlabel="step t", ylabel="training loss on the batch (log scale)", yscale="log")
    axes[0].legend(fontsize=7)
    plots.label_panels(axes)
    return fig


def persistent_comparisons(experiment: str, params: Mapping[str, Any], targets: Sequence[tuple[str, float]],
                           lambda0_batches: int, delta: float, eta0: float, max_forward_passes: int,
                           linear_warmup: int, root: str | Path = "results",
                           ) -> dict[tuple[str, float], dict[str, RunResult]]:
    """For each target (loss, c): persistent catapult warmup, a linear warmup of ``linear_warmup``
    steps and the constant rate, all at eta_trgt = c / lambda_0 of that loss's base config.

    Args:
        experiment: the chapter's experiment folder.
        params: the parameters cell's values (see :func:`base_config`).
        targets: (loss, c) pairs.
        lambda0_batches: batches lambda_0 is averaged over.
        delta, eta0, max_forward_passes: the persistent warmup's settings (:func:`run_persistent_catapult`).
        linear_warmup: T_wrm of the linear warmup.
        root: the results store.

    Returns:
        (loss, c) -> {schedule name -> run}, the names 'persistent catapult',
        'linear, T_wrm = <linear_warmup>' and 'constant' in that order.
    """
    comparisons = {}
    for loss, multiple in targets:
        loss_base = base_config(params, loss)
        lambda_0 = load_or_measure_lambda0(experiment, loss_base, lambda0_batches, root)["lambda_0"]
        constant = loss_base.replace(**{"schedule.eta_trgt": multiple / lambda_0})
        comparisons[loss, multiple] = {
            "persistent catapult": run_persistent_catapult(
                constant, delta=delta, eta0=eta0, max_forward_passes=max_forward_passes,
                experiment=experiment, root=root),
            f"linear, T_wrm = {linear_warmup}": store.load_or_run(
                experiment, constant.replace(**{"schedule.warmup_steps": linear_warmup}), root=root),
            "constant": store.load_or_run(experiment, constant, root=root),
        }
    return comparisons


def persistent_table(comparisons: Mapping[tuple[str, float], Mapping[str, RunResult]]) -> pd.DataFrame:
    """One row per run of :func:`persistent_comparisons`: loss, eta_trgt*lambda_0, schedule, outcome,
    best and final test accuracy (3 decimals), the step at which eta_trgt is first used, and the
    persistent warmup's re-estimations and extra forward passes (0 for the other schedules)."""
    rows = []
    for (loss, multiple), runs in comparisons.items():
        for name, result in runs.items():
            summary = result.summary
            pcw = name == "persistent catapult"
            rows.append({"loss": loss, "eta_trgt*lambda_0": multiple, "schedule": name,
                         "outcome": summary["outcome"], "best acc": round(summary["best_test_accuracy"], 3),
                         "final acc": round(summary["final_test_accuracy"], 3),
                         "reaches eta_trgt at step": summary["pcw_reach_step" if pcw else "lr_reach_step"],
                         "re-estimations": summary["pcw_reestimates"] if pcw else 0,
                         "extra forward passes": summary["pcw_forward_passes"] if pcw else 0})
    return pd.DataFrame(rows)


def persistent_numbers(comparisons: Mapping[tuple[str, float], Mapping[str, RunResult]],
                       table: pd.DataFrame) -> dict[str, Any]:
    """The numbers the prose cites about the persistent warmup (keys: glue names): per target the
    step at which it diverged (-1: it did not), and over targets the latest step at which it reached
    eta_trgt, the most re-estimations and the most extra forward passes.

    Args:
        comparisons: as :func:`persistent_comparisons` returns them.
        table: :func:`persistent_table` of ``comparisons``.

    Returns:
        glue name -> value.
    """
    numbers = {}
    for (loss, multiple), runs in comparisons.items():
        diverged_at = runs["persistent catapult"].summary["diverged_step"]
        numbers[f"crit_pcw_{loss}_{multiple:g}_diverged"] = -1 if diverged_at is None else diverged_at
    pcw = table[table["schedule"] == "persistent catapult"]
    numbers.update(crit_pcw_reach_max=int(pcw["reaches eta_trgt at step"].max()),
                   crit_pcw_searches_max=int(pcw["re-estimations"].max()),
                   crit_pcw_fp_max=int(pcw["extra forward passes"].max()))
    return numbers


def plot_persistent(comparisons: Mapping[tuple[str, float], Mapping[str, RunResult]]) -> plt.Figure:
    """One column per target: training loss (top, log-log, cut at 100 x the initial loss so that a
    diverged curve leaves the panel) and learning rate (bottom) of each schedule, the persistent
    warmup's re-estimations of eta_c marked with triangles.

    Args:
        comparisons: as :func:`persistent_comparisons` returns them.

    Returns:
        The figure (2 x targets panels).
    """
    fig, axes = plots.figure(ncols=len(comparisons), nrows=2)
    axes = axes.reshape(2, len(comparisons))
    for column, ((loss, multiple), runs) in enumerate(comparisons.items()):
        ax_loss, ax_lr = axes[0, column], axes[1, column]
        for index, (name, result) in enumerate(runs.items()):
            records = result.records
            ax_loss.plot(records["step"] + 1, records["loss"], color=plots.COLORS[index], linewidth=0.8,
                         label=f"{name} ({result.summary['outcome']})")
            ax_lr.plot(records["step"] + 1, records["lr"], color=plots.COLORS[index], label=name)
            if "pcw_search_passes" in records:
                searched = records[records["pcw_search_passes"].notna()]
                ax_lr.plot(searched["step"] + 1, searched["lr"], "v", color="k", markersize=4,
                           label="re-estimation of $\\eta_c$")
                ax_loss.plot(searched["step"] + 1, searched["loss"], "v", color="k", markersize=4)
        losses = pd.concat([result.records["loss"] for result in runs.values()])
        ax_loss.set_ylim(0.5 * losses[losses > 0].min(), 100 * losses.iloc[0])
        ax_loss.set(xscale="log", yscale="log", title=rf"{loss}, $\eta_{{trgt}}$ = {multiple:g}$/\lambda_0$",
                    xlabel="step t + 1 (log scale)", ylabel="training loss on the batch (log scale)")
        ax_lr.set(xscale="log", xlabel="step t + 1 (log scale)", ylabel=r"learning rate $\eta_t$")
        ax_loss.legend(fontsize=6, loc="best")
    ax_lr.legend(fontsize=6, loc="lower right")
    plots.label_panels(axes.ravel())
    return fig


# The values of the claims rows (warmup_lib.claims.chapter06; criteria and kinds live there).

def pcw_value(runs: Mapping[str, Any]) -> float:
    """One seed's value of a claim-15 row: the persistent catapult warmup's best test accuracy minus
    the linear warmup's, in points, where the constant rate diverged.

    A linear warmup that did not converge counts as accuracy 0.  The value is -inf when the
    persistent warmup did not converge, and NaN (a failing seed: the target is not high for it)
    when the constant rate did not diverge.

    Args:
        runs: schedule name -> run (a ``summary`` with ``outcome`` and ``best_test_accuracy``), the
            names 'persistent catapult', 'linear, T_wrm = ...' and 'constant' of
            :func:`persistent_comparisons`.

    Returns:
        The value.
    """
    summaries = {name.split(",")[0]: result.summary for name, result in runs.items()}
    pcw, linear, constant = summaries["persistent catapult"], summaries["linear"], summaries["constant"]
    if constant["outcome"] != "diverged":
        return math.nan
    if pcw["outcome"] != "converged":
        return -math.inf
    linear_accuracy = linear["best_test_accuracy"] if linear["outcome"] == "converged" else 0.0
    return 100 * (pcw["best_test_accuracy"] - linear_accuracy)


def claim_values(grids: Sequence[pd.DataFrame], init_ratios: Sequence[float],
                 comparisons: Sequence[Mapping[tuple[str, float], Mapping[str, Any]]]) -> dict[str, list[float]]:
    """The values of the chapter's claims rows, one per seed: 12a-12f per seed of the grid, 15a-15c
    per seed of the persistent-warmup comparisons (each list in its seeds' order).

    12a: the fraction of cells with eta_trgt <= eta_c whose T_reach is 1 (NaN without such a cell);
    12b: :func:`max_save_fraction`; 12c: the largest T_fp of the grid; 12d: :func:`accuracy_gap` in
    points; 12e: the cells lost minus the cells gained (:func:`changed_outcomes`); 12f: the init search's
    :func:`threshold_ratio`; 15a, 15b, 15c: :func:`pcw_value` of the three persistent-warmup
    targets, in order.

    Args:
        grids: each grid seed's :func:`critical_warmup_grid`.
        init_ratios: each grid seed's eta_c / (2/lambda_0) at initialisation.
        comparisons: each persistent-warmup seed's :func:`persistent_comparisons` (three targets).

    Returns:
        row id -> values.

    Raises:
        ValueError: when grids and init_ratios differ in length or a seed's comparisons do not have
            three targets.
    """
    if len(grids) != len(init_ratios):
        raise ValueError(f"grids, init_ratios: got {len(grids)} and {len(init_ratios)} seeds; one of each per seed")
    if any(len(targets) != 3 for targets in comparisons):
        raise ValueError("comparisons: every seed needs exactly three persistent-warmup targets (15a-15c)")
    values: dict[str, list[float]] = {row: [] for row in ("12a", "12b", "12c", "12d", "12e", "12f",
                                                          "15a", "15b", "15c")}
    for grid, ratio in zip(grids, init_ratios):
        below, _ = split_by_eta_c(grid)
        values["12a"].append(float((below["t_reach"] == 1).mean()) if len(below) else math.nan)
        values["12b"].append(float(max_save_fraction(grid)))
        values["12c"].append(float(grid["total_passes"].max()))
        values["12d"].append(float(100 * accuracy_gap(grid)))
        lost, gained = changed_outcomes(grid)
        values["12e"].append(float(len(lost) - len(gained)))
        values["12f"].append(float(ratio))
    for targets in comparisons:
        for row, runs in zip(("15a", "15b", "15c"), targets.values()):
            values[row].append(pcw_value(runs))
    return values


def seed_table(seeds: Sequence[int], grids: Sequence[pd.DataFrame], init_ratios: Mapping[str, Sequence[float]],
               ) -> pd.DataFrame:
    """One row per seed: lambda_0, eta_c / (2/lambda_0) at initialisation for each loss, the values
    of eta_c lambda_0 the grid's searches returned where eta_trgt > eta_c, the grid's largest T_fp and T_save/T_wrm, the mean best-accuracy difference (points) and the cells lost and
    gained by starting at eta_c (3 decimals).

    Args:
        seeds: the seeds.
        grids: each seed's :func:`critical_warmup_grid`.
        init_ratios: loss -> each seed's :func:`threshold_ratio` at initialisation.

    Returns:
        The table.
    """
    rows = []
    for index, (seed, grid) in enumerate(zip(seeds, grids)):
        lost, gained = changed_outcomes(grid)
        _, above = split_by_eta_c(grid)
        rows.append({"seed": seed, "lambda_0": float(grid["lambda_0"].iloc[0]),
                     **{f"eta_c/(2/lambda_0), {loss}": ratios[index] for loss, ratios in init_ratios.items()},
                     "eta_c*lambda_0 above": ", ".join(f"{value:g}" for value in
                                                      sorted(above["eta_c_lambda0"].round(2).unique())),
                     "largest T_fp": int(grid["total_passes"].max()),
                     "largest T_save/T_wrm": float(max_save_fraction(grid)),
                     "acc. diff. (points)": float(100 * accuracy_gap(grid)),
                     "cells lost": len(lost), "cells gained": len(gained)})
    return pd.DataFrame(rows).round(3)


def init_ratios(experiment: str, params: Mapping[str, Any], losses: Sequence[str], seeds: Sequence[int],
                lambda0_batches: int, eta0: float, delta: float, root: str | Path = "results",
                ) -> dict[str, list[float]]:
    """eta_c / (2/lambda_0) at initialisation (:func:`threshold_ratio`) for each loss and seed:
    lambda_0 averaged over ``lambda0_batches`` batches and the uncapped search from ``eta0``, both
    recorded in the store (measured once).

    Args:
        experiment: the chapter's experiment folder.
        params: the parameters cell's values without the seed (see :func:`base_config`).
        losses: 'xent' and/or 'mse'.
        seeds: the seeds.
        lambda0_batches, eta0, delta: the measurements' settings.
        root: the results store.

    Returns:
        loss -> one ratio per seed.
    """
    ratios: dict[str, list[float]] = {}
    for loss in losses:
        ratios[loss] = []
        for seed in seeds:
            cfg = base_config({**params, "seed": seed}, loss)
            lambda_0 = load_or_measure_lambda0(experiment, cfg, lambda0_batches, root)["lambda_0"]
            search = load_or_search(experiment, cfg, eta0=eta0, delta=delta, eta_max=None, root=root)
            ratios[loss].append(threshold_ratio(search["eta_c"], lambda_0))
    return ratios


def seed_numbers(grids: Sequence[pd.DataFrame]) -> dict[str, Any]:
    """The numbers the prose cites about the grid over seeds (keys: glue names): the seed count, the
    range of the mean best-accuracy difference (points, 2 decimals) and of the largest
    T_save/T_wrm, the cells lost and gained by starting at eta_c, summed over seeds, and the smallest
    target (eta_trgt lambda_0) of such a cell (NaN when there is none).

    Args:
        grids: each seed's :func:`critical_warmup_grid`.

    Returns:
        glue name -> value.
    """
    gaps = [float(100 * accuracy_gap(grid)) for grid in grids]
    fractions = [float(max_save_fraction(grid)) for grid in grids]
    changed = [changed_outcomes(grid) for grid in grids]
    return {"crit_seeds": len(grids), "crit_gap_min": round(min(gaps), 2), "crit_gap_max": round(max(gaps), 2),
            "crit_fraction_min": round(min(fractions), 2), "crit_fraction_max": round(max(fractions), 2),
            "crit_lost_total": sum(len(lost) for lost, _ in changed),
            "crit_gained_total": sum(len(gained) for _, gained in changed),
            "crit_changed_c_min": min((float(rows["c"].min()) for pair in changed for rows in pair if len(rows)),
                                      default=float("nan"))}


def ratio_numbers(init_ratios: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """The range over seeds of eta_c / (2/lambda_0) at initialisation for each loss (keys: glue names
    ``crit_ratio_<loss>_min`` / ``_max``, 2 decimals)."""
    numbers = {}
    for loss, ratios in init_ratios.items():
        numbers[f"crit_ratio_{loss}_min"] = round(float(min(ratios)), 2)
        numbers[f"crit_ratio_{loss}_max"] = round(float(max(ratios)), 2)
    return numbers


def persistent_seed_table(seeds: Sequence[int],
                          comparisons: Sequence[Mapping[tuple[str, float], Mapping[str, RunResult]]]) -> pd.DataFrame:
    """:func:`persistent_table` of every seed, a ``seed`` column first."""
    return pd.concat([persistent_table(targets).assign(seed=seed) for seed, targets in zip(seeds, comparisons)],
                     ignore_index=True)[["seed", *persistent_table(comparisons[0]).columns]]


def persistent_outcome_numbers(table: pd.DataFrame) -> dict[str, int]:
    """Per target, over seeds: how many seeds the persistent warmup, the linear warmup and the
    constant rate converged (keys ``crit_pcw_<loss>_<c>_<pcw|linear|constant>``), and the seed count
    ``crit_pcw_seeds``.

    Args:
        table: :func:`persistent_seed_table`.

    Returns:
        glue name -> count.
    """
    numbers = {"crit_pcw_seeds": int(table["seed"].nunique())}
    for (loss, multiple), rows in table.groupby(["loss", "eta_trgt*lambda_0"], sort=False):
        for name, key in (("persistent catapult", "pcw"), ("linear", "linear"), ("constant", "constant")):
            chosen = rows[rows["schedule"].str.startswith(name)]
            numbers[f"crit_pcw_{loss}_{multiple:g}_{key}"] = int((chosen["outcome"] == "converged").sum())
    return numbers
