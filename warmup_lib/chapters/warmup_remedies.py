"""Chapter 8, every warmup remedy head to head, and which curvature signal to watch (beyond the paper).

Every remedy for the instabilities that warmup tames, trained on the same tasks at the same budget
(the same steps, batches, initialisations and grid of target rates), three or more seeds each:

* schedules of Adam or SGD: no warmup; the linear warmup with its length tuned over a grid; Ma &
  Yarats' untuned linear warmup of 2/(1 - beta2) steps and untuned exponential warmup with time
  constant 1/(1 - beta2) (Adam only); the paper's warmup from eta_init = eta_c;
* optimizers that carry their own warmup: RAdam, GI-Adam, RI-Adam, ADOPT (Adam settings only);
* rate controllers: persistent catapult warmup (the paper's Alg. 3) and a curvature-adaptive rate
  in the spirit of CDAT (:class:`~warmup_lib.critical.cdat.CurvatureAdaptiveLR`), both capped at
  eta_trgt.

A *setting* is a (task, optimizer) pair; a *task* is a model, its data and its run length
(:func:`task_config`).  The SGD grid is c / lambda_0 (lambda_0 of each seed's initialisation), the
Adam grid is absolute.  For each setting, remedy and seed the chapter reads off
(:func:`remedy_metrics`): eta_max, the largest grid rate whose run converges; L*, the lowest final
training loss over the grid; the learning-rate sensitivity S = mean over the grid of
min(L(eta), L_init) - L* (Wortsman et al., arXiv 2309.14322); the best final test accuracy; and the
counted extra cost (forward passes, HVPs, gradients).  The tuned linear warmup counts at each rate
its best warmup length.

The second part measures, side by side during one SGD and one Adam warmup, the curvature signals
that could predict a catapult (:class:`~warmup_lib.curvature.signals.CurvatureSignals`) and when
each crosses its threshold (:func:`signal_leads`).
"""

from __future__ import annotations

import json
import math
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from warmup_lib import plots
from warmup_lib.analysis.trajectory import loss_excursions
from warmup_lib.chapters.critical_lr_warmup import persistent_experiment, run_controlled, run_persistent_catapult
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.curvature import adam_threshold
from warmup_lib.data import load_data
from warmup_lib.runs import store
from warmup_lib.runs.executors import _pool_worker_setup, run_missing
from warmup_lib.runs.measure import load_or_measure_lambda0, load_or_search
from warmup_lib.runs.train import RunResult
from warmup_lib.schedules import untuned_exponential_time_constant, untuned_linear_warmup_steps

CONTROLLED = ("pcw", "cdat")  # remedies whose rates a controller sets during the run


@dataclass(frozen=True)
class Remedy:
    """One warmup remedy: its key, its label on the page, the optimizers it applies to, the
    hyperparameters it adds to the target rate (and which), what it does, and where it comes from."""

    key: str
    label: str
    optimizers: tuple[str, ...]
    hyperparameters: int
    tuned: str
    rule: str
    source: str


REMEDIES: tuple[Remedy, ...] = (
    Remedy("none", "no warmup", ("sgd", "adam"), 0, "-", "eta_t = eta_trgt from the first update", "-"),
    Remedy("linear", "linear, tuned T_wrm", ("sgd", "adam"), 1, "T_wrm (3 lengths per rate)",
           "eta_trgt (t+1)/T_wrm, best of 3 T_wrm per rate", "Goyal et al. 2017"),
    Remedy("untuned_linear", "linear, 2/(1-b2) steps", ("adam",), 0, "-",
           "linear warmup, T_wrm = 2/(1-beta2)", "Ma & Yarats 2021"),
    Remedy("exponential", "exponential, tau=1/(1-b2)", ("adam",), 0, "-",
           "eta_trgt (1 - exp(-(t+1)(1-beta2)))", "Ma & Yarats 2021"),
    Remedy("radam", "RAdam", ("adam",), 0, "-", "Adam, step rectified while v is noisy",
           "Liu et al. 2020 (torch.optim.RAdam)"),
    Remedy("gi_adam", "GI-Adam", ("adam",), 0, "-", "Adam with v_0 = g_0^2", "Kalra & Barkeshli 2024 (chapter 4)"),
    Remedy("ri_adam", "RI-Adam", ("adam",), 0, "-", "Adam with a random v_0 of g_0^2's norm",
           "Kalra & Barkeshli 2024 (chapter 4)"),
    Remedy("adopt", "ADOPT", ("adam",), 0, "-", "g / sqrt(previous v) into momentum; v_0 = g_0^2",
           "Taniguchi et al. 2024"),
    Remedy("eta_c", "warmup from eta_c", ("sgd", "adam"), 2, "T_wrm (the longest), search delta",
           "linear warmup started at the searched eta_c", "Kalra & Barkeshli 2024 (chapter 6)"),
    Remedy("pcw", "persistent catapult", ("sgd", "adam"), 1, "delta",
           "rate raised to eta_c, re-searched after spikes", "Kalra & Barkeshli 2024 (Alg. 3)"),
    Remedy("cdat", "curvature-adaptive", ("sgd", "adam"), 2, "scale, EMA beta",
           "min(eta_trgt, 2 g.u / u^T H u), u the update", "after Roulet et al. 2024 (CDAT)"),
)
REMEDY = {remedy.key: remedy for remedy in REMEDIES}
OPTIMIZER_REMEDY = {"radam": "radam", "gi_adam": "gi_adam", "ri_adam": "ri_adam", "adopt": "adopt"}


def remedies_frame() -> pd.DataFrame:
    """The remedies as a table: label, rule, the optimizers it applies to, the hyperparameters it
    adds (number and which) and its source."""
    return pd.DataFrame([{"remedy": r.label, "rule": r.rule, "applies to": ", ".join(r.optimizers),
                          "extra hyperparameters": r.hyperparameters, "which": r.tuned, "source": r.source}
                         for r in REMEDIES])


def remedies_for(optimizer: str) -> list[Remedy]:
    """The remedies that apply to a setting trained by ``optimizer`` ('sgd' or 'adam')."""
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer: got {optimizer!r}; allowed values are 'sgd', 'adam'")
    return [remedy for remedy in REMEDIES if optimizer in remedy.optimizers]


