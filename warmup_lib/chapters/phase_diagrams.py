"""The phase-diagram chapter's experiments: sweeps built from a notebook's parameters, the
authors' released WRN-16-4 Adam grids as reference, and the probed Adam failure traces.

A chapter's parameters (``warmup_lib.config.PRESETS[preset]["05_phase_diagrams"]``) name the data,
the model, the grids and the executor; :func:`sgd_sweeps` and :func:`adam_sweep` turn them into
:class:`warmup_lib.runs.sweep.Sweep` objects, one results-store experiment each, so that the book, smoke
and paper presets differ only in their parameters:

* SGD (the paper's Fig. 3, 21): one sweep per family (SP / muP x MSE / cross-entropy), eta_trgt =
  c / lambda_0 with c doubling from the family's first value until every T_wrm row diverges (or fails); the
  family named ``extras_family`` also gets the momentum and cosine-decay variants (Fig. 21).
* Adam vs GI-Adam (Fig. 4, 22-25 and the released grid): absolute eta_trgt = eta_start x 2^j,
  cross-entropy, cosine decay to eta_trgt / 10, doubling until every row diverges or fails; then
  Adam alone ``adam_beyond`` doublings further (:func:`adam_beyond_sweep`), and two Adam controls of
  GI-Adam's implicit warmup (:func:`control_sweeps`: the matched linear warmup, GI-Adam's mean rate).

:data:`TRACE_STATE` is what the probed failure traces record (config fields): Adam's state and what the
paper's App. G blames for Adam's failures (the share of the gradient carried by the readout bias, the fraction
of hidden units that are zero on the whole batch).  The statistics the chapter's claims are made of
(largest trainable eta, warmup gain, cell means, variance shares) are read by
:mod:`warmup_lib.analysis.phase`.

The chapter itself (notebooks/05_phase_diagrams.ipynb): :func:`run_sweeps` and
:func:`chapter_tables` load its runs; ``*_measurements`` read what its prose and claims cite
from the tables and traces, ``*_numbers`` format them for the prose (glue name -> value), the
``plot_*`` functions draw its figures and :func:`claim_values` gives each claims row of
:mod:`warmup_lib.claims.chapter05` its per-seed values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from warmup_lib import plots
from warmup_lib.analysis import phase
from warmup_lib.config import RunConfig
from warmup_lib.optim.adam_state import implicit_warmup_factor, matching_linear_warmup
from warmup_lib.runs import store
from warmup_lib.runs.store import thin_records
from warmup_lib.runs.sweep import Sweep, SweepResult, run_sweep
from warmup_lib.runs.train import RunResult

SGD_FAMILIES: dict[str, dict[str, str]] = {
    "sp_mse": {"model.param": "sp", "loss": "mse"},
    "sp_xent": {"model.param": "sp", "loss": "xent"},
    "mup_mse": {"model.param": "mup", "loss": "mse"},
    "mup_xent": {"model.param": "mup", "loss": "xent"},
}
ADAM_VARIANTS: dict[str, dict[str, str]] = {"adam": {}, "gi_adam": {"optim.name": "gi_adam"}}

# The authors' released WRN-16-4 runs (SP, CIFAR-10, cross-entropy, B = 128, 10^5 steps, linear
# warmup then cosine decay to eta/10, augmentation, one seed): best test accuracy, code digest
# section 7.  "adam" is optax.adam, "gi_adam" their grads_adam.  A failed run ('F') keeps its best
# accuracy where the digest lists it, NaN otherwise.
_RELEASED = {
    ("adam", 1): [0.936, 0.915, 0.879, "F"],
    ("adam", 1024): [0.947, 0.936, 0.924, 0.899, 0.857, ("F", 0.30)],
    ("gi_adam", 1): [0.943, 0.934, 0.924, 0.893, 0.845, "F", "F"],
    ("gi_adam", 1024): [0.941, 0.939, 0.927, 0.909, 0.878, ("F", 0.37), "F"],
}
RELEASED_ETA_START = 0.00512


def released_wrn_adam() -> pd.DataFrame:
    """The released grid as a table: variant, warmup_steps, eta_trgt (0.00512 x 2^j), outcome
    ('converged' | 'failed') and best_test_accuracy (NaN for a failed run without a listed best)."""
    rows = []
    for (variant, warmup), cells in _RELEASED.items():
        for j, cell in enumerate(cells):
            failed = cell == "F" or isinstance(cell, tuple)
            best = cell[1] if isinstance(cell, tuple) else (math.nan if cell == "F" else cell)
            rows.append({"variant": variant, "warmup_steps": warmup, "eta_trgt": RELEASED_ETA_START * 2**j,
                         "outcome": "failed" if failed else "converged", "best_test_accuracy": best})
    return pd.DataFrame(rows)


def compare_with_released(table: pd.DataFrame) -> pd.DataFrame:
    """Our Adam sweep table (seeds pooled: mean best accuracy over converged seeds, outcomes joined)
    next to the released grid, matched on (variant, T_wrm, eta_trgt to 6 significant digits)."""
    ours = table.assign(key=table["eta_trgt"].map(lambda v: float(f"{v:.6g}")))
    pooled = ours.groupby(["variant", "warmup_steps", "key"]).apply(
        lambda cell: pd.Series({"ours_best_test_accuracy": cell.loc[cell["outcome"] == "converged",
                                                                    "best_test_accuracy"].mean(),
                                "ours_outcomes": "/".join(sorted(set(cell["outcome"])))}),
        include_groups=False).reset_index()
    released = released_wrn_adam().rename(columns={"outcome": "released_outcome",
                                                   "best_test_accuracy": "released_best_test_accuracy"})
    released["key"] = released["eta_trgt"].map(lambda v: float(f"{v:.6g}"))
    merged = released.merge(pooled, on=["variant", "warmup_steps", "key"], how="outer")
    merged["eta_trgt"] = merged["key"]
    return merged.drop(columns="key").sort_values(["variant", "warmup_steps", "eta_trgt"]).reset_index(drop=True)


def base_config(params: Mapping[str, Any]) -> RunConfig:
    """The RunConfig every sweep of the chapter starts from, read from the parameters: data
    (``dataset``, ``n_train``, ``n_test``, ``augment``, ``data_root``, ``data_download``), model (``arch``, ``width``,
    ``depth``, ``widen``), ``batch_size``, ``steps``, ``eval_every``, ``device``."""
    return RunConfig().replace(**{
        "data.name": params["dataset"], "data.n_train": params["n_train"], "data.n_test": params["n_test"],
        "data.augment": params["augment"], "data.root": params["data_root"],
        "data.download": params["data_download"],
        "model.arch": params["arch"], "model.width": params["width"], "model.depth": params["depth"],
        "model.widen": params["widen"],
    }, batch_size=params["batch_size"], steps=params["steps"], eval_every=params["eval_every"],
        device=params["device"])


def _experiment(params: Mapping[str, Any], name: str) -> str:
    return f"05_{params['preset']}_{name}"


EXTRA_VARIANTS: dict[str, dict[str, Any]] = {
    "momentum": {"optim.momentum": None}, "cosine": {"schedule.decay": "cosine"},
    "momentum_cosine": {"optim.momentum": None, "schedule.decay": "cosine"},
}


def extra_variants(momentum: float) -> dict[str, dict[str, Any]]:
    """The paper's Fig. 21 variants of SGD: heavy-ball momentum (``momentum``), cosine decay, both."""
    return {name: {key: (momentum if key == "optim.momentum" else value) for key, value in overrides.items()}
            for name, overrides in EXTRA_VARIANTS.items()}


