"""The shared figure helpers build under Agg, draw what they promise, and save atomically."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from warmup_lib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _run(label, eta=0.5, catapults=(3,)):
    step = np.arange(11)
    sharpness = np.full(11, np.nan)
    sharpness[::2] = np.linspace(5.0, 3.0, 6)
    return plots.Trajectory(label=label, step=step, loss=np.exp(-step / 3.0) + (step == 3), sharpness=sharpness,
                            eta=np.full(10, eta), catapults=catapults)


def test_plot_trajectories_draws_threshold_and_catapults():
    fig = plots.plot_trajectories([_run("a"), _run("b", eta=0.25, catapults=())], log_steps=True, loss_floor=1e-3)
    ax_loss, ax_sharp = fig.axes[:2]
    assert ax_loss.get_yscale() == "log" and ax_sharp.get_xscale() == "symlog"
    assert ax_loss.get_ylim()[0] == pytest.approx(1e-3)
    assert ax_loss.get_xlabel() == "step t" and "sharpness" in ax_sharp.get_ylabel()
    thresholds = [line for line in ax_sharp.get_lines() if line.get_linestyle() == "--" and len(line.get_ydata())]
    assert sorted(float(line.get_ydata()[0]) for line in thresholds) == [4.0, 8.0]  # 2/eta for eta = 0.5, 0.25
    markers = [line for line in ax_loss.get_lines() if line.get_marker() == "v" and len(line.get_xdata())]
    assert len(markers) == 1 and list(markers[0].get_xdata()) == [3]
    # sharpness drawn only where measured
    assert len(ax_sharp.get_lines()[0].get_xdata()) == 6


def test_plot_outcome_map_encodes_outcomes():
    fig, (ax,) = plots.figure()
    outcomes = [["converged", "diverged"], ["unstable", "converged"]]
    plots.plot_outcome_map(ax, [1.0, 2.0], [1, 16], outcomes)
    image = ax.get_images()[0].get_array()
    names = list(plots.OUTCOME_COLORS)
    assert image.tolist() == [[names.index(o) for o in row] for row in outcomes]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["converged", "unstable", "diverged"]


def test_plot_final_sharpness_marks_diverged_runs():
    fig, (ax,) = plots.figure()
    plots.plot_final_sharpness(ax, [1.0, 2.0, 3.0], [1.5, 0.8, np.nan], ["converged", "converged", "diverged"])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["converged", "diverged", "$2/\\eta$"]


def test_save_writes_png_only_with_a_folder(tmp_path):
    fig, (ax,) = plots.figure(ncols=1)
    ax.plot([0, 1], [0, 1])
    assert plots.save(fig, "unused") is None
    path = plots.save(fig, "line", str(tmp_path / "figs"))
    assert path.endswith("line.png") and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["line.png"]  # no temporary left


def test_label_panels():
    fig, axes = plots.figure(ncols=3)
    plots.label_panels(axes)
    assert [ax.get_title(loc="left") for ax in axes] == ["(a)", "(b)", "(c)"]


def test_log_step_axis_is_linear_below_one_and_starts_at_step_zero():
    fig, (ax,) = plots.figure()
    ax.plot([0, 1, 10, 100], [1.0, 2.0, 3.0, 4.0])
    plots.log_step_axis(ax)
    assert ax.get_xscale() == "symlog" and ax.xaxis.get_transform().linthresh == 1.0
    assert ax.get_xlim()[0] == 0.0