# ---------------------------------------------------------------------------------------------------
# The run plan
# ---------------------------------------------------------------------------------------------------

def task_config(task: Mapping[str, Any], optimizer: str, beta2: float, seed: int) -> RunConfig:
    """The run of ``task`` trained by ``optimizer`` at a placeholder constant rate (the plan sets it).

    Args:
        task: the task's entry of the parameters cell: arch, width, depth, dataset, n_train, n_test,
            context, batch_size, steps and optionally data_root (the folder of WikiText-2's raw files);
            cross-entropy, SP, evaluated at the start and the end.
        optimizer: the setting's optimizer, 'sgd' or 'adam'.
        beta2: Adam's beta2 (also that of RAdam, GI-Adam, RI-Adam and ADOPT, and of the untuned warmups).
        seed: the initialisation and batch order.

    Returns:
        The config.
    """
    data = DataConfig(name=task["dataset"], n_train=task["n_train"], n_test=task["n_test"], context=task["context"],
                      root=task.get("data_root"))
    model = ModelConfig(arch=task["arch"], width=task["width"], depth=task["depth"], param="sp")
    return RunConfig(data=data, model=model, optim=OptimConfig(name=optimizer, beta2=beta2),
                     schedule=ScheduleConfig(eta_trgt=1.0), loss="xent", batch_size=task["batch_size"],
                     steps=task["steps"], seed=seed, eval_every=task["steps"])


@dataclass(frozen=True)
class PlannedRun:
    """One run of the comparison: which setting, remedy, grid column and seed, its config, and how
    it is trained ('store': a plain config; 'pcw' / 'cdat': a controller sets its rates)."""

    task: str
    optimizer: str
    remedy: str
    column: int
    eta_trgt: float
    warmup_steps: int
    seed: int
    cfg: RunConfig
    runner: str = "store"


def grid_rates(optimizer: str, params: Mapping[str, Any], lambda_0: float) -> list[float]:
    """The absolute target rates of a setting's grid: c / lambda_0 for SGD (c in ``sgd_eta``), the
    absolute ``adam_eta`` for Adam."""
    return [c / lambda_0 for c in params["sgd_eta"]] if optimizer == "sgd" else list(params["adam_eta"])


def linear_warmup_grid(steps: int, fractions: Sequence[float]) -> list[int]:
    """The tuned linear warmup's lengths: ``fractions`` of the run, at least 2 steps each."""
    return [max(2, round(fraction * steps)) for fraction in fractions]


def remedy_configs(remedy: str, base: RunConfig, eta_trgt: float, params: Mapping[str, Any],
                   eta_c: float | None) -> list[tuple[int, RunConfig]]:
    """(T_wrm, config) of one remedy at one target rate: several for the tuned linear warmup.

    Args:
        remedy: a key of :data:`REMEDY`.
        base: the setting's config for this seed (:func:`task_config`).
        eta_trgt: the target rate.
        params: the parameters cell (``linear_fractions``).
        eta_c: the critical rate at initialisation (remedy 'eta_c' only).

    Returns:
        The configs, each with the T_wrm it is listed under (1 for no warmup and the controllers).
    """
    steps, beta2 = base.steps, base.optim.beta2
    at = base.replace(**{"schedule.eta_trgt": eta_trgt})
    if remedy in ("none", *CONTROLLED):
        return [(1, at)]
    if remedy in OPTIMIZER_REMEDY:
        return [(1, at.replace(**{"optim.name": OPTIMIZER_REMEDY[remedy]}))]
    if remedy == "linear":
        return [(length, at.replace(**{"schedule.warmup_steps": length}))
                for length in linear_warmup_grid(steps, params["linear_fractions"])]
    if remedy == "untuned_linear":
        length = min(untuned_linear_warmup_steps(beta2), steps)
        return [(length, at.replace(**{"schedule.warmup_steps": length}))]
    if remedy == "exponential":
        tau = min(untuned_exponential_time_constant(beta2), steps)
        return [(tau, at.replace(**{"schedule.warmup_steps": tau, "schedule.warmup": "exponential"}))]
    if remedy == "eta_c":
        length = max(linear_warmup_grid(steps, params["linear_fractions"]))
        return [(length, at.replace(**{"schedule.warmup_steps": length, "schedule.warmup": "from_init",
                                       "schedule.eta_init": eta_c}))]
    raise ValueError(f"remedy: got {remedy!r}; allowed values are {', '.join(map(repr, REMEDY))}")


def plan(experiment: str, params: Mapping[str, Any], root: str | Path) -> list[PlannedRun]:
    """Every run of the comparison, after measuring (or loading) lambda_0 for the SGD settings and
    eta_c at initialisation for the 'eta_c' remedy.

    Args:
        experiment: the store's experiment folder.
        params: the parameters cell (tasks, settings, seeds, grids, beta2, search settings).
        root: the results store.

    Returns:
        The planned runs, in the order setting, remedy, seed, column, T_wrm.
    """
    planned = []
    for task_key, optimizer in params["settings"]:
        task = params["tasks"][task_key]
        for remedy in remedies_for(optimizer):
            for seed in params["seeds"]:
                base = task_config(task, optimizer, params["beta2"], seed)
                lambda_0 = load_or_measure_lambda0(experiment, base, params["lambda0_batches"], root)["lambda_0"] \
                    if optimizer == "sgd" else math.nan
                eta_c = load_or_search(experiment, base, params["search_eta0"], params["search_delta"],
                                       root=root)["eta_c"] if remedy.key == "eta_c" else None
                for column, eta_trgt in enumerate(grid_rates(optimizer, params, lambda_0)):
                    runner = remedy.key if remedy.key in CONTROLLED else "store"
                    for warmup_steps, cfg in remedy_configs(remedy.key, base, eta_trgt, params, eta_c):
                        planned.append(PlannedRun(task_key, optimizer, remedy.key, column, eta_trgt, warmup_steps,
                                                  seed, cfg, runner))
    return planned


# ---------------------------------------------------------------------------------------------------
# Training: plain configs through the store's executors, controlled runs in a pool of their own
# ---------------------------------------------------------------------------------------------------

