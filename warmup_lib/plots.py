"""One figure style for the whole book, and the plots the chapters share.

Sections: style and saving; trajectories (loss and sharpness against step, with the 2/eta_t
threshold and catapult markers); outcome maps (categorical heatmaps over eta_trgt x T_wrm); sweep
phase diagrams, drawn from the statistics :mod:`warmup_lib.analysis.phase` reads off a sweep table.
Every builder draws on axes it is given or returns a Figure; nothing is shown or written unless asked
(:func:`save` writes only when given a folder), so the figures build under the Agg backend in tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from warmup_lib.analysis.phase import cell_means, eta_axis, largest_trainable_eta
from warmup_lib.atomic import atomic_write

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.collections import QuadMesh

# ---------------------------------------------------------------------------------------------------
# Style and saving
# ---------------------------------------------------------------------------------------------------

STYLE = {
    "figure.dpi": 110,  # the inline backend renders at the figure's dpi: small PNGs in the notebook
    "savefig.dpi": 120,
    "figure.constrained_layout.use": True,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.right": False,
    "axes.spines.top": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.4,
    "svg.hashsalt": "warmup",  # deterministic ids should anyone save SVG
}
PANEL_WIDTH = 3.4  # inches per panel
PANEL_HEIGHT = 2.6
COLORS = plt.get_cmap("tab10").colors
THRESHOLD_STYLE = {"color": "0.25", "linestyle": "--", "linewidth": 1.0}
# Outcome colours, shared by every outcome map in the book.
OUTCOME_COLORS = {"converged": "#4c9f70", "unstable": "#e3b448", "failed": "#8e7cc3", "diverged": "#c8553d"}


def apply_style() -> None:
    """Make STYLE matplotlib's global style.  Global on purpose: labels and legends read the rc
    parameters when they are drawn, after the figure is made, and a temporary ``rc_context`` would also
    reset the 'interactive' flag that the notebook's inline backend sets (figures would stop showing)."""
    plt.rcParams.update(STYLE)


def figure(ncols: int = 1, nrows: int = 1, figsize: tuple[float, float] | None = None,
           **kwargs: Any) -> tuple[plt.Figure, np.ndarray]:
    """A figure in the book style with a grid of panels (axes always returned as a flat array).

    Applies :data:`STYLE` (:func:`apply_style`); the size is ``figsize`` or PANEL_WIDTH x
    PANEL_HEIGHT inches per panel.

    Args:
        ncols: Panels per row.
        nrows: Rows of panels.
        figsize: (width, height) in inches; None for the per-panel size.
        **kwargs: Passed on to ``plt.subplots`` (e.g. ``sharey=True``).

    Returns:
        (fig, axes) with ``axes`` a flat array of nrows * ncols Axes, row by row.
    """
    apply_style()
    size = figsize if figsize is not None else (PANEL_WIDTH * ncols, PANEL_HEIGHT * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, **kwargs)
    return fig, axes.ravel()


def label_panels(axes: Sequence[plt.Axes]) -> None:
    """Write (a), (b), ... in the top-left corner of each panel.

    Args:
        axes: The panels, in labelling order; each gets a bold left-aligned title.
    """
    for index, ax in enumerate(axes):
        ax.set_title(f"({chr(ord('a') + index)})", loc="left", fontweight="bold")


def log_step_axis(ax: plt.Axes) -> None:
    """Steps on a symmetric-log axis (linear below 1, so step 0 has a place) that starts at step 0.

    Args:
        ax: The axes whose x axis holds the step.
    """
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0)


def save(fig: plt.Figure, name: str, fig_dir: str | None = None) -> str | None:
    """Write ``fig`` to ``fig_dir/name.png`` atomically (temp file + rename); do nothing if fig_dir is None.

    The PNG is written at STYLE['savefig.dpi'] without a "Software" metadata entry, so the bytes do
    not depend on the matplotlib version.

    Args:
        fig: The figure to write.
        name: File name without the .png extension.
        fig_dir: Folder to write into (created when missing); None writes nothing.

    Returns:
        The path written, or None when ``fig_dir`` is None.
    """
    if fig_dir is None:
        return None
    path = os.path.join(fig_dir, f"{name}.png")
    # no "Software" metadata: the bytes stay the same across matplotlib versions
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=STYLE["savefig.dpi"],
                                                  metadata={"Software": None}), binary=True)
    return path


# ---------------------------------------------------------------------------------------------------
# Trajectories
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Trajectory:
    """One run to draw: per-step arrays (NaN where not measured).  ``eta`` is eta_t of the update t."""

    label: str
    step: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    eta: np.ndarray
    catapults: Sequence[int] = ()  # indices into step at which a loss spike peaks


