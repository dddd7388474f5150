"""Chapter 4, GI-Adam and RI-Adam next to Adam (paper Sec. 6.2 and App. I, Figs. 6, 30 and 31).

GI-Adam starts Adam's second moment at v_0 = g_0^2 (RI-Adam at v_0 = r^2 with a random r of norm
||g_0||) and keeps every other line of Adam.  In full batch (g_1 = g_0) the first pre-conditioner is
then 1/sqrt(1 - beta2) times larger in every coordinate, so lambda_0^{P^-1 H} is that much smaller
(up to eps); and with the bias correction GI-Adam steps like bias-free RMSProp with momentum at the
rate eta_trgt sqrt(1 - beta2^{t+1}), a warmup built into the optimizer
(:func:`~warmup_lib.optim.adam_state.implicit_warmup_factor`).

* The run plan, built on chapter 3's :class:`~warmup_lib.chapters.adam_preconditioned_sharpness.AdamSetup`:
  :func:`mechanism_plan` (Adam, GI-Adam, RI-Adam without warmup, lambda^{P^-1 H} tracked),
  :func:`implicit_plan` (SP: Adam and GI-Adam without warmup, Adam with the matching linear warmup)
  and :func:`failure_plan` (SP at a large eta_trgt); the last two record Adam's state at every step
  (their configs' ``adam_state_every``), and :func:`load_or_run_plan` loads or trains a plan.
* The readings: :func:`measure_mechanism` and :func:`mechanism_table`, :func:`epsilon_free_ratios`,
  :func:`step_size` and :func:`early_step_ratio`, :func:`largest_loss_rise`.
* The figures (:func:`mechanism_figure`, :func:`implicit_figure`, :func:`state_figure`) and the
  claims (:func:`claims`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from warmup_lib import plots
from warmup_lib.analysis.records import early_spike, finite, measured
from warmup_lib.chapters.adam_preconditioned_sharpness import (BETA1, BETA2, PARAMETERISATIONS, PRE_LABEL,
                                                              AdamSetup, draw_runs)
from warmup_lib.claims import Claim
from warmup_lib.config import RunConfig
from warmup_lib.curvature import adam_threshold
from warmup_lib.optim.adam_state import implicit_warmup_factor
from warmup_lib.runs import store
from warmup_lib.runs.measure import load_or_measure_initial_curvature
from warmup_lib.runs.train import RunResult

OPTIMIZERS = {"adam": "Adam", "gi_adam": "GI-Adam", "ri_adam": "RI-Adam"}  # config name -> name on the page
ADAM_STATE = {"adam_state_every": 1}  # the tracked plans' m_norm, v_norm and last_update_rms at every step
TINY_EPS = 1e-30  # eps -> 0 for a measurement; exactly 0 would divide by the zero gradients of dead ReLUs


def mechanism_plan(setup: AdamSetup, eta: Mapping[str, float], steps: int,
                   pre_sharpness_every: int) -> dict[tuple[str, str], RunConfig]:
    """Adam, GI-Adam and RI-Adam without warmup (T_wrm = 1) in each parameterisation, full batch,
    MSE, lambda^{P^-1 H} measured every ``pre_sharpness_every`` steps.

    Args:
        setup: the shared FCN, data and seed.
        eta: eta_trgt per parameterisation.
        steps: number of updates.
        pre_sharpness_every: the measurement interval.

    Returns:
        (parameterisation, optimizer) -> RunConfig.
    """
    return {(param, optimizer): setup.config(param, eta[param], 1, steps, optimizer=optimizer,
                                             pre_sharpness_every=pre_sharpness_every)
            for param in PARAMETERISATIONS for optimizer in OPTIMIZERS}


def implicit_plan(setup: AdamSetup, eta_trgt: float, steps: int, matched: int) -> dict[str, RunConfig]:
    """The implicit-warmup runs (SP): Adam and GI-Adam without warmup, and Adam with the linear
    warmup of ``matched`` steps (the one that loses as much learning rate as GI-Adam's); Adam's
    state recorded at every step (:data:`ADAM_STATE`).

    Args:
        setup: the shared FCN, data and seed.
        eta_trgt: the target learning rate.
        steps: number of updates.
        matched: T_wrm of the matching linear warmup.

    Returns:
        Legend label -> RunConfig.
    """
    plan = {"Adam, no warmup": setup.config("sp", eta_trgt, 1, steps),
            "GI-Adam, no warmup": setup.config("sp", eta_trgt, 1, steps, optimizer="gi_adam"),
            f"Adam, linear warmup {matched}": setup.config("sp", eta_trgt, matched, steps)}
    return {label: cfg.replace(**ADAM_STATE) for label, cfg in plan.items()}


def failure_plan(setup: AdamSetup, eta_trgt: float, steps: int, warmup: int) -> dict[str, RunConfig]:
    """The failure preview (SP at a large ``eta_trgt``): Adam, GI-Adam and RI-Adam without warmup,
    and Adam with a linear warmup of ``warmup`` steps; Adam's state recorded at every step
    (:data:`ADAM_STATE`).

    Args:
        setup: the shared FCN, data and seed.
        eta_trgt: the target learning rate.
        steps: number of updates.
        warmup: T_wrm of the warmed-up Adam run.

    Returns:
        Legend label -> RunConfig.
    """
    runs = {f"{OPTIMIZERS[name]}, no warmup": setup.config("sp", eta_trgt, 1, steps, optimizer=name)
            for name in OPTIMIZERS}
    plan = {**runs, f"Adam, linear warmup {warmup}": setup.config("sp", eta_trgt, warmup, steps)}
    return {label: cfg.replace(**ADAM_STATE) for label, cfg in plan.items()}


def load_or_run_plan(experiment: str, plan: Mapping[str, RunConfig], root: str | Path) -> dict[str, RunResult]:
    """Each run of ``plan`` from the store, or trained in this process (with the measurements its
    config asks for, such as Adam's state).

    Args:
        experiment: the store's experiment folder.
        plan: label -> RunConfig.
        root: the results store's folder.

    Returns:
        Label -> RunResult.
    """
    return {label: store.load_or_run(experiment, cfg, root) for label, cfg in plan.items()}


# ---------------------------------------------------------------------------------------------------
# Reading the runs
# ---------------------------------------------------------------------------------------------------


def measure_mechanism(mechanism: Mapping[tuple[str, str], RunResult], rise: float, within: int) -> pd.DataFrame:
    """One row of full-precision numbers per mechanism run, indexed by (param, optimizer).

    Columns: lambda0_PH (the first measured lambda^{P^-1 H}); spike, the largest loss excursion
    above ``rise`` x the lowest loss so far that starts before step ``within``, as peak / that
    lowest loss (1: none); final_train_loss; final_train_accuracy.

    Args:
        mechanism: (parameterisation, optimizer) -> run.
        rise: the excursion threshold of the spike detector.
        within: the first steps, where a first-step spike starts.

    Returns:
        The table, in the order of ``mechanism``.
    """
    rows = [{"param": param, "optimizer": optimizer,
             "lambda0_PH": float(measured(result.records, "pre_sharpness")[1][0]),
             "spike": early_spike(result.records["loss"], rise, within),
             "final_train_loss": result.summary["final_train_loss"],
             "final_train_accuracy": result.summary["final_train_accuracy"]}
            for (param, optimizer), result in mechanism.items()]
    return pd.DataFrame(rows).set_index(["param", "optimizer"])


def mechanism_table(measures: pd.DataFrame, eta: Mapping[str, float]) -> pd.DataFrame:
    """:func:`measure_mechanism` as the page shows it, with each optimizer's reduction of
    lambda_0^{P^-1 H} relative to Adam ("Adam / this") and the initial overshoot eta lambda_0^{P^-1 H}
    (stable below 38), rounded.

    Args:
        measures: the table of :func:`measure_mechanism`.
        eta: eta_trgt per parameterisation.

    Returns:
        One row per run.
    """
    lambda0 = measures["lambda0_PH"]
    return pd.DataFrame([
        {"param": PARAMETERISATIONS[param], "optimizer": OPTIMIZERS[optimizer],
         "lambda0_PH": float(f"{row.lambda0_PH:.3g}"),
         "Adam / this": round(float(lambda0[param, "adam"]) / float(row.lambda0_PH), 1),
         "eta lambda0_PH": round(eta[param] * float(row.lambda0_PH), 1),
         "first-step spike x": round(float(row.spike), 2),
         "final train loss": float(f"{row.final_train_loss:.3g}"),
         "final train acc": round(float(row.final_train_accuracy), 3)}
        for (param, optimizer), row in measures.iterrows()])


def epsilon_free_ratios(experiment: str, plan: Mapping[tuple[str, str], RunConfig], root: str | Path,
                        eps: float = TINY_EPS) -> dict[str, float]:
    """Adam's lambda_0^{P^-1 H} over GI-Adam's, measured at initialisation with Adam's eps set to
    ``eps`` (the limit eps -> 0, where full batch predicts exactly 1/sqrt(1 - beta2)); a
    measurement only, cached in the store.

    Args:
        experiment: the store's experiment folder.
        plan: the :func:`mechanism_plan`.
        root: the results store's folder.
        eps: Adam's epsilon for the measurement.

    Returns:
        Parameterisation -> the ratio.
    """
    def initial(param: str, optimizer: str) -> float:
        cfg = plan[param, optimizer].replace(**{"optim.eps": eps})
        return load_or_measure_initial_curvature(experiment, cfg, root=root)["lambda_PH"]

    return {param: initial(param, "adam") / initial(param, "gi_adam") for param in PARAMETERISATIONS}


def step_size(result: RunResult) -> np.ndarray:
    """The measured effective step size: RMS(theta_{t+1} - theta_t) / eta_trgt for each update t
    (NaN where not measured, and after the last update).

    ``last_update_rms`` (:class:`~warmup_lib.optim.adam_state.AdamStateTracker`) is the update that
    led into a row, so it is shifted back by one row.

    Args:
        result: a run recorded with the tracker.

    Returns:
        One value per row of ``result.records``.
    """
    eta_trgt = result.summary["config"]["schedule"]["eta_trgt"]
    return finite(result.records["last_update_rms"].shift(-1)) / eta_trgt


def early_step_ratio(result: RunResult, count: int = 10) -> np.ndarray:
    """GI-Adam's measured step over its implicit warmup, step_t / sqrt(1 - beta2^{t+1}), for the
    first ``count`` updates (fewer in a run that short): about 1 while Adam steps like sign descent.

    Args:
        result: a GI-Adam run recorded with the tracker.
        count: how many updates.

    Returns:
        The ratios for t = 0, 1, ...
    """
    early = np.arange(min(count, len(result.records) - 1))
    return step_size(result)[early] / implicit_warmup_factor(early, BETA2)


def largest_loss_rise(loss: ArrayLike, after: int) -> tuple[int, float]:
    """The largest one-step rise L_{t+1} / L_t of a loss with t + 1 > ``after`` (in a run too short
    for that, its last rise): where a catapult after the warmup jumps.

    Args:
        loss: the per-step training loss (non-finite values are treated as missing).
        after: steps up to this one do not count (the first-step spike).

    Returns:
        (t, L_{t+1} / L_t).
    """
    loss = finite(loss)
    rises = loss[1:] / loss[:-1]
    later = np.arange(1, len(loss)) > min(after, len(loss) - 2)
    step = int(np.nanargmax(np.where(later, rises, np.nan)))
    return step, float(rises[step])


# ---------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------


def mechanism_figure(mechanism: Mapping[tuple[str, str], RunResult], eta: Mapping[str, float]) -> plt.Figure:
    """The paper's Figs. 6, 30 and 31 at T_wrm = 1: one row per parameterisation with (a) the
    training loss and (b) lambda^{P^-1 H}_t with Adam's threshold 38/eta_trgt (dashed), one colour
    per optimizer.

    Args:
        mechanism: (parameterisation, optimizer) -> run.
        eta: eta_trgt per parameterisation.

    Returns:
        The figure (2 x 2 panels).
    """
    fig, axes = plots.figure(ncols=2, nrows=2)
    for row, (param, param_label) in enumerate(PARAMETERISATIONS.items()):
        ax_loss, ax_pre = axes[2 * row: 2 * row + 2]
        results = {label: mechanism[param, optimizer] for optimizer, label in OPTIMIZERS.items()}
        draw_runs(ax_loss, results, "loss", f"training loss ({param_label})")
        draw_runs(ax_pre, results, "pre_sharpness", PRE_LABEL)
        ax_pre.axhline(adam_threshold(eta[param], BETA1), **plots.THRESHOLD_STYLE, label=r"$38/\eta_{trgt}$")
        ax_loss.legend(loc="lower left")
        ax_pre.legend(loc="upper right")
    plots.label_panels(axes)
    return fig


def implicit_figure(implicit: Mapping[str, RunResult], matched: int) -> plt.Figure:
    """GI-Adam's implicit warmup: (a) each run's measured step (:func:`step_size`) with GI-Adam's
    sqrt(1 - beta2^{t+1}) and the matching linear warmup's min(1, (t+1)/T_wrm) dotted, in the
    colours of their runs (second and third), and (b) the training loss.

    Args:
        implicit: the :func:`implicit_plan` runs, in its order.
        matched: T_wrm of the matching linear warmup.

    Returns:
        The figure (2 panels).
    """
    fig, (ax_step, ax_loss) = plots.figure(ncols=2)
    t = np.arange(max(result.summary["config"]["steps"] for result in implicit.values()))
    for index, (label, result) in enumerate(implicit.items()):
        ax_step.plot(result.records["step"], step_size(result), color=plots.COLORS[index], label=label)
    draw_runs(ax_loss, implicit, "loss", "training loss (SP)")
    ax_step.plot(t, implicit_warmup_factor(t, BETA2), color=plots.COLORS[1], linestyle=":", linewidth=1.6,
                 label=r"$\sqrt{1-\beta_2^{t+1}}$")
    ax_step.plot(t, np.minimum(1.0, (t + 1) / matched), color=plots.COLORS[2], linestyle=":", linewidth=1.6,
                 label=rf"$\min(1, (t+1)/{matched})$")
    ax_step.set(xlabel="step t", ylabel=r"update RMS / $\eta_{trgt}$", yscale="log")
    plots.log_step_axis(ax_step)
    ax_step.legend(loc="lower left", fontsize=7)
    ax_loss.legend(loc="lower left", fontsize=7)
    plots.label_panels((ax_step, ax_loss))
    return fig


def state_figure(failure: Mapping[str, RunResult]) -> plt.Figure:
    """Adam's state at a large learning rate: (a) training loss, (b) gradient norm ||g_t||,
    (c) second moment ||v_t||, (d) the measured step (:func:`step_size`), one colour per run.

    Args:
        failure: the :func:`failure_plan` runs.

    Returns:
        The figure (2 x 2 panels).
    """
    fig, axes = plots.figure(ncols=2, nrows=2)
    for ax, name, ylabel in zip(axes, ("loss", "grad_norm", "v_norm"),
                                ("training loss (SP)", r"gradient norm $\|g_t\|$", r"second moment $\|v_t\|$")):
        draw_runs(ax, failure, name, ylabel)
    for index, (label, result) in enumerate(failure.items()):
        axes[3].plot(result.records["step"], step_size(result), color=plots.COLORS[index], label=label)
    axes[3].set(xlabel="step t", ylabel=r"update RMS / $\eta_{trgt}$", yscale="log")
    plots.log_step_axis(axes[3])
    axes[0].legend(loc="lower left", fontsize=7)
    plots.label_panels(axes)
    return fig


# ---------------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------------


def claims(measures: pd.DataFrame, early_ratio: ArrayLike, loss_ratio: float) -> list[Claim]:
    """The chapter's claims (13a)-(13f) and (14a)-(14c) and their criteria.

    "Lowers" lambda_0^{P^-1 H} means by at least a factor 10 in every parameterisation (13a for
    GI-Adam, 14a for RI-Adam); a first-step spike is a loss excursion of at least 2 x the lowest loss
    before it: Adam's (13b) must reach 2 in every parameterisation, GI-Adam's (13c) and RI-Adam's
    (14b) stay below 2 in every one; the implicit warmup holds when GI-Adam's measured step over its
    first updates is within [0.7, 1.4] of sqrt(1 - beta2^{t+1}) (13d, 13e); GI-Adam without warmup
    "trains like" the matching linear warmup when its final training loss is within a factor 3 of
    it (13f); RI-Adam "helps" when its final training loss is below Adam's in every
    parameterisation (14c).

    Args:
        measures: the table of :func:`measure_mechanism`.
        early_ratio: :func:`early_step_ratio` of the GI-Adam implicit-warmup run.
        loss_ratio: GI-Adam's final training loss over that of Adam with the matching warmup.

    Returns:
        The claims, in order.
    """
    def over_params(column: str, optimizer: str, reference: str | None = None) -> list[float]:
        values = [float(measures.loc[(param, optimizer), column]) for param in PARAMETERISATIONS]
        if reference is None:
            return values
        return [float(measures.loc[(param, reference), column]) / value
                for param, value in zip(PARAMETERISATIONS, values)]

    gi_ratio = min(over_params("lambda0_PH", "gi_adam", reference="adam"))
    ri_ratio = min(over_params("lambda0_PH", "ri_adam", reference="adam"))
    adam_spike, gi_spike = min(over_params("spike", "adam")), max(over_params("spike", "gi_adam"))
    ri_spike = max(over_params("spike", "ri_adam"))
    ri_loss = max(ri / adam for ri, adam in zip(over_params("final_train_loss", "ri_adam"),
                                                over_params("final_train_loss", "adam")))
    early_min, early_max = float(np.min(early_ratio)), float(np.max(early_ratio))
    return [
        Claim("13a", "GI-Adam lowers lambda_0^{P^-1 H} (smaller Adam/GI ratio over muP, SP)", gi_ratio,
              gi_ratio >= 10, digits=1),
        Claim("13b", "T_wrm = 1: Adam's first steps spike (smaller spike factor)", adam_spike, adam_spike >= 2),
        Claim("13c", "GI-Adam removes the T_wrm = 1 spike (larger spike factor)", gi_spike, gi_spike < 2),
        Claim("13d", "implicit warmup: GI-Adam step / sqrt(1 - beta2^t), first 10 steps (min)", early_min,
              early_min >= 0.7),
        Claim("13e", "... (max)", early_max, early_max <= 1.4),
        Claim("13f", "GI-Adam (no warmup) trains like Adam with the matching warmup (final loss ratio)",
              float(loss_ratio), 1 / 3 <= loss_ratio <= 3),
        Claim("14a", "RI-Adam lowers lambda_0^{P^-1 H} (smaller Adam/RI ratio)", ri_ratio, ri_ratio >= 10,
              digits=1),
        Claim("14b", "RI-Adam removes the T_wrm = 1 spike (larger spike factor)", ri_spike, ri_spike < 2),
        Claim("14c", "RI-Adam helps: final loss / Adam's, T_wrm = 1 (larger over muP, SP)", ri_loss, ri_loss < 1),
    ]