def cdat_experiment(experiment: str, scale: float, beta: float, every: int) -> str:
    """Folder of the curvature-adaptive runs with these settings (the run id covers only the config)."""
    return f"{experiment}_cdat_scale{scale:g}_beta{beta:g}_every{every}"


def run_curvature_adaptive(cfg: RunConfig, scale: float, beta: float, every: int, experiment: str | None = None,
                           root: str | Path = "results") -> RunResult:
    """Train ``cfg`` with the curvature-adaptive rate capped at ``cfg.schedule.eta_trgt``.

    ``cfg`` must have a constant schedule: its eta_trgt is the cap.  The records' ``lr`` column is
    the rate used.  Summary additions: cdat_hvps (HVPs made), cdat_settings.  With ``experiment``,
    the run is loaded from / saved to :func:`cdat_experiment`'s folder.
    """
    from warmup_lib.critical.cdat import CurvatureAdaptiveCallback

    schedule = cfg.schedule
    if schedule.warmup_steps != 1 or schedule.decay != "constant":
        raise ValueError(f"schedule: got warmup_steps={schedule.warmup_steps}, decay={schedule.decay!r}; the "
                         "curvature-adaptive rate needs a constant schedule (warmup_steps 1) at its cap eta_trgt")
    folder = cdat_experiment(experiment, scale, beta, every) if experiment else None
    callback = CurvatureAdaptiveCallback(schedule.eta_trgt, scale=scale, beta=beta, every=every)

    def finish(result: RunResult) -> None:  # the rate used, and the HVPs it took
        result.records["lr"] = result.records["cdat_eta"]
        result.summary.update(cdat_hvps=callback.scheduler.hvps if callback.scheduler else 0,
                              cdat_settings={"scale": scale, "beta": beta, "every": every})

    return run_controlled(cfg, callback, finish, folder, root)


def controlled_folder(experiment: str, runner: str, params: Mapping[str, Any]) -> str:
    """The store folder of a controlled run ('pcw' or 'cdat') with the chapter's settings."""
    if runner == "pcw":
        return persistent_experiment(experiment, params["pcw_delta"], params["pcw_eta0"],
                                     params["pcw_max_forward_passes"])
    return cdat_experiment(experiment, params["cdat_scale"], params["cdat_beta"], params["cdat_every"])


def _train_controlled(runner: str, cfg: RunConfig, experiment: str, settings: dict[str, Any], root: str) -> None:
    """Train and store one controlled run (a pool task: module-level, so it pickles)."""
    if runner == "pcw":
        run_persistent_catapult(cfg, settings["pcw_delta"], settings["pcw_eta0"], settings["pcw_max_forward_passes"],
                                experiment=experiment, root=root)
    else:
        run_curvature_adaptive(cfg, settings["cdat_scale"], settings["cdat_beta"], settings["cdat_every"],
                               experiment=experiment, root=root)


def train_all(experiment: str, planned: Sequence[PlannedRun], params: Mapping[str, Any], root: str | Path,
              executor: str | None = None, workers: int = 1) -> int:
    """Train every planned run the store lacks; returns how many were trained.

    Plain configs go through :func:`~warmup_lib.runs.executors.run_missing` (``executor``, e.g.
    'pool'); the controlled runs through a pool of ``workers`` single-threaded processes (in this
    process when ``workers`` is 1).  When anything was trained, the stored per-step records of the
    comparison are thinned to every ``records_every``-th step (the chapter reads only the runs'
    summaries and evaluations; the signal runs keep every step).
    """
    plain = [run_.cfg for run_ in planned if run_.runner == "store"]
    trained = run_missing(experiment, plain, root, workers=workers, executor=executor)
    settings = {key: params[key] for key in ("pcw_delta", "pcw_eta0", "pcw_max_forward_passes", "cdat_scale",
                                             "cdat_beta", "cdat_every")}
    todo = [(run_.runner, run_.cfg) for run_ in planned if run_.runner in CONTROLLED
            and not store.is_done(controlled_folder(experiment, run_.runner, params), run_.cfg, root)]
    if workers == 1:
        for runner, cfg in todo:
            _train_controlled(runner, cfg, experiment, settings, str(root))
    elif todo:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_pool_worker_setup,
                                 initargs=(multiprocessing.current_process().pid,)) as pool:
            list(pool.map(_train_controlled, *zip(*todo), [experiment] * len(todo), [settings] * len(todo),
                          [str(root)] * len(todo)))
    if trained or todo:
        for folder in (experiment, *(controlled_folder(experiment, runner, params) for runner in CONTROLLED)):
            store.thin_records(folder, root, every=params["records_every"])
    return trained + len(todo)


def load_planned(experiment: str, run_: PlannedRun, params: Mapping[str, Any], root: str | Path) -> RunResult:
    """The stored run of a planned run (from the controller's folder for 'pcw' / 'cdat')."""
    folder = experiment if run_.runner == "store" else controlled_folder(experiment, run_.runner, params)
    return store.load_run(folder, run_.cfg, root)


def chance_loss(cfg: RunConfig) -> float:
    """log K, the cross-entropy of a uniform prediction over the K classes (characters) of ``cfg``'s data."""
    return math.log(load_data(cfg.data).num_classes)