def plot_trajectories(runs: Sequence[Trajectory], threshold: float = 2.0, log_loss: bool = True,
                      log_sharpness: bool = False, log_steps: bool = False,
                      threshold_label: str = r"$2/\eta_t$", loss_floor: float | None = None) -> plt.Figure:
    r"""Two panels: (a) loss and (b) sharpness :math:`\lambda^H_t` against step, one colour per run.

    Panel (b) overlays each run's stability threshold ``threshold``/eta_t (dashed, same colour), and
    both panels mark catapult peaks with a triangle.  The threshold is 2/eta for GD; later chapters pass
    e.g. 38 for Adam's pre-conditioned sharpness.  ``log_steps`` uses a symmetric-log step axis (linear
    below 1) starting at 0; ``loss_floor`` cuts the loss axis there (runs that reach round-off level).

    Args:
        runs: The runs to draw, one colour each (tab10, cycling).
        threshold: Factor c of the stability threshold c / eta_t (2 for GD).
        log_loss: Log scale for the loss axis.
        log_sharpness: Log scale for the sharpness axis.
        log_steps: Symmetric-log step axes (see :func:`log_step_axis`).
        threshold_label: Legend label of the threshold lines.
        loss_floor: Lower limit of the loss axis; None leaves it to matplotlib.

    Returns:
        The new two-panel Figure.
    """
    fig, (ax_loss, ax_sharp) = figure(ncols=2)
    plot_trajectory_panels(ax_loss, ax_sharp, runs, ((threshold, threshold_label),), log_steps=log_steps,
                           legend=False, log_loss=log_loss, log_sharpness=log_sharpness)
    if loss_floor is not None:
        ax_loss.set_ylim(bottom=loss_floor)
    ax_loss.legend(loc="lower left")
    ax_sharp.legend(loc="best")
    label_panels((ax_loss, ax_sharp))
    return fig


# ---------------------------------------------------------------------------------------------------
# Outcome maps (phase diagrams)
# ---------------------------------------------------------------------------------------------------

def plot_outcome_map(ax: plt.Axes, eta_values: Sequence[float], warmup_steps: Sequence[int],
                     outcomes: Sequence[Sequence[str]], eta_label: str = r"$\eta_{trgt}$") -> None:
    """Categorical heatmap: rows are warmup lengths T_wrm, columns eta_trgt values, colours the outcome
    ('converged', 'unstable', 'failed', 'diverged'); a legend lists the outcomes present.

    Args:
        ax: The axes to draw on.
        eta_values: Learning rates of the columns (tick labels), in order.
        warmup_steps: Warmup lengths T_wrm of the rows (tick labels), bottom to top.
        outcomes: outcomes[i][j] is the outcome at warmup_steps[i], eta_values[j]; each one of
            :data:`OUTCOME_COLORS`' keys.
        eta_label: x axis label.

    Raises:
        ValueError: If an outcome is not one of the four names.
    """
    names = list(OUTCOME_COLORS)
    codes = np.array([[names.index(o) for o in row] for row in outcomes])
    cmap = ListedColormap([OUTCOME_COLORS[name] for name in names])
    ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5, aspect="auto", origin="lower",
              interpolation="nearest")
    ax.set_xticks(range(len(eta_values)), [f"{e:g}" for e in eta_values], rotation=90)
    ax.set_yticks(range(len(warmup_steps)), [str(t) for t in warmup_steps])
    ax.set(xlabel=eta_label, ylabel=r"warmup steps $T_{wrm}$")
    ax.grid(False)
    present = [name for name in names if (codes == names.index(name)).any()]
    ax.legend(handles=[Patch(color=OUTCOME_COLORS[name], label=name) for name in present],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def plot_final_sharpness(ax: plt.Axes, eta: Sequence[float], final_sharpness: Sequence[float],
                         outcomes: Sequence[str], threshold: float = 2.0) -> None:
    r"""Final sharpness against a constant learning rate, one dot per run coloured by outcome, with the
    stability curve ``threshold``/eta (dashed).  Diverged runs (no final sharpness) are drawn as crosses
    on the bottom axis.

    Args:
        ax: The axes to draw on.
        eta: Learning rate of each run.
        final_sharpness: Final sharpness of each run (NaN where not available, e.g. diverged).
        outcomes: Outcome of each run ('converged', 'unstable', 'failed', 'diverged').
        threshold: Factor c of the stability curve c / eta (2 for GD).
    """
    eta, final_sharpness = np.asarray(eta, dtype=float), np.asarray(final_sharpness, dtype=float)
    for name, color in OUTCOME_COLORS.items():
        chosen = np.array([o == name for o in outcomes])
        if not chosen.any():
            continue
        if name == "diverged":
            ax.plot(eta[chosen], np.zeros(chosen.sum()), "x", color=color, label=name, clip_on=False)
        else:
            ax.plot(eta[chosen], final_sharpness[chosen], "o", color=color, markersize=3.5, label=name)
    curve = np.linspace(eta.min(), eta.max(), 200)
    ax.plot(curve, threshold / curve, **THRESHOLD_STYLE, label=rf"${threshold:g}/\eta$")
    finite = final_sharpness[np.isfinite(final_sharpness)]
    ax.set_ylim(0, 1.6 * finite.max() if finite.size else None)
    ax.legend(loc="upper right")


# ---------------------------------------------------------------------------------------------------
# Sweep phase diagrams (eta_trgt x T_wrm heatmaps of a metric, slices, the trainability boundary)
# ---------------------------------------------------------------------------------------------------

METRIC_LABELS = {"best_test_accuracy": "best test accuracy", "final_test_accuracy": "final test accuracy",
                 "best_test_loss": "best test loss", "final_test_loss": "final test loss"}
OUTCOME_HATCHES = {"diverged": "xxx", "failed": "///"}
OUTCOME_LEGEND = {"diverged": "diverged (every seed)", "failed": "failed (no seed converged)"}
NOT_RUN_COLOR = "0.92"
ETA_LABELS = {"c": r"$\eta_{trgt}\,\lambda_0$ (units of $1/\lambda_0$, log$_2$ scale)",
              "eta_trgt": r"$\eta_{trgt}$ (log$_2$ scale)"}  # by the table's eta axis (phase.eta_axis)


def _one_variant(cells):
    """The cells of a table of one variant; raises ValueError for more (draw one variant at a time)."""
    if cells["variant"].nunique() > 1:
        raise ValueError(f"table: got variants {sorted(cells['variant'].unique())}; select one variant first")
    return cells


def _log2_edges(values: np.ndarray) -> np.ndarray:
    """Cell edges on a log2 axis: midpoints between the log2 centres, ends mirrored."""
    centres = np.log2(values)
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])


