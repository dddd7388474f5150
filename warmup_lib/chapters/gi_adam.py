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
  :func:`step_size` and :func:`early_step_ratio`, :func:`window_loss` and :func:`measure_implicit`,
  :func:`largest_loss_rise`.
* The figures (:func:`mechanism_figure`, :func:`implicit_figure`, :func:`state_figure`), the claims
  rows' per-seed values (:func:`claim_values`; rows and criteria in ``warmup_lib.claims.chapter04``)
  and the numbers the prose quotes (:func:`page_numbers`).

Every plan takes ``seeds`` and keys its runs by (..., seed); the figures draw one seed's runs
(:func:`~warmup_lib.chapters.adam_preconditioned_sharpness.seed_runs`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from warmup_lib import plots
from warmup_lib.analysis.records import early_spike, finite, measured
from warmup_lib.chapters.adam_preconditioned_sharpness import (BETA1, BETA2, PARAMETERISATIONS, PRE_LABEL,
                                                              AdamSetup, draw_runs, seed_runs, seed_spread)
from warmup_lib.config import RunConfig
from warmup_lib.curvature import adam_threshold
from warmup_lib.optim.adam_state import implicit_warmup_factor
from warmup_lib.runs import store
from warmup_lib.runs.measure import load_or_measure_initial_curvature
from warmup_lib.runs.train import RunResult

OPTIMIZERS = {"adam": "Adam", "gi_adam": "GI-Adam", "ri_adam": "RI-Adam"}  # config name -> name on the page
ADAM_STATE = {"adam_state_every": 1}  # the tracked plans' m_norm, v_norm and last_update_rms at every step
TINY_EPS = 1e-30  # eps -> 0 for a measurement; exactly 0 would divide by the zero gradients of dead ReLUs
IMPLICIT_ROLES = ("adam", "gi_adam", "matched", "sqrt")  # the implicit plan's runs, in its order


def _seeds(setup: AdamSetup, seeds: Sequence[int] | None) -> list[int]:
    return [setup.seed] if seeds is None else list(seeds)


def sqrt_warmup_steps(steps: int, beta2: float = BETA2) -> int:
    """T_wrm of the square-root warmup eta_trgt sqrt((t+1)/T_wrm) that starts like GI-Adam's implicit
    warmup eta_trgt sqrt(1 - beta2^{t+1}) ~ eta_trgt sqrt((1 - beta2)(t+1)): 1/(1 - beta2), capped at
    ``steps``.

    Args:
        steps: the run's length.
        beta2: Adam's beta2.

    Returns:
        The warmup length (1000 for beta2 = 0.999).
    """
    return min(round(1 / (1 - beta2)), steps)


def implicit_labels(matched: int, sqrt_warmup: int) -> dict[str, str]:
    """The implicit plan's legend labels by role (:data:`IMPLICIT_ROLES`)."""
    return {"adam": "Adam, no warmup", "gi_adam": "GI-Adam, no warmup",
            "matched": f"Adam, linear warmup {matched}", "sqrt": f"Adam, sqrt warmup {sqrt_warmup}"}


def mechanism_plan(setup: AdamSetup, eta: Mapping[str, float], steps: int, pre_sharpness_every: int,
                   seeds: Sequence[int] | None = None) -> dict[tuple[str, str, int], RunConfig]:
    """Adam, GI-Adam and RI-Adam without warmup (T_wrm = 1) in each parameterisation, full batch,
    MSE, lambda^{P^-1 H} measured every ``pre_sharpness_every`` steps, for each seed.

    Args:
        setup: the shared FCN and data (its seed is replaced by each of ``seeds``).
        eta: eta_trgt per parameterisation.
        steps: number of updates.
        pre_sharpness_every: the measurement interval.
        seeds: the seeds (None: the setup's).

    Returns:
        (parameterisation, optimizer, seed) -> RunConfig.
    """
    return {(param, optimizer, seed): replace(setup, seed=seed).config(
                param, eta[param], 1, steps, optimizer=optimizer, pre_sharpness_every=pre_sharpness_every)
            for param in PARAMETERISATIONS for optimizer in OPTIMIZERS for seed in _seeds(setup, seeds)}


def implicit_plan(setup: AdamSetup, eta_trgt: float, steps: int, matched: int,
                  seeds: Sequence[int] | None = None) -> dict[tuple[str, int], RunConfig]:
    """The implicit-warmup runs (SP): Adam and GI-Adam without warmup, Adam with the linear warmup
    of ``matched`` steps (the one that loses as much learning rate as GI-Adam's) and Adam with the
    square-root warmup that follows GI-Adam's effective rate over its first steps
    (:func:`sqrt_warmup_steps`); Adam's state recorded at every step (:data:`ADAM_STATE`).

    Args:
        setup: the shared FCN and data (its seed is replaced by each of ``seeds``).
        eta_trgt: the target learning rate.
        steps: number of updates.
        matched: T_wrm of the matching linear warmup.
        seeds: the seeds (None: the setup's).

    Returns:
        (legend label, seed) -> RunConfig, labels in the order of :data:`IMPLICIT_ROLES`.
    """
    sqrt_warmup = sqrt_warmup_steps(steps)
    labels = implicit_labels(matched, sqrt_warmup)
    plan = {}
    for seed in _seeds(setup, seeds):
        seeded = replace(setup, seed=seed)
        runs = {labels["adam"]: seeded.config("sp", eta_trgt, 1, steps),
                labels["gi_adam"]: seeded.config("sp", eta_trgt, 1, steps, optimizer="gi_adam"),
                labels["matched"]: seeded.config("sp", eta_trgt, matched, steps),
                labels["sqrt"]: seeded.config("sp", eta_trgt, sqrt_warmup, steps).replace(
                    **{"schedule.warmup_exponent": 0.5})}
        plan.update({(label, seed): cfg.replace(**ADAM_STATE) for label, cfg in runs.items()})
    return plan


def failure_plan(setup: AdamSetup, eta_trgt: float, steps: int, warmup: int,
                 seeds: Sequence[int] | None = None) -> dict[tuple[str, int], RunConfig]:
    """The failure preview (SP at a large ``eta_trgt``): Adam, GI-Adam and RI-Adam without warmup,
    and Adam with a linear warmup of ``warmup`` steps; Adam's state recorded at every step
    (:data:`ADAM_STATE`).

    Args:
        setup: the shared FCN and data (its seed is replaced by each of ``seeds``).
        eta_trgt: the target learning rate.
        steps: number of updates.
        warmup: T_wrm of the warmed-up Adam run.
        seeds: the seeds (None: the setup's).

    Returns:
        (legend label, seed) -> RunConfig.
    """
    plan = {}
    for seed in _seeds(setup, seeds):
        seeded = replace(setup, seed=seed)
        runs = {f"{OPTIMIZERS[name]}, no warmup": seeded.config("sp", eta_trgt, 1, steps, optimizer=name)
                for name in OPTIMIZERS}
        runs[f"Adam, linear warmup {warmup}"] = seeded.config("sp", eta_trgt, warmup, steps)
        plan.update({(label, seed): cfg.replace(**ADAM_STATE) for label, cfg in runs.items()})
    return plan


def load_or_run_plan(experiment: str, plan: Mapping, root: str | Path) -> dict:
    """Each run of ``plan`` from the store, or trained in this process (with the measurements its
    config asks for, such as Adam's state).

    Args:
        experiment: the store's experiment folder.
        plan: key (a label, or a tuple) -> RunConfig.
        root: the results store's folder.

    Returns:
        Key -> RunResult.
    """
    return {label: store.load_or_run(experiment, cfg, root) for label, cfg in plan.items()}


# ---------------------------------------------------------------------------------------------------
# Reading the runs
# ---------------------------------------------------------------------------------------------------


def window_loss(loss: ArrayLike, start: int, stop: int) -> float:
    """The geometric mean of the training loss over steps start <= t < stop (non-finite values
    left out): a level that one step's noise or one small spike hardly moves.

    Args:
        loss: the per-step training loss.
        start, stop: the window.

    Returns:
        exp(mean_t ln L_t) over the window (NaN when it holds no finite positive loss).
    """
    window = finite(loss)[start:stop]
    window = window[np.isfinite(window) & (window > 0)]
    return float(np.exp(np.mean(np.log(window)))) if window.size else math.nan


def measure_mechanism(mechanism: Mapping[tuple[str, str, int], RunResult], rise: float,
                      within: int) -> pd.DataFrame:
    """One row of full-precision numbers per mechanism run, indexed by (param, optimizer, seed).

    Columns: lambda0_PH (the first measured lambda^{P^-1 H}); spike, the largest loss excursion
    above ``rise`` x the lowest loss so far that starts before step ``within``, as peak / that
    lowest loss (1: none); late_loss, :func:`window_loss` over the second half of the run;
    final_train_loss; final_train_accuracy.

    Args:
        mechanism: (parameterisation, optimizer, seed) -> run.
        rise: the excursion threshold of the spike detector.
        within: the first steps, where a first-step spike starts.

    Returns:
        The table, in the order of ``mechanism``.
    """
    rows = []
    for (param, optimizer, seed), result in mechanism.items():
        loss = result.records["loss"]
        rows.append({"param": param, "optimizer": optimizer, "seed": seed,
                     "lambda0_PH": float(measured(result.records, "pre_sharpness")[1][0]),
                     "spike": early_spike(loss, rise, within),
                     "late_loss": window_loss(loss, len(loss) // 2, len(loss)),
                     "final_train_loss": result.summary["final_train_loss"],
                     "final_train_accuracy": result.summary["final_train_accuracy"]})
    return pd.DataFrame(rows).set_index(["param", "optimizer", "seed"])


def reductions(measures: pd.DataFrame, optimizer: str) -> pd.Series:
    """Adam's lambda0_PH over ``optimizer``'s, per (param, seed)."""
    lambda0 = measures["lambda0_PH"]
    return lambda0.xs("adam", level="optimizer") / lambda0.xs(optimizer, level="optimizer")


def mechanism_table(measures: pd.DataFrame, eta: Mapping[str, float]) -> pd.DataFrame:
    """:func:`measure_mechanism` as the page shows it, one row per parameterisation and optimizer
    with each number as mean (min-max) over the seeds: lambda_0^{P^-1 H}, its reduction relative to
    Adam ("Adam / this"), the initial overshoot eta lambda_0^{P^-1 H} (stable below 38), the
    first-step spike, the late and final training losses and accuracy.

    Args:
        measures: the table of :func:`measure_mechanism`.
        eta: eta_trgt per parameterisation.

    Returns:
        One row per (param, optimizer).
    """
    rows = []
    for (param, optimizer), group in measures.groupby(level=["param", "optimizer"], sort=False):
        ratio = reductions(measures, optimizer).loc[param]
        rows.append({"param": PARAMETERISATIONS[param], "optimizer": OPTIMIZERS[optimizer], "seeds": len(group),
                     "lambda0_PH": seed_spread(group["lambda0_PH"], ".3g"),
                     "Adam / this": seed_spread(ratio, ".1f"),
                     "eta lambda0_PH": seed_spread(eta[param] * group["lambda0_PH"], ".3g"),
                     "first-step spike x": seed_spread(group["spike"], ".2f"),
                     "late train loss": seed_spread(group["late_loss"], ".2g"),
                     "final train loss": seed_spread(group["final_train_loss"], ".2g"),
                     "final train acc": seed_spread(group["final_train_accuracy"], ".3f")})
    return pd.DataFrame(rows)


def epsilon_free_ratios(experiment: str, plan: Mapping[tuple[str, str, int], RunConfig], root: str | Path,
                        eps: float = TINY_EPS) -> dict[str, list[float]]:
    """Adam's lambda_0^{P^-1 H} over GI-Adam's, measured at initialisation with Adam's eps set to
    ``eps`` (the limit eps -> 0, where full batch predicts exactly 1/sqrt(1 - beta2)); a
    measurement only, cached in the store.

    Args:
        experiment: the store's experiment folder.
        plan: the :func:`mechanism_plan`.
        root: the results store's folder.
        eps: Adam's epsilon for the measurement.

    Returns:
        Parameterisation -> the ratio for each seed of the plan, in its order.
    """
    def initial(param: str, optimizer: str, seed: int) -> float:
        cfg = plan[param, optimizer, seed].replace(**{"optim.eps": eps})
        return load_or_measure_initial_curvature(experiment, cfg, root=root)["lambda_PH"]

    seeds = list(dict.fromkeys(seed for _, _, seed in plan))
    return {param: [initial(param, "adam", seed) / initial(param, "gi_adam", seed) for seed in seeds]
            for param in PARAMETERISATIONS}


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


def implicit_window(steps: int) -> tuple[int, int]:
    """The steps over which the implicit-warmup runs are compared: [steps/4, steps/2), the end of
    GI-Adam's implicit warmup (sqrt(1 - beta2^t) = 0.63-0.80 at steps 1000-1600 for beta2 = 0.999)
    in the book's 2048 steps, where every loss is far above round-off.

    Args:
        steps: the runs' length.

    Returns:
        (start, stop).
    """
    return steps // 4, steps // 2


def measure_implicit(implicit: Mapping[tuple[str, int], RunResult], window: tuple[int, int]) -> pd.DataFrame:
    """One row per implicit-warmup run, indexed by (label, seed): window_loss (:func:`window_loss`
    over ``window``), final_train_loss, final_train_accuracy and outcome.

    Args:
        implicit: the :func:`implicit_plan` runs.
        window: (start, stop) of the compared steps.

    Returns:
        The table, in the order of ``implicit``.
    """
    rows = [{"label": label, "seed": seed, "window_loss": window_loss(result.records["loss"], *window),
             "final_train_loss": result.summary["final_train_loss"],
             "final_train_accuracy": result.summary["final_train_accuracy"], "outcome": result.summary["outcome"]}
            for (label, seed), result in implicit.items()]
    return pd.DataFrame(rows).set_index(["label", "seed"])


def implicit_ratio(implicit: pd.DataFrame, numerator: str, denominator: str) -> list[float]:
    """window_loss of the run ``numerator`` over that of ``denominator``, per seed (in order)."""
    loss = implicit["window_loss"]
    ratio = loss.xs(numerator, level="label") / loss.xs(denominator, level="label")
    return [float(value) for value in ratio.sort_index()]


def implicit_table(implicit: pd.DataFrame) -> pd.DataFrame:
    """:func:`measure_implicit` as the page shows it: one row per run label, mean (min-max) over seeds.

    Args:
        implicit: the table of :func:`measure_implicit`.

    Returns:
        One row per label.
    """
    rows = []
    for label, group in implicit.groupby(level="label", sort=False):
        rows.append({"run": label, "seeds": len(group), "window loss": seed_spread(group["window_loss"], ".2g"),
                     "final train loss": seed_spread(group["final_train_loss"], ".2g"),
                     "final train acc": seed_spread(group["final_train_accuracy"], ".3f"),
                     "outcome": ", ".join(f"{n} {name}" for name, n in group["outcome"].value_counts().items())})
    return pd.DataFrame(rows)


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


def implicit_figure(implicit: Mapping[str, RunResult], matched: int, sqrt_warmup: int | None = None) -> plt.Figure:
    """GI-Adam's implicit warmup: (a) each run's measured step (:func:`step_size`) with GI-Adam's
    sqrt(1 - beta2^{t+1}), the matching linear warmup's min(1, (t+1)/T_wrm) and (with
    ``sqrt_warmup``) the square-root warmup's min(1, sqrt((t+1)/T)) dotted, in the colours of their
    runs (second, third and fourth), and (b) the training loss.

    Args:
        implicit: one seed's :func:`implicit_plan` runs, by label, in its order.
        matched: T_wrm of the matching linear warmup.
        sqrt_warmup: T of the square-root warmup (None: not drawn).

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
    if sqrt_warmup is not None:
        ax_step.plot(t, np.minimum(1.0, np.sqrt((t + 1) / sqrt_warmup)), color=plots.COLORS[3], linestyle=":",
                     linewidth=1.6, label=rf"$\min(1, \sqrt{{(t+1)/{sqrt_warmup}}})$")
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


def claim_values(measures: pd.DataFrame, implicit: pd.DataFrame, labels: Mapping[str, str]) -> dict[str, list[float]]:
    """The per-seed value of each claims row of chapter 4 (``warmup_lib.claims.chapter04``).

    * 13a, 14a: Adam's lambda_0^{P^-1 H} over GI-Adam's (RI-Adam's), the smaller of the two
      parameterisations (13a >= 30, the full-batch 1/sqrt(1 - beta2) = 31.6 up to 5 %; 14a >= 10);
    * 13c, 14b: GI-Adam's (RI-Adam's) first-step spike, the larger of the two (< 2);
    * 13f, 13g: GI-Adam's window loss over that of Adam with the matching linear warmup (with the
      square-root warmup), per implicit seed (in [1/3, 3]);
    * 13h: Adam's (no warmup) window loss over GI-Adam's, per implicit seed (>= 3);
    * 14c: RI-Adam's late loss over Adam's, the larger of the two parameterisations (<= 1/2).

    Args:
        measures: the table of :func:`measure_mechanism` (all seeds).
        implicit: the table of :func:`measure_implicit` (all implicit seeds).
        labels: the implicit runs' labels by role (:func:`implicit_labels`).

    Returns:
        Row id -> one value per seed (mechanism seeds, or implicit seeds for 13f-13h), in order.
    """
    seeds = sorted(int(seed) for seed in measures.index.get_level_values("seed").unique())

    def over_params(series: pd.Series, pick) -> list[float]:
        return [float(pick(series.xs(seed, level="seed"))) for seed in seeds]

    late = measures["late_loss"]
    ri_gain = late.xs("ri_adam", level="optimizer") / late.xs("adam", level="optimizer")
    spikes = measures["spike"]
    return {
        "13a": over_params(reductions(measures, "gi_adam"), min),
        "13c": over_params(spikes.xs("gi_adam", level="optimizer"), max),
        "13f": implicit_ratio(implicit, labels["gi_adam"], labels["matched"]),
        "13g": implicit_ratio(implicit, labels["gi_adam"], labels["sqrt"]),
        "13h": implicit_ratio(implicit, labels["adam"], labels["gi_adam"]),
        "14a": over_params(reductions(measures, "ri_adam"), min),
        "14b": over_params(spikes.xs("ri_adam", level="optimizer"), max),
        "14c": over_params(ri_gain, max),
    }


def page_numbers(measures: pd.DataFrame, implicit: pd.DataFrame, labels: Mapping[str, str],
                 eps0_ratio: Mapping[str, Sequence[float]]) -> dict[str, str]:
    """The numbers the chapter's prose quotes from the mechanism and implicit-warmup runs, as text
    (mean (min-max) over the seeds).

    Args:
        measures: the table of :func:`measure_mechanism`.
        implicit: the table of :func:`measure_implicit`.
        labels: the implicit runs' labels by role (:func:`implicit_labels`).
        eps0_ratio: :func:`epsilon_free_ratios`.

    Returns:
        Glue name -> text.
    """
    out: dict[str, str] = {}
    for param, short in (("simple_mup", "mup"), ("sp", "sp")):
        for optimizer in OPTIMIZERS:
            runs = measures.xs((param, optimizer), level=("param", "optimizer"))
            out[f"gi_pre0_{short}_{optimizer}"] = seed_spread(runs["lambda0_PH"], ".2g")
            out[f"gi_spike_{short}_{optimizer}"] = seed_spread(runs["spike"], ".2f")
            out[f"gi_loss_{short}_{optimizer}"] = seed_spread(runs["final_train_loss"], ".2g")
            out[f"gi_late_{short}_{optimizer}"] = seed_spread(runs["late_loss"], ".2g")
        out[f"gi_ratio_{short}"] = seed_spread(reductions(measures, "gi_adam").loc[param], ".1f")
        out[f"gi_ri_ratio_{short}"] = seed_spread(reductions(measures, "ri_adam").loc[param], ".0f")
        late = measures["late_loss"]
        gain = (late.xs("ri_adam", level="optimizer") / late.xs("adam", level="optimizer")).loc[param]
        out[f"gi_ri_gain_{short}"] = seed_spread(gain, ".2f")
        out[f"gi_eps0_{short}"] = seed_spread(eps0_ratio[param], ".1f")
    table = implicit.groupby(level="label", sort=False)
    for role, label in labels.items():
        group = table.get_group(label)
        out[f"gi_window_{role}"] = seed_spread(group["window_loss"], ".2g")
        out[f"gi_final_{role}"] = seed_spread(group["final_train_loss"], ".2g")
        out[f"gi_acc_{role}"] = seed_spread(group["final_train_accuracy"], ".2f")
        failed = int((group["outcome"] != "converged").sum())
        out[f"gi_failed_{role}"] = f"{failed} of {len(group)}"
    for name, numerator, denominator in (("gi_vs_matched", "gi_adam", "matched"), ("gi_vs_sqrt", "gi_adam", "sqrt"),
                                         ("adam_vs_gi", "adam", "gi_adam"), ("sqrt_vs_matched", "sqrt", "matched")):
        out[name] = seed_spread(implicit_ratio(implicit, labels[numerator], labels[denominator]), ".2f")
    out["gi_implicit_seeds"] = str(len(implicit.index.get_level_values("seed").unique()))
    return out


def failure_numbers(first_failure: Mapping[str, RunResult], warmup: int, spike_steps: int) -> dict[str, str]:
    """The numbers the prose quotes from one seed's failure-preview runs: Adam's (no warmup) largest
    gradient norm and ||v_t||, ||v_t|| and its measured step half-way through the run (and GI-Adam's
    ||v_t|| there), its gradient norm and step at step min(100, T - 2), and the largest one-step loss
    rise after the first steps of Adam with the linear warmup (:func:`largest_loss_rise`).

    Args:
        first_failure: one seed's :func:`failure_plan` runs, by label.
        warmup: T_wrm of the warmed-up Adam run (its label).
        spike_steps: the first steps, whose rises do not count.

    Returns:
        Glue name -> text.
    """
    adam = first_failure["Adam, no warmup"]
    v, grad = finite(adam.records["v_norm"]), finite(adam.records["grad_norm"])
    step = step_size(adam)
    late, mid = len(v) // 2, min(100, len(v) - 2)
    jump, factor = largest_loss_rise(first_failure[f"Adam, linear warmup {warmup}"].records["loss"], after=spike_steps)
    gi_v = finite(first_failure["GI-Adam, no warmup"].records["v_norm"])
    return {"gi_fail_peak_grad": f"{np.nanmax(grad):.2g}", "gi_fail_v_peak": f"{np.nanmax(v):.2g}",
            "gi_fail_v_late": f"{v[late]:.2g}", "gi_fail_late_step": str(late), "gi_fail_mid_step": str(mid),
            "gi_fail_warm_jump": str(jump), "gi_fail_warm_jump_x": f"{factor:.0f}",
            "gi_fail_mid_grad": f"{grad[mid]:.2g}", "gi_fail_mid_update": f"{step[mid]:.1e}",
            "gi_fail_step_late": f"{step[late]:.1e}", "gi_fail_v_gi": f"{gi_v[late]:.2g}"}


def failure_outcomes(failure: Mapping[tuple[str, int], RunResult]) -> str:
    """Each failure-preview run's outcomes over the seeds, e.g. "Adam, no warmup: 3 failed (training
    accuracy 0.11 (0.10-0.12))", joined by semicolons.

    Args:
        failure: the :func:`failure_plan` runs.

    Returns:
        The text.
    """
    parts = []
    for label in dict.fromkeys(label for label, _ in failure):
        results = [result for (name, _), result in failure.items() if name == label]
        counts = pd.Series([result.summary["outcome"] for result in results]).value_counts()
        accuracy = seed_spread([result.summary["final_train_accuracy"] for result in results], ".2f")
        parts.append(f"{label}: " + ", ".join(f"{n} {name}" for name, n in counts.items())
                     + f" (training accuracy {accuracy})")
    return "; ".join(parts)