def runs_table(experiment: str, planned: Sequence[PlannedRun], params: Mapping[str, Any],
               root: str | Path) -> pd.DataFrame:
    """One row per planned run: its place in the plan, outcome, training loss (whole training set) at
    initialisation and at the end, the chance loss log K of its data (:func:`chance_loss`), final
    test accuracy, steps, and its counted extra cost.

    Extra cost per run: ``extra_passes`` (forward passes beyond training: the eta_c search, the
    persistent warmup's re-estimations, 2 per gradient), ``extra_hvps`` (the curvature-adaptive
    rate's HVPs), ``extra_gradients`` (GI-/RI-Adam's g_0), ``idle_updates`` (ADOPT's first step,
    which only sets v_0).
    """
    rows = []
    search_passes = {}
    chance = {task: chance_loss(task_config(params["tasks"][task], "sgd", params["beta2"], 0))
              for task in dict.fromkeys(run_.task for run_ in planned)}
    for run_ in planned:
        result = load_planned(experiment, run_, params, root)
        summary, evals = result.summary, result.evals
        key = (run_.task, run_.optimizer, run_.seed)
        if run_.remedy == "eta_c" and key not in search_passes:
            base = task_config(params["tasks"][run_.task], run_.optimizer, params["beta2"], run_.seed)
            search_passes[key] = load_or_search(
                experiment, base, params["search_eta0"], params["search_delta"], root=root)["total_passes"]
        rows.append({
            "task": run_.task, "optimizer": run_.optimizer, "remedy": run_.remedy, "seed": run_.seed,
            "column": run_.column, "eta_trgt": run_.eta_trgt, "warmup_steps": run_.warmup_steps,
            "outcome": summary["outcome"], "init_train_loss": float(evals["train_loss"].iloc[0]),
            "final_train_loss": summary["final_train_loss"], "chance_loss": chance[run_.task],
            "final_test_accuracy": summary["final_test_accuracy"], "steps": run_.cfg.steps,
            "extra_passes": summary.get("pcw_forward_passes", 0) + (search_passes[key] if run_.remedy == "eta_c" else 0),
            "extra_hvps": summary.get("cdat_hvps", 0),
            "extra_gradients": int(run_.remedy in ("gi_adam", "ri_adam")),
            "idle_updates": int(run_.remedy == "adopt"),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# The readings
# ---------------------------------------------------------------------------------------------------

def _per_rate(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per grid column of one (setting, remedy, seed): the best of its warmup lengths.

    A run *trains* when its outcome is 'converged' and its final training loss is below the chance
    loss log K (the book's rule for language models, chapter 7: an LM whose loss exploded without a
    NaN still beats the trainer's 1.5 x chance accuracy by predicting the commonest character).  A
    column trains when any of its lengths trains; its loss is the lowest finite final training loss
    among them (inf when none is finite), its accuracy the highest final test accuracy.
    """
    loss = runs["final_train_loss"].where(np.isfinite(runs["final_train_loss"]), math.inf)
    runs = runs.assign(loss=loss, converged=runs["outcome"].eq("converged") & (loss < runs["chance_loss"]))
    return runs.groupby("column", sort=True).agg(
        eta_trgt=("eta_trgt", "first"), converged=("converged", "any"), loss=("loss", "min"),
        accuracy=("final_test_accuracy", "max"), init_loss=("init_train_loss", "first"))


def remedy_metrics(runs: pd.DataFrame) -> dict[str, float]:
    """The readings of one (setting, remedy, seed) from its rows of :func:`runs_table`.

    eta_max: the largest grid rate whose run trains (:func:`_per_rate`; NaN when none does); eta_max_column its
    column; best_loss: L*, the lowest final training loss over the grid (on the whole training set:
    what warmup acts on, and free of the overfitting that makes the FCN's test loss rise);
    sensitivity: S = mean over the grid of min(L(eta), L_init) - L*, with L_init the training loss
    at initialisation (Wortsman et al.);
    best_accuracy: the highest final test accuracy; runs_per_target: the runs one grid rate costs
    (the tuned warmup's lengths); extra passes, HVPs, gradients and idle updates per step, averaged
    over its runs.

    Args:
        runs: the rows of one (task, optimizer, remedy, seed).

    Returns:
        The readings by name.
    """
    rates = _per_rate(runs)
    converged = rates[rates["converged"]]
    best = rates["loss"].min()
    capped = np.minimum(rates["loss"], rates["init_loss"])
    steps = runs["steps"].to_numpy(dtype=float)
    return {
        "eta_max": float(converged["eta_trgt"].max()) if len(converged) else math.nan,
        "eta_max_column": float(converged.index.max()) if len(converged) else math.nan,
        "best_loss": float(best), "sensitivity": float((capped - best).mean()),
        "best_accuracy": float(rates["accuracy"].max()),
        "runs_per_target": len(runs) / len(rates),
        "passes_per_step": float((runs["extra_passes"] / steps).mean()),
        "hvps_per_step": float((runs["extra_hvps"] / steps).mean()),
        "gradients_per_run": float(runs["extra_gradients"].mean()),
        "idle_updates": float(runs["idle_updates"].mean()),
    }


def metrics_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`remedy_metrics` of every (task, optimizer, remedy, seed) of a :func:`runs_table`."""
    rows = []
    for (task, optimizer, remedy, seed), runs in table.groupby(["task", "optimizer", "remedy", "seed"], sort=False):
        rows.append({"task": task, "optimizer": optimizer, "remedy": remedy, "seed": seed, **remedy_metrics(runs)})
    return pd.DataFrame(rows)


def _spread(values: pd.Series, digits: int, scale: float = 1.0) -> str:
    """'mean (min..max)' of the finite values, '-' when none is finite; 'n/c' marks seeds without a
    converged run."""
    finite = values[np.isfinite(values)] * scale
    if finite.empty:
        return "-"
    text = f"{finite.mean():.{digits}g}" if len(finite) == 1 or finite.min() == finite.max() else \
        f"{finite.mean():.{digits}g} ({finite.min():.{digits}g}..{finite.max():.{digits}g})"
    missing = len(values) - len(finite)
    return text + (f", {missing} n/c" if missing else "")


def practitioner_table(metrics: pd.DataFrame, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The table a practitioner can act on: per setting and remedy, over the seeds (mean (min..max)):
    eta_max, L*, best accuracy (%), sensitivity S, the hyperparameters it adds, the runs one target
    rate costs, and its counted extra cost per step.

    Args:
        metrics: a :func:`metrics_table`.
        labels: remedy key -> label (default: :data:`REMEDIES`' labels).

    Returns:
        One row per (task, optimizer, remedy), in the order of :data:`REMEDIES` within a setting.
    """
    labels = labels or {remedy.key: remedy.label for remedy in REMEDIES}
    order = {remedy.key: position for position, remedy in enumerate(REMEDIES)}
    rows = []
    for (task, optimizer, remedy), group in metrics.groupby(["task", "optimizer", "remedy"], sort=False):
        cost = []
        if group["passes_per_step"].mean() > 0:
            cost.append(f"{group['passes_per_step'].mean():.2g} fwd/step")
        if group["hvps_per_step"].mean() > 0:
            cost.append(f"{group['hvps_per_step'].mean():.2g} HVP/step")
        if group["gradients_per_run"].mean() > 0:
            cost.append("1 gradient")
        if group["idle_updates"].mean() > 0:
            cost.append("1 idle step")
        rows.append({"setting": f"{task} / {optimizer}", "remedy": labels[remedy], "_order": order[remedy],
                     "eta_max": _spread(group["eta_max"], 2), "L*": _spread(group["best_loss"], 3),
                     "best acc. (%)": _spread(group["best_accuracy"], 3, 100.0),
                     "sensitivity S": _spread(group["sensitivity"], 2),
                     "extra hyperparameters": REMEDY[remedy].hyperparameters,
                     "runs per target": f"{group['runs_per_target'].mean():g}",
                     "extra cost": ", ".join(cost) or "-"})
    frame = pd.DataFrame(rows)
    frame["_setting"] = frame["setting"].map({name: i for i, name in enumerate(dict.fromkeys(frame["setting"]))})
    return frame.sort_values(["_setting", "_order"]).drop(columns=["_order", "_setting"]).reset_index(drop=True)


def recommendation_table(metrics: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """What the numbers recommend, per setting (means over the seeds; a seed without a converged
    rate counts eta_max = 0):

    * trains highest: the remedies whose eta_max is the largest of the setting on every seed;
    * lowest L*: the remedies whose mean L* is within ``tolerance`` (relative) of the lowest;
    * least sensitive: the remedy with the lowest mean sensitivity S;
    * best without tuning: among the remedies that add no hyperparameter, the lowest mean L*.

    Args:
        metrics: a :func:`metrics_table`.
        tolerance: the relative margin of "within the best L*".

    Returns:
        One row per setting, the remedies by label (separated by '; ', as labels hold commas).
    """
    rows = []
    for (task, optimizer), setting in metrics.groupby(["task", "optimizer"], sort=False):
        eta_max = setting.assign(eta_max=setting["eta_max"].fillna(0.0))
        top = eta_max.groupby("seed")["eta_max"].transform("max")
        highest = eta_max.assign(top=eta_max["eta_max"].eq(top)).groupby("remedy", sort=False)["top"].all()
        means = setting.groupby("remedy", sort=False)[["best_loss", "sensitivity"]].mean()
        best = means["best_loss"].min()
        untuned = means[[REMEDY[key].hyperparameters == 0 for key in means.index]]
        rows.append({"setting": f"{task} / {optimizer}",
                     "trains highest": "; ".join(REMEDY[key].label for key in highest.index[highest])
                                       or "no one remedy on every seed",
                     "lowest L* (within 5 %)": "; ".join(REMEDY[key].label for key in
                                                       means.index[means["best_loss"] <= best * (1 + tolerance)]),
                     "least sensitive": REMEDY[means["sensitivity"].idxmin()].label,
                     "best without tuning": REMEDY[untuned["best_loss"].idxmin()].label})
    return pd.DataFrame(rows)


def _worst(metrics: pd.DataFrame, value: pd.Series, seeds: Sequence[int], worst: str) -> list[float]:
    """Per seed, the worst (``worst`` = 'min' or 'max') of ``value`` over the settings: NaN if any is NaN."""
    frame = metrics[["seed"]].assign(value=value.to_numpy())
    out = []
    for seed in seeds:
        values = frame.loc[frame["seed"] == seed, "value"].to_numpy(dtype=float)
        out.append(math.nan if len(values) == 0 or np.isnan(values).any() else float(getattr(values, worst)()))
    return out


def _paired(metrics: pd.DataFrame, numerator: str, denominator: str, column: str,
            optimizers: Sequence[str] = ("sgd", "adam")) -> pd.DataFrame:
    """Rows (task, optimizer, seed, num, den) pairing two remedies' readings of ``column``."""
    chosen = metrics[metrics["optimizer"].isin(optimizers)]
    keys = ["task", "optimizer", "seed"]
    top = chosen[chosen["remedy"] == numerator].set_index(keys)[column].rename("num")
    bottom = chosen[chosen["remedy"] == denominator].set_index(keys)[column].rename("den")
    return pd.concat([top, bottom], axis=1, join="inner").reset_index()


def ratio_per_seed(metrics: pd.DataFrame, numerator: str, denominator: str, column: str, seeds: Sequence[int],
                   worst: str = "min", optimizers: Sequence[str] = ("sgd", "adam"),
                   transform: str = "ratio") -> list[float]:
    """Per seed, the worst over the settings of a comparison of two remedies' readings.

    ``transform``: 'ratio' num/den; 'excess' num/den - 1; 'gap' |num/den - 1|.  NaN readings
    (no converged rate) propagate, so a seed whose remedy never trains fails its row.
    """
    pairs = _paired(metrics, numerator, denominator, column, optimizers)
    ratio = pairs["num"] / pairs["den"]
    value = {"ratio": ratio, "excess": ratio - 1, "gap": (ratio - 1).abs()}[transform]
    return _worst(pairs, value, seeds, worst)


def signal_ratios(records: pd.DataFrame, optimizer: str, beta1: float = 0.9) -> dict[str, pd.Series]:
    """Each curvature signal of a run over its threshold, at the steps it was measured (>= 1: crossed).

    SGD: eta_t lambda_max(H) / 2 ('sharpness') and eta_t x batch sharpness / 2 ('batch_sharpness');
    Adam: lambda_max(P^-1 H) over (2 + 2 beta1) / ((1 - beta1) eta_t), 38/eta_t for beta1 = 0.9
    ('pre_sharpness'); both: eta_t / eta_c(theta_t) ('eta_c').

    Args:
        records: the run's records (step, lr and the signal columns of
            :class:`~warmup_lib.curvature.signals.CurvatureSignals`).
        optimizer: 'sgd' or 'adam' (:data:`SIGNALS`).
        beta1: Adam's beta1.

    Returns:
        Signal name -> the ratio indexed by step (finite measurements only).
    """
    eta = records["lr"].to_numpy(dtype=float)
    ratios = {}
    for signal in SIGNALS[optimizer]:
        values = records[signal].to_numpy(dtype=float)
        if signal == "eta_c":
            ratio = eta / values
        elif signal == "pre_sharpness":
            ratio = values / np.array([adam_threshold(value, beta1) for value in eta])
        else:
            ratio = eta * values / 2.0
        finite = np.isfinite(ratio)
        ratios[signal] = pd.Series(ratio[finite], index=records["step"].to_numpy()[finite])
    return ratios


def first_spike(records: pd.DataFrame, rise: float = 1.5) -> float:
    """The start step of a run's first loss spike: its first loss excursion (the batch loss rising
    above ``rise`` x the lowest loss so far and coming back,
    :func:`~warmup_lib.analysis.trajectory.loss_excursions`); NaN when there is none."""
    excursions = loss_excursions(records["loss"].to_numpy(dtype=float), rise=rise)
    return float(records["step"].iloc[excursions[0].start]) if excursions else math.nan


def signal_leads(records: pd.DataFrame, optimizer: str, beta1: float = 0.9, rise: float = 1.5) -> dict[str, float]:
    """When each curvature signal first crosses its threshold (:func:`signal_ratios` >= 1), relative
    to the first loss spike (:func:`first_spike`): lead = spike start - crossing step (> 0: the signal
    warned first); NaN when the run has no spike or the signal never crosses.

    Args:
        records: the run's records (step, lr, loss and the signal columns).
        optimizer: 'sgd' or 'adam'.
        beta1: Adam's beta1.
        rise: the spike's factor over the lowest loss so far.

    Returns:
        Signal name -> lead in steps, plus 'spike' (its start step, NaN if none).
    """
    spike = first_spike(records, rise)
    leads = {"spike": spike}
    for signal, ratio in signal_ratios(records, optimizer, beta1).items():
        crossed = ratio.index[ratio.to_numpy() >= 1.0]
        leads[signal] = spike - float(crossed[0]) if len(crossed) and not math.isnan(spike) else math.nan
    return leads


def signal_alarms(records: pd.DataFrame, optimizer: str, window: int = 4, beta1: float = 0.9,
                  rise: float = 1.5) -> dict[str, float]:
    """How specific each signal is: the share of its measurements at or above its threshold (a
    signal above threshold most of the time cannot time a spike), and whether it is above threshold
    within ``window`` steps of the first spike's start (1 or 0; NaN without a spike).

    Returns:
        'alarm <signal>' -> the share, 'at spike <signal>' -> 1, 0 or NaN.
    """
    spike = first_spike(records, rise)
    alarms = {}
    for signal, ratio in signal_ratios(records, optimizer, beta1).items():
        above = ratio.to_numpy() >= 1.0
        near = np.abs(ratio.index.to_numpy() - spike) <= window
        alarms[f"alarm {signal}"] = float(above.mean()) if len(above) else math.nan
        alarms[f"at spike {signal}"] = math.nan if math.isnan(spike) else float(above[near].any())
    return alarms


# ---------------------------------------------------------------------------------------------------
# The curvature signals during one SGD and one Adam warmup
# ---------------------------------------------------------------------------------------------------

SIGNALS = {"sgd": ("sharpness", "batch_sharpness", "eta_c"), "adam": ("pre_sharpness", "eta_c")}
SIGNAL_LABELS = {"sharpness": r"$\eta_t\lambda_{\max}(H)/2$", "batch_sharpness": r"$\eta_t\,$batch sharpness$/2$",
                 "eta_c": r"$\eta_t/\eta_c(\theta_t)$", "pre_sharpness": r"$\eta_t\lambda_{\max}(P^{-1}H)/38$"}
SIGNAL_RUNS = ("sgd", "adam", "adam_high")  # the signal runs: SGD, Adam at signal_adam_eta, and at signal_adam_eta_high


def signal_optimizer(label: str) -> str:
    """The optimizer of a signal run ('sgd' for 'sgd', 'adam' for 'adam' and 'adam_high')."""
    if label not in SIGNAL_RUNS:
        raise ValueError(f"label: got {label!r}; allowed values are {', '.join(map(repr, SIGNAL_RUNS))}")
    return label.split("_")[0]


def signal_config(params: Mapping[str, Any], label: str, seed: int, lambda_0: float) -> RunConfig:
    """The linear-warmup run whose signals are tracked: the FCN task, ``signal_steps`` updates, a
    warmup of ``signal_warmup`` steps to ``signal_sgd_c`` / lambda_0 ('sgd'), ``signal_adam_eta``
    ('adam') or ``signal_adam_eta_high`` ('adam_high')."""
    optimizer = signal_optimizer(label)
    base = task_config(params["tasks"]["fcn"], optimizer, params["beta2"], seed)
    eta = {"sgd": params["signal_sgd_c"] / lambda_0, "adam": params["signal_adam_eta"],
           "adam_high": params["signal_adam_eta_high"]}[label]
    return base.replace(**{"schedule.eta_trgt": eta, "schedule.warmup_steps": params["signal_warmup"],
                           "steps": params["signal_steps"], "eval_every": params["signal_steps"]})


def signals_experiment(experiment: str, params: Mapping[str, Any]) -> str:
    """Folder of the signal runs (the tracker's settings are not in the config, so they name the folder)."""
    return f"{experiment}_signals_every{params['signal_every']}"


def signal_runs(experiment: str, params: Mapping[str, Any], root: str | Path) -> dict[tuple[str, int], RunResult]:
    """The signal runs (:data:`SIGNAL_RUNS`) of every seed, loaded or trained with
    :class:`~warmup_lib.curvature.signals.CurvatureSignals` every ``signal_every`` steps.

    Returns:
        (label, seed) -> the run.
    """
    from warmup_lib.curvature.signals import CurvatureSignals

    folder = signals_experiment(experiment, params)
    runs = {}
    for label in SIGNAL_RUNS:
        for seed in params["seeds"]:
            base = task_config(params["tasks"]["fcn"], signal_optimizer(label), params["beta2"], seed)
            lambda_0 = load_or_measure_lambda0(experiment, base, params["lambda0_batches"], root)["lambda_0"]
            cfg = signal_config(params, label, seed, lambda_0)
            tracker = CurvatureSignals(every=params["signal_every"], eta0=params["search_eta0"],
                                       delta=params["search_delta"])
            runs[label, seed] = store.load_or_run(folder, cfg, root, callbacks=[tracker])
    return runs


def signal_table(runs: Mapping[tuple[str, int], RunResult]) -> pd.DataFrame:
    """Per signal run: the first spike's start, each signal's lead (:func:`signal_leads`) and alarm
    share and whether it is up at the spike (:func:`signal_alarms`), and the mean cost of one
    measurement of each signal (HVPs, forward passes) from the tracker's columns."""
    rows = []
    for (label, seed), result in runs.items():
        leads = signal_leads(result.records, signal_optimizer(label))
        row = {"run": label, "eta_trgt": result.summary["config"]["schedule"]["eta_trgt"], "seed": seed,
               "spike": leads.pop("spike")}
        row.update({f"lead {signal}": value for signal, value in leads.items()})
        row.update(signal_alarms(result.records, signal_optimizer(label)))
        for column in result.records.columns:
            if column.endswith(("_hvps", "_passes")):
                row[f"cost {column}"] = float(result.records[column].dropna().mean())
        rows.append(row)
    return pd.DataFrame(rows)


SIGNAL_COSTS = {"sharpness": ("sharpness_hvps", "HVPs"), "pre_sharpness": ("pre_sharpness_hvps", "HVPs"),
                "batch_sharpness": ("batch_sharpness_hvps", "HVP"), "eta_c": ("eta_c_passes", "forward passes")}


def signal_summary(signals: pd.DataFrame) -> pd.DataFrame:
    """The signal table for reading: one row per (run, signal) with the per-seed spike starts and
    leads ('-' where none), the mean share of measurements above threshold, on how many seeds with a
    spike the signal was up at it, and the mean cost of one measurement (plus one gradient each)."""
    rows = []
    for label, runs in signals.groupby("run", sort=False):
        spiked = runs["spike"].notna()
        for signal in SIGNALS[signal_optimizer(label)]:
            column, unit = SIGNAL_COSTS[signal]
            target = "c / lambda_0" if label == "sgd" else f"{runs['eta_trgt'].iloc[0]:.3g}"
            rows.append({"run": f"{signal_optimizer(label).upper()} to {target}",
                         "signal": signal, "first spike at": _values_text(runs["spike"]),
                         "lead (steps)": _values_text(runs[f"lead {signal}"]),
                         "share above threshold": f"{runs[f'alarm {signal}'].mean():.2f}",
                         "up at the spike": f"{int(runs.loc[spiked, f'at spike {signal}'].sum())} of {int(spiked.sum())}",
                         "cost / measurement": f"{runs[f'cost {column}'].mean():.3g} {unit}"})
    return pd.DataFrame(rows)


def plot_signals(runs: Mapping[tuple[str, int], RunResult], seed: int) -> plt.Figure:
    """The signals of one seed's signal runs (:data:`SIGNAL_RUNS`): top row, batch loss against step
    with the first spike; bottom row, each signal over its threshold (a crossing is a value >= 1)."""
    columns = len(SIGNAL_RUNS)
    fig, axes = plots.figure(ncols=columns, nrows=2, figsize=(3.6 * columns, 5.0), sharex="col")
    for column, label in enumerate(SIGNAL_RUNS):
        optimizer = signal_optimizer(label)
        records = runs[label, seed].records
        steps, spike = records["step"].to_numpy(), first_spike(records)
        ax_loss, ax_signal = axes[column], axes[columns + column]
        ax_loss.plot(steps, records["loss"], color="0.3", lw=0.8)
        title = f"{optimizer.upper()}, warmup to {runs[label, seed].summary['config']['schedule']['eta_trgt']:.3g}"
        ax_loss.set(yscale="log", ylabel="batch training loss", title=title)
        for signal, ratio in signal_ratios(records, optimizer).items():
            ax_signal.plot(ratio.index, ratio.to_numpy(), marker=".", ms=3, lw=0.8, label=SIGNAL_LABELS[signal])
        ax_signal.axhline(1.0, color="k", ls="--", lw=0.8)
        ax_signal.set(yscale="log", xlabel="step t", ylabel="signal / its threshold")
        ax_signal.legend(loc="lower right")
        for ax in (ax_loss, ax_signal):
            if not math.isnan(spike):
                ax.axvline(spike, color="tab:red", lw=0.8, alpha=0.7)
    plots.label_panels(axes)
    return fig


# ---------------------------------------------------------------------------------------------------
# The comparison's figure, the claims rows' per-seed values and the numbers the prose quotes
# ---------------------------------------------------------------------------------------------------

def plot_comparison(table: pd.DataFrame) -> plt.Figure:
    """One panel per setting: final training loss (mean over seeds of the best warmup length, a
    non-finite loss drawn at the training loss at initialisation) against eta_trgt, one line per remedy;
    an open marker where some seed did not train."""
    settings = list(dict.fromkeys(zip(table["task"], table["optimizer"])))
    fig, axes = plots.figure(ncols=len(settings), figsize=(3.0 * len(settings) + 1.5, 3.4))
    styles = dict(zip([remedy.key for remedy in REMEDIES], plt.rcParams["axes.prop_cycle"].by_key()["color"] * 2))
    for ax, (task, optimizer) in zip(axes, settings):
        mine = table[(table["task"] == task) & (table["optimizer"] == optimizer)]
        for position, (remedy, runs) in enumerate(mine.groupby("remedy", sort=False)):
            per_seed = [(_per_rate(seed_runs).assign(seed=seed)) for seed, seed_runs in runs.groupby("seed")]
            rates = pd.concat(per_seed)
            rates["shown"] = np.minimum(rates["loss"], rates["init_loss"])
            curve = rates.groupby("column").agg(eta=("eta_trgt", "mean"), loss=("shown", "mean"),
                                                all_converged=("converged", "all"))
            ls = "-" if position < 10 else "--"
            ax.plot(curve["eta"], curve["loss"], ls=ls, lw=1.0, color=styles[remedy], label=REMEDY[remedy].label)
            broken = curve[~curve["all_converged"]]
            ax.plot(broken["eta"], broken["loss"], ls="none", marker="o", mfc="none", ms=4, color=styles[remedy])
        ax.set(xscale="log", yscale="log", title=f"{task} / {optimizer}",
               xlabel=r"$\eta_{\mathrm{trgt}}$" + (" (absolute)" if optimizer == "adam" else ""),
               ylabel="final training loss")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    plots.label_panels(list(axes))
    return fig


def claim_values(metrics: pd.DataFrame, signals: pd.DataFrame, seeds: Sequence[int]) -> dict[str, list[float]]:
    """The per-seed values of the chapter's claims rows (``warmup_lib.claims.chapter08``).

    Args:
        metrics: a :func:`metrics_table`.
        signals: a :func:`signal_table`.
        seeds: the seeds, in order.

    Returns:
        Row id -> one value per seed.
    """
    adam = ("adam",)

    def lead(label: str, signal: str) -> list[float]:
        rows = signals[signals["run"] == label].set_index("seed")[f"lead {signal}"]
        return [float(rows.get(seed, math.nan)) for seed in seeds]

    return {
        "6x": ratio_per_seed(metrics, "linear", "none", "eta_max", seeds),
        "13x": ratio_per_seed(metrics, "gi_adam", "none", "eta_max", seeds, optimizers=adam),
        "14x": ratio_per_seed(metrics, "ri_adam", "none", "eta_max", seeds, optimizers=adam),
        "15x": ratio_per_seed(metrics, "pcw", "linear", "eta_max", seeds),
        "xa": ratio_per_seed(metrics, "untuned_linear", "linear", "best_loss", seeds, "max", adam, "excess"),
        "xb": ratio_per_seed(metrics, "exponential", "linear", "best_loss", seeds, "max", adam, "excess"),
        "xc": ratio_per_seed(metrics, "radam", "exponential", "best_loss", seeds, "max", adam, "gap"),
        "xd": ratio_per_seed(metrics, "adopt", "linear", "eta_max", seeds, optimizers=adam),
        "xe": ratio_per_seed(metrics, "cdat", "linear", "eta_max", seeds),
        "xf": ratio_per_seed(metrics, "linear", "none", "sensitivity", seeds, "max"),
        "xs1": lead("sgd", "sharpness"), "xs2": lead("sgd", "batch_sharpness"), "xs3": lead("sgd", "eta_c"),
        "xs4": lead("adam", "pre_sharpness"), "xs5": lead("adam", "eta_c"),
        "xs6": lead("adam_high", "pre_sharpness"), "xs7": lead("adam_high", "eta_c"),
    }


COST_BENCHMARK = Path(__file__).resolve().parents[2] / "results" / "benchmarks" / "remedy_cost.json"


def load_cost_benchmark(path: str | Path = COST_BENCHMARK) -> dict[str, Any]:
    """The JSON that ``benchmarks/remedy_cost.py`` wrote (its measured wall-clock per step).

    Raises:
        FileNotFoundError: naming the command that writes it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run OMP_NUM_THREADS=1 python benchmarks/remedy_cost.py")
    return json.loads(path.read_text())


def cost_table(benchmark: Mapping[str, Any]) -> pd.DataFrame:
    """Wall-clock per step of every remedy over no warmup of the same optimizer, from the JSON of
    ``benchmarks/remedy_cost.py`` (measured in one run, single-threaded).

    Returns:
        One row per remedy (in the order of :data:`REMEDIES`), one column per optimizer; '-' where a
        remedy does not apply.
    """
    rows = []
    for remedy in REMEDIES:
        row = {"remedy": remedy.label}
        for optimizer, setting in benchmark["settings"].items():
            ratio = setting["ratio_to_none"].get(remedy.key)
            row[f"{optimizer}: time / step vs none"] = "-" if ratio is None else f"{ratio:.2f}x"
        rows.append(row)
    return pd.DataFrame(rows)


def _text(value: float, digits: int = 3) -> str:
    return "none" if not np.isfinite(value) else f"{value:.{digits}g}"


def _values_text(values: Sequence[float], digits: int = 3) -> str:
    """The per-seed values in order, '-' for a NaN."""
    return ", ".join("-" if not np.isfinite(value) else f"{value:.{digits}g}" for value in values)


def page_numbers(params: Mapping[str, Any], table: pd.DataFrame, metrics: pd.DataFrame, signals: pd.DataFrame,
                 benchmark: Mapping[str, Any]) -> dict[str, str]:
    """The numbers the prose quotes, as text (glued into the page).

    ``rem_<task>_<optimizer>_<remedy>_<reading>``: the mean over the seeds of eta_max, best_loss,
    sensitivity and best_accuracy (%) (:func:`remedy_metrics`; 'none' when no seed converged);
    ``rem_<task>_<optimizer>_<remedy>_eta_max_seeds``: eta_max per seed;
    ``rem_sig_<run>_spike`` / ``rem_sig_<run>_<signal>``: the first spike's start and each signal's
    lead per seed; ``rem_cost_<optimizer>_<remedy>``: the benchmark's time per step over no warmup;
    and the sizes of the comparison.
    """
    numbers = {"rem_runs": f"{len(table)}", "rem_seeds": f"{len(params['seeds'])}",
               "rem_settings": f"{len(params['settings'])}", "rem_remedies": f"{len(REMEDIES)}"}
    for (task, optimizer, remedy), group in metrics.groupby(["task", "optimizer", "remedy"], sort=False):
        key = f"rem_{task}_{optimizer}_{remedy}"
        for reading in ("eta_max", "best_loss", "sensitivity"):
            numbers[f"{key}_{reading}"] = _text(group[reading].mean())
        numbers[f"{key}_best_accuracy"] = _text(100 * group["best_accuracy"].mean())
        numbers[f"{key}_eta_max_seeds"] = _values_text(group["eta_max"])
    for label, runs in signals.groupby("run", sort=False):
        numbers[f"rem_sig_{label}_spike"] = _values_text(runs["spike"])
        for column in runs.columns:
            if column.startswith("lead "):
                numbers[f"rem_sig_{label}_{column[5:]}"] = _values_text(runs[column])
            if column.startswith("cost "):
                numbers[f"rem_sig_{label}_{column[5:]}"] = _text(runs[column].mean(), 2)
    for optimizer, setting in benchmark["settings"].items():
        for remedy, ratio in setting["ratio_to_none"].items():
            numbers[f"rem_cost_{optimizer}_{remedy}"] = f"{ratio:.2f}"
    return numbers
