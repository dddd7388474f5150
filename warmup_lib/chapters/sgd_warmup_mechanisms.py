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
from warmup_lib.analysis.trajectory import (Catapult, Collision, EarlyRegime, detect_catapults,
                                            early_regime, first_collision)
from warmup_lib.chapters import value_range
from warmup_lib.claims import Claim
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


def base_config(params: Mapping[str, Any], param: str, setting: Setting) -> RunConfig:
    """The chapter's FCN run in ``setting`` with parametrisation ``param``, before its schedule.

    Args:
        params: the notebook's parameters (data, width, depth, seed, cadences, device).
        param: 'mup' or 'sp'.
        setting: loss, batch size, momentum, length and sharpness cadence.

    Returns:
        The config (plain SGD optimizer with the setting's momentum; default schedule).
    """
    return RunConfig(
        data=DataConfig(name=params["dataset"], n_train=params["n_train"], n_test=params["n_test"],
                        root=params["data_root"]),
        model=ModelConfig(arch="fcn", width=params["width"], depth=params["depth"], param=param),
        optim=OptimConfig(name="sgd", momentum=setting.momentum), loss=setting.loss,
        batch_size=setting.batch_size, steps=setting.steps, seed=params["seed"],
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


def build_plan(params: Mapping[str, Any], root: str | Path) -> Plan:
    """The chapter's runs, with their rates set from lambda_0 as the paper sets them.

    lambda_0 is the top Hessian eigenvalue at each set-up's initialisation
    (:func:`warmup_lib.runs.measure.load_or_measure_lambda0`: measured once, then read from the
    store).  Runs: every setting x ('mup', 'sp') x its warmups at eta_trgt = c / lambda_0 with c =
    ``mup_multiple`` or ``sp_multiple``; minibatch SGD with momentum, muP, T_wrm = 1; and the SP
    scan, full-batch GD for ``scan_steps`` steps at the constant rate c / lambda_0 for c in
    ``sp_scan``, without sharpness tracking or evaluation.

    Args:
        params: the notebook's parameters.
        root: the results store.

    Returns:
        The :class:`Plan`.
    """
    def lambda_0(cfg: RunConfig) -> float:
        return load_or_measure_lambda0(EXPERIMENT, cfg, root=root)["lambda_0"]

    multiples = {"mup": params["mup_multiple"], "sp": params["sp_multiple"]}
    runs, lambda0s = {}, {}
    for name, setting in settings(params).items():
        for param in PARAM_NAMES:
            base = base_config(params, param, setting)
            lambda0s[name, param] = lambda_0(base)
            for warmup in setting.warmup_steps:
                runs[name, param, warmup] = with_target(base, multiples[param], lambda0s[name, param],
                                                        warmup)
    momentum_sgd = Setting("mse", params["batch_size"], params["momentum"], params["variant_steps"],
                           params["variant_sharpness_every"], (NO_WARMUP,))
    base = base_config(params, "mup", momentum_sgd)
    lambda0s[SGD_MOMENTUM, "mup"] = lambda_0(base)
    runs[SGD_MOMENTUM, "mup", NO_WARMUP] = with_target(base, params["mup_multiple"],
                                                       lambda0s[SGD_MOMENTUM, "mup"], NO_WARMUP)
    scan_setting = Setting("mse", None, 0.0, params["scan_steps"], 0, (NO_WARMUP,))
    scan_base = base_config(params, "sp", scan_setting).replace(eval_every=0)
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


def analyse(records: pd.DataFrame, params: Mapping[str, Any]) -> RunAnalysis:
    """Catapults, early regime and first collision with 2/eta_t of one run.

    Args:
        records: the run's per-step records (loss, sharpness with NaN between measurements, lr).
        params: the thresholds ``catapult_rise``, ``catapult_drop``, ``catapult_window``,
            ``regime_window`` and ``regime_tol`` (rules in :mod:`warmup_lib.analysis.trajectory`).

    Returns:
        The :class:`RunAnalysis`.
    """
    loss, sharpness, eta = (records[name].to_numpy() for name in ("loss", "sharpness", "lr"))
    return RunAnalysis(
        catapults=detect_catapults(loss, sharpness, rise=params["catapult_rise"],
                                   drop=params["catapult_drop"], window=params["catapult_window"]),
        regime=early_regime(sharpness, eta, window=params["regime_window"], tol=params["regime_tol"]),
        collision=first_collision(sharpness, eta))


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


def calm_rise_fraction(records: Iterable[pd.DataFrame], bound: float = 1.0) -> float:
    """The fraction of steps with L_{t+1} > L_t among the steps far below the GD threshold
    (eta_t lambda_t < ``bound``), pooled over runs; the sharpness is carried forward between
    measurements.  Plain GD on a smooth loss hardly ever rises there; heavy-ball momentum does.

    Args:
        records: the per-step records of the runs to pool (loss, lr, sharpness).
        bound: the largest eta_t lambda_t that counts as calm.

    Returns:
        rises / calm steps (0 when no step is calm).
    """
    rises = calm = 0
    for run in records:
        quiet = (run["lr"] * run["sharpness"].ffill()).to_numpy()[:-1] < bound
        rising = np.diff(run["loss"].to_numpy()) > 0
        rises, calm = rises + int((rising & quiet).sum()), calm + int(quiet.sum())
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

def monotone(values: Sequence[float], count: int, increasing: bool) -> bool:
    """Whether ``values`` holds ``count`` entries, each strictly above (``increasing``) or below the
    one before (a run without the measured event leaves one out, and the claim fails)."""
    steps = np.diff(values)
    return len(values) == count and bool(np.all(steps > 0 if increasing else steps < 0))


def setup_glue(params: Mapping[str, Any], lambda_0: Mapping[tuple[str, str], float]) -> dict[str, Any]:
    """The set-up's numbers quoted in the text: sizes, cadences, multiples, detector thresholds,
    and lambda_0 of full-batch GD in muP and SP with their ratio."""
    return {
        "mech_width": params["width"], "mech_n_train": params["n_train"], "mech_steps": params["steps"],
        "mech_every": params["sharpness_every"], "mech_variant_every": params["variant_sharpness_every"],
        "mech_mup_multiple": params["mup_multiple"], "mech_sp_multiple": params["sp_multiple"],
        "mech_rise": params["catapult_rise"], "mech_window": params["catapult_window"],
        "mech_drop_pct": round(100 * params["catapult_drop"]),
        "mech_regime_window": params["regime_window"],
        "mech_lambda0_mup": f"{lambda_0[GD, 'mup']:.3g}", "mech_lambda0_sp": f"{lambda_0[GD, 'sp']:.3g}",
        "mech_lambda0_ratio": round(lambda_0[GD, "sp"] / lambda_0[GD, "mup"]),
    }


@dataclass(frozen=True)
class MupFacts:
    """Full-batch GD in muP, one entry per T_wrm in ``warmups``: early regimes, first collisions,
    median eta_t lambda_t after the collision (``riding``), every detected catapult, and the
    natural regime (longest warmup)."""

    warmups: list[int]
    regimes: list[EarlyRegime]
    collisions: list[Collision]
    riding: list[float]
    catapults: list[Catapult]
    natural: EarlyRegime

    @property
    def during_warmup(self) -> list[int]:
        """The warmups whose first collision falls inside the warmup (0 <= step < T_wrm)."""
        return [warmup for warmup, hit in zip(self.warmups, self.collisions) if 0 <= hit.step < warmup]


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
        catapults=[c for key in keys for c in analyses[key].catapults],
        natural=natural_regime(analyses, GD, "mup"))


