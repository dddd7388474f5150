r"""The catapult primer (notebooks/01_catapult_primer.ipynb): the threshold 2/lambda on a quadratic,
the three regimes of the uv model, its eta_max, and what warmup does to the largest trainable rate.

Everything is computed by :mod:`warmup_lib.solvable` in float64; this module holds the chapter's
experiments on top of it (which runs, read how), the numbers its prose cites (``*_numbers``: glue
name -> value), its figures (``plot_*``) and the values of its textbook rows (:func:`seed_measurements`,
:func:`claim_values`; the rows are ``warmup_lib.claims.chapter01``).
Learning rates are given as multiples of 1/lambda_0 (``eta_lambda``) or, in the warmup maps, of
2/lambda_0, as in the chapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from warmup_lib import plots, solvable
from warmup_lib.analysis.phase import largest_trainable
from warmup_lib.analysis.trajectory import loss_excursions

REGIMES = {"lazy": 1.5, "catapult": 3.0, "divergent": 4.5}  # eta lambda_0, one per regime
ROUND_OFF = 1e-8  # losses below this fraction of L_0 are round-off, not the start of a catapult


def plot_quadratic(eta_lambdas: Sequence[float] = (0.5, 1.6, 1.9, 2.1), steps: int = 40) -> plt.Figure:
    r"""|x_t| of GD on L(x) = x^2/2 (lambda = 1) from x_0 = 1, one line per eta lambda, with the closed
    form x_t = (1 - eta lambda)^t x_0 as circles every 4 steps.

    Args:
        eta_lambdas: the learning rates, in units of 1/lambda.
        steps: GD steps.

    Returns:
        The figure (one panel, log scale).
    """
    curvature = torch.tensor([1.0], dtype=torch.float64)
    x0 = torch.tensor([1.0], dtype=torch.float64)
    fig, (ax,) = plots.figure()
    for index, eta_lambda in enumerate(eta_lambdas):
        color = plots.COLORS[index]
        iterates = solvable.quadratic_gd(curvature, eta_lambda, x0, steps)[:, 0].abs()
        closed_form = solvable.quadratic_closed_form(curvature, eta_lambda, x0, steps)[:, 0].abs()
        ax.semilogy(iterates, color=color, label=rf"$\eta\lambda$ = {eta_lambda}")
        ax.semilogy(range(0, steps + 1, 4), closed_form[::4], "o", color=color, markersize=3,
                    fillstyle="none")
    ax.set(xlabel="step t", ylabel=r"distance to the minimum $|x_t|$")
    ax.legend(title="lines: GD, circles: closed form", loc="lower left", ncols=2)
    return fig


def threshold_agreement(curvatures: torch.Tensor, etas: Sequence[float], steps: int) -> int:
    r"""On how many of ``etas`` GD on the diagonal quadratic sum_i lambda_i x_i^2 / 2 diverges exactly
    when eta > 2/lambda_max.  A run from x_0 = (1, ..., 1) counts as diverged when ||x_steps|| > ||x_0||.

    Args:
        curvatures: the lambda_i (float64).
        etas: learning rates.
        steps: GD steps per run.

    Returns:
        The number of learning rates where the run's fate agrees with eta > 2/lambda_max.
    """
    start = torch.ones(len(curvatures), dtype=torch.float64)
    threshold = 2 / curvatures.max().item()
    return sum(bool(solvable.quadratic_gd(curvatures, eta, start, steps)[-1].norm() > start.norm())
               == bool(eta > threshold) for eta in etas)


def catapult_peaks(loss: torch.Tensor, rise: float) -> list[int]:
    """The steps at which the loss excursions of one uv run peak (catapults), the last one included
    when the run ends or diverges during it; losses below :data:`ROUND_OFF` x L_0 start none.

    Args:
        loss: the run's loss L_t, t = 0..T.
        rise: the factor over the lowest loss so far that starts an excursion.

    Returns:
        The peak steps, in order.
    """
    return [excursion.peak for excursion in
            loss_excursions(loss, rise=rise, floor=ROUND_OFF, include_open=True)]


def constant_runs(u0: torch.Tensor, v0: torch.Tensor, data: solvable.UVData, eta_lambdas: Sequence[float],
                  lambda_0: float, steps: int, record_every: int = 1) -> solvable.UVTrajectory:
    """GD on the uv model at the constant rates eta = eta_lambda / lambda_0, one run per rate.

    Args:
        u0, v0, data: the model and its data (:mod:`warmup_lib.solvable`).
        eta_lambdas: the rates in units of 1/lambda_0.
        lambda_0: the initial kernel.
        steps: GD steps.
        record_every: sharpness every this many steps (and at the last).

    Returns:
        The runs' trajectories, in the order of ``eta_lambdas``.
    """
    etas = torch.tensor(list(eta_lambdas), dtype=torch.float64)[:, None] / lambda_0
    return solvable.uv_gd(u0, v0, data, etas.expand(-1, steps), record_every=record_every)


def plot_regimes(runs: solvable.UVTrajectory, regimes: Mapping[str, float],
                 peaks: Sequence[Sequence[int]]) -> plt.Figure:
    """Loss and sharpness of one run per regime with their 2/eta lines, catapult peaks marked (not for
    a run that diverged).

    Args:
        runs: the runs of :func:`constant_runs` at ``regimes``' rates.
        regimes: regime name -> eta lambda_0.
        peaks: each run's :func:`catapult_peaks`.

    Returns:
        The figure (two panels, log steps).
    """
    steps = np.arange(runs.loss.shape[1])
    trajectories = [
        plots.Trajectory(label=rf"{name}: $\eta\lambda_0$ = {eta_lambda:g}", step=steps,
                         loss=runs.loss[i].numpy(), sharpness=runs.sharpness[i].numpy(),
                         eta=runs.etas[i].numpy(), catapults=peaks[i] if runs.diverged_at[i] < 0 else ())
        for i, (name, eta_lambda) in enumerate(regimes.items())]
    return plots.plot_trajectories(trajectories, log_sharpness=True, log_steps=True, loss_floor=1e-12)


def regime_measurements(runs: solvable.UVTrajectory, peaks: Sequence[Sequence[int]]) -> dict[str, float]:
    r"""What the three regime runs (lazy, catapult, divergent, in that order) show.

    lazy_change = max_t |lambda^H_t / lambda^H_0 - 1| of the lazy run; for the catapult run, its first
    peak step, peak_ratio = L_peak / L_0, catapult_final = eta lambda^H_T and catapult_drop =
    lambda^H_T / lambda^H_0; diverged_at = the step at which the divergent run diverged.

    Args:
        runs: the three runs.
        peaks: each run's :func:`catapult_peaks`.

    Returns:
        name -> value.
    """
    lazy, catapult, divergent = 0, 1, 2
    peak_step = peaks[catapult][0]
    return {
        "lazy_change": (runs.sharpness[lazy] / runs.sharpness[lazy, 0] - 1).abs().max().item(),
        "peak_step": peak_step,
        "peak_ratio": (runs.loss[catapult, peak_step] / runs.loss[catapult, 0]).item(),
        "catapult_final": (runs.etas[catapult, -1] * runs.sharpness[catapult, -1]).item(),
        "catapult_drop": (runs.sharpness[catapult, -1] / runs.sharpness[catapult, 0]).item(),
        "diverged_at": int(runs.diverged_at[divergent]),
    }


def scan_limits(scan: Sequence[float], outcomes: Sequence[str]) -> tuple[float, float]:
    """The edges of the trainable range of a constant-rate scan.

    Args:
        scan: increasing rates (eta lambda_0).
        outcomes: each run's outcome (:func:`warmup_lib.solvable.uv_outcomes`).

    Returns:
        ``(eta_max, first_diverged)``: the largest rate below which every run converged (NaN if the
        first did not) and the first rate that diverged (NaN if none did).
    """
    eta_max = largest_trainable([float(eta) for eta in scan], outcomes, contiguous=True)
    first_diverged = float(scan[list(outcomes).index("diverged")]) if "diverged" in outcomes else float("nan")
    return eta_max, first_diverged


def plot_scan(scan: Sequence[float], runs: solvable.UVTrajectory, outcomes: Sequence[str],
              lambda_0: float) -> plt.Figure:
    r"""Final sharpness / lambda_0 against the constant rate eta lambda_0, coloured by outcome, with
    the stability curve 2/eta and grey lines at the regime boundaries 2 and 4.

    Args:
        scan: the rates (eta lambda_0).
        runs: their runs (:func:`constant_runs`).
        outcomes: their outcomes.
        lambda_0: the initial kernel.

    Returns:
        The figure (one panel).
    """
    fig, (ax,) = plots.figure()
    plots.plot_final_sharpness(ax, scan, (runs.sharpness[:, -1] / lambda_0).numpy(), outcomes, threshold=2.0)
    for boundary in (2.0, 4.0):
        ax.axvline(boundary, color="0.6", linewidth=0.8)
    ax.set(xlabel=r"learning rate $\eta\lambda_0$", ylabel=r"final sharpness $\lambda^H_T\,/\,\lambda_0$")
    return fig


def warmup_maps(models: Mapping[str, tuple], multiples: Sequence[float], warmup_steps: Sequence[int],
                extra_steps: int) -> tuple[dict[str, list[list[str]]], dict[str, list[float]]]:
    """Linear warmup over the grid eta_trgt = 2 multiple / lambda_0 x T_wrm, for each model.

    Args:
        models: name -> (u0, v0, data, lambda_0).
        multiples: eta_trgt in units of 2/lambda_0, increasing.
        warmup_steps: the T_wrm of the rows (each run lasts max(warmup_steps) + ``extra_steps`` steps).
        extra_steps: steps after the longest warmup.

    Returns:
        ``(outcomes, largest)``: per model the outcome grid (rows: T_wrm) and per row the largest
        multiple below which every target converged (NaN when the smallest did not).
    """
    outcomes, largest = {}, {}
    for name, (u0, v0, data, lambda_0) in models.items():
        eta_trgts = [2 * multiple / lambda_0 for multiple in multiples]
        outcomes[name] = solvable.warmup_sweep(u0, v0, data, eta_trgts, list(warmup_steps), extra_steps)
        largest[name] = [largest_trainable(multiples, row, contiguous=True) for row in outcomes[name]]
    return outcomes, largest


def plot_warmup_maps(outcomes: Mapping[str, Sequence[Sequence[str]]], multiples: Sequence[float],
                     warmup_steps: Sequence[int]) -> plt.Figure:
    """One outcome map (T_wrm x eta_trgt in units of 2/lambda_0) per model of :func:`warmup_maps`."""
    fig, axes = plots.figure(ncols=len(outcomes))
    for ax, (name, grid) in zip(axes, outcomes.items()):
        plots.plot_outcome_map(ax, multiples, warmup_steps, grid, eta_label=r"$\eta_{trgt}$ in units of $2/\lambda_0$")
        ax.set_title(name, loc="right")
    plots.label_panels(axes)
    return fig


def warmup_gains(largest: Mapping[str, Sequence[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """What warmup buys each model: the largest trainable multiple over all warmups, and its ratio to
    the one without warmup (the first row).

    Args:
        largest: per model the largest trainable multiple of each row (first row: T_wrm = 1).

    Returns:
        ``(best, ratio)``: per model max over rows (NaN-ignoring; NaN if no row has one) and best / first row.
    """
    best = {name: float(np.nanmax(values)) for name, values in largest.items()}
    return best, {name: best[name] / values[0] for name, values in largest.items()}


def warmup_demo(u0: torch.Tensor, v0: torch.Tensor, data: solvable.UVData, eta_trgt: float,
                warmup: int, extra_steps: int) -> solvable.UVTrajectory:
    """Two runs at ``eta_trgt`` for ``warmup + extra_steps`` steps: constant (T_wrm = 1) and with a
    linear warmup of ``warmup`` steps."""
    etas = solvable.linear_warmup_etas(torch.tensor([eta_trgt, eta_trgt], dtype=torch.float64),
                                       torch.tensor([1, warmup]), warmup + extra_steps)
    return solvable.uv_gd(u0, v0, data, etas)


def plot_demo(demo: solvable.UVTrajectory, warmup: int, peaks: Sequence[int]) -> plt.Figure:
    """Loss and sharpness of :func:`warmup_demo`'s two runs, the warmup run's catapult peaks marked."""
    steps = np.arange(demo.loss.shape[1])
    return plots.plot_trajectories([
        plots.Trajectory(label=r"constant $\eta$", step=steps, loss=demo.loss[0].numpy(),
                         sharpness=demo.sharpness[0].numpy(), eta=demo.etas[0].numpy()),
        plots.Trajectory(label=rf"warmup, $T_{{wrm}}$ = {warmup}", step=steps, loss=demo.loss[1].numpy(),
                         sharpness=demo.sharpness[1].numpy(), eta=demo.etas[1].numpy(), catapults=peaks),
    ], log_sharpness=True, loss_floor=1e-12)


def regime_numbers(lambda_0: float, sharpness_0: float, measured: Mapping[str, float]) -> dict[str, Any]:
    """The numbers the prose cites about the uv model's regimes (keys: glue names).

    Args:
        lambda_0: the initial kernel.
        sharpness_0: the initial sharpness.
        measured: :func:`regime_measurements`.

    Returns:
        glue name -> value.
    """
    return {"primer_lambda0": round(lambda_0, 4), "primer_sharpness0": round(sharpness_0, 4),
            "primer_lazy_change": float(f"{measured['lazy_change']:.1e}"),
            "primer_peak_step": measured["peak_step"], "primer_peak_ratio": round(measured["peak_ratio"]),
            "primer_catapult_final": round(measured["catapult_final"], 2),
            "primer_catapult_drop": round(measured["catapult_drop"], 2),
            "primer_diverged_at": measured["diverged_at"]}


def warmup_numbers(largest: Mapping[str, Sequence[float]], best: Mapping[str, float],
                   ratios: Mapping[str, float]) -> dict[str, Any]:
    """The numbers the prose cites about the warmup maps (keys: glue names); the models are named
    'one example' and 'linear teacher'.

    Args:
        largest, best, ratios: as :func:`warmup_maps` and :func:`warmup_gains` return them.

    Returns:
        glue name -> value.
    """
    return {"primer_one_no_warmup": largest["one example"][0], "primer_one_ratio": round(ratios["one example"], 2),
            "primer_teacher_no_warmup": largest["linear teacher"][0],
            "primer_teacher_best": best["linear teacher"],
            "primer_teacher_ratio": round(ratios["linear teacher"], 2)}


def demo_numbers(multiple: float, demo: solvable.UVTrajectory, peaks: Sequence[int]) -> dict[str, Any]:
    """The numbers the prose cites about the warmup run of :func:`warmup_demo` (keys: glue names):
    its target (units of 2/lambda_0), its catapults, the first one's step and the final eta lambda^H."""
    return {"primer_demo_multiple": multiple, "primer_demo_catapults": len(peaks),
            "primer_demo_first": peaks[0],
            "primer_demo_final": round((demo.etas[1, -1] * demo.sharpness[1, -1]).item(), 2)}