def sgd_sweeps(params: Mapping[str, Any]) -> dict[str, Sweep]:
    """One plain-SGD sweep per family of :data:`SGD_FAMILIES` and one sweep ``"extras"`` of the
    family ``extras_family`` with :func:`extra_variants`.

    eta_trgt = c / lambda_0 for c in ``sgd_eta[family]`` (``extras_eta`` for the extras) and then
    doubling (``extend``) until every T_wrm row (all ``seeds``) has diverged or failed (stuck at
    chance level without a NaN, as the authors' muP run at 2^6/lambda_0), at most
    ``max_extensions`` times; T_wrm in ``warmup_steps`` (``extras_warmup_steps``, a subset, so
    that plain SGD of the extras family serves as their baseline); constant rate after warmup
    unless the variant decays."""
    base = base_config(params)
    common = {"seeds": tuple(params["seeds"]), "extend": True, "stop_on": ("diverged", "failed"),
              "max_extensions": params["max_extensions"], "lambda0_batches": params["lambda0_batches"]}
    sweeps = {family: Sweep(experiment=_experiment(params, f"sgd_{family}"), base=base.replace(**overrides),
                            eta_trgt=tuple(params["sgd_eta"][family]), warmup_steps=tuple(params["warmup_steps"]),
                            variants={"sgd": {}}, **common)
              for family, overrides in SGD_FAMILIES.items()}
    family = params["extras_family"]
    sweeps["extras"] = Sweep(experiment=_experiment(params, f"sgd_{family}_extras"),
                             base=base.replace(**SGD_FAMILIES[family]), eta_trgt=tuple(params["extras_eta"]),
                             warmup_steps=tuple(params["extras_warmup_steps"]),
                             variants=extra_variants(params["momentum"]), **common)
    return sweeps


def adam_base(params: Mapping[str, Any]) -> RunConfig:
    """The Adam runs' config: SP, cross-entropy, cosine decay to eta_trgt / 10 after warmup."""
    return base_config(params).replace(**{"model.param": "sp", "optim.name": "adam", "schedule.decay": "cosine"},
                                       loss="xent")


def adam_sweep(params: Mapping[str, Any]) -> Sweep:
    """Adam vs GI-Adam (SP, cross-entropy, cosine decay): absolute eta_trgt = ``adam_eta_start`` x
    2^j for j < ``adam_eta_columns``, then doubling until every row diverges or fails; T_wrm in
    ``adam_warmup_steps``."""
    etas = tuple(params["adam_eta_start"] * 2**j for j in range(params["adam_eta_columns"]))
    return Sweep(experiment=_experiment(params, "adam"), base=adam_base(params), eta_trgt=etas, eta_unit="absolute",
                 warmup_steps=tuple(params["adam_warmup_steps"]), seeds=tuple(params["seeds"]),
                 variants=ADAM_VARIANTS, extend=True, stop_on=("diverged", "failed"),
                 max_extensions=params["max_extensions"])


def adam_beyond_sweep(params: Mapping[str, Any], adam: pd.DataFrame) -> Sweep:
    """Adam alone past the end of :func:`adam_sweep`'s grid: ``adam_beyond`` more doublings of its
    largest Adam column (where every Adam row had already failed or diverged), every T_wrm and seed,
    so that "fails rather than diverges" is tested on more than the first failing column.

    Args:
        params: the chapter's parameters.
        adam: the table of :func:`adam_sweep`.

    Returns:
        The sweep (no extension).
    """
    last = float(adam.loc[adam["variant"] == "adam", "eta_trgt"].max())
    etas = tuple(float(f"{last * 2**k:.6g}") for k in range(1, params["adam_beyond"] + 1))
    return Sweep(experiment=_experiment(params, "adam_beyond"), base=adam_base(params), eta_trgt=etas,
                 eta_unit="absolute", warmup_steps=tuple(params["adam_warmup_steps"]), seeds=tuple(params["seeds"]),
                 variants={"adam": {}})


def control_settings(steps: int, beta2: float = 0.999) -> dict[str, tuple[int, float]]:
    r"""The two Adam controls of GI-Adam's implicit warmup eta_t = eta_trgt sqrt(1 - beta2^(t+1)),
    as (T_wrm, factor on the nominal eta_trgt) of an ordinary Adam run of ``steps`` updates.

    * ``adam_matched``: Adam with the linear warmup that loses as much learning rate as GI-Adam's
      implicit one, T_match = :func:`~warmup_lib.optim.adam_state.matching_linear_warmup` (1227 steps
      at beta2 = 0.999).  When T_match > ``steps`` the warmup never ends; its first ``steps`` rates
      eta_trgt (t+1)/T_match are exactly a warmup of T_wrm = ``steps`` to eta_trgt steps/T_match
      (and the cosine decay, which starts after warmup, never begins).
    * ``adam_rate``: Adam without warmup at GI-Adam's mean rate over the run, eta_trgt times
      mean_{t < steps} sqrt(1 - beta2^(t+1)) (0.58 for 1000 steps), with the cosine decay.

    Args:
        steps: the runs' length.
        beta2: Adam's second-moment coefficient.

    Returns:
        name -> (T_wrm, factor).
    """
    match = matching_linear_warmup(beta2)
    matched = (match, 1.0) if match <= steps else (steps, steps / match)
    return {"adam_matched": matched, "adam_rate": (1, float(implicit_warmup_factor(np.arange(steps), beta2).mean()))}


CONTROL_LABELS = {"adam_matched": "Adam, matched warmup", "adam_rate": "Adam at GI's mean rate"}