def gd_mup_glue(facts: MupFacts) -> dict[str, Any]:
    """The muP section's glued text: regime ratios, head-on collisions and their steps, the riding
    level, the catapults' loss and sharpness ratios, the warmups met inside the warmup."""
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
    one, their rear-end collisions, the early regimes of every warmup, the run without warmup's
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
        """Peak step of each first catapult, by T_wrm."""
        return [c.peak for c in self.first_catapults.values()]

    @property
    def first_sizes(self) -> list[float]:
        """Loss ratio of each first catapult, by T_wrm."""
        return [c.loss_ratio for c in self.first_catapults.values()]

    @property
    def later(self) -> bool:
        """Every warmup > 1 catapults, and a longer warmup peaks strictly later."""
        return monotone(self.first_steps, len(self.warm), increasing=True)

    @property
    def smaller(self) -> bool:
        """Every warmup > 1 catapults, and a longer warmup's loss spike is strictly smaller."""
        return monotone(self.first_sizes, len(self.warm), increasing=False)

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
    """The SP section's glued text: the run without warmup, the first catapults (peak steps, loss
    and sharpness ratios), rear-end collisions, early-regime ratios and the divergence scan."""
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


@dataclass(frozen=True)
class VariantFacts:
    """One variant setting: the natural regimes of muP and SP, how many SP runs with warmup
    (``sp_warm``) show a catapult, and every run's outcome by (param, T_wrm)."""

    mup_regime: EarlyRegime
    sp_regime: EarlyRegime
    sp_catapulting: int
    sp_warm: int
    outcomes: dict[tuple[str, int], str]