def plot_phase_diagram(ax: plt.Axes, table: pd.DataFrame, metric: str = "best_test_accuracy", spread: str = "std",
                       annotate: bool = True, cmap: str = "viridis", colorbar: bool = True,
                       fontsize: float = 9.0) -> QuadMesh:
    r"""Phase diagram of one variant: x = eta_trgt (log2; in units of 1/lambda_0 when the sweep
    measured lambda_0), y = T_wrm (log2), colour = mean of ``metric`` over the seeds that converged.

    Cells where no seed converged are hatched in the outcome colours (diverged 'xxx', failed '///'),
    cells not run (beyond a row's boundary in a self-extended grid) are light grey.  With
    ``annotate`` each cell shows the mean and the seeds' spread (``spread`` 'std': +-std, 'range':
    [min, max]) and 'k/n' when only k of n seeds converged, in ``fontsize`` points (the text's size:
    a wide grid needs a wide axes to stay legible).  The black staircase is the trainability
    boundary: the right edge of the largest eta_trgt at which some seed converged, per row.

    Args:
        ax: The axes to draw on.
        table: Sweep table of one variant, as :func:`warmup_lib.analysis.phase.cell_means` reads.
        metric: Column averaged over the converged seeds (e.g. 'best_test_accuracy').
        spread: How an annotation shows the seeds' spread: 'std' (+-std) or 'range' ([min, max]).
        annotate: Write the mean (and spread, k/n) in each converged cell.
        cmap: Matplotlib colour map of the metric.
        colorbar: Add a colour bar to the axes' figure.
        fontsize: Size of the cell annotations in points.

    Returns:
        The QuadMesh (for a shared colour bar).

    Raises:
        ValueError: If ``spread`` is not 'std' or 'range', or ``table`` holds more than one variant.
    """
    if spread not in ("std", "range"):
        raise ValueError(f"spread: got {spread!r}; allowed values are 'std', 'range'")
    cells = _one_variant(cell_means(table, metric))
    eta_label = ETA_LABELS[eta_axis(table)]
    etas, warmups = np.sort(cells["eta"].unique()), np.sort(cells["warmup_steps"].unique())
    x_edges, y_edges = _log2_edges(etas), _log2_edges(warmups.astype(float))
    values = np.full((len(warmups), len(etas)), np.nan)
    position = {}
    for cell in cells.itertuples():
        i, j = np.searchsorted(warmups, cell.warmup_steps), np.searchsorted(etas, cell.eta)
        values[i, j], position[cell.Index] = cell.mean, (i, j)
    ax.set_facecolor(NOT_RUN_COLOR)
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(values), cmap=cmap, shading="flat")
    for cell in cells.itertuples():
        i, j = position[cell.Index]
        if cell.status != "converged":
            ax.add_patch(plt.Rectangle((x_edges[j], y_edges[i]), x_edges[j + 1] - x_edges[j],
                                       y_edges[i + 1] - y_edges[i], facecolor=OUTCOME_COLORS[cell.status],
                                       hatch=OUTCOME_HATCHES[cell.status], edgecolor="white", linewidth=0.0))
        elif annotate:
            text = f"{cell.mean:.3g}"
            if cell.converged > 1:
                text += f"\n±{cell.std:.1g}" if spread == "std" else f"\n[{cell.min:.3g}, {cell.max:.3g}]"
            if cell.converged < cell.seeds:
                text += f"\n{cell.converged}/{cell.seeds}"
            red, green, blue, _ = mesh.cmap(mesh.norm(cell.mean))
            ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"  # readable on the cell
            ax.text((x_edges[j] + x_edges[j + 1]) / 2, (y_edges[i] + y_edges[i + 1]) / 2, text, ha="center",
                    va="center", fontsize=fontsize, color=ink)
    _draw_boundary(ax, cells, etas, warmups, x_edges, y_edges)
    ax.set_xticks(np.log2(etas), [f"{e:.3g}" for e in etas], rotation=90)
    ax.set_yticks(np.log2(warmups.astype(float)), [str(int(t)) for t in warmups])
    ax.set(xlabel=eta_label, ylabel=r"warmup steps $T_{wrm}$ (log$_2$ scale)",
           xlim=(x_edges[0], x_edges[-1]), ylim=(y_edges[0], y_edges[-1]))
    ax.grid(False)
    handles = [Patch(facecolor=OUTCOME_COLORS[s], hatch=OUTCOME_HATCHES[s], edgecolor="white",
                     label=OUTCOME_LEGEND[s]) for s in OUTCOME_HATCHES
               if (cells["status"] == s).any()]
    handles.append(Patch(facecolor=NOT_RUN_COLOR, label="not run"))
    handles.append(plt.Line2D([], [], color="k", linewidth=1.6, label="trainability boundary"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.32), ncol=2, frameon=False, fontsize=7)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=f"{METRIC_LABELS.get(metric, metric)} (mean over seeds)")
    return mesh