def seed_measurements(seed: int, width: int, steps: int, scan_step: float, teacher_width: int,
                      teacher_dim: int, teacher_examples: int, warmup_steps: Sequence[int],
                      eta_multiples: Sequence[float], extra_steps: int) -> dict[str, float]:
    """Everything the claims rows read from one seed: the uv model initialised with ``seed`` (and
    the linear teacher's data and network drawn with it), run as in the chapter.

    Args:
        seed: the seed of the uv initialisations and of the teacher data.
        width, steps, scan_step: the single-example model's width, steps per run and scan spacing
            (the scan covers eta lambda_0 = 0.25, 0.25 + scan_step, ... below 6).
        teacher_width, teacher_dim, teacher_examples: the teacher-data model.
        warmup_steps, eta_multiples, extra_steps: the warmup grid (:func:`warmup_maps`).

    Returns:
        lazy_change, peak_ratio, catapult_final (:func:`regime_measurements`; peak_ratio NaN when
        the catapult run shows no excursion), eta_max (:func:`scan_limits`), and the warmup gains
        ratio_one / ratio_teacher (:func:`warmup_gains`).
    """
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(width, seed=seed)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    runs = constant_runs(u0, v0, data, REGIMES.values(), lambda_0, steps)
    peaks = [catapult_peaks(loss, rise=2.0) for loss in runs.loss]
    if peaks[1]:
        measured = regime_measurements(runs, peaks)
    else:  # no catapult: measure the rest, the peak is missing
        measured = {**regime_measurements(runs, [peaks[0], [0], peaks[2]]), "peak_ratio": float("nan")}
    scan = np.arange(0.25, 6.0, scan_step)
    scan_runs = constant_runs(u0, v0, data, scan, lambda_0, steps, record_every=steps)
    eta_max, _ = scan_limits(scan, solvable.uv_outcomes(scan_runs))
    teacher = solvable.UVData.linear_teacher(teacher_examples, teacher_dim, seed=seed)
    teacher_u0, teacher_v0 = solvable.uv_init(teacher_width, teacher_dim, seed=seed)
    teacher_lambda_0 = solvable.uv_ntk_eigenvalue(teacher_u0, teacher_v0, teacher).item()
    models = {"one example": (u0, v0, data, lambda_0),
              "linear teacher": (teacher_u0, teacher_v0, teacher, teacher_lambda_0)}
    _, largest = warmup_maps(models, eta_multiples, warmup_steps, extra_steps)
    _, ratios = warmup_gains(largest)
    return {"lazy_change": measured["lazy_change"], "peak_ratio": measured["peak_ratio"],
            "catapult_final": measured["catapult_final"], "eta_max": eta_max,
            "ratio_one": ratios["one example"], "ratio_teacher": ratios["linear teacher"]}


