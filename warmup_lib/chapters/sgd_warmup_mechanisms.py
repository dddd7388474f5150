"""Chapter 02, how warmup works for SGD (paper section 4, App. E): the run plan, the reading of
each run, the figures and the claim criteria of ``notebooks/02_sgd_warmup_mechanisms.ipynb``.

The chapter trains an FCN with linear warmup eta_t = eta_trgt min(1, (t+1)/T_wrm), eta_trgt =
c / lambda_0 (c = ``mup_multiple`` in muP, ``sp_multiple`` in SP, lambda_0 the measured initial
sharpness), while its sharpness lambda_t is tracked, in four settings (:func:`settings`): full-batch
GD with MSE, and one change each: minibatches, heavy-ball momentum, cross-entropy.  Two more kinds
of runs: minibatch SGD with momentum in muP without warmup (where the sharpness settles), and a
constant-rate scan of SP over c (from which c does T_wrm = 1 diverge).

``params`` is the notebook's parameters cell as a dict (``warmup_lib.config.PRESETS[preset]
["02_sgd_warmup_mechanisms"]``).  A run is keyed (setting, param, T_wrm), param 'mup' or 'sp'.
Each run is read by :mod:`warmup_lib.analysis.trajectory` (catapults, early regime, first
collision with 2/eta_t); the facts each section of the chapter states are gathered in one record
per section (:class:`MupFacts`, :class:`SpFacts`, :class:`VariantFacts`, :class:`LateThreshold`),
from which come the glued text (``*_glue``) and the verdicts of claims 1-4 (:func:`chapter_claims`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from warmup_lib import plots
from warmup_lib.analysis.records import finite, measured
from warmup_lib.analysis.trajectory import Catapult, Collision, EarlyRegime, detect_catapults, early_regime
from warmup_lib.chapters import value_range
from warmup_lib.claims.evidence import spread_text
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from warmup_lib.runs import store
from warmup_lib.runs.measure import load_or_measure_lambda0
from warmup_lib.runs.train import RunResult

EXPERIMENT = "02_sgd_warmup_mechanisms"
PARAM_NAMES = {"mup": "muP", "sp": "SP"}
GD, SGD, MOMENTUM, XENT = "GD", "SGD", "GD+momentum", "GD, cross-entropy"
SGD_MOMENTUM = "SGD+momentum"  # muP without warmup only: where the sharpness settles (claim 4c)
VARIANTS = {SGD: "sgd", MOMENTUM: "mom", XENT: "xent"}  # the settings with one change, glue tags
NO_WARMUP = 1  # T_wrm = 1: eta_t = eta_trgt from the first update
LOSS_AXIS_FACTOR = 30.0  # loss axes are cut at this multiple of the largest initial loss
RIDING = (1.6, 2.4)  # "eta_t lambda_t ~ 2" read as a median in this range (claim 1b)
MOMENTUM_SLACK = 0.05  # the late eta lambda may exceed 2 + 2 beta by this fraction (claim 4a)

RunKey = tuple[str, str, int]  # (setting, param, T_wrm)
Key = TypeVar("Key")


# ---------------------------------------------------------------------------------------------------
# The run plan
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """One setting of the chapter: loss ('mse' or 'xent'), batch size (None = full batch), heavy-ball
    momentum beta, run length, sharpness cadence (every k steps) and the warmup lengths T_wrm."""

    loss: str
    batch_size: int | None
    momentum: float
    steps: int
    sharpness_every: int
    warmup_steps: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """Every run of the chapter.

    ``runs``: (setting, param, T_wrm) -> config (the four settings, plus (SGD_MOMENTUM, 'mup', 1));
    ``scan``: c -> the SP constant-rate run at eta = c / lambda_0; ``lambda_0``: (setting, param) ->
    the measured initial sharpness the rates are set from.
    """

    runs: dict[RunKey, RunConfig]
    scan: dict[float, RunConfig]
    lambda_0: dict[tuple[str, str], float]

    def configs(self) -> list[RunConfig]:
        """Every config of the plan: the runs, then the scan."""
        return [*self.runs.values(), *self.scan.values()]


def settings(params: Mapping[str, Any]) -> dict[str, Setting]:
    """The four settings: full-batch GD with MSE (the main figures, ``steps``, ``warmup_steps``,
    sharpness every ``sharpness_every`` steps) and the variants with one change each (minibatches of
    ``batch_size``, momentum ``momentum``, cross-entropy), which run ``variant_steps`` steps with
    ``variant_warmup_steps`` and sharpness every ``variant_sharpness_every`` steps.

    Args:
        params: the notebook's parameters.

    Returns:
        Setting name (GD, SGD, MOMENTUM, XENT) -> :class:`Setting`, in that order.
    """
    variant = {"steps": params["variant_steps"], "sharpness_every": params["variant_sharpness_every"],
               "warmup_steps": tuple(params["variant_warmup_steps"])}
    return {
        GD: Setting("mse", None, 0.0, params["steps"], params["sharpness_every"],
                    tuple(params["warmup_steps"])),
        SGD: Setting("mse", params["batch_size"], 0.0, **variant),
        MOMENTUM: Setting("mse", None, params["momentum"], **variant),
        XENT: Setting("xent", None, 0.0, **variant),
    }


def base_config(params: Mapping[str, Any], param: str, setting: Setting, seed: int = 0) -> RunConfig:
    """The chapter's FCN run in ``setting`` with parametrisation ``param``, before its schedule.

    Args:
        params: the notebook's parameters (data, width, depth, cadences, device).
        param: 'mup' or 'sp'.
        setting: loss, batch size, momentum, length and sharpness cadence.
        seed: the seed of the network's initialisation and batch order (the data stay the same).

    Returns:
        The config (plain SGD optimizer with the setting's momentum; default schedule).
    """
    return RunConfig(
        data=DataConfig(name=params["dataset"], n_train=params["n_train"], n_test=params["n_test"],
                        root=params["data_root"]),
        model=ModelConfig(arch="fcn", width=params["width"], depth=params["depth"], param=param),
        optim=OptimConfig(name="sgd", momentum=setting.momentum), loss=setting.loss,
        batch_size=setting.batch_size, steps=setting.steps, seed=seed,
        eval_every=params["eval_every"], sharpness_every=setting.sharpness_every,
        device=params["device"])


def with_target(cfg: RunConfig, multiple: float, lambda_0: float, warmup: int) -> RunConfig:
    """``cfg`` with the linear warmup to eta_trgt = ``multiple`` / lambda_0 over ``warmup`` steps.

    Args:
        cfg: a run config.
        multiple: c, the target in units of 1 / lambda_0.
        lambda_0: the initial sharpness of ``cfg``'s set-up.
        warmup: T_wrm (1: no warmup).

    Returns:
        The config with ``schedule.eta_trgt`` and ``schedule.warmup_steps`` set.
    """
    return cfg.replace(**{"schedule.eta_trgt": multiple / lambda_0, "schedule.warmup_steps": warmup})


def build_plans(params: Mapping[str, Any], root: str | Path) -> dict[int, Plan]:
    """:func:`build_plan` of every seed of ``params["seeds"]``, by seed.

    Args:
        params: the notebook's parameters (with ``seeds``, a list of ints).
        root: the results store.

    Returns:
        seed -> :class:`Plan`, in the order of ``seeds``.
    """
    return {seed: build_plan(params, root, seed) for seed in params["seeds"]}


def all_configs(plans: Mapping[int, Plan]) -> list[RunConfig]:
    """Every config of ``plans``, seed after seed."""
    return [cfg for plan in plans.values() for cfg in plan.configs()]


def build_plan(params: Mapping[str, Any], root: str | Path, seed: int = 0) -> Plan:
    """The chapter's runs for one ``seed``, with their rates set from lambda_0 as the paper sets them.

    lambda_0 is the top Hessian eigenvalue at each set-up's initialisation (so per seed)
    (:func:`warmup_lib.runs.measure.load_or_measure_lambda0`: measured once, then read from the
    store).  Runs: every setting x ('mup', 'sp') x its warmups at eta_trgt = c / lambda_0 with c =
    ``mup_multiple`` or ``sp_multiple``; minibatch SGD with momentum, muP, T_wrm = 1; and the SP
    scan, full-batch GD for ``scan_steps`` steps at the constant rate c / lambda_0 for c in
    ``sp_scan``, without sharpness tracking or evaluation.

    Args:
        params: the notebook's parameters.
        root: the results store.
        seed: the initialisation seed of every run.

    Returns:
        The :class:`Plan`.
    """
    def lambda_0(cfg: RunConfig) -> float:
        return load_or_measure_lambda0(EXPERIMENT, cfg, root=root)["lambda_0"]

    multiples = {"mup": params["mup_multiple"], "sp": params["sp_multiple"]}
    runs, lambda0s = {}, {}
    for name, setting in settings(params).items():
        for param in PARAM_NAMES:
            base = base_config(params, param, setting, seed)
            lambda0s[name, param] = lambda_0(base)
            for warmup in setting.warmup_steps:
                runs[name, param, warmup] = with_target(base, multiples[param], lambda0s[name, param],
                                                        warmup)
    momentum_sgd = Setting("mse", params["batch_size"], params["momentum"], params["variant_steps"],
                           params["variant_sharpness_every"], (NO_WARMUP,))
    base = base_config(params, "mup", momentum_sgd, seed)
    lambda0s[SGD_MOMENTUM, "mup"] = lambda_0(base)
    runs[SGD_MOMENTUM, "mup", NO_WARMUP] = with_target(base, params["mup_multiple"],
                                                       lambda0s[SGD_MOMENTUM, "mup"], NO_WARMUP)
    scan_setting = Setting("mse", None, 0.0, params["scan_steps"], 0, (NO_WARMUP,))
    scan_base = base_config(params, "sp", scan_setting, seed).replace(eval_every=0)
    scan = {c: with_target(scan_base, c, lambda_0(scan_base), NO_WARMUP) for c in params["sp_scan"]}
    return Plan(runs, scan, lambda0s)


def load_runs(configs: Mapping[Key, RunConfig], root: str | Path) -> dict[Key, RunResult]:
    """The stored run of every config, under the same keys.

    Args:
        configs: key -> config of a stored run.
        root: the results store.

    Returns:
        key -> :class:`~warmup_lib.runs.train.RunResult`.
    """
    return {key: store.load_run(EXPERIMENT, cfg, root) for key, cfg in configs.items()}


# ---------------------------------------------------------------------------------------------------
# Reading one run
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunAnalysis:
    """What the detectors of :mod:`warmup_lib.analysis.trajectory` find in one run."""

    catapults: list[Catapult]
    regime: EarlyRegime
    collision: Collision


def first_crossing(sharpness: Sequence[float] | np.ndarray, eta: Sequence[float] | np.ndarray,
                   threshold: float = 2.0) -> Collision:
    """The first step with eta_t lambda_t >= ``threshold``, lambda_t carried forward from its last
    measurement, and how the sharpness met the threshold.

    :func:`warmup_lib.analysis.trajectory.first_collision` looks at the measured steps only, so a
    crossing and the catapult it triggers can both fall between two measurements (SP with momentum
    catapults within its first 8 steps); carrying lambda forward finds the step at which the rising
    eta_t reached the last measured sharpness.  The kind is read from the last two measurements at
    or before that step: 'head-on' when the sharpness was rising, 'rear-end' when it was falling or
    flat (or had been measured once only: the threshold came down onto it), 'at start' when the
    first measurement is already past the threshold, 'none' when no step reaches it.  With every
    step measured this is ``first_collision``.

    Args:
        sharpness: lambda_t of each step, NaN where it was not measured.
        eta: the learning rate eta_t of each step (as long as ``sharpness``).
        threshold: the stability limit of eta_t lambda_t, > 0.

    Returns:
        The :class:`~warmup_lib.analysis.trajectory.Collision`: the step (-1 if none) and its kind.
    """
    sharpness, eta = np.asarray(sharpness, dtype=float), np.asarray(eta, dtype=float)
    carried = pd.Series(sharpness).ffill().to_numpy()
    with np.errstate(invalid="ignore"):
        hits = np.flatnonzero(eta * carried >= threshold)
    if hits.size == 0:
        return Collision(-1, "none")
    step = int(hits[0])
    measured_steps = np.flatnonzero(np.isfinite(sharpness[: step + 1]))
    if step == measured_steps[0]:
        return Collision(step, "at start")
    rising = measured_steps.size >= 2 and sharpness[measured_steps[-1]] > sharpness[measured_steps[-2]]
    return Collision(step, "head-on" if rising else "rear-end")


def analyse(records: pd.DataFrame, params: Mapping[str, Any]) -> RunAnalysis:
    """Catapults, early regime and first crossing of 2/eta_t (:func:`first_crossing`) of one run.

    The early regime is read from the measurements before the crossing (at most ``regime_window``
    steps): from there on the instability, not the landscape, moves the sharpness.

    Args:
        records: the run's per-step records (loss, sharpness with NaN between measurements, lr).
        params: the thresholds ``catapult_rise``, ``catapult_drop``, ``catapult_window``,
            ``regime_window`` and ``regime_tol`` (rules in :mod:`warmup_lib.analysis.trajectory`).

    Returns:
        The :class:`RunAnalysis`.
    """
    loss, sharpness, eta = (records[name].to_numpy() for name in ("loss", "sharpness", "lr"))
    collision = first_crossing(sharpness, eta)
    window = params["regime_window"] if collision.step < 0 else min(params["regime_window"],
                                                                    collision.step - 1)
    regime = (early_regime(sharpness, eta, window=window, tol=params["regime_tol"]) if window >= 1
              else EarlyRegime("undetermined", float("nan"), -1))
    return RunAnalysis(
        catapults=detect_catapults(loss, sharpness, rise=params["catapult_rise"],
                                   drop=params["catapult_drop"], window=params["catapult_window"]),
        regime=regime, collision=collision)


def analyse_runs(runs: Mapping[RunKey, RunResult],
                 params: Mapping[str, Any]) -> dict[RunKey, RunAnalysis]:
    """:func:`analyse` of every run, under the same keys."""
    return {key: analyse(result.records, params) for key, result in runs.items()}


def natural_regime(analyses: Mapping[RunKey, RunAnalysis], setting: str, param: str) -> EarlyRegime:
    """The early regime of the setting's longest warmup, where the sharpness evolves freely the
    longest (a short warmup reaches 2/eta_t before the sharpness has moved).

    Args:
        analyses: (setting, param, T_wrm) -> analysis.
        setting: a setting name.
        param: 'mup' or 'sp'.

    Returns:
        The :class:`~warmup_lib.analysis.trajectory.EarlyRegime` of the largest T_wrm.
    """
    longest = max(key[2] for key in analyses if key[:2] == (setting, param))
    return analyses[setting, param, longest].regime


def threshold_ratio_after_collision(records: pd.DataFrame, collision_step: int) -> float:
    """Median of eta_t lambda_t over the measured steps t >= ``collision_step``.

    Args:
        records: a run's per-step records (step, lr, sharpness).
        collision_step: the first collision with 2/eta_t (-1: none).

    Returns:
        The median, or NaN when there was no collision.
    """
    if collision_step < 0:
        return float("nan")
    step, sharpness, eta = measured(records, "sharpness")
    later = step >= collision_step
    return float(np.median(eta[later] * sharpness[later]))


def threshold_ratios_during_warmup(records: pd.DataFrame, collision: Collision, warmup: int) -> np.ndarray:
    """eta_t lambda_t at the measured steps from a head-on ``collision`` to the end of the warmup
    (collision.step <= t < ``warmup``): the stretch over which the paper says muP rides
    lambda_t ~ 2/eta_t ("for the rest of warmup").

    Args:
        records: a run's per-step records (step, lr, sharpness).
        collision: the run's first crossing of 2/eta_t.
        warmup: T_wrm.

    Returns:
        The values (empty when the collision is not head-on or does not fall inside the warmup).
    """
    if collision.kind != "head-on" or not 0 <= collision.step < warmup:
        return np.array([])
    step, sharpness, eta = measured(records, "sharpness")
    inside = (step >= collision.step) & (step < warmup)
    return eta[inside] * sharpness[inside]


def late_threshold_ratio(records: pd.DataFrame, fraction: float = 0.25) -> float:
    """Median of eta_t lambda_t over the last ``fraction`` of the measured steps (at least one): the
    level at which the sharpness settles, in units of 1/eta.

    Args:
        records: a run's per-step records (step, lr, sharpness).
        fraction: the share of the measurements, from the end, in (0, 1].

    Returns:
        The median.
    """
    _, sharpness, eta = measured(records, "sharpness")
    tail = max(1, int(fraction * len(sharpness)))
    return float(np.median(eta[-tail:] * sharpness[-tail:]))


def calm_rise_counts(records: Iterable[pd.DataFrame], bound: float = 1.0) -> tuple[int, int]:
    """The steps with L_{t+1} > L_t among the steps far below the GD threshold (eta_t lambda_t <
    ``bound``), and the number of those calm steps, pooled over runs; the sharpness is carried
    forward between measurements.  Plain GD on a smooth loss hardly ever rises there; heavy-ball
    momentum does.

    Args:
        records: the per-step records of the runs to pool (loss, lr, sharpness).
        bound: the largest eta_t lambda_t that counts as calm.

    Returns:
        (rises, calm steps).
    """
    rises = calm = 0
    for run in records:
        quiet = (run["lr"] * run["sharpness"].ffill()).to_numpy()[:-1] < bound
        rising = np.diff(run["loss"].to_numpy()) > 0
        rises, calm = rises + int((rising & quiet).sum()), calm + int(quiet.sum())
    return rises, calm


def calm_rise_fraction(records: Iterable[pd.DataFrame], bound: float = 1.0) -> float:
    """rises / calm steps of :func:`calm_rise_counts` (0 when no step is calm)."""
    rises, calm = calm_rise_counts(records, bound)
    return rises / max(calm, 1)


def summary_row(key: RunKey, result: RunResult, analysis: RunAnalysis) -> dict[str, Any]:
    """One row of the chapter's table of runs: setting, param, T_wrm, outcome, early regime and r,
    first collision ('kind @ step'), number of catapults, the first one's peak step, loss ratio and
    sharpness ratio (None without catapult), final test accuracy."""
    catapults = analysis.catapults
    first = catapults[0] if catapults else None
    return {"setting": key[0], "param": PARAM_NAMES[key[1]], "T_wrm": key[2],
            "outcome": result.summary["outcome"], "early regime": analysis.regime.label,
            "r": round(analysis.regime.ratio, 2),
            "collision": f"{analysis.collision.kind} @ {analysis.collision.step}",
            "catapults": len(catapults), "1st catapult step": first.peak if first else None,
            "loss x": round(first.loss_ratio, 2) if first else None,
            "sharpness x": round(first.sharpness_ratio, 2) if first else None,
            "test acc": round(result.summary["final_test_accuracy"], 3)}


def summary_table(runs: Mapping[RunKey, RunResult],
                  analyses: Mapping[RunKey, RunAnalysis]) -> pd.DataFrame:
    """:func:`summary_row` of every run, in plan order (catapult step as a nullable integer)."""
    rows = [summary_row(key, runs[key], analyses[key]) for key in runs]
    return pd.DataFrame(rows).astype({"1st catapult step": "Int64"})


# ---------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------

def warmup_label(warmup: int) -> str:
    """The legend entry of a run with T_wrm = ``warmup``."""
    return rf"$T_{{wrm}}$ = {warmup}"


def trajectory(result: RunResult, analysis: RunAnalysis, label: str) -> plots.Trajectory:
    """One run as :class:`warmup_lib.plots.Trajectory`: loss and sharpness (inf and NaN as gaps),
    eta_t, and the catapult peaks as markers."""
    records = result.records
    return plots.Trajectory(label=label, step=records["step"].to_numpy(), loss=finite(records["loss"]),
                            sharpness=finite(records["sharpness"]), eta=records["lr"].to_numpy(),
                            catapults=[c.peak for c in analysis.catapults])


def cap_loss_axis(ax: plt.Axes, results: Sequence[RunResult], factor: float = LOSS_AXIS_FACTOR) -> None:
    """Cut ``ax``'s loss axis at ``factor`` x the largest initial loss of ``results``: a diverging
    run would stretch it to 1e16 and more."""
    ax.set_ylim(top=factor * max(result.records["loss"].iloc[0] for result in results))


def gd_figure(runs: Mapping[RunKey, RunResult], analyses: Mapping[RunKey, RunAnalysis], param: str,
              warmup_steps: Sequence[int], cap_loss: bool = False) -> plt.Figure:
    """Full-batch GD with MSE in ``param``: (a) loss, (b) sharpness with each run's 2/eta_t, one
    colour per T_wrm, catapult peaks as triangles, log axes.

    Args:
        runs, analyses: the chapter's runs and their analyses.
        param: 'mup' or 'sp'.
        warmup_steps: the warmup lengths to draw.
        cap_loss: cut the loss axis (:func:`cap_loss_axis`), for a diverging run, and put the
            legend in the upper right corner, which the cut leaves free.

    Returns:
        The figure.
    """
    keys = [(GD, param, warmup) for warmup in warmup_steps]
    fig = plots.plot_trajectories([trajectory(runs[key], analyses[key], warmup_label(key[2]))
                                   for key in keys], log_sharpness=True, log_steps=True)
    if cap_loss:
        cap_loss_axis(fig.axes[0], [runs[key] for key in keys])
        fig.axes[0].legend(loc="upper right")
    return fig


def variant_thresholds(setting: str, momentum: float) -> tuple[tuple[float, str], ...]:
    """The stability thresholds factor / eta_t drawn for ``setting``: 2/eta_t, and for momentum
    also its late-time limit (2 + 2 beta)/eta_t."""
    thresholds = ((2.0, r"$2/\eta_t$"),)
    if setting == MOMENTUM:
        thresholds += ((2 + 2 * momentum, r"$(2+2\beta)/\eta_t$"),)
    return thresholds


def variant_figure(runs: Mapping[RunKey, RunResult], analyses: Mapping[RunKey, RunAnalysis],
                   setting: str, warmup_steps: Sequence[int], momentum: float) -> plt.Figure:
    """One variant setting: rows muP, SP; columns loss (cut at 30 x the initial loss) and sharpness
    with :func:`variant_thresholds`; one legend below.

    Args:
        runs, analyses: the chapter's runs and their analyses.
        setting: SGD, MOMENTUM or XENT.
        warmup_steps: the warmup lengths to draw.
        momentum: beta (for the momentum threshold).

    Returns:
        The figure (panels (a)-(d)).
    """
    fig, axes = plots.figure(ncols=2, nrows=2)
    for row, param in enumerate(PARAM_NAMES):
        keys = [(setting, param, warmup) for warmup in warmup_steps]
        ax_loss, ax_sharp = axes[2 * row], axes[2 * row + 1]
        trajectories = [trajectory(runs[key], analyses[key], warmup_label(key[2])) for key in keys]
        plots.plot_trajectory_panels(ax_loss, ax_sharp, trajectories,
                                     variant_thresholds(setting, momentum), legend=False)
        cap_loss_axis(ax_loss, [runs[key] for key in keys])
        ax_loss.set_title(PARAM_NAMES[param], loc="right")
        ax_sharp.set_title(PARAM_NAMES[param], loc="right")
    plots.label_panels(axes)
    fig.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncols=6, frameon=False)
    return fig


def late_threshold_figure(runs: Mapping[RunKey, RunResult], batch_size: int,
                          momentum: float) -> plt.Figure:
    """eta_t lambda_t against step for the four muP runs without warmup (GD, SGD, GD and SGD with
    momentum), with the limits 2 (dashed) and 2 + 2 beta (dotted).

    Args:
        runs: the chapter's runs.
        batch_size: the minibatch size (for the legend).
        momentum: beta.

    Returns:
        The figure.
    """
    fig, (ax,) = plots.figure()
    labels = {GD: "GD", SGD: f"SGD, batch {batch_size}", MOMENTUM: rf"GD, $\beta$ = {momentum}",
              SGD_MOMENTUM: rf"SGD, batch {batch_size}, $\beta$ = {momentum}"}
    for index, (setting, label) in enumerate(labels.items()):
        records = runs[setting, "mup", NO_WARMUP].records.dropna(subset=["sharpness"])
        ax.plot(records["step"], records["lr"] * records["sharpness"], color=plots.COLORS[index],
                label=label)
    for level, style in ((2.0, "--"), (2 + 2 * momentum, ":")):
        ax.axhline(level, **{**plots.THRESHOLD_STYLE, "linestyle": style})
    ax.set(xlabel="step t", ylabel=r"normalised sharpness $\eta\,\lambda^H_t$", xscale="symlog",
           xlim=(0, None))
    ax.text(1, 2.05, r"$2$", va="bottom", fontsize=8)
    ax.text(1, 2 + 2 * momentum + 0.05, r"$2+2\beta$", va="bottom", fontsize=8)
    ax.legend(loc="center left", fontsize=7)
    return fig


# ---------------------------------------------------------------------------------------------------
# What each section states, and its glued text
# ---------------------------------------------------------------------------------------------------

def pair_fraction(values: Sequence[float], increasing: bool) -> float:
    """The share of adjacent pairs (values[i], values[i+1]) in which the second is strictly above
    (``increasing``) or below the first; a NaN (a run without the measured event) fails its pairs.

    Args:
        values: one value per warmup length, in increasing T_wrm.
        increasing: the direction the claim predicts.

    Returns:
        passing pairs / pairs (NaN with fewer than two values).
    """
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float("nan")
    steps = np.diff(values)
    with np.errstate(invalid="ignore"):
        passing = (steps > 0) if increasing else (steps < 0)
    return float(np.mean(passing & np.isfinite(steps)))


def setup_glue(params: Mapping[str, Any], lambda_0: Mapping[tuple[str, str], float]) -> dict[str, Any]:
    """The set-up's numbers quoted in the text: sizes, cadences, multiples, detector thresholds,
    seeds, and lambda_0 of full-batch GD in muP and SP with their ratio (seed 0)."""
    return {
        "mech_width": params["width"], "mech_n_train": params["n_train"], "mech_steps": params["steps"],
        "mech_variant_steps": params["variant_steps"],
        "mech_every": params["sharpness_every"], "mech_variant_every": params["variant_sharpness_every"],
        "mech_mup_multiple": params["mup_multiple"], "mech_sp_multiple": params["sp_multiple"],
        "mech_rise": params["catapult_rise"], "mech_window": params["catapult_window"],
        "mech_drop_pct": round(100 * params["catapult_drop"]),
        "mech_regime_window": params["regime_window"],
        "mech_seeds": ", ".join(map(str, params["seeds"])), "mech_n_seeds": len(params["seeds"]),
        "mech_warmups": ", ".join(map(str, params["warmup_steps"])),
        "mech_lambda0_mup": f"{lambda_0[GD, 'mup']:.3g}", "mech_lambda0_sp": f"{lambda_0[GD, 'sp']:.3g}",
        "mech_lambda0_ratio": round(lambda_0[GD, "sp"] / lambda_0[GD, "mup"]),
    }


@dataclass(frozen=True)
class MupFacts:
    """Full-batch GD in muP, one entry per T_wrm in ``warmups``: early regimes, first crossings,
    median eta_t lambda_t after the crossing (``riding``), eta_t lambda_t from a head-on crossing to
    the end of the warmup (``during``, :func:`threshold_ratios_during_warmup`), every detected
    catapult, and the natural regime (longest warmup)."""

    warmups: list[int]
    regimes: list[EarlyRegime]
    collisions: list[Collision]
    riding: list[float]
    during: list[np.ndarray]
    catapults: list[Catapult]
    natural: EarlyRegime

    @property
    def during_warmup(self) -> list[int]:
        """The warmups whose head-on crossing falls inside the warmup (0 <= step < T_wrm)."""
        return [warmup for warmup, values in zip(self.warmups, self.during) if values.size]

    @property
    def warmup_riding(self) -> float:
        """Median eta_t lambda_t over the warmup steps after the head-on crossing, pooled over the
        warmups of :attr:`during_warmup` (NaN when there is none): claim 1b."""
        pooled = np.concatenate([np.asarray(v, dtype=float) for v in self.during] or [np.array([])])
        return float(np.median(pooled)) if pooled.size else float("nan")


def gd_mup_facts(runs: Mapping[RunKey, RunResult], analyses: Mapping[RunKey, RunAnalysis],
                 warmup_steps: Sequence[int]) -> MupFacts:
    """The :class:`MupFacts` of the full-batch GD runs in muP with ``warmup_steps``."""
    keys = [(GD, "mup", warmup) for warmup in warmup_steps]
    collisions = [analyses[key].collision for key in keys]
    return MupFacts(
        warmups=list(warmup_steps), regimes=[analyses[key].regime for key in keys],
        collisions=collisions,
        riding=[threshold_ratio_after_collision(runs[key].records, hit.step)
                for key, hit in zip(keys, collisions)],
        during=[threshold_ratios_during_warmup(runs[key].records, hit, key[2])
                for key, hit in zip(keys, collisions)],
        catapults=[c for key in keys for c in analyses[key].catapults],
        natural=natural_regime(analyses, GD, "mup"))


def gd_mup_glue(facts: MupFacts) -> dict[str, Any]:
    """The muP section's glued text (seed 0): regime ratios, head-on crossings and their steps, the
    riding level after the crossing and during the warmup, the catapults' loss and sharpness ratios."""
    return {
        "mech_mup_ratio_range": value_range(r.ratio for r in facts.regimes),
        "mech_mup_head_on": sum(c.kind == "head-on" for c in facts.collisions),
        "mech_mup_runs": len(facts.warmups),
        "mech_mup_riding": value_range(facts.riding),
        "mech_mup_catapults": len(facts.catapults),
        "mech_mup_collision_steps": ", ".join(str(c.step) for c in facts.collisions),
        "mech_mup_cat_loss": value_range(c.loss_ratio for c in facts.catapults),
        "mech_mup_cat_sharp": value_range(c.sharpness_ratio for c in facts.catapults),
        "mech_mup_during": ", ".join(map(str, facts.during_warmup)) or "none of the warmup lengths",
    }


@dataclass(frozen=True)
class SpFacts:
    """Full-batch GD in SP: the warmups > 1 (``warm``), the first catapult of each of them that has
    one, their rear-end crossings, the early regimes of every warmup, the run without warmup's
    summary, the scan's outcome per c, and the natural regime (longest warmup)."""

    warm: list[int]
    first_catapults: dict[int, Catapult]
    rear_end: int
    regimes: list[EarlyRegime]
    no_warmup: Mapping[str, Any]
    scan: dict[float, str]
    natural: EarlyRegime

    @property
    def first_steps(self) -> list[int]:
        """Peak step of each first catapult, by T_wrm (warmups without one left out)."""
        return [c.peak for c in self.first_catapults.values()]

    @property
    def first_sizes(self) -> list[float]:
        """Loss ratio of each first catapult, by T_wrm (warmups without one left out)."""
        return [c.loss_ratio for c in self.first_catapults.values()]

    def _by_warmup(self, name: str) -> list[float]:
        """Attribute ``name`` of each warmup's first catapult, NaN for a warmup without one."""
        return [float(getattr(self.first_catapults[w], name)) if w in self.first_catapults else float("nan")
                for w in self.warm]

    @property
    def later(self) -> float:
        """Claim 2c: the share of adjacent warmups whose longer one's first catapult peaks later."""
        return pair_fraction(self._by_warmup("peak"), increasing=True)

    @property
    def smaller(self) -> float:
        """Claim 2d: the share of adjacent warmups whose longer one's first loss spike is smaller."""
        return pair_fraction(self._by_warmup("loss_ratio"), increasing=False)

    @property
    def gentler(self) -> float:
        """Row 2e: the share of adjacent warmups whose longer one's first catapult removes less
        sharpness (a larger lambda_after / lambda_before)."""
        return pair_fraction(self._by_warmup("sharpness_ratio"), increasing=True)

    @property
    def smallest_diverging(self) -> float:
        """The smallest c of the scan whose run diverged (NaN if none)."""
        diverged = [c for c, outcome in self.scan.items() if outcome == "diverged"]
        return min(diverged, default=float("nan"))


def gd_sp_facts(runs: Mapping[RunKey, RunResult], analyses: Mapping[RunKey, RunAnalysis],
                scan_runs: Mapping[float, RunResult], warmup_steps: Sequence[int]) -> SpFacts:
    """The :class:`SpFacts` of the full-batch GD runs in SP with ``warmup_steps`` (which hold
    T_wrm = 1) and of the scan."""
    warm = [warmup for warmup in warmup_steps if warmup > NO_WARMUP]
    return SpFacts(
        warm=warm,
        first_catapults={w: analyses[GD, "sp", w].catapults[0] for w in warm
                         if analyses[GD, "sp", w].catapults},
        rear_end=sum(analyses[GD, "sp", w].collision.kind == "rear-end" for w in warm),
        regimes=[analyses[GD, "sp", w].regime for w in warmup_steps],
        no_warmup=runs[GD, "sp", NO_WARMUP].summary,
        scan={c: result.summary["outcome"] for c, result in scan_runs.items()},
        natural=natural_regime(analyses, GD, "sp"))


def gd_sp_glue(facts: SpFacts, scan_steps: int) -> dict[str, Any]:
    """The SP section's glued text (seed 0): the run without warmup, the first catapults (peak
    steps, loss and sharpness ratios), rear-end crossings, early-regime ratios and the scan."""
    return {
        "mech_sp_no_warmup": facts.no_warmup["outcome"],
        "mech_sp_diverged_step": facts.no_warmup["steps_run"],
        "mech_sp_first_steps": ", ".join(map(str, facts.first_steps)),
        "mech_sp_first_sizes": ", ".join(f"{s:.2f}" for s in facts.first_sizes),
        "mech_sp_first_drops": ", ".join(f"{c.sharpness_ratio:.2f}"
                                         for c in facts.first_catapults.values()),
        "mech_sp_warmups": ", ".join(map(str, facts.warm)),
        "mech_sp_rear_end": facts.rear_end,
        "mech_sp_regime_ratio": ", ".join(f"{r.ratio:.2f}" for r in facts.regimes
                                          if r.label != "undetermined"),
        "mech_scan": ", ".join(f"{c:g}: {outcome}" for c, outcome in facts.scan.items()),
        "mech_smallest_diverging": f"{facts.smallest_diverging:g}",
        "mech_scan_steps": scan_steps,
    }


MECHANISM_CHECKS = ("muP sharpens", "muP meets 2/eta head-on", "muP rides the threshold", "SP flattens",
                    "SP meets 2/eta from behind", "SP warmups catapult", "no run lost that GD keeps")
"""What "the same mechanisms" (claim 3) checks in a variant setting, each as in full-batch GD."""


def riding_limits(setting: str, momentum: float) -> tuple[float, float]:
    """The range of the median eta_t lambda_t after the crossing that reads as riding the threshold:
    :data:`RIDING`, whose upper end is (1 + :data:`MOMENTUM_SLACK`)(2 + 2 beta) with momentum (whose
    late threshold is (2 + 2 beta)/eta)."""
    if setting in (MOMENTUM, SGD_MOMENTUM):
        return RIDING[0], (1 + MOMENTUM_SLACK) * (2 + 2 * momentum)
    return RIDING


@dataclass(frozen=True)
class VariantFacts:
    """One variant setting: the natural regimes of muP and SP, how many SP runs with warmup
    (``sp_warm``) show a catapult, every run's outcome by (param, T_wrm), the
    :data:`MECHANISM_CHECKS` (name -> passed), and the muP runs' median eta_t lambda_t after the
    crossing (``riding``, check 3)."""

    mup_regime: EarlyRegime
    sp_regime: EarlyRegime
    sp_catapulting: int
    sp_warm: int
    outcomes: dict[tuple[str, int], str]
    checks: dict[str, bool]
    riding: float = float("nan")

    @property
    def score(self) -> float:
        """Claims 3a-c: the share of :data:`MECHANISM_CHECKS` that pass."""
        return sum(self.checks.values()) / len(self.checks)

    @property
    def failed(self) -> list[str]:
        """The checks that fail."""
        return [name for name, passed in self.checks.items() if not passed]


def variant_facts(runs: Mapping[RunKey, RunResult], analyses: Mapping[RunKey, RunAnalysis],
                  setting: str, momentum: float = 0.0) -> VariantFacts:
    """The :class:`VariantFacts` of ``setting`` (runs in plan order), checked against full-batch GD
    with MSE: muP sharpens (natural regime), meets 2/eta_t head-on in every run and rides it (median
    eta_t lambda_t after the crossing, pooled over the muP runs that did not diverge, within
    :func:`riding_limits`); SP flattens (natural regime), meets 2/eta_t from behind (rear-end) and
    catapults in every run with warmup; and every run whose GD counterpart (same param and T_wrm)
    converged converges too (a run that diverges or fails counts against the mechanism)."""
    keys = [key for key in runs if key[0] == setting]
    mup = [key for key in keys if key[1] == "mup"]
    warm_sp = [key for key in keys if key[1] == "sp" and key[2] > NO_WARMUP]
    kept = [key for key in mup if runs[key].summary["outcome"] != "diverged"]
    after = [eta_lambda for key in kept for eta_lambda in _after_crossing(runs[key].records, analyses[key].collision)]
    low, high = riding_limits(setting, momentum)
    riding = float(np.median(after)) if after else float("nan")
    gd_converged = {key[1:] for key, result in runs.items()
                    if key[0] == GD and result.summary["outcome"] == "converged"}
    facts = {
        "muP sharpens": natural_regime(analyses, setting, "mup").label == "progressive sharpening",
        "muP meets 2/eta head-on": all(analyses[key].collision.kind == "head-on" for key in mup),
        "muP rides the threshold": bool(low <= riding <= high),
        "SP flattens": natural_regime(analyses, setting, "sp").label == "sharpness reduction",
        "SP meets 2/eta from behind": all(analyses[key].collision.kind == "rear-end" for key in warm_sp),
        "SP warmups catapult": all(bool(analyses[key].catapults) for key in warm_sp),
        "no run lost that GD keeps": all(runs[key].summary["outcome"] == "converged" for key in keys
                                         if key[1:] in gd_converged),
    }
    return VariantFacts(
        mup_regime=natural_regime(analyses, setting, "mup"),
        sp_regime=natural_regime(analyses, setting, "sp"),
        sp_catapulting=sum(bool(analyses[key].catapults) for key in warm_sp), sp_warm=len(warm_sp),
        outcomes={key[1:]: runs[key].summary["outcome"] for key in keys}, checks=facts, riding=riding)


def _after_crossing(records: pd.DataFrame, collision: Collision) -> np.ndarray:
    """eta_t lambda_t at the measured steps from the crossing on (empty without one)."""
    if collision.step < 0:
        return np.array([])
    step, sharpness, eta = measured(records, "sharpness")
    later = step >= collision.step
    return eta[later] * sharpness[later]


def variants_glue(variants: Mapping[str, VariantFacts], params: Mapping[str, Any]) -> dict[str, Any]:
    """The variants section's glued text (seed 0): warmups, batch size, and per setting (tags of
    :data:`VARIANTS`) the two regimes with r, the SP runs with a catapult, every outcome."""
    values = {"mech_variant_warmups": "{" + ", ".join(map(str, params["variant_warmup_steps"])) + "}",
              "mech_batch_size": params["batch_size"]}
    for setting, tag in VARIANTS.items():
        facts = variants[setting]
        for param, regime in (("mup", facts.mup_regime), ("sp", facts.sp_regime)):
            values[f"mech_{tag}_{param}_regime"] = f"{regime.label} (r = {regime.ratio:.2f})"
        values[f"mech_{tag}_sp_catapulting"] = f"{facts.sp_catapulting} of {facts.sp_warm}"
        values[f"mech_{tag}_outcomes"] = "; ".join(f"{PARAM_NAMES[p]} T_wrm = {w}: {o}"
                                                   for (p, w), o in facts.outcomes.items())
    return values


@dataclass(frozen=True)
class LateThreshold:
    """Where the sharpness settles: the late median eta lambda (:func:`late_threshold_ratio`) of the
    muP run without warmup per setting (GD, SGD, MOMENTUM, SGD_MOMENTUM), and the share of rising
    steps at eta lambda < 1 (:func:`calm_rise_counts`) of GD and of GD with momentum, with GD's
    number of calm steps."""

    late: dict[str, float]
    rise_gd: float
    rise_momentum: float
    calm_gd: int = 1

    @property
    def rise_ratio(self) -> float:
        """Claim 4b: momentum's share of rising calm steps over GD's, GD's counted as at least one
        rise in its calm steps (1 / calm_gd), so that a GD without any rise gives a finite ratio."""
        return self.rise_momentum / max(self.rise_gd, 1.0 / max(self.calm_gd, 1))


def late_threshold_facts(runs: Mapping[RunKey, RunResult]) -> LateThreshold:
    """The :class:`LateThreshold` of the chapter's runs (rises pooled over the runs that did not
    diverge)."""
    def finished(setting: str) -> list[pd.DataFrame]:
        return [result.records for key, result in runs.items()
                if key[0] == setting and result.summary["outcome"] != "diverged"]

    late = {setting: late_threshold_ratio(runs[setting, "mup", NO_WARMUP].records)
            for setting in (GD, SGD, MOMENTUM, SGD_MOMENTUM)}
    rises_gd, calm_gd = calm_rise_counts(finished(GD))
    return LateThreshold(late, rises_gd / max(calm_gd, 1), calm_rise_fraction(finished(MOMENTUM)), calm_gd)


def late_threshold_glue(facts: LateThreshold, momentum: float) -> dict[str, Any]:
    """The momentum section's glued text (seed 0): late levels, the limit 2 + 2 beta, rise shares."""
    return {
        "mech_late_gd": f"{facts.late[GD]:.2f}", "mech_late_sgd": f"{facts.late[SGD]:.2f}",
        "mech_late_gdm": f"{facts.late[MOMENTUM]:.2f}",
        "mech_late_sgdm": f"{facts.late[SGD_MOMENTUM]:.2f}",
        "mech_momentum_limit": f"{2 + 2 * momentum:.1f}",
        "mech_rise_gd": f"{100 * facts.rise_gd:.1f}",
        "mech_rise_momentum": f"{100 * facts.rise_momentum:.1f}",
    }


# ---------------------------------------------------------------------------------------------------
# One seed's facts, and the claims over seeds
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeedFacts:
    """Everything the chapter reads from one seed's runs."""

    seed: int
    runs: dict[RunKey, RunResult]
    scan_runs: dict[float, RunResult]
    analyses: dict[RunKey, RunAnalysis]
    lambda_0: dict[tuple[str, str], float]
    mup: MupFacts
    sp: SpFacts
    variants: dict[str, VariantFacts]
    late: LateThreshold


def read_seed(plan: Plan, root: str | Path, params: Mapping[str, Any], seed: int) -> SeedFacts:
    """Load one seed's runs and read them (:func:`analyse_runs` and the facts of every section).

    Args:
        plan: the seed's :class:`Plan` (its runs in the store).
        root: the results store.
        params: the notebook's parameters.
        seed: the seed.

    Returns:
        The :class:`SeedFacts`.
    """
    runs, scan_runs = load_runs(plan.runs, root), load_runs(plan.scan, root)
    analyses = analyse_runs(runs, params)
    return SeedFacts(
        seed=seed, runs=runs, scan_runs=scan_runs, analyses=analyses, lambda_0=plan.lambda_0,
        mup=gd_mup_facts(runs, analyses, params["warmup_steps"]),
        sp=gd_sp_facts(runs, analyses, scan_runs, params["warmup_steps"]),
        variants={setting: variant_facts(runs, analyses, setting, params["momentum"]) for setting in VARIANTS},
        late=late_threshold_facts(runs))


def claim_values(facts: Sequence[SeedFacts]) -> dict[str, list[float]]:
    """One value per seed for each row of ``warmup_lib.claims.chapter02`` (criteria there).

    1a / 2a: r of the longest warmup (muP / SP).  1b: :attr:`MupFacts.warmup_riding`.  2b: 1 when
    SP without warmup diverged, else 0.  2c / 2d / 2e: :attr:`SpFacts.later` / ``smaller`` /
    ``gentler``.  3a-c: :attr:`VariantFacts.score` of SGD, momentum, cross-entropy.  4a: late eta
    lambda of GD with momentum; 4b: :attr:`LateThreshold.rise_ratio`; 4c: late eta lambda of SGD
    with momentum.

    Args:
        facts: one :class:`SeedFacts` per seed.

    Returns:
        row id -> per-seed values, in the order of ``facts``.
    """
    rows: dict[str, Any] = {
        "1a": lambda f: f.mup.natural.ratio, "1b": lambda f: f.mup.warmup_riding,
        "2a": lambda f: f.sp.natural.ratio,
        "2b": lambda f: 1.0 if f.sp.no_warmup["outcome"] == "diverged" else 0.0,
        "2c": lambda f: f.sp.later, "2d": lambda f: f.sp.smaller, "2e": lambda f: f.sp.gentler,
        "3a": lambda f: f.variants[SGD].score, "3b": lambda f: f.variants[MOMENTUM].score,
        "3c": lambda f: f.variants[XENT].score,
        "4a": lambda f: f.late.late[MOMENTUM], "4b": lambda f: f.late.rise_ratio,
        "4c": lambda f: f.late.late[SGD_MOMENTUM],
    }
    return {row: [float(value(f)) for f in facts] for row, value in rows.items()}


def _per_seed(facts: Sequence[SeedFacts], text: Any) -> str:
    """``text(f)`` of every seed, as 'seed 0: ...; seed 1: ...'."""
    return "; ".join(f"seed {f.seed}: {text(f)}" for f in facts)


def seeds_glue(facts: Sequence[SeedFacts]) -> dict[str, Any]:
    """The glued text that summarises the seeds: mean (min..max, n) of each row's quantity and of
    the numbers the prose quotes, and per seed the lists the criteria read (catapult steps and
    sizes, the warmups that catapult, the failed mechanism checks).

    Args:
        facts: one :class:`SeedFacts` per seed.

    Returns:
        glue name -> text.
    """
    values = claim_values(facts)

    def spread(numbers: Iterable[float], digits: int = 2) -> str:
        return spread_text(list(numbers), digits)

    glued = {
        "mech_s_mup_r": spread(values["1a"]), "mech_s_sp_r": spread(values["2a"]),
        "mech_s_riding": spread(values["1b"]),
        "mech_s_riding_after": spread(np.median(f.mup.riding) for f in facts),
        "mech_s_during": _per_seed(facts, lambda f: ", ".join(map(str, f.mup.during_warmup)) or "none"),
        "mech_s_crossings": _per_seed(facts, lambda f: ", ".join(str(c.step) for c in f.mup.collisions)),
        "mech_s_diverged_steps": ", ".join(str(f.sp.no_warmup["steps_run"]) if
                                           f.sp.no_warmup["outcome"] == "diverged" else "converged"
                                           for f in facts),
        "mech_s_smallest_diverging": ", ".join(f"{f.sp.smallest_diverging:g}" for f in facts),
        "mech_s_sp_steps": _per_seed(facts, lambda f: ", ".join(
            str(f.sp.first_catapults[w].peak) if w in f.sp.first_catapults else "none" for w in f.sp.warm)),
        "mech_s_sp_sizes": _per_seed(facts, lambda f: ", ".join(
            f"{f.sp.first_catapults[w].loss_ratio:.2f}" if w in f.sp.first_catapults else "none"
            for w in f.sp.warm)),
        "mech_s_sp_drops": _per_seed(facts, lambda f: ", ".join(
            f"{f.sp.first_catapults[w].sharpness_ratio:.2f}" if w in f.sp.first_catapults else "none"
            for w in f.sp.warm)),
        "mech_s_later": spread(values["2c"]), "mech_s_smaller": spread(values["2d"]),
        "mech_s_gentler": spread(values["2e"]),
        "mech_s_late_gd": spread(f.late.late[GD] for f in facts),
        "mech_s_late_sgd": spread(f.late.late[SGD] for f in facts),
        "mech_s_late_gdm": spread(values["4a"]), "mech_s_late_sgdm": spread(values["4c"]),
        "mech_s_rise_gd": spread((100 * f.late.rise_gd for f in facts), 1),
        "mech_s_rise_momentum": spread((100 * f.late.rise_momentum for f in facts), 1),
        "mech_s_rise_ratio": spread(values["4b"], 1),
    }
    for setting, tag in VARIANTS.items():
        glued[f"mech_s_{tag}_score"] = spread(values[f"3{'abc'[list(VARIANTS).index(setting)]}"])
        glued[f"mech_s_{tag}_failed"] = _per_seed(
            facts, lambda f, s=setting: ", ".join(f.variants[s].failed) or "none")
        glued[f"mech_s_{tag}_riding"] = spread(f.variants[setting].riding for f in facts)
        glued[f"mech_s_{tag}_outcomes"] = _per_seed(facts, lambda f, s=setting: ", ".join(
            f"{PARAM_NAMES[p]} {w}" for (p, w), o in f.variants[s].outcomes.items() if o == "diverged")
            or "none diverged")
    return glued


def chapter_glue(facts: Sequence[SeedFacts], params: Mapping[str, Any]) -> dict[str, Any]:
    """Every glued value of the chapter: the set-up, the sections' numbers of the first seed (the one
    the figures show) and the summary over the seeds (:func:`seeds_glue`).

    Args:
        facts: one :class:`SeedFacts` per seed, the first shown in the figures.
        params: the notebook's parameters (``scan_steps``, ``momentum`` and the set-up's).

    Returns:
        glue name -> value.
    """
    first = facts[0]
    return {**setup_glue(params, first.lambda_0), **gd_mup_glue(first.mup),
            **gd_sp_glue(first.sp, params["scan_steps"]), **variants_glue(first.variants, params),
            **late_threshold_glue(first.late, params["momentum"]), **seeds_glue(facts)}