def variant_facts(runs: Mapping[RunKey, RunResult], analyses: Mapping[RunKey, RunAnalysis],
                  setting: str) -> VariantFacts:
    """The :class:`VariantFacts` of ``setting`` (runs in plan order)."""
    keys = [key for key in runs if key[0] == setting]
    warm_sp = [key for key in keys if key[1] == "sp" and key[2] > NO_WARMUP]
    return VariantFacts(
        mup_regime=natural_regime(analyses, setting, "mup"),
        sp_regime=natural_regime(analyses, setting, "sp"),
        sp_catapulting=sum(bool(analyses[key].catapults) for key in warm_sp), sp_warm=len(warm_sp),
        outcomes={key[1:]: runs[key].summary["outcome"] for key in keys})


def variants_glue(variants: Mapping[str, VariantFacts], params: Mapping[str, Any]) -> dict[str, Any]:
    """The variants section's glued text: warmups, batch size, and per setting (tags of
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
    steps at eta lambda < 1 (:func:`calm_rise_fraction`) of GD and of GD with momentum."""

    late: dict[str, float]
    rise_gd: float
    rise_momentum: float


def late_threshold_facts(runs: Mapping[RunKey, RunResult]) -> LateThreshold:
    """The :class:`LateThreshold` of the chapter's runs (rises pooled over the runs that did not
    diverge)."""
    def finished(setting: str) -> list[pd.DataFrame]:
        return [result.records for key, result in runs.items()
                if key[0] == setting and result.summary["outcome"] != "diverged"]

    late = {setting: late_threshold_ratio(runs[setting, "mup", NO_WARMUP].records)
            for setting in (GD, SGD, MOMENTUM, SGD_MOMENTUM)}
    return LateThreshold(late, calm_rise_fraction(finished(GD)), calm_rise_fraction(finished(MOMENTUM)))


def late_threshold_glue(facts: LateThreshold, momentum: float) -> dict[str, Any]:
    """The momentum section's glued text: late levels, the momentum limit 2 + 2 beta, rise shares."""
    return {
        "mech_late_gd": f"{facts.late[GD]:.2f}", "mech_late_sgd": f"{facts.late[SGD]:.2f}",
        "mech_late_gdm": f"{facts.late[MOMENTUM]:.2f}",
        "mech_late_sgdm": f"{facts.late[SGD_MOMENTUM]:.2f}",
        "mech_momentum_limit": f"{2 + 2 * momentum:.1f}",
        "mech_rise_gd": f"{100 * facts.rise_gd:.1f}",
        "mech_rise_momentum": f"{100 * facts.rise_momentum:.1f}",
    }


# ---------------------------------------------------------------------------------------------------
# Claims 1-4 of the paper's checklist
# ---------------------------------------------------------------------------------------------------

def rides_threshold(riding: Sequence[float], collisions: Sequence[Collision]) -> bool:
    """Claim 1b: every collision is head-on and every median eta_t lambda_t after it is in
    :data:`RIDING` ("eta_t lambda_t ~ 2")."""
    low, high = RIDING
    return all(low <= r <= high for r in riding) and all(c.kind == "head-on" for c in collisions)