def control_sweeps(params: Mapping[str, Any]) -> dict[str, Sweep]:
    """One Adam sweep per control of :func:`control_settings`: nominal eta_trgt =
    ``adam_control_eta`` x 2^j, doubling until every seed fails or diverges; the run's rate is the
    nominal one times the control's factor."""
    base = adam_base(params)
    sweeps = {}
    for name, (warmup, factor) in control_settings(params["steps"], base.optim.beta2).items():
        sweeps[name] = Sweep(experiment=_experiment(params, name), base=base,
                             eta_trgt=(params["adam_control_eta"] * factor,), eta_unit="absolute",
                             warmup_steps=(warmup,), seeds=tuple(params["seeds"]), variants={"adam": {}}, extend=True,
                             stop_on=("diverged", "failed"), max_extensions=params["max_extensions"])
    return sweeps


def control_table(table: pd.DataFrame, name: str, steps: int, beta2: float = 0.999) -> pd.DataFrame:
    """A control sweep's table on the nominal axis: variant ``name``, ``eta_trgt`` the nominal rate
    (the run's rate / the control's factor, 6 significant digits), ``eta_run`` the rate it ran at and
    ``warmup_steps`` the nominal T_wrm (T_match for the matched warmup)."""
    warmup, factor = control_settings(steps, beta2)[name]
    nominal = matching_linear_warmup(beta2) if name == "adam_matched" else warmup
    return table.assign(variant=name, eta_run=table["eta_trgt"], warmup_steps=nominal,
                        eta_trgt=(table["eta_trgt"] / factor).map(lambda v: float(f"{v:.6g}")))


# The probed failure traces' config fields: Adam's state at every step with the 'failure' columns m_norm,
# v_norm, v_hat_norm, grad_sq_norm, readout_bias_grad_share, dead_units and dead_units_last
# (:class:`~warmup_lib.optim.adam_state.AdamStateTracker`; no last_update_rms).
TRACE_STATE = {"adam_state_every": 1, "adam_state_columns": "failure"}


def trace_experiment(params: Mapping[str, Any]) -> str:
    """Store experiment of the probed failure traces (their configs carry :data:`TRACE_STATE`)."""
    return _experiment(params, "adam_probe")


# ---------------------------------------------------------------------------------------------------
# The chapter (notebooks/05_phase_diagrams.ipynb): loading, measurements, numbers for the prose,
# figures and claim criteria.
# ---------------------------------------------------------------------------------------------------

FAMILY_LABELS = {"sp_mse": "SP, MSE", "sp_xent": "SP, xent", "mup_mse": "muP, MSE", "mup_xent": "muP, xent"}
ADAM_TITLES = {"adam": "Adam", "gi_adam": r"GI-Adam ($v_0 = g_0^2$)"}  # the phase diagrams' titles
ADAM_LABELS = {"adam": "Adam", "gi_adam": "GI-Adam"}  # the slices' titles and legend


def run_sweeps(sweeps: Mapping[str, Sweep], root: str | Path, executor: str, workers: int | None,
               ray_address: str | None, records_every: int) -> dict[str, SweepResult]:
    """Load (or run, where the store lacks them) every sweep of the chapter, then thin the stored
    per-step records to every ``records_every``-th step (the heatmaps read summaries only).

    Args:
        sweeps: name -> sweep (:func:`sgd_sweeps` and :func:`adam_sweep`).
        root: the results store.
        executor, workers, ray_address: how missing runs are run
            (:func:`warmup_lib.runs.sweep.run_sweep`).
        records_every: keep every this many steps of each stored curve.

    Returns:
        name -> the sweep's result.
    """
    results = {name: run_sweep(sweep, executor=executor, root=root, progress=False, ray_address=ray_address,
                               workers=workers)
               for name, sweep in sweeps.items()}
    for sweep in sweeps.values():
        thin_records(sweep.experiment, root, every=records_every)
    return results