def _draw_boundary(ax: plt.Axes, cells, etas: np.ndarray, warmups: np.ndarray, x_edges: np.ndarray,
                   y_edges: np.ndarray) -> None:
    """Staircase through the right edge of each row's largest trainable eta (rows with none: left edge)."""
    xs, ys = [], []
    for i, warmup in enumerate(warmups):
        trainable = cells[(cells["warmup_steps"] == warmup) & (cells["status"] == "converged")]["eta"]
        x = x_edges[np.searchsorted(etas, trainable.max()) + 1] if len(trainable) else x_edges[0]
        xs += [x, x]
        ys += [y_edges[i], y_edges[i + 1]]
    ax.plot(xs, ys, color="k", linewidth=1.6)


def plot_phase_slices(ax: plt.Axes, table: pd.DataFrame, metric: str = "best_test_accuracy") -> None:
    r"""``metric`` against eta_trgt (log2) for each T_wrm of one variant: mean over the converged seeds
    with min-max bars; cells where no seed converged are crosses on the bottom axis.

    Args:
        ax: The axes to draw on.
        table: Sweep table of one variant, as :func:`warmup_lib.analysis.phase.cell_means` reads.
        metric: Column averaged over the converged seeds.

    Raises:
        ValueError: If ``table`` holds more than one variant.
    """
    cells = _one_variant(cell_means(table, metric))
    eta_label = ETA_LABELS[eta_axis(table)]
    for index, (warmup, row) in enumerate(cells.groupby("warmup_steps")):
        color = COLORS[index % len(COLORS)]
        good = row[row["status"] == "converged"]
        ax.errorbar(good["eta"], good["mean"], yerr=[good["mean"] - good["min"], good["max"] - good["mean"]],
                    color=color, marker="o", markersize=3, capsize=2, label=rf"$T_{{wrm}}$ = {warmup}")
        bad = row[row["status"] != "converged"]
        ax.plot(bad["eta"], np.zeros(len(bad)), "x", color=color, clip_on=False, transform=ax.get_xaxis_transform())
    ax.plot([], [], "x", color="0.4", label="no seed converged")
    ax.set_xscale("log", base=2)
    ax.set(xlabel=eta_label, ylabel=METRIC_LABELS.get(metric, metric))
    ax.legend(loc="best")