def same_regimes(facts: VariantFacts) -> tuple[str, bool]:
    """Claims 3a-c: muP sharpens and SP flattens (natural regimes) and every SP warmup > 1
    catapults, as with full-batch GD.

    Returns:
        The measured text (both r, catapulting SP runs) and the verdict.
    """
    holds = (facts.mup_regime.label == "progressive sharpening"
             and facts.sp_regime.label == "sharpness reduction"
             and facts.sp_catapulting == facts.sp_warm)
    text = (f"r muP {facts.mup_regime.ratio:.2f}, SP {facts.sp_regime.ratio:.2f}; "
            f"catapults {facts.sp_catapulting}/{facts.sp_warm}")
    return text, holds


def within_momentum_limit(late: float, momentum: float) -> bool:
    """Claim 4a: the late eta lambda of momentum is above GD's 2 and at most 2 + 2 beta (with
    :data:`MOMENTUM_SLACK`)."""
    return 2.0 < late <= (1 + MOMENTUM_SLACK) * (2 + 2 * momentum)


def chapter_claims(mup: MupFacts, sp: SpFacts, variants: Mapping[str, VariantFacts],
                   late: LateThreshold, momentum: float) -> list[Claim]:
    """Claims 1-4 of the paper's checklist, measured on the chapter's runs.

    1a/2a: the natural regime of full-batch GD is progressive sharpening in muP, sharpness
    reduction in SP.  1b: :func:`rides_threshold`.  2b: SP without warmup diverges.  2c/2d: a
    longer warmup gives a later / smaller first catapult (:func:`monotone` over the warmups > 1).
    3a-c: :func:`same_regimes` for SGD, momentum, cross-entropy.  4a: :func:`within_momentum_limit`.
    4b: with momentum the loss rises at more than twice GD's rate among steps with eta lambda < 1.
    4c: minibatches lower the late level of momentum (SGD-M below GD-M).

    Args:
        mup, sp: the full-batch GD facts.
        variants: setting -> facts, for SGD, MOMENTUM and XENT.
        late: where the sharpness settles.
        momentum: beta.

    Returns:
        The 12 :class:`~warmup_lib.claims.Claim`, in the checklist's order.
    """
    gdm, sgdm = late.late[MOMENTUM], late.late[SGD_MOMENTUM]
    return [
        Claim("1a", "GD, MSE, muP: progressive sharpening (r = lambda_end / lambda_0, longest warmup)",
              mup.natural.ratio, mup.natural.label == "progressive sharpening"),
        Claim("1b", "muP: head-on collision, then eta_t lambda_t ~ 2 (median after collision, range)",
              value_range(mup.riding), rides_threshold(mup.riding, mup.collisions)),
        Claim("2a", "GD, MSE, SP: sharpness reduction (r, longest warmup)", sp.natural.ratio,
              sp.natural.label == "sharpness reduction"),
        Claim("2b", "SP, eta_trgt = 32/lambda_0, T_wrm = 1 diverges (step)", sp.no_warmup["steps_run"],
              sp.no_warmup["outcome"] == "diverged"),
        Claim("2c", "SP: longer warmup, later first catapult (peak steps)",
              ", ".join(map(str, sp.first_steps)) or "none", sp.later),
        Claim("2d", "SP: longer warmup, smaller first catapult (loss ratios)",
              ", ".join(f"{s:.2f}" for s in sp.first_sizes) or "none", sp.smaller),
        Claim("3a", "SGD: muP sharpens, SP flattens, SP warmups catapult", *same_regimes(variants[SGD])),
        Claim("3b", "GD + momentum: muP sharpens, SP flattens, SP warmups catapult",
              *same_regimes(variants[MOMENTUM])),
        Claim("3c", "cross-entropy: muP sharpens, SP flattens, SP warmups catapult",
              *same_regimes(variants[XENT])),
        Claim("4a", "momentum: late eta lambda between 2 and 2 + 2 beta (muP, T_wrm = 1)", gdm,
              within_momentum_limit(gdm, momentum)),
        Claim("4b", "momentum: loss rises at eta lambda < 1 (% of steps; GD without momentum in text)",
              100 * late.rise_momentum, late.rise_momentum > 2 * late.rise_gd, digits=1),
        Claim("4c", "minibatches lower the late threshold (SGD-M / GD-M late eta lambda)", sgdm / gdm,
              sgdm < gdm),
    ]
