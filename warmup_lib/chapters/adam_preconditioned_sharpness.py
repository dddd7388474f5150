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
* The figures (:func:`mechanism_figure`, :func:`width_scan_figure`), the claims rows' per-seed
  values (:func:`claim_values`; the rows and criteria are ``warmup_lib.claims.chapter03``) and the
  numbers the prose quotes (:func:`page_numbers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import math
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from warmup_lib import plots
from warmup_lib.analysis.records import early_spike, finite, late_spikes, measured
from warmup_lib.chapters import value_range  # noqa: F401 (the notebook's chapter.value_range)
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


def run_plan(setup: AdamSetup, chapter_settings: Mapping[str, Setting],
             seeds: Sequence[int] | None = None) -> dict[tuple[str, str, int, int], RunConfig]:
    """Every run of the chapter: each setting x parameterisation x warmup x seed, with Adam.

    Args:
        setup: the shared FCN and data (its ``seed`` is replaced by each of ``seeds``).
        chapter_settings: setting id -> :class:`Setting` (from :func:`settings`).
        seeds: the runs' seeds (None: the setup's seed alone).

    Returns:
        (setting id, parameterisation, T_wrm, seed) -> RunConfig, settings in order, then
        parameterisations (simple-muP, SP), then warmups, then seeds.
    """
    seeds = [setup.seed] if seeds is None else list(seeds)
    return {(name, param, warmup, seed): replace(setup, seed=seed).config(
                param, setting.eta_trgt[param], warmup, setting.steps, loss=setting.loss,
                batch_size=setting.batch_size, n_train=setting.n_train,
                pre_sharpness_every=setting.pre_sharpness_every, sharpness_every=setting.sharpness_every)
            for name, setting in chapter_settings.items() for param in PARAMETERISATIONS
            for warmup in setting.warmups for seed in seeds}


def seed_runs(runs: Mapping[tuple, RunResult], seed: int) -> dict[tuple, RunResult]:
    """The runs of one seed, keyed without it: a plan's (..., seed) keys -> (...).

    Args:
        runs: runs keyed by tuples whose last entry is the seed.
        seed: the seed to keep.

    Returns:
        The seed's runs, keyed by the rest of each key.
    """
    return {key[:-1]: result for key, result in runs.items() if key[-1] == seed}


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


def measure_runs(runs: Mapping[tuple[str, str, int, int], RunResult], rise: float, within: int) -> pd.DataFrame:
    """One row of full-precision numbers per run, indexed by (setting, param, warmup, seed).

    Columns: eta_trgt; lambda0_PH and lambda0_H (the first measured lambda^{P^-1 H} and lambda^H)
    and eta0_lambda0_PH = eta_0 lambda0_PH (stable below 38); spike, the largest loss excursion
    above ``rise`` x the lowest loss so far that starts before step ``within``, as peak / that
    lowest loss (1: none); largest_spike, the same over the whole run; later_spikes, excursions
    of at least 1.5 x from step ``within`` on; late_eta_lambda_PH (:func:`late_median`);
    max_eta_lambda_H = max_t eta_t lambda^H_t (stable below 3.8); min_PH, the smallest measured
    lambda^{P^-1 H}; cross_step (:func:`first_step_at_threshold`, NaN when never);
    pre_sharpness_fall (:func:`pre_sharpness_fall` after ``within``); final_train_loss; outcome.

    Args:
        runs: (setting id, parameterisation, T_wrm, seed) -> the stored run.
        rise: the excursion threshold of the spike detector.
        within: the first steps, where a first-step spike starts.

    Returns:
        The table, in the order of ``runs``.
    """
    rows = []
    for (setting, param, warmup, seed), result in runs.items():
        _, pre, eta_pre = measured(result.records, "pre_sharpness")
        _, sharpness, eta_h = measured(result.records, "sharpness")
        loss = result.records["loss"]
        crossing = first_step_at_threshold(result)
        rows.append({
            "setting": setting, "param": param, "warmup": warmup, "seed": seed,
            "eta_trgt": result.summary["config"]["schedule"]["eta_trgt"],
            "lambda0_PH": float(pre[0]), "eta0_lambda0_PH": float(eta_pre[0] * pre[0]),
            "lambda0_H": float(sharpness[0]),
            "spike": early_spike(loss, rise, within),
            "largest_spike": early_spike(loss, rise, len(loss)),
            "later_spikes": late_spikes(loss, rise, after=within, min_ratio=LATER_SPIKE_RATIO),
            "late_eta_lambda_PH": late_median(result, "pre_sharpness"),
            "max_eta_lambda_H": float(np.max(eta_h * sharpness)),
            "min_PH": float(np.min(pre)), "cross_step": math.nan if crossing is None else float(crossing),
            "pre_sharpness_fall": pre_sharpness_fall(result, within),
            "final_train_loss": result.summary["final_train_loss"], "outcome": result.summary["outcome"]})
    return pd.DataFrame(rows).set_index(["setting", "param", "warmup", "seed"])


def seed_spread(values: Iterable[float], spec: str = ".2g") -> str:
    """Seeds' values for a table or the prose: "mean (min-max)", or the value when all seeds agree.

    Args:
        values: one number per seed.
        spec: the format of each number.

    Returns:
        The text ("-" for no values).
    """
    values = [float(value) for value in values]
    if not values:
        return "-"
    if len({f"{value:{spec}}" for value in values}) == 1:
        return f"{values[0]:{spec}}"
    return f"{np.mean(values):{spec}} ({min(values):{spec}}-{max(values):{spec}})"


def summary_table(measures: pd.DataFrame, chapter_settings: Mapping[str, Setting]) -> pd.DataFrame:
    """:func:`measure_runs` as the page shows it: one row per setting, parameterisation and warmup,
    each number as the mean over the seeds with their range (:func:`seed_spread`).

    Args:
        measures: the table of :func:`measure_runs`.
        chapter_settings: setting id -> :class:`Setting` (for the labels).

    Returns:
        One row per (setting, param, warmup), in the order of ``measures``.
    """
    columns = {"lambda0_PH": ("lambda0_PH", ".3g"), "eta0_lambda0_PH": ("eta_0 lambda0_PH", ".3g"),
               "spike": ("first-step spike x", ".2f"), "largest_spike": ("largest spike x", ".2f"),
               "later_spikes": ("later spikes", ".0f"), "late_eta_lambda_PH": ("late eta lambda_PH", ".1f"),
               "max_eta_lambda_H": ("max eta lambda_H", ".3f"), "final_train_loss": ("final train loss", ".2g")}
    rows = []
    for (setting, param, warmup), group in measures.groupby(level=["setting", "param", "warmup"], sort=False):
        row = {"setting": chapter_settings[setting].label, "param": PARAMETERISATIONS[param], "T_wrm": int(warmup),
               "seeds": len(group)}
        row.update({label: seed_spread(group[column], spec) for column, (label, spec) in columns.items()})
        outcomes = group["outcome"].value_counts()
        row["outcome"] = ", ".join(f"{count} {name}" for name, count in outcomes.items())
        rows.append(row)
    return pd.DataFrame(rows)


def initial_curvature_scan(experiment: str, configs: Mapping[str, RunConfig], widths: Sequence[int],
                           root: str | Path, seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Both sharpnesses at initialisation (Adam before its first step) over widths and seeds,
    measured once and cached (:func:`~warmup_lib.runs.measure.load_or_measure_initial_curvature`).

    The participation ratio 1 / sum_i u_i^4 of the top unit eigenvector u of P^{-1/2} H P^{-1/2} is
    1 when u sits on one parameter and n when it is spread over all n.

    Args:
        experiment: the store's experiment folder (the cache lives there).
        configs: parameterisation -> the run whose initialisation is measured (its width and seed
            are replaced).
        widths: the widths.
        root: the results store's folder.
        seeds: the seeds (None: each config's own).

    Returns:
        One row per (param label, width, seed): parameters, lambda0_H and lambda0_PH (full
        precision) and participation.
    """
    rows = []
    for param, cfg in configs.items():
        for width in widths:
            for seed in ([cfg.seed] if seeds is None else seeds):
                values = load_or_measure_initial_curvature(
                    experiment, cfg.replace(**{"model.width": width, "seed": seed}), root=root)
                rows.append({"param": PARAMETERISATIONS[param], "width": width, "seed": seed,
                             "parameters": values["num_params"], "lambda0_H": float(values["lambda_H"]),
                             "lambda0_PH": float(values["lambda_PH"]),
                             "participation": float(values["participation"])})
    return pd.DataFrame(rows)


def scan_table(scan: pd.DataFrame) -> pd.DataFrame:
    """:func:`initial_curvature_scan` as the page shows it: one row per parameterisation and width,
    mean (min-max) over the seeds.

    Args:
        scan: the table of :func:`initial_curvature_scan`.

    Returns:
        One row per (param, width).
    """
    rows = []
    for (param, width), group in scan.groupby(["param", "width"], sort=False):
        rows.append({"param": param, "width": int(width), "seeds": len(group),
                     "parameters": int(group["parameters"].iloc[0]),
                     "lambda0_H": seed_spread(group["lambda0_H"], ".3g"),
                     "lambda0_PH": seed_spread(group["lambda0_PH"], ".2g"),
                     "participation": seed_spread(group["participation"], ".1f")})
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
    parameterisation, one line per seed (labelled once), log axes.

    Args:
        scan: the table of :func:`initial_curvature_scan` (without a ``seed`` column: one seed).

    Returns:
        The figure (2 panels).
    """
    scan = scan if "seed" in scan else scan.assign(seed=0)
    widths = sorted(scan["width"].unique())
    fig, (ax_pre, ax_part) = plots.figure(ncols=2)
    for index, label in enumerate(PARAMETERISATIONS.values()):
        color = plots.COLORS[index]
        for number, (_, rows) in enumerate(scan[scan["param"] == label].groupby("seed", sort=True)):
            first = number == 0
            ax_pre.plot(rows["width"], rows["lambda0_PH"], "o-", color=color, alpha=0.8,
                        label=rf"{label}: $\lambda_0^{{P^{{-1}}H}}$" if first else None)
            ax_pre.plot(rows["width"], rows["lambda0_H"], "s--", color=color, alpha=0.8,
                        label=rf"{label}: $\lambda_0^H$" if first else None)
            ax_part.plot(rows["width"], rows["participation"], "o-", color=color, alpha=0.8,
                         label=label if first else None)
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
# Claims and the prose's numbers
# ---------------------------------------------------------------------------------------------------

LATE_TARGET = ADAM_FACTOR  # 5b: the late median eta lambda^{P^-1 H} is read against 38


def _seeds(measures: pd.DataFrame) -> list[int]:
    return sorted(int(seed) for seed in measures.index.get_level_values("seed").unique())


def farthest_from(values: Iterable[float], target: float) -> float:
    """The value farthest from ``target`` on a log scale (max |ln(value / target)|).

    Args:
        values: positive numbers.
        target: the reference.

    Returns:
        That value.
    """
    values = [float(value) for value in values]
    return max(values, key=lambda value: abs(math.log(value / target)))


def widest_values(scan: pd.DataFrame, seed: int) -> tuple[int, dict[str, float]]:
    """The scan's widest width and lambda0_PH there per parameterisation label, for one seed."""
    width = int(scan["width"].max())
    rows = scan[(scan["width"] == width) & (scan["seed"] == seed)].set_index("param")["lambda0_PH"]
    return width, {label: float(rows[label]) for label in PARAMETERISATIONS.values()}


def width_growth(scan: pd.DataFrame, seed: int) -> float:
    """The smallest ratio lambda0_PH(next width) / lambda0_PH(width) over consecutive widths and
    both parameterisations, for one seed: above 1 when lambda0_PH grows with width throughout."""
    ratios = []
    for label in PARAMETERISATIONS.values():
        values = scan[(scan["param"] == label) & (scan["seed"] == seed)].sort_values("width")["lambda0_PH"]
        values = values.to_numpy(dtype=float)
        ratios.extend(values[1:] / values[:-1])
    return float(min(ratios))


def claim_values(measures: pd.DataFrame, scan: pd.DataFrame) -> dict[str, list[float]]:
    """The per-seed value of each claims row of chapter 3 (``warmup_lib.claims.chapter03``).

    * 5a: the largest eta lambda^H of the full-batch runs (criterion < 3.8 / 2);
    * 5b: the full-batch run whose late median eta lambda^{P^-1 H} is farthest from 38 (log scale):
      its value (in [19, 76], within a factor 2, when every run sits at 38);
    * 5d: the smaller first-step spike of the two parameterisations at T_wrm = 1 (>= 2);
    * 5e: the larger whole-run spike (largest excursion anywhere) of the longest warmup (< 2);
    * 5f, 5g: log10 lambda0_PH at the scan's widest width, simple-muP and SP;
    * 5h: SP's lambda0_PH over simple-muP's there;
    * 5i: :func:`width_growth`;
    * 5j: the largest late median of the minibatch runs (< 30);
    * 5k: the largest last/max lambda^{P^-1 H} of the cross-entropy runs (< 0.1).

    Args:
        measures: the table of :func:`measure_runs` (settings "main", "batch", "xent"; all seeds).
        scan: the table of :func:`initial_curvature_scan` over the same seeds.

    Returns:
        Row id -> one value per seed, seeds in increasing order.
    """
    values: dict[str, list[float]] = {key: [] for key in ("5a", "5b", "5d", "5e", "5f", "5g", "5h", "5i", "5j",
                                                          "5k")}
    for seed in _seeds(measures):
        by_seed = measures.xs(seed, level="seed")
        main, batch, xent = (by_seed.loc[setting] for setting in ("main", "batch", "xent"))
        longest = int(main.index.get_level_values("warmup").max())
        _, widest = widest_values(scan, seed)
        mup, sp = (widest[label] for label in PARAMETERISATIONS.values())
        values["5a"].append(float(main["max_eta_lambda_H"].max()))
        values["5b"].append(farthest_from(main["late_eta_lambda_PH"], LATE_TARGET))
        values["5d"].append(float(min(main.loc[(param, 1), "spike"] for param in PARAMETERISATIONS)))
        values["5e"].append(float(max(main.loc[(param, longest), "largest_spike"] for param in PARAMETERISATIONS)))
        values["5f"].append(math.log10(mup))
        values["5g"].append(math.log10(sp))
        values["5h"].append(sp / mup)
        values["5i"].append(width_growth(scan, seed))
        values["5j"].append(float(batch["late_eta_lambda_PH"].max()))
        values["5k"].append(float(xent["pre_sharpness_fall"].max()))
    return values


def page_numbers(measures: pd.DataFrame, scan: pd.DataFrame, eta: Mapping[str, float]) -> dict[str, str]:
    """The numbers the chapter's prose quotes, as text (mean (min-max) over the seeds, or a range).

    Args:
        measures: the table of :func:`measure_runs`.
        scan: the table of :func:`initial_curvature_scan`.
        eta: eta_trgt per parameterisation of the main setting.

    Returns:
        Glue name -> text.
    """
    out: dict[str, str] = {}
    main = measures.loc["main"]
    longest = int(main.index.get_level_values("warmup").max())
    for param, short in (("simple_mup", "mup"), ("sp", "sp")):
        no_warmup, warm = main.loc[(param, 1)], main.loc[(param, longest)]  # indexed by seed
        out[f"adam_pre0_{short}"] = seed_spread(no_warmup["lambda0_PH"], ".2g")
        out[f"adam_h0_{short}"] = seed_spread(no_warmup["lambda0_H"], ".3g")
        out[f"adam_thr_{short}"] = f"{ADAM_FACTOR / eta[param]:.0f}"
        out[f"adam_hthr_{short}"] = f"{MOMENTUM_FACTOR / eta[param]:.0f}"
        out[f"adam_over_{short}"] = seed_spread(no_warmup["eta0_lambda0_PH"], ".2g")
        out[f"adam_spike1_{short}"] = seed_spread(no_warmup["spike"], ".1f")
        out[f"adam_spikelong_{short}"] = seed_spread(warm["spike"], ".2f")
        out[f"adam_largestlong_{short}"] = seed_spread(warm["largest_spike"], ".2f")
        out[f"adam_laterlong_{short}"] = seed_spread(warm["later_spikes"], ".0f")
        out[f"adam_min_long_{short}"] = seed_spread(warm["min_PH"], ".2g")
        crossed = warm["cross_step"].dropna()
        out[f"adam_cross_long_{short}"] = "never" if crossed.empty else value_range(crossed, ".0f")
        out[f"adam_loss_gain_{short}"] = seed_spread(no_warmup["final_train_loss"] / warm["final_train_loss"], ".0f")
        out[f"adam_fall_{short}"] = seed_spread(no_warmup["eta0_lambda0_PH"] / ADAM_FACTOR, ".0f")
    out["adam_late_range"] = value_range(main["late_eta_lambda_PH"], ".0f")
    out["adam_max_h"] = f'{main["max_eta_lambda_H"].max():.2f}'
    batch, xent = measures.loc["batch"], measures.loc["xent"]
    out["adam_batch_late"] = value_range(batch["late_eta_lambda_PH"], ".0f")
    out["adam_xent_late"] = value_range(xent["late_eta_lambda_PH"], ".1f")
    out["adam_xent_fall"] = value_range(xent["pre_sharpness_fall"], ".2g")
    for name, variant, spec in (("batch", batch, ".1f"), ("xent", xent, ".2f")):
        for param, short in (("simple_mup", "mup"), ("sp", "sp")):
            out[f"adam_{name}_spike_{short}"] = seed_spread(variant.loc[(param, 1), "spike"], spec)
    for label, short in zip(PARAMETERISATIONS.values(), ("mup", "sp")):
        rows = scan[scan["param"] == label]
        out[f"adam_scan_{short}"] = value_range(rows["lambda0_PH"], ".2g")
        out[f"adam_scan_h_{short}"] = value_range(rows.groupby("width", sort=True)["lambda0_H"].mean(), ".3g")
    out["adam_scan_part"] = f'{scan["participation"].min():.1f}-{scan["participation"].max():.0f}'
    out["adam_scan_params"] = value_range(scan["parameters"], ",")
    widest_width = int(scan["width"].max())
    seeds = sorted(scan["seed"].unique())
    widest = [widest_values(scan, seed)[1] for seed in seeds]
    out["adam_widest"] = str(widest_width)
    out["adam_widest_mup"] = seed_spread([w["simple-muP"] for w in widest], ".2g")
    out["adam_widest_sp"] = seed_spread([w["SP"] for w in widest], ".2g")
    out["adam_widest_ratio"] = seed_spread([w["SP"] / w["simple-muP"] for w in widest], ".1f")
    out["adam_growth"] = seed_spread([width_growth(scan, seed) for seed in seeds], ".2f")
    no_warmup = main.xs(1, level="warmup")  # indexed by (param, seed)
    for name, column, spec in (("adam_h_ratio", "lambda0_H", ".0f"), ("adam_ph_ratio", "lambda0_PH", ".1f")):
        ratio = no_warmup.loc["sp", column] / no_warmup.loc["simple_mup", column]
        out[name] = seed_spread(ratio, spec)
    out["adam_scan_min_over"] = f"{smallest_overshoot(scan, eta):.0f}"
    return out
