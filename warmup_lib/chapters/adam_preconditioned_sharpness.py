"""Chapter 3, Adam's pre-conditioned sharpness (paper Sec. 4.2 and App. E, Figs. 2, 13 and 14).

Adam steps theta_{t+1} = theta_t - eta_t P_t^{-1} m_t with P_t = (1 - beta1^t) diag(sqrt(v_hat_t) + eps);
freezing P on a quadratic gives stability while the pre-conditioned sharpness
lambda^{P^-1 H} = lambda_max(P^{-1/2} H P^{-1/2}) < (2 + 2 beta1)/((1 - beta1) eta) = 38/eta, and the
sharpness lambda^H then plays no role (its own momentum threshold is (2 + 2 beta1)/eta = 3.8/eta).

* The run plan: :class:`AdamSetup` (the FCN, data and seed every run of chapters 3 and 4 shares)
  builds each :class:`~warmup_lib.config.RunConfig`; :func:`settings` names the chapter's three
  settings (full batch with MSE, minibatches with MSE, full batch with cross-entropy) and
  :func:`run_plan` crosses them with the parameterisations and warmups.
* The analysis: :func:`measure_runs` reads one row of numbers per run (initial lambda^{P^-1 H},
  first-step spike, late eta lambda^{P^-1 H}, largest eta lambda^H, ...) and
  :func:`summary_table` rounds it for the page; :func:`initial_curvature_scan` measures both
  sharpnesses at initialisation over widths.
* The figures (:func:`mechanism_figure`, :func:`width_scan_figure`) and the claims
  (:func:`claims`), whose criteria are stated in each row's docstring entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from warmup_lib import plots
from warmup_lib.analysis.records import early_spike, finite, late_spikes, measured
from warmup_lib.chapters import value_range  # noqa: F401 (the notebook's chapter.value_range)
from warmup_lib.claims import Claim
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.curvature import adam_threshold, momentum_threshold
from warmup_lib.runs.measure import load_or_measure_initial_curvature
from warmup_lib.runs.train import RunResult

PARAMETERISATIONS = {"simple_mup": "simple-muP", "sp": "SP"}  # config name -> name on the page
BETA1, BETA2 = 0.9, 0.999  # Adam's defaults, the paper's
ADAM_FACTOR = adam_threshold(1.0, BETA1)  # 38: lambda^{P^-1 H} is stable below 38 / eta
MOMENTUM_FACTOR = momentum_threshold(1.0, BETA1)  # 3.8: lambda^H is stable below (2 + 2 beta1) / eta
LATER_SPIKE_RATIO = 1.5  # a later loss spike counts from 1.5 x the lowest loss before it


@dataclass(frozen=True)
class AdamSetup:
    """What every run of the Adam chapters (3 and 4) shares: an FCN of ``depth`` layers and
    ``width`` units on the first ``n_train`` examples of ``dataset``, its seed, evaluation and device.

    Args:
        dataset: the data set's name (``DataConfig.name``).
        n_train: training examples of a full-batch run.
        n_test: test examples.
        data_root: where the data lives (None: the library's default).
        width: hidden width of the FCN.
        depth: number of layers of the FCN.
        seed: the run's seed.
        eval_every: evaluate every that many steps.
        device: "cpu" or "cuda".
    """

    dataset: str
    n_train: int
    n_test: int
    data_root: str | None
    width: int
    depth: int
    seed: int
    eval_every: int
    device: str

    def config(self, param: str, eta_trgt: float, warmup_steps: int, steps: int, optimizer: str = "adam",
               loss: str = "mse", batch_size: int | None = None, n_train: int | None = None,
               pre_sharpness_every: int = 0, sharpness_every: int = 0) -> RunConfig:
        """One run: a linear warmup eta_t = eta_trgt min(1, (t+1)/T_wrm) with Adam-type
        ``optimizer`` (beta1 = 0.9, beta2 = 0.999, eps = 1e-8).

        Args:
            param: the parameterisation ("simple_mup", "sp", ...).
            eta_trgt: the target learning rate.
            warmup_steps: T_wrm (1: no warmup).
            steps: number of updates.
            optimizer: "adam", "gi_adam" or "ri_adam".
            loss: "mse" or "xent".
            batch_size: minibatch size (None: full batch).
            n_train: training examples (None here means the setup's ``n_train``).
            pre_sharpness_every: measure lambda^{P^-1 H} every that many steps (0: never).
            sharpness_every: measure lambda^H every that many steps (0: never).

        Returns:
            The :class:`~warmup_lib.config.RunConfig`.
        """
        return RunConfig(
            data=DataConfig(name=self.dataset, n_train=self.n_train if n_train is None else n_train,
                            n_test=self.n_test, root=self.data_root),
            model=ModelConfig(arch="fcn", width=self.width, depth=self.depth, param=param),
            optim=OptimConfig(name=optimizer, beta1=BETA1, beta2=BETA2),
            schedule=ScheduleConfig(eta_trgt=eta_trgt, warmup_steps=warmup_steps),
            loss=loss, batch_size=batch_size, steps=steps, seed=self.seed, eval_every=self.eval_every,
            sharpness_every=sharpness_every, pre_sharpness_every=pre_sharpness_every, device=self.device)


@dataclass(frozen=True)
class Setting:
    """One of the chapter's settings: its label on the page, loss, batch, length, measurement
    intervals, warmups and eta_trgt per parameterisation."""

    label: str
    loss: str
    batch_size: int | None
    n_train: int | None  # None: every training example of the data set
    steps: int
    pre_sharpness_every: int
    sharpness_every: int
    warmups: tuple[int, ...]
    eta_trgt: Mapping[str, float]


def settings(n_train: int, steps: int, warmup_steps: Sequence[int], pre_sharpness_every: int,
             sharpness_every: int, eta: Mapping[str, float], xent_eta: Mapping[str, float],
             batch_size: int, batch_n_train: int | None, variant_steps: int,
             variant_warmup_steps: Sequence[int], variant_every: int) -> dict[str, Setting]:
    """The chapter's three settings: "main" (full batch, MSE: the paper's Fig. 2), "batch"
    (minibatches of ``batch_size`` out of ``batch_n_train`` examples, MSE: Fig. 13) and "xent" (full
    batch, cross-entropy: Fig. 14).  The two variants measure both sharpnesses every
    ``variant_every`` steps.

    Args:
        n_train: training examples of the full-batch settings.
        steps, warmup_steps, pre_sharpness_every, sharpness_every: the main setting's length,
            warmups and measurement intervals.
        eta: eta_trgt per parameterisation with MSE.
        xent_eta: eta_trgt per parameterisation with cross-entropy.
        batch_size, batch_n_train: the minibatch setting's batch and training examples (None: all).
        variant_steps, variant_warmup_steps, variant_every: the two variants' length, warmups and
            measurement interval.

    Returns:
        Setting id -> :class:`Setting`, in the order main, batch, xent.
    """
    variant_warmups = tuple(variant_warmup_steps)
    return {
        "main": Setting("full batch, MSE", "mse", None, n_train, steps, pre_sharpness_every, sharpness_every,
                        tuple(warmup_steps), dict(eta)),
        "batch": Setting(f"batch {batch_size}, MSE", "mse", batch_size, batch_n_train, variant_steps,
                         variant_every, variant_every, variant_warmups, dict(eta)),
        "xent": Setting("full batch, cross-entropy", "xent", None, n_train, variant_steps, variant_every,
                        variant_every, variant_warmups, dict(xent_eta)),
    }


def run_plan(setup: AdamSetup, chapter_settings: Mapping[str, Setting]) -> dict[tuple[str, str, int], RunConfig]:
    """Every run of the chapter: each setting x parameterisation x warmup, with Adam.

    Args:
        setup: the shared FCN, data and seed.
        chapter_settings: setting id -> :class:`Setting` (from :func:`settings`).

    Returns:
        (setting id, parameterisation, T_wrm) -> RunConfig, settings in order, then
        parameterisations (simple-muP, SP), then warmups.
    """
    return {(name, param, warmup): setup.config(param, setting.eta_trgt[param], warmup, setting.steps,
                                                loss=setting.loss, batch_size=setting.batch_size,
                                                n_train=setting.n_train,
                                                pre_sharpness_every=setting.pre_sharpness_every,
                                                sharpness_every=setting.sharpness_every)
            for name, setting in chapter_settings.items() for param in PARAMETERISATIONS
            for warmup in setting.warmups}


def late_median(result: RunResult, name: str) -> float:
    """The median of eta_t x ``name`` over the steps where it was measured in the second half of the
    run (steps >= steps_run // 2): where a sharpness sits relative to its threshold factor.

    Args:
        result: a stored run (``records`` with ``step``, ``lr`` and ``name``; ``summary["steps_run"]``).
        name: ``"pre_sharpness"`` or ``"sharpness"``.

    Returns:
        median_t eta_t lambda_t over the late measured steps.
    """
    step, value, eta = measured(result.records, name)
    late = step >= result.summary["steps_run"] // 2
    return float(np.median(eta[late] * value[late]))


def pre_sharpness_fall(result: RunResult, after: int) -> float:
    """The last measured lambda^{P^-1 H} over its largest value from step ``after`` on (or, in a run
    measured only before ``after``, from its last measurement on): below 1 when it ends below its peak.

    Args:
        result: a run that measured ``pre_sharpness``.
        after: the first step that counts (the first-step catapult comes before it).

    Returns:
        lambda_last / max_{t >= after} lambda_t.
    """
    step, value, _ = measured(result.records, "pre_sharpness")
    later = value[step >= min(after, step[-1])]
    return float(later[-1] / later.max())


def first_step_at_threshold(result: RunResult, name: str = "pre_sharpness",
                            factor: float = ADAM_FACTOR) -> int | None:
    """The first step t > 0 at which ``name`` reaches its threshold factor / eta_t, i.e.
    eta_t lambda_t >= factor (by default lambda^{P^-1 H} against 38/eta_t).

    Args:
        result: a run that measured ``name``.
        name: ``"pre_sharpness"`` (factor 38) or ``"sharpness"`` (factor 3.8).
        factor: the threshold factor.

    Returns:
        The step, or None when it never reaches the threshold after step 0.
    """
    step, value, eta = measured(result.records, name)
    crossing = step[(step > 0) & (eta * value >= factor)]
    return int(crossing[0]) if crossing.size else None


def measure_runs(runs: Mapping[tuple[str, str, int], RunResult], rise: float, within: int) -> pd.DataFrame:
    """One row of full-precision numbers per run, indexed by (setting, param, warmup).

    Columns: eta_trgt; lambda0_PH and lambda0_H (the first measured lambda^{P^-1 H} and lambda^H)
    and eta0_lambda0_PH = eta_0 lambda0_PH (stable below 38); spike, the largest loss excursion
    above ``rise`` x the lowest loss so far that starts before step ``within``, as peak / that
    lowest loss (1: none); later_spikes, excursions of at least 1.5 x from step ``within`` on;
    late_eta_lambda_PH (:func:`late_median`); max_eta_lambda_H = max_t eta_t lambda^H_t (stable
    below 3.8); pre_sharpness_fall (:func:`pre_sharpness_fall` after ``within``); final_train_loss;
    outcome.

    Args:
        runs: (setting id, parameterisation, T_wrm) -> the stored run.
        rise: the excursion threshold of the spike detector.
        within: the first steps, where a first-step spike starts.

    Returns:
        The table, in the order of ``runs``.
    """
    rows = []
    for (setting, param, warmup), result in runs.items():
        _, pre, eta_pre = measured(result.records, "pre_sharpness")
        _, sharpness, eta_h = measured(result.records, "sharpness")
        loss = result.records["loss"]
        rows.append({
            "setting": setting, "param": param, "warmup": warmup,
            "eta_trgt": result.summary["config"]["schedule"]["eta_trgt"],
            "lambda0_PH": float(pre[0]), "eta0_lambda0_PH": float(eta_pre[0] * pre[0]),
            "lambda0_H": float(sharpness[0]),
            "spike": early_spike(loss, rise, within),
            "later_spikes": late_spikes(loss, rise, after=within, min_ratio=LATER_SPIKE_RATIO),
            "late_eta_lambda_PH": late_median(result, "pre_sharpness"),
            "max_eta_lambda_H": float(np.max(eta_h * sharpness)),
            "pre_sharpness_fall": pre_sharpness_fall(result, within),
            "final_train_loss": result.summary["final_train_loss"], "outcome": result.summary["outcome"]})
    return pd.DataFrame(rows).set_index(["setting", "param", "warmup"])


def summary_table(measures: pd.DataFrame, chapter_settings: Mapping[str, Setting]) -> pd.DataFrame:
    """:func:`measure_runs` as the page shows it: settings and parameterisations by their labels,
    values rounded (3 significant digits, or 1 to 3 decimals).

    Args:
        measures: the table of :func:`measure_runs`.
        chapter_settings: setting id -> :class:`Setting` (for the labels).

    Returns:
        One row per run.
    """
    return pd.DataFrame([
        {"setting": chapter_settings[setting].label, "param": PARAMETERISATIONS[param], "T_wrm": int(warmup),
         "eta_trgt": float(row.eta_trgt), "lambda0_PH": float(f"{row.lambda0_PH:.3g}"),
         "eta_0 lambda0_PH": round(float(row.eta0_lambda0_PH), 1),
         "first-step spike x": round(float(row.spike), 2), "later spikes": int(row.later_spikes),
         "late eta lambda_PH": round(float(row.late_eta_lambda_PH), 1),
         "max eta lambda_H": round(float(row.max_eta_lambda_H), 3),
         "final train loss": float(f"{row.final_train_loss:.3g}"), "outcome": row.outcome}
        for (setting, param, warmup), row in measures.iterrows()])


def initial_curvature_scan(experiment: str, configs: Mapping[str, RunConfig], widths: Sequence[int],
                           root: str | Path) -> pd.DataFrame:
    """Both sharpnesses at initialisation (Adam before its first step) over widths, measured once
    and cached (:func:`~warmup_lib.runs.measure.load_or_measure_initial_curvature`).

    The participation ratio 1 / sum_i u_i^4 of the top unit eigenvector u of P^{-1/2} H P^{-1/2} is
    1 when u sits on one parameter and n when it is spread over all n.

    Args:
        experiment: the store's experiment folder (the cache lives there).
        configs: parameterisation -> the run whose initialisation is measured (its width is replaced).
        widths: the widths.
        root: the results store's folder.

    Returns:
        One row per (param label, width): parameters, lambda0_H and lambda0_PH (3 significant
        digits) and participation (1 decimal).
    """
    rows = []
    for param, cfg in configs.items():
        for width in widths:
            values = load_or_measure_initial_curvature(experiment, cfg.replace(**{"model.width": width}), root=root)
            rows.append({"param": PARAMETERISATIONS[param], "width": width, "parameters": values["num_params"],
                         "lambda0_H": float(f'{values["lambda_H"]:.3g}'),
                         "lambda0_PH": float(f'{values["lambda_PH"]:.3g}'),
                         "participation": round(values["participation"], 1)})
    return pd.DataFrame(rows)


def smallest_overshoot(scan: pd.DataFrame, eta: Mapping[str, float]) -> float:
    """min over the scan of eta_trgt lambda0_PH / 38: how far beyond Adam's threshold training
    without warmup starts, at the least.

    Args:
        scan: the table of :func:`initial_curvature_scan`.
        eta: eta_trgt per parameterisation.

    Returns:
        The smallest ratio.
    """
    eta_by_label = {PARAMETERISATIONS[param]: value for param, value in eta.items()}
    return float(min(row.lambda0_PH * eta_by_label[row.param] / ADAM_FACTOR for row in scan.itertuples()))


# ---------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------

PRE_LABEL = r"pre-cond. sharpness $\lambda^{P^{-1}H}_t$"
H_LABEL = r"sharpness $\lambda^H_t$"


def draw_runs(ax: plt.Axes, results: Mapping[str, RunResult], name: str, ylabel: str,
              factor: float | None = None) -> None:
    """Each run's column ``name`` against step, one colour per run, labelled by its key.

    A sharpness (``"pre_sharpness"``, ``"sharpness"``), measured every few steps, is drawn at its
    measurements (dots joined by lines) with, when ``factor`` is given, its threshold
    factor / eta_t dashed in the run's colour; any other column (``"loss"``, ``"grad_norm"``, ...) as
    a line with its non-finite values left out.  Log values; steps on a symmetric-log axis.

    Args:
        ax: the panel.
        results: legend label -> run.
        name: the records' column.
        ylabel: the panel's y label.
        factor: the threshold factor (38 for lambda^{P^-1 H}, 3.8 for lambda^H), or None.
    """
    for index, (label, result) in enumerate(results.items()):
        color = plots.COLORS[index % len(plots.COLORS)]
        records = result.records
        if name not in ("pre_sharpness", "sharpness"):
            ax.plot(records["step"], finite(records[name]), color=color, label=label)
            continue
        step, value, _ = measured(records, name)
        ax.plot(step, value, color=color, marker=".", markersize=2.5, label=label)  # lines join measurements
        if factor is not None:
            ax.plot(records["step"], factor / records["lr"], **{**plots.THRESHOLD_STYLE, "color": color},
                    alpha=0.8)
    ax.set(xlabel="step t", ylabel=ylabel, yscale="log")
    plots.log_step_axis(ax)


def mechanism_figure(runs: Mapping[tuple[str, str, int], RunResult], setting: str,
                     warmups: Sequence[int]) -> plt.Figure:
    """The paper's Fig. 2 (13, 14 for the variants): one row per parameterisation with (a) the
    training loss, (b) lambda^{P^-1 H}_t with 38/eta_t and (c) lambda^H_t with (2 + 2 beta1)/eta_t,
    one colour per warmup.

    Args:
        runs: (setting id, parameterisation, T_wrm) -> the stored run.
        setting: the setting id to draw.
        warmups: the warmups to draw.

    Returns:
        The figure (3 x 2 panels).
    """
    fig, axes = plots.figure(ncols=3, nrows=len(PARAMETERISATIONS))
    for row, (param, param_label) in enumerate(PARAMETERISATIONS.items()):
        results = {rf"$T_{{wrm}}$ = {warmup}": runs[setting, param, warmup] for warmup in warmups}
        ax_loss, ax_pre, ax_h = axes[3 * row: 3 * row + 3]
        draw_runs(ax_loss, results, "loss", f"training loss ({param_label})")
        draw_runs(ax_pre, results, "pre_sharpness", PRE_LABEL, ADAM_FACTOR)
        draw_runs(ax_h, results, "sharpness", H_LABEL, MOMENTUM_FACTOR)
        ax_loss.legend(loc="lower left")
    for ax, text in ((axes[1], r"dashed: $38/\eta_t$"), (axes[2], r"dashed: $(2+2\beta_1)/\eta_t$")):
        ax.text(0.97, 0.95, text, transform=ax.transAxes, ha="right", va="top", fontsize=8)
    plots.label_panels(axes)
    return fig


def width_scan_figure(scan: pd.DataFrame) -> plt.Figure:
    """Curvature at initialisation against width: (a) lambda0_PH (circles) and lambda0_H (squares,
    dashed), (b) the participation ratio of the top pre-conditioned eigenvector; one colour per
    parameterisation, log axes.

    Args:
        scan: the table of :func:`initial_curvature_scan`.

    Returns:
        The figure (2 panels).
    """
    widths = sorted(scan["width"].unique())
    fig, (ax_pre, ax_part) = plots.figure(ncols=2)
    for index, label in enumerate(PARAMETERISATIONS.values()):
        rows = scan[scan["param"] == label]
        color = plots.COLORS[index]
        ax_pre.plot(rows["width"], rows["lambda0_PH"], "o-", color=color,
                    label=rf"{label}: $\lambda_0^{{P^{{-1}}H}}$")
        ax_pre.plot(rows["width"], rows["lambda0_H"], "s--", color=color, label=rf"{label}: $\lambda_0^H$")
        ax_part.plot(rows["width"], rows["participation"], "o-", color=color, label=label)
    ax_pre.set(xscale="log", yscale="log", xlabel="width n", ylabel="value at initialisation", ylim=(1e-2, 1e9))
    ax_part.set(xscale="log", yscale="log", xlabel="width n", ylabel="participation ratio of top eigenvector")
    for ax in (ax_pre, ax_part):
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.minorticks_off()
    ax_pre.legend(loc="upper center", ncols=2, fontsize=7)
    ax_part.legend(loc="upper left")
    plots.label_panels((ax_pre, ax_part))
    return fig


# ---------------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------------


def claims(measures: pd.DataFrame, scan: pd.DataFrame, width: int, batch_size: int) -> list[Claim]:
    """The chapter's claims (5a)-(5k) and their criteria.

    (5a) lambda^H far below its threshold: max eta lambda^H over the main runs < 3.8 / 2.
    (5b, 5c) lambda^{P^-1 H} sits at 38/eta: every main run's late median eta lambda^{P^-1 H} in
    [19, 45].  (5d) without warmup (T_wrm = 1) the first steps spike: spike >= 2 in every
    parameterisation.  (5e) the longest warmup removes it: spike < 2.  (5f-5i) lambda_0^{P^-1 H} of
    the paper's order, 1e5 in simple-muP and 1e6 in SP: |log10 - 5| <= 0.5, |log10 - 6| <= 0.5, at
    the scan's widest width and at the book ``width`` (the main runs' first measurement).  (5j)
    with minibatches it settles below 38/eta: every late median < 30.  (5k) with cross-entropy it
    falls at the end: every run's last / max ratio < 0.1.

    Args:
        measures: the table of :func:`measure_runs` (settings "main", "batch", "xent").
        scan: the table of :func:`initial_curvature_scan`.
        width: the width of the chapter's runs.
        batch_size: the minibatch setting's batch size (for its row's text).

    Returns:
        The claims, in order.
    """
    main, batch, xent = (measures.loc[setting] for setting in ("main", "batch", "xent"))
    longest = main.index.get_level_values("warmup").max()
    max_h = float(main["max_eta_lambda_H"].max())
    late_min, late_max = float(main["late_eta_lambda_PH"].min()), float(main["late_eta_lambda_PH"].max())
    no_warmup_spike = float(min(main.loc[(param, 1), "spike"] for param in PARAMETERISATIONS))
    longest_spike = float(max(main.loc[(param, longest), "spike"] for param in PARAMETERISATIONS))
    widest = scan[scan["width"] == scan["width"].max()].set_index("param")["lambda0_PH"]
    wide_mup, wide_sp = (float(np.log10(widest[PARAMETERISATIONS[param]])) for param in PARAMETERISATIONS)
    log_mup, log_sp = (float(np.log10(main.loc[(param, 1), "lambda0_PH"])) for param in PARAMETERISATIONS)
    batch_late = float(batch["late_eta_lambda_PH"].max())
    xent_fall = float(xent["pre_sharpness_fall"].max())
    widest_width = int(scan["width"].max())
    return [
        Claim("5a", "full-batch Adam: lambda^H far below (2+2 beta1)/eta (max eta lambda^H, limit 3.8)",
              max_h, max_h < MOMENTUM_FACTOR / 2),
        Claim("5b", "lambda^{P^-1 H} settles at 38/eta (late median eta lambda^{P^-1 H}, min)", late_min,
              late_min >= 19),
        Claim("5c", "... and does not exceed it for long (late median eta lambda^{P^-1 H}, max)", late_max,
              late_max <= 45),
        Claim("5d", "T_wrm = 1: eta lambda_0^{P^-1 H} >> 38 and the loss spikes (smaller spike factor)",
              no_warmup_spike, no_warmup_spike >= 2),
        Claim("5e", "longest warmup removes the first-step spike (larger spike factor)", longest_spike,
              longest_spike < 2),
        Claim("5f", f"lambda_0^{{P^-1 H}} ~ 1e5 in simple-muP, width {widest_width} (log10)", wide_mup,
              abs(wide_mup - 5) <= 0.5),
        Claim("5g", f"lambda_0^{{P^-1 H}} ~ 1e6 in SP, width {widest_width} (log10)", wide_sp,
              abs(wide_sp - 6) <= 0.5),
        Claim("5h", f"lambda_0^{{P^-1 H}} ~ 1e5 in simple-muP, width {width} (log10)", log_mup,
              abs(log_mup - 5) <= 0.5),
        Claim("5i", f"lambda_0^{{P^-1 H}} ~ 1e6 in SP, width {width} (log10)", log_sp, abs(log_sp - 6) <= 0.5),
        Claim("5j", f"batch {batch_size}: late lambda^{{P^-1 H}} below 38/eta (max late median)", batch_late,
              batch_late < 30),
        Claim("5k", "cross-entropy: lambda^{P^-1 H} falls at the end (largest last/max ratio)", xent_fall,
              xent_fall < 0.1),
    ]