def claim_values(agree: int, points: int, per_seed: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    """The values of the chapter's textbook rows (``warmup_lib.claims.chapter01``): one per seed,
    and one for the quadratic, which has no seed.

    T1a: the fraction of the quadratic's learning rates at which GD diverged exactly when
    eta > 2/lambda_max; T1b-T1d: the regime runs and the scan (lazy_change, peak_ratio,
    catapult_final, eta_max); T1e1 / T1e2: the warmup gain on the teacher data / the single example.

    Args:
        agree, points: :func:`threshold_agreement` and the number of rates it tried.
        per_seed: :func:`seed_measurements` of each seed, in the seeds' order.

    Returns:
        row id -> values.
    """
    column = {"T1b": "lazy_change", "T1c1": "peak_ratio", "T1c2": "catapult_final", "T1d": "eta_max",
              "T1e1": "ratio_teacher", "T1e2": "ratio_one"}
    return {"T1a": [agree / points],
            **{row: [float(seed[name]) for seed in per_seed] for row, name in column.items()}}


def seed_numbers(per_seed: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """The numbers the prose cites about the seeds (keys: glue names): their count, and the range
    (smallest, largest) over them of eta_max, of each warmup gain (2 decimals), of the catapult's
    peak ratio (an integer) and of the lazy run's largest sharpness change (2 significant digits),
    and how many seeds gain more than 1.2 x from warmup on each model.

    Args:
        per_seed: :func:`seed_measurements` of each seed.

    Returns:
        glue name -> value.
    """
    numbers: dict[str, Any] = {"primer_seeds": len(per_seed)}
    rounding = {"eta_max": lambda x: round(x, 2), "ratio_one": lambda x: round(x, 2),
                "ratio_teacher": lambda x: round(x, 2), "peak_ratio": round,
                "lazy_change": lambda x: float(f"{x:.1e}")}
    names = {"eta_max": "eta_max", "ratio_one": "one_ratio", "ratio_teacher": "teacher_ratio",
             "peak_ratio": "peak_ratio", "lazy_change": "lazy_change"}
    for key, name in names.items():
        values = [float(seed[key]) for seed in per_seed]
        numbers[f"primer_{name}_min"] = rounding[key](float(np.nanmin(values)))
        numbers[f"primer_{name}_max"] = rounding[key](float(np.nanmax(values)))
    numbers["primer_one_gaining"] = sum(float(seed["ratio_one"]) > 1.2 for seed in per_seed)
    numbers["primer_teacher_gaining"] = sum(float(seed["ratio_teacher"]) > 1.2 for seed in per_seed)
    return numbers
