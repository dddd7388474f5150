"""One figure style for the whole book, and the plots the chapters share.

Sections: style and saving; trajectories (loss and sharpness against step, with the 2/eta_t
threshold and catapult markers); outcome maps (categorical heatmaps over eta_trgt x T_wrm).
Every builder draws on axes it is given or returns a Figure; nothing is shown or written unless asked
(:func:`save` writes only when given a folder), so the figures build under the Agg backend in tests.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

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


def figure(ncols: int = 1, nrows: int = 1, **kwargs) -> tuple[plt.Figure, np.ndarray]:
    """A figure in the book style with a grid of panels (axes always returned as a flat array)."""
    apply_style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(PANEL_WIDTH * ncols, PANEL_HEIGHT * nrows),
                             squeeze=False, **kwargs)
    return fig, axes.ravel()


def label_panels(axes: Sequence[plt.Axes]) -> None:
    """Write (a), (b), ... in the top-left corner of each panel."""
    for index, ax in enumerate(axes):
        ax.set_title(f"({chr(ord('a') + index)})", loc="left", fontweight="bold")


def save(fig: plt.Figure, name: str, fig_dir: str | None = None) -> str | None:
    """Write ``fig`` to ``fig_dir/name.png`` atomically (temp file + rename); do nothing if fig_dir is None.

    Returns the path written, or None."""
    if fig_dir is None:
        return None
    os.makedirs(fig_dir, exist_ok=True)
    path = os.path.join(fig_dir, f"{name}.png")
    handle, tmp_path = tempfile.mkstemp(suffix=".png", dir=fig_dir)
    os.close(handle)
    fig.savefig(tmp_path, format="png", dpi=STYLE["savefig.dpi"], metadata={"Software": None})  # stable bytes
    os.replace(tmp_path, path)
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
    below 1) starting at 0; ``loss_floor`` cuts the loss axis there (runs that reach round-off level)."""
    fig, (ax_loss, ax_sharp) = figure(ncols=2)
    for index, run in enumerate(runs):
        color = COLORS[index % len(COLORS)]
        ax_loss.plot(run.step, run.loss, color=color, label=run.label)
        measured = np.isfinite(run.sharpness)
        ax_sharp.plot(run.step[measured], run.sharpness[measured], color=color, label=run.label)
        ax_sharp.plot(run.step[: len(run.eta)], threshold / np.asarray(run.eta),
                      **{**THRESHOLD_STYLE, "color": color}, alpha=0.8)
        for ax, values in ((ax_loss, run.loss), (ax_sharp, run.sharpness)):
            peaks = [i for i in run.catapults if np.isfinite(values[i])]
            ax.plot(run.step[peaks], values[peaks], "v", color=color, markersize=5, markeredgecolor="k",
                    markeredgewidth=0.5)
    ax_sharp.plot([], [], **THRESHOLD_STYLE, label=threshold_label)
    ax_sharp.plot([], [], "v", color="0.5", markeredgecolor="k", markeredgewidth=0.5, label="catapult peak")
    ax_loss.set(xlabel="step t", ylabel="training loss")
    ax_sharp.set(xlabel="step t", ylabel=r"sharpness $\lambda^H_t$")
    if log_loss:
        ax_loss.set_yscale("log")
    if log_sharpness:
        ax_sharp.set_yscale("log")
    if log_steps:
        for ax in (ax_loss, ax_sharp):
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(left=0)
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
    ('converged', 'unstable', 'failed', 'diverged'); a legend lists the outcomes present."""
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
    on the bottom axis."""
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