def chapter_tables(results: Mapping[str, SweepResult], extras_family: str, extras_warmup_steps: Sequence[int],
                   steps: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """The chapter's tables.

    Args:
        results: :func:`run_sweeps` of the SGD families, ``"extras"``, ``"adam"``, ``"beyond"``
            (:func:`adam_beyond_sweep`) and the controls (:func:`control_sweeps`).
        extras_family: the family whose variants the extras sweep runs.
        extras_warmup_steps: the extras' T_wrm rows.
        steps: the runs' length (the controls' factors depend on it).

    Returns:
        ``(sgd, extras, adam, controls)``: family -> plain-SGD table; the extras' table with the
        family's plain SGD runs on the extras' rows as variant 'sgd'; the Adam / GI-Adam table with
        Adam's runs past the grid; control name -> :func:`control_table`.
    """
    sgd = {family: results[family].table for family in FAMILY_LABELS}
    plain = sgd[extras_family]
    extras = pd.concat([plain[plain["warmup_steps"].isin(extras_warmup_steps)], results["extras"].table],
                       ignore_index=True)
    adam = pd.concat([results["adam"].table, results["beyond"].table], ignore_index=True)
    controls = {name: control_table(results[name].table, name, steps) for name in CONTROL_LABELS}
    return sgd, extras, adam, controls


def sgd_improvements(results: Mapping[str, SweepResult], root: str | Path) -> dict[str, float]:
    """:func:`improvements` of every plain-SGD run of the four families, by run id."""
    return {rid: value for family in FAMILY_LABELS for rid, value in improvements(results[family], root).items()}


def setup_numbers(params: Mapping[str, Any], sweeps: Mapping[str, Sweep], sgd: Mapping[str, pd.DataFrame],
                  root: str | Path) -> dict[str, Any]:
    """The numbers the prose cites about the set-up (keys: glue names): runs stored, seeds, width,
    steps, batch, Adam's first eta_trgt and each family's lambda_0 (mean over seeds, 3 digits)."""
    numbers = {"phase_total_runs": sum(len(store.list_runs(sweep.experiment, root)) for sweep in sweeps.values()),
               "phase_seeds": len(params["seeds"]), "phase_width": params["width"], "phase_steps": params["steps"],
               "phase_batch": params["batch_size"], "phase_adam_eta_start": f"{params['adam_eta_start']:g}"}
    for family, table in sgd.items():
        lambda_0 = table["lambda_0"].groupby(table["seed"]).first()
        numbers[f"phase_lambda0_{family}"] = f"{lambda_0.mean():.3g}"
    return numbers


def sgd_panels(sgd: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Panel title -> table: one panel per SGD family."""
    return {FAMILY_LABELS[family]: sgd[family] for family in FAMILY_LABELS}


def variant_labels(momentum: float) -> dict[str, str]:
    """The extras' variants and their names (plain SGD first)."""
    return {"sgd": "SGD", "momentum": f"momentum {momentum:g}", "cosine": "cosine decay",
            "momentum_cosine": "momentum + cosine"}


def extras_panels(extras: pd.DataFrame, extras_family: str, momentum: float) -> dict[str, pd.DataFrame]:
    """Panel title -> table: one panel per variant of the extras (:func:`variant_labels`)."""
    return {f"{FAMILY_LABELS[extras_family]}: {label}": extras[extras["variant"] == variant]
            for variant, label in variant_labels(momentum).items()}


def adam_panels(adam: pd.DataFrame, titles: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """Panel title -> table: one panel per Adam variant, titled by ``titles`` (variant -> title)."""
    return {title: adam[adam["variant"] == variant] for variant, title in titles.items()}


def plot_diagrams(panels: Mapping[str, pd.DataFrame], nrows: int, ncols: int,
                  figsize: tuple[float, float]) -> plt.Figure:
    """One phase diagram (:func:`warmup_lib.plots.plot_phase_diagram`, seeds' std) per panel.

    Args:
        panels: title -> table of one variant, in panel order.
        nrows, ncols: the panels' grid.
        figsize: the figure's size in inches.

    Returns:
        The figure, panels labelled (a), (b), ...
    """
    fig, axes = plots.figure(ncols=ncols, nrows=nrows, figsize=figsize)
    for ax, (title, table) in zip(axes, panels.items()):
        plots.plot_phase_diagram(ax, table, spread="std")
        ax.set_title(title, loc="right")
    plots.label_panels(axes)
    return fig


def plot_slices(panels: Mapping[str, pd.DataFrame], nrows: int, ncols: int, figsize: tuple[float, float],
                boundary: pd.DataFrame | None = None) -> plt.Figure:
    """Accuracy against eta_trgt per T_wrm (:func:`warmup_lib.plots.plot_phase_slices`), one panel per
    table, and with ``boundary`` one more panel: its largest trainable eta_trgt against T_wrm, one
    line per variant (:func:`warmup_lib.plots.plot_max_trainable`).

    Args:
        panels: title -> table of one variant, in panel order.
        nrows, ncols: the panels' grid.
        figsize: the figure's size in inches.
        boundary: a table whose ``variant`` column names the lines, or None.

    Returns:
        The figure, panels labelled (a), (b), ...
    """
    fig, axes = plots.figure(ncols=ncols, nrows=nrows, figsize=figsize)
    for ax, (title, table) in zip(axes, panels.items()):
        plots.plot_phase_slices(ax, table)
        ax.set_title(title, loc="right")
    if boundary is not None:
        plots.plot_max_trainable(axes[len(panels)], boundary)
    plots.label_panels(axes)
    return fig


def labelled(table: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """``table`` with its ``variant`` column renamed by ``labels`` (for legends)."""
    return table.assign(variant=table["variant"].map(labels))


def plot_sgd_boundaries(sgd: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """The largest trainable eta_trgt lambda_0 against T_wrm, one line per SGD family."""
    fig, (ax,) = plots.figure(figsize=(5.4, 3.8))
    combined = pd.concat([sgd[family].assign(variant=label) for family, label in FAMILY_LABELS.items()],
                         ignore_index=True)
    plots.plot_max_trainable(ax, combined)
    ax.set_ylabel(r"largest trainable $\eta_{trgt}\,\lambda_0$ (log$_2$)")
    return fig


def variant_measurements(table: pd.DataFrame, variant: str) -> dict[str, float]:
    """What a phase diagram of ``variant`` shows about warmup (rates on the table's eta axis).

    Args:
        table: a sweep table holding ``variant``.
        variant: the variant to read.

    Returns:
        gain (:func:`~warmup_lib.analysis.phase.warmup_gain`), cmax_first and cmax_last (eta_max at
        the shortest and the longest T_wrm, NaN where no seed trained), best and best_first (the
        best seed-mean accuracy over the diagram and at the shortest T_wrm) and eta_share
        (:func:`~warmup_lib.analysis.phase.variance_shares`).
    """
    rows = table[table["variant"] == variant]
    shortest, longest = rows["warmup_steps"].min(), rows["warmup_steps"].max()
    bound = phase.largest_trainable_eta(rows).set_index("warmup_steps")["eta_max"]
    cells = phase.cell_means(rows)
    return {"gain": phase.warmup_gain(rows, variant), "cmax_first": bound.get(shortest, math.nan),
            "cmax_last": bound.get(longest, math.nan), "best": cells["mean"].max(),
            "best_first": cells.loc[cells["warmup_steps"] == shortest, "mean"].max(),
            "eta_share": phase.variance_shares(rows, variant)["eta_share"]}


def sgd_numbers(measured: Mapping[str, Mapping[str, float]], longest_warmup: int) -> dict[str, Any]:
    """The numbers the prose cites about the SGD diagrams (keys: glue names).

    Args:
        measured: family -> :func:`variant_measurements`.
        longest_warmup: the longest T_wrm.

    Returns:
        glue name -> value.
    """
    numbers: dict[str, Any] = {"phase_longest_warmup": longest_warmup}
    for family, values in measured.items():
        numbers.update({f"phase_gain_{family}": f"{values['gain']:.1f}",
                        f"phase_cmax1_{family}": f"{values['cmax_first']:.3g}",
                        f"phase_cmaxT_{family}": f"{values['cmax_last']:.3g}",
                        f"phase_best_{family}": f"{values['best']:.3f}",
                        f"phase_best1_{family}": f"{values['best_first']:.3f}"})
    return numbers


def accuracy_change(cells: pd.DataFrame, variant: str) -> pd.Series:
    """Seed-mean accuracy of ``variant`` minus plain SGD's, per (T_wrm, eta) where both have a mean.

    Args:
        cells: seed means pivoted to index (warmup_steps, eta), one column per variant.
        variant: a column of ``cells``.

    Returns:
        The differences (empty when either variant is missing).
    """
    if variant not in cells or "sgd" not in cells:
        return pd.Series(dtype=float)
    return (cells[variant] - cells["sgd"]).dropna()


def at_smallest(values: pd.Series, smallest_eta: float) -> float:
    """Mean over the T_wrm rows of ``values`` (indexed by (warmup_steps, eta)) at eta =
    ``smallest_eta``, the grid's smallest rate (NaN if absent there)."""
    if values.empty:
        return float("nan")
    return float(values[values.index.get_level_values("eta") == smallest_eta].mean())


def at_largest(values: pd.Series) -> float:
    """Mean over the T_wrm rows of ``values`` (indexed by (warmup_steps, eta), eta increasing) at each
    row's largest eta (NaN when empty)."""
    if values.empty:
        return float("nan")
    return float(np.mean([row.iloc[-1] for _, row in values.groupby(level="warmup_steps")]))


def extras_measurements(extras: pd.DataFrame) -> dict[str, float]:
    """What momentum and cosine decay change in accuracy, against plain SGD on the same cells.

    Args:
        extras: the table of :func:`chapter_tables`.

    Returns:
        smallest_eta (the grid's smallest rate), cosine_small and momentum_small (the change at it,
        mean over rows) and cosine_large (the change at each row's largest rate where both trained,
        mean over rows); changes are fractions of accuracy.
    """
    cells = phase.cell_means(extras).pivot_table(index=["warmup_steps", "eta"], columns="variant", values="mean")
    smallest = cells.index.get_level_values("eta").min()
    cosine = accuracy_change(cells, "cosine")
    return {"smallest_eta": smallest, "cosine_small": at_smallest(cosine, smallest),
            "cosine_large": at_largest(cosine),
            "momentum_small": at_smallest(accuracy_change(cells, "momentum"), smallest)}


def extras_numbers(measured: Mapping[str, Mapping[str, float]], effects: Mapping[str, float]) -> dict[str, Any]:
    """The numbers the prose cites about momentum and cosine decay (keys: glue names).

    Args:
        measured: variant -> :func:`variant_measurements` on the extras' table.
        effects: :func:`extras_measurements`.

    Returns:
        glue name -> value (changes in accuracy points, signed).
    """
    numbers = {"phase_cosine_small": f"{100 * effects['cosine_small']:+.1f}",
               "phase_cosine_large": f"{100 * effects['cosine_large']:+.1f}",
               "phase_momentum_small": f"{100 * effects['momentum_small']:+.1f}",
               "phase_extras_small_eta": f"{effects['smallest_eta']:g}"}
    for variant, values in measured.items():
        numbers.update({f"phase_extras_cmax1_{variant}": f"{values['cmax_first']:.3g}",
                        f"phase_extras_best_{variant}": f"{values['best']:.3f}",
                        f"phase_extras_gain_{variant}": f"{values['gain']:.1f}"})
    return numbers


def adam_measurements(adam: pd.DataFrame, sgd: Mapping[str, pd.DataFrame], extras_family: str) -> dict[str, Any]:
    """What the Adam / GI-Adam diagrams show, with SGD's best-to-boundary distances for comparison.

    Args:
        adam: the Adam table.
        sgd: family -> plain-SGD table.
        extras_family: the SGD family compared with Adam (same loss and parametrisation).

    Returns:
        failed, diverged (Adam runs that did not converge, by outcome) and failed_share; warmups
        (sorted T_wrm), eta_max (variant -> [eta_max per T_wrm], NaN where none trained) and gi_gain
        ([GI-Adam / Adam eta_max per T_wrm]); adam_best_gap, sgd_best_gap and sp_mse_best_gap
        (:func:`~warmup_lib.analysis.phase.best_to_boundary`: doublings below the boundary of the best
        cell); gi_small_cost (GI-Adam minus Adam accuracy at the smallest rate, mean over rows).
    """
    ended = adam[(adam["outcome"] != "converged") & (adam["variant"] == "adam")]
    warmups = sorted(adam["warmup_steps"].unique())
    bound = phase.largest_trainable_eta(adam).set_index(["variant", "warmup_steps"])["eta_max"]
    eta_max = {variant: [bound.get((variant, warmup), math.nan) for warmup in warmups]
               for variant in ADAM_VARIANTS}
    cells = phase.cell_means(adam)
    smallest = cells[cells["eta"] == cells["eta"].min()].pivot(index="warmup_steps", columns="variant",
                                                              values="mean")
    return {"failed": int((ended["outcome"] == "failed").sum()), "diverged": int((ended["outcome"] == "diverged").sum()),
            "failed_share": float((ended["outcome"] == "failed").mean()) if len(ended) else float("nan"),
            "warmups": warmups, "eta_max": eta_max,
            "gi_gain": [gi / plain for gi, plain in zip(eta_max["gi_adam"], eta_max["adam"])],
            "adam_best_gap": phase.best_to_boundary(adam, "adam"),
            "sgd_best_gap": phase.best_to_boundary(sgd[extras_family], "sgd"),
            "sp_mse_best_gap": phase.best_to_boundary(sgd["sp_mse"], "sgd"),
            "gi_small_cost": float(np.mean(smallest.get("gi_adam", np.nan) - smallest.get("adam", np.nan)))}


def adam_numbers(measured: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers the prose cites about Adam and GI-Adam (keys: glue names), from :func:`adam_measurements`."""
    return {"phase_sp_mse_best_gap": f"{measured['sp_mse_best_gap']:.1f}", "phase_adam_failed": measured["failed"],
            "phase_adam_diverged": measured["diverged"],
            "phase_adam_max1": f"{measured['eta_max']['adam'][0]:.3g}",
            "phase_gi_max1": f"{measured['eta_max']['gi_adam'][0]:.3g}",
            "phase_gi_gain1": f"{measured['gi_gain'][0]:.1f}",
            "phase_gi_gains": ", ".join(f"{gain:.1f}" for gain in measured["gi_gain"]),
            "phase_adam_best_gap": f"{measured['adam_best_gap']:.1f}",
            "phase_sgd_best_gap": f"{measured['sgd_best_gap']:.1f}",
            "phase_adam_warmups": ", ".join(map(str, measured["warmups"])),
            "phase_adam_maxes": ", ".join(f"{eta:.3g}" for eta in measured["eta_max"]["adam"]),
            "phase_gi_small_cost": f"{100 * measured['gi_small_cost']:+.1f}"}


def failed_example(table: pd.DataFrame, seed: int) -> pd.Series:
    """The Adam run the chapter probes: without warmup (the shortest T_wrm), seed ``seed``, the
    smallest eta_trgt that failed (else the largest eta_trgt run).

    Args:
        table: the Adam table.
        seed: the seed.

    Returns:
        The table's row.
    """
    shortest = table.loc[table["variant"] == "adam", "warmup_steps"].min()
    rows = table[(table["variant"] == "adam") & (table["warmup_steps"] == shortest) & (table["seed"] == seed)]
    failed = rows[rows["outcome"] == "failed"].sort_values("eta_trgt")
    return (failed if len(failed) else rows.sort_values("eta_trgt", ascending=False)).iloc[0]


def probe_failure(example: pd.Series, adam_result: SweepResult, params: Mapping[str, Any],
                  root: str | Path) -> dict[str, RunResult]:
    """The run of ``example`` and GI-Adam at its config, re-run recording :data:`TRACE_STATE`.

    Args:
        example: a row of the Adam table (its run_id names the config).
        adam_result: the Adam sweep's result (its points hold the configs).
        params: the chapter's parameters (for :func:`trace_experiment`).
        root: the results store.

    Returns:
        'adam' and 'gi_adam' -> the probed run, loaded from or stored in :func:`trace_experiment`.
    """
    config_of = {store.run_id(point.config): point.config for point in adam_result.points}
    config = config_of[example["run_id"]]
    return {name: store.load_or_run(trace_experiment(params), config.replace(**{"optim.name": name}, **TRACE_STATE),
                                    root)
            for name in ADAM_VARIANTS}


def failure_measurements(records: Mapping[str, pd.DataFrame], steps: int) -> dict[str, float]:
    r"""What the probed traces show, over the last 10% of training (steps >= 0.9 ``steps``) where late.

    Args:
        records: 'adam' (the failed run) and 'gi_adam' -> per-step records with the probe's columns.
        steps: training steps per run.

    Returns:
        spike_step (step of Adam's largest gradient norm), spike (that norm / the initial one),
        collapse (that norm / the median late one: how far the failed run's gradient fell),
        memory_adam and memory_gi (median late ||v_hat|| / ||g o g||: > 1 when the step is divided by
        the memory of larger gradients), v_hat_ratio (median late ||v_hat|| of Adam / of GI-Adam: > 1
        when the failed run's second moment is the larger), dead and dead_gi (mean late fraction of dead
        units of the last hidden layer), bias_share (mean late readout-bias share of ||g||).
    """
    failed = records["adam"]
    late = {name: frame["step"] >= 0.9 * steps for name, frame in records.items()}
    memory = {name: float((frame.loc[late[name], "v_hat_norm"] / frame.loc[late[name], "grad_sq_norm"]).median())
              for name, frame in records.items()}
    v_hat = {name: float(frame.loc[late[name], "v_hat_norm"].median()) for name, frame in records.items()}
    return {"spike_step": int(failed.loc[failed["grad_norm"].idxmax(), "step"]),
            "spike": failed["grad_norm"].max() / failed["grad_norm"].iloc[0],
            "collapse": failed["grad_norm"].max() / float(failed.loc[late["adam"], "grad_norm"].median()),
            "memory_adam": memory["adam"], "memory_gi": memory["gi_adam"],
            "v_hat_ratio": v_hat["adam"] / v_hat["gi_adam"],
            "dead": float(failed.loc[late["adam"], "dead_units_last"].mean()),
            "dead_gi": float(records["gi_adam"].loc[late["gi_adam"], "dead_units_last"].mean()),
            "bias_share": float(failed.loc[late["adam"], "readout_bias_grad_share"].mean())}


def failure_numbers(example: pd.Series, probed: Mapping[str, RunResult],
                    measured: Mapping[str, float]) -> dict[str, Any]:
    """The numbers the prose cites about the probed failure (keys: glue names)."""
    return {"phase_trace_eta": f"{example['eta_trgt']:g}", "phase_trace_outcome": probed["adam"].summary["outcome"],
            "phase_trace_gi_outcome": probed["gi_adam"].summary["outcome"],
            "phase_trace_gi_acc": f"{probed['gi_adam'].summary['best_test_accuracy']:.3f}",
            "phase_trace_spike_step": measured["spike_step"], "phase_trace_spike": f"{measured['spike']:.0f}",
            "phase_trace_memory_adam": f"{measured['memory_adam']:.3g}",
            "phase_trace_memory_gi": f"{measured['memory_gi']:.3g}", "phase_trace_dead": f"{measured['dead']:.2f}",
            "phase_trace_dead_gi": f"{measured['dead_gi']:.2f}",
            "phase_trace_bias_share": f"{measured['bias_share']:.2f}"}


def plot_failure(records: Mapping[str, pd.DataFrame], steps: int) -> plt.Figure:
    r"""The probed traces of the failed Adam run and GI-Adam: (a) loss, (b) gradient norm, (c)
    ||v_hat_t|| and ||g_t o g_t||, (d) dead units of the last hidden layer and the readout bias's
    share of ||g||; steps on a symmetric-log axis, linear over the first 10 steps."""
    fig, axes = plots.figure(ncols=2, nrows=2, figsize=(9, 7.0))
    for index, (name, label) in enumerate((("adam", "Adam (failed)"), ("gi_adam", "GI-Adam"))):
        frame, color = records[name], plots.COLORS[index]
        axes[0].plot(frame["step"], frame["loss"], color=color, label=label)
        axes[1].plot(frame["step"], frame["grad_norm"], color=color, label=label)
        axes[2].plot(frame["step"], frame["v_hat_norm"], color=color, label=rf"{label}: $\|\hat v_t\|$")
        axes[2].plot(frame["step"], frame["grad_sq_norm"], color=color, linestyle=":", linewidth=0.8,
                     label=rf"{label}: $\|g_t \circ g_t\|$")
        axes[3].plot(frame["step"], frame["dead_units_last"], color=color, label=f"{label}: dead units")
        axes[3].plot(frame["step"], frame["readout_bias_grad_share"], color=color, linestyle="--",
                     label=f"{label}: readout-bias share of $\\|g\\|$")
    for ax, ylabel in zip(axes, ("training loss", r"gradient norm $\|g_t\|$",
                                 r"$\|\hat v_t\|$ and $\|g_t \circ g_t\|$", "fraction")):
        ax.set(xlabel="step t", ylabel=ylabel)
        ax.set_xscale("symlog", linthresh=10)  # linear over the first 10 steps, where the spike happens
        ax.set_xlim(0, steps)
    for ax in axes[:3]:
        ax.set_yscale("log")
    axes[0].legend(loc="best")
    axes[2].legend(loc="upper right", fontsize=7)
    axes[3].legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=7)
    plots.label_panels(axes)
    return fig


def released_reference() -> pd.DataFrame:
    """The released grid as the chapter prints it: best test accuracy per (variant, T_wrm) row and
    eta_trgt column, 'F' for a failed run (with its best accuracy in brackets where listed)."""
    released = released_wrn_adam()
    failed = "F" + released["best_test_accuracy"].map(lambda best: "" if math.isnan(best) else f" ({best:.2f})")
    best = released["best_test_accuracy"].map(lambda best: f"{best:.3f}").where(released["outcome"] == "converged",
                                                                                  failed)
    return released.assign(best=best).pivot(index=["variant", "warmup_steps"], columns="eta_trgt",
                                            values="best").fillna("")


# ---------------------------------------------------------------------------------------------------
# Per-seed values of the claims rows (warmup_lib.claims.chapter05): each row gets one number per seed
# (rows over several settings: one per setting and seed), computed by the functions below.
# ---------------------------------------------------------------------------------------------------


def seed_bounds(table: pd.DataFrame) -> pd.Series:
    """Each seed's largest trainable eta (:func:`~warmup_lib.analysis.phase.largest_trainable`, on
    the table's eta axis) per (variant, warmup_steps, seed); NaN where the seed trained at no eta."""
    eta = phase.eta_axis(table)
    return table.groupby(["variant", "warmup_steps", "seed"]).apply(
        lambda runs: phase.largest_trainable(runs[eta], runs["outcome"]), include_groups=False)


def seed_gains(table: pd.DataFrame, variant: str) -> pd.Series:
    """Per seed, eta_max at the longest T_wrm / eta_max at the shortest (the warmup gain of one seed;
    NaN when the seed trained at no eta in either row)."""
    bounds = seed_bounds(table).loc[variant].unstack("seed")
    return bounds.iloc[-1] / bounds.iloc[0]


def seed_ratio(numerator: pd.DataFrame, denominator: pd.DataFrame, variants: tuple[str, str],
               seeds: Sequence[int]) -> list[float]:
    """Per seed, eta_max of ``variants[0]`` in ``numerator`` / eta_max of ``variants[1]`` in
    ``denominator``, each at its table's shortest T_wrm (no warmup; a control's single row)."""
    values = []
    for seed in seeds:
        pair = []
        for table, variant in zip((numerator, denominator), variants):
            bounds = seed_bounds(table[table["variant"] == variant]).loc[variant]
            pair.append(bounds.loc[bounds.index.get_level_values("warmup_steps").min()].get(seed, math.nan))
        values.append(pair[0] / pair[1])
    return values


def loss_improvement(evals: pd.DataFrame, steps: int) -> float:
    """How much the training loss still fell over the last fifth of a run: (L_a - L_T) / L_a, with L_T
    the full-training-set loss at the last evaluation (step ``steps``) and L_a at the last evaluation at
    or before 0.8 ``steps``; NaN when either is missing (a run that did not reach its end)."""
    loss = evals.set_index("step")["train_loss"]
    before = loss[loss.index <= 0.8 * steps]
    if steps not in loss.index or before.empty:
        return math.nan
    return float((before.iloc[-1] - loss.loc[steps]) / before.iloc[-1])


def improvements(result: SweepResult, root: str | Path) -> pd.Series:
    """:func:`loss_improvement` of every run of a sweep, by run id (read from the stored evaluations)."""
    steps = result.sweep.base.steps
    return pd.Series({store.run_id(point.config): loss_improvement(
        pd.read_csv(store.run_dir(result.sweep.experiment, point.config, root) / store.EVALS_FILE), steps)
        for point in result.points})


def trained_share(table: pd.DataFrame, variant: str, improvement: Mapping[str, float], tol: float,
                  seed: int) -> float:
    """eta_trgt's share of the variance of one seed's accuracy over the interior of its diagram
    (:func:`~warmup_lib.analysis.phase.variance_shares`, margin one doubling), keeping only the eta
    columns where every T_wrm row's run has *trained out*: its training loss fell by less than ``tol``
    over the last fifth of the run (``improvement``, by run id).  NaN with fewer than two such columns."""
    rows = table[(table["variant"] == variant) & (table["seed"] == seed)]
    trained = rows["run_id"].map(lambda rid: improvement.get(rid, math.nan) < tol)
    return phase.variance_shares(rows.assign(best_test_accuracy=rows["best_test_accuracy"].where(trained)),
                                 variant)["eta_share"]


def seed_gap(table: pd.DataFrame, seed: int) -> float:
    """One seed's best accuracy over the diagram minus its best at the shortest T_wrm (converged runs)."""
    rows = table[(table["seed"] == seed) & (table["outcome"] == "converged")]
    return float(rows["best_test_accuracy"].max()
                 - rows.loc[rows["warmup_steps"] == rows["warmup_steps"].min(), "best_test_accuracy"].max())


def failed_share(adam: pd.DataFrame, seed: int) -> float:
    """Of one seed's Adam runs that did not converge, the share that failed (NaN when all converged)."""
    ended = adam[(adam["variant"] == "adam") & (adam["seed"] == seed) & (adam["outcome"] != "converged")]
    return float((ended["outcome"] == "failed").mean()) if len(ended) else math.nan


def seed_best_gap(table: pd.DataFrame, variant: str, seed: int) -> float:
    """:func:`~warmup_lib.analysis.phase.best_to_boundary` of one seed (its own best cells and boundary)."""
    return phase.best_to_boundary(table[table["seed"] == seed], variant)


def gi_accuracy_change(adam: pd.DataFrame, seed: int) -> pd.Series:
    """One seed's GI-Adam minus Adam best test accuracy per eta_trgt, mean over the T_wrm rows where
    both converged."""
    cells = phase.cell_means(adam[adam["seed"] == seed]).pivot_table(
        index=["warmup_steps", "eta"], columns="variant", values="mean")
    if "gi_adam" not in cells or "adam" not in cells:
        return pd.Series(dtype=float)
    return (cells["gi_adam"] - cells["adam"]).dropna().groupby(level="eta").mean()


def claim_values(sgd: Mapping[str, pd.DataFrame], extras: pd.DataFrame, adam: pd.DataFrame,
                 controls: Mapping[str, pd.DataFrame], traces: Sequence[Mapping[str, float]],
                 improvement: Mapping[str, float], tol: float, extras_family: str,
                 seeds: Sequence[int]) -> dict[str, list[float]]:
    """Every claims row of the chapter (:mod:`warmup_lib.claims.chapter05`): row id -> one value per
    seed, in ``seeds`` order; the rows over several settings (6a and 7: the four SGD families, 8a: the
    two muP ones, 8b: the two SP ones) one value per setting and seed, setting-major.

    Args:
        sgd: family -> plain-SGD table (:data:`FAMILY_LABELS` order).
        extras: the extras' table (:func:`chapter_tables`).
        adam: the Adam / GI-Adam table with Adam's runs past the grid (:func:`adam_beyond_sweep`).
        controls: control name -> :func:`control_table`.
        traces: one :func:`failure_measurements` per seed (the probed failures).
        improvement: run id -> :func:`loss_improvement` of the SGD runs.
        tol: the training-loss fall below which a run has trained out.
        extras_family: the SGD family of the extras (compared with Adam in 10f).
        seeds: the seeds.

    Returns:
        row id -> values.
    """
    gains = {family: seed_gains(table, "sgd") for family, table in sgd.items()}
    gaps = {family: [seed_gap(table, seed) for seed in seeds] for family, table in sgd.items()}
    plain = adam[adam["variant"] == "adam"]
    gi_change = [gi_accuracy_change(adam, seed) for seed in seeds]
    effects = [extras_measurements(extras[extras["seed"] == seed]) for seed in seeds]
    return {
        "6a": [gains[family].get(seed, math.nan) for family in FAMILY_LABELS for seed in seeds],
        "6b": [gains["sp_mse"].get(seed, math.nan) / max(gains[family].get(seed, math.nan)
                                                         for family in FAMILY_LABELS if family != "sp_mse")
               for seed in seeds],
        "6c": [seed_gains(plain, "adam").get(seed, math.nan) for seed in seeds],
        "7": [trained_share(sgd[family], "sgd", improvement, tol, seed) for family in FAMILY_LABELS for seed in seeds],
        "8a": [*gaps["mup_mse"], *gaps["mup_xent"]],
        "8b": [*gaps["sp_mse"], *gaps["sp_xent"]],
        "10a": [failed_share(adam, seed) for seed in seeds],
        "10b": [trace["v_hat_ratio"] for trace in traces],
        "10e": [trace["collapse"] for trace in traces],
        "10c": [trace["dead"] for trace in traces],
        "10d": [seed_best_gap(adam, "adam", seed) for seed in seeds],
        "10f": [seed_best_gap(sgd[extras_family], "sgd", seed) for seed in seeds],
        "11a": seed_ratio(extras, extras, ("momentum", "sgd"), seeds),
        "11b": [effect["cosine_small"] for effect in effects],
        "11c": [effect["cosine_large"] for effect in effects],
        "13": seed_ratio(adam, adam, ("gi_adam", "adam"), seeds),
        "13w": seed_ratio(adam, controls["adam_matched"], ("gi_adam", "adam_matched"), seeds),
        "13r": seed_ratio(adam, controls["adam_rate"], ("gi_adam", "adam_rate"), seeds),
        "13i": [float(change.min()) if len(change) else math.nan for change in gi_change],
    }


def seeds_text(values: Sequence[float], digits: int = 2) -> str:
    """Per-seed values as the prose lists them: ``digits`` significant digits joined by ', ' ('nan'
    for a value that could not be measured)."""
    return ", ".join("nan" if math.isnan(value) else f"{value:.{digits}g}" for value in values)


def claim_numbers(values: Mapping[str, Sequence[float]]) -> dict[str, str]:
    """The per-seed values of every claims row as the prose cites them: glue name
    ``phase_seeds_<row id>`` -> :func:`seeds_text` (2 significant digits)."""
    return {f"phase_seeds_{row_id}": seeds_text(row_values) for row_id, row_values in values.items()}


def trained_numbers(sgd: Mapping[str, pd.DataFrame], improvement: Mapping[str, float], tol: float) -> dict[str, Any]:
    """How many converged SGD runs have trained out (training loss fell by less than ``tol`` over the
    last fifth), overall and per family, and the largest such fall of a run at each family's best
    cell (keys: glue names)."""
    numbers: dict[str, Any] = {"phase_trained_tol": f"{100 * tol:g}"}
    total = trained = 0
    for family, table in sgd.items():
        converged = table[table["outcome"] == "converged"]
        fall = converged["run_id"].map(lambda rid: improvement.get(rid, math.nan))
        total, trained = total + len(converged), trained + int((fall < tol).sum())
        cells = phase.cell_means(table)
        fall_at_best = math.nan  # no converged cell, no best one
        if cells["mean"].notna().any():
            best = cells.loc[cells["mean"].idxmax()]
            at_best = converged[(converged["warmup_steps"] == best["warmup_steps"])
                                & (converged[phase.eta_axis(table)] == best["eta"])]
            fall_at_best = at_best["run_id"].map(lambda rid: improvement.get(rid, math.nan)).min()
        numbers[f"phase_best_fall_{family}"] = f"{100 * fall_at_best:.0f}"
    numbers.update({"phase_trained_runs": trained, "phase_converged_runs": total})
    return numbers


def control_numbers(controls: Mapping[str, pd.DataFrame], steps: int, beta2: float = 0.999) -> dict[str, Any]:
    """The controls of GI-Adam's implicit warmup as the prose cites them (keys: glue names): the
    matched warmup's length, the factors on the nominal rate, and each control's largest trainable
    nominal eta_trgt per seed."""
    settings = control_settings(steps, beta2)
    numbers: dict[str, Any] = {"phase_match_warmup": matching_linear_warmup(beta2),
                               "phase_match_factor": f"{settings['adam_matched'][1]:.2f}",
                               "phase_rate_factor": f"{settings['adam_rate'][1]:.2f}"}
    for name, table in controls.items():
        bounds = seed_bounds(table).loc[name]
        numbers[f"phase_{name}_max"] = seeds_text(list(bounds), 3)
    return numbers


def boundary_table(adam: pd.DataFrame, controls: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Adam, GI-Adam and the two controls of GI-Adam's implicit warmup in one table for
    :func:`plot_slices`' boundary panel, variants named by :data:`ADAM_LABELS` and
    :data:`CONTROL_LABELS` (the matched warmup at its nominal T_wrm, the mean-rate control at 1)."""
    columns = ["variant", "warmup_steps", "seed", "eta_trgt", "outcome"]
    return pd.concat([labelled(adam, ADAM_LABELS)[columns],
                      *(labelled(table, CONTROL_LABELS)[columns] for table in controls.values())], ignore_index=True)


def gain_numbers(sgd: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Each SGD family's warmup gain per seed (:func:`seed_gains`), as the prose cites them: glue name
    ``phase_gain_seeds_<family>`` -> :func:`seeds_text`."""
    return {f"phase_gain_seeds_{family}": seeds_text(list(seed_gains(table, "sgd"))) for family, table in sgd.items()}