def plot_max_trainable(ax: plt.Axes, table: pd.DataFrame) -> None:
    r"""The largest trainable eta_trgt against T_wrm (both log2), one line per variant: mean over seeds
    (in log2) with min-max bars.  The paper's claim: longer warmup raises this maximum.

    Args:
        ax: The axes to draw on.
        table: Sweep table (any number of variants), as
            :func:`warmup_lib.analysis.phase.largest_trainable_eta` reads.
    """
    largest = largest_trainable_eta(table)
    eta_label = ETA_LABELS[eta_axis(table)]
    for index, variant in enumerate(largest["variant"].unique()):
        stats = largest[largest["variant"] == variant]
        centre = stats["eta_max"]
        ax.errorbar(stats["warmup_steps"], centre, yerr=[centre - stats["eta_max_min"], stats["eta_max_max"] - centre],
                    marker="o", markersize=3.5, capsize=2, color=COLORS[index % len(COLORS)], label=str(variant))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set(xlabel=r"warmup steps $T_{wrm}$ (log$_2$ scale)",
           ylabel="largest trainable " + eta_label.split(" (")[0] + " (log$_2$)")
    ax.legend(loc="best")


def plot_trajectory_panels(ax_loss: plt.Axes, ax_sharp: plt.Axes, runs: Sequence[Trajectory],
                           thresholds: Sequence[tuple[float, str]] = ((2.0, r"$2/\eta_t$"),),
                           log_steps: bool = True, legend: bool = True, log_loss: bool = True,
                           log_sharpness: bool = True) -> None:
    r"""Loss and sharpness of ``runs`` on two given axes (for multi-panel figures), log scales by default.

    Each run's thresholds factor/eta_t are drawn in its colour, one line style per entry of
    ``thresholds`` (factor, legend label): dashed, dotted, dash-dot.  Catapult peaks are triangles.
    Steps are on a symmetric-log axis (linear below 1) when ``log_steps``.

    Args:
        ax_loss: Axes for the training loss.
        ax_sharp: Axes for the sharpness and thresholds.
        runs: The runs to draw, one colour each (tab10, cycling).
        thresholds: (factor, legend label) pairs, at most three (further entries are not drawn).
        log_steps: Symmetric-log step axes (see :func:`log_step_axis`).
        legend: Add legends to both axes.
        log_loss: Log scale for the loss axis.
        log_sharpness: Log scale for the sharpness axis.
    """
    styles = ("--", ":", "-.")
    for index, run in enumerate(runs):
        color = COLORS[index % len(COLORS)]
        ax_loss.plot(run.step, run.loss, color=color, label=run.label)
        measured = np.isfinite(run.sharpness)
        ax_sharp.plot(run.step[measured], run.sharpness[measured], color=color, label=run.label)
        for (factor, _), style in zip(thresholds, styles):
            ax_sharp.plot(run.step[: len(run.eta)], factor / np.asarray(run.eta),
                          **{**THRESHOLD_STYLE, "color": color, "linestyle": style}, alpha=0.8)
        for ax, values in ((ax_loss, run.loss), (ax_sharp, run.sharpness)):
            peaks = [i for i in run.catapults if np.isfinite(values[i])]
            ax.plot(run.step[peaks], values[peaks], "v", color=color, markersize=5, markeredgecolor="k",
                    markeredgewidth=0.5)
    for (_, label), style in zip(thresholds, styles):
        ax_sharp.plot([], [], **{**THRESHOLD_STYLE, "linestyle": style}, label=label)
    ax_sharp.plot([], [], "v", color="0.5", markeredgecolor="k", markeredgewidth=0.5, label="catapult peak")
    ax_loss.set(xlabel="step t", ylabel="training loss", yscale="log" if log_loss else "linear")
    ax_sharp.set(xlabel="step t", ylabel=r"sharpness $\lambda^H_t$", yscale="log" if log_sharpness else "linear")
    if log_steps:
        for ax in (ax_loss, ax_sharp):
            log_step_axis(ax)
    if legend:
        ax_loss.legend(loc="lower left")
        ax_sharp.legend(loc="best")
