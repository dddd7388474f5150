"""warmup_lib.chapters.adam_preconditioned_sharpness: the run plan, the readings of a run, the
tables, the figures and the claims' criteria of chapter 3.

Oracles: configs written out field by field (as the notebook wrote them before the chapter had a
module, so the store's run ids are those of the committed runs), hand-made records whose readings
are known, a tiny store, and fabricated tables on which each claim's verdict is known both ways.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from warmup_lib.chapters import adam_preconditioned_sharpness as ch  # noqa: E402
from warmup_lib.claims import HOLDS  # noqa: E402
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig  # noqa: E402
from warmup_lib.runs import store  # noqa: E402
from warmup_lib.runs.measure import measure_initial_curvature  # noqa: E402
from warmup_lib.runs.train import RunResult  # noqa: E402

SETUP = ch.AdamSetup(dataset="mnist1d", n_train=1024, n_test=1000, data_root=None, width=128, depth=4,
                     seed=0, eval_every=64, device="cpu")
BOOK_SETTINGS = ch.settings(n_train=1024, steps=256, warmup_steps=[1, 16, 128], pre_sharpness_every=4,
                            sharpness_every=8, eta={"simple_mup": 0.03, "sp": 0.02},
                            xent_eta={"simple_mup": 0.05, "sp": 0.04}, batch_size=512, batch_n_train=4000,
                            variant_steps=200, variant_warmup_steps=[1, 128], variant_every=8)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------------------ plan


def test_config_is_the_run_the_notebook_wrote_field_by_field() -> None:
    cfg = SETUP.config("sp", 0.02, 16, 256, loss="xent", batch_size=512, n_train=4000, pre_sharpness_every=4,
                       sharpness_every=8)
    by_hand = RunConfig(data=DataConfig(name="mnist1d", n_train=4000, n_test=1000, root=None),
                        model=ModelConfig(arch="fcn", width=128, depth=4, param="sp"),
                        optim=OptimConfig(name="adam"), schedule=ScheduleConfig(eta_trgt=0.02, warmup_steps=16),
                        loss="xent", batch_size=512, steps=256, seed=0, eval_every=64, sharpness_every=8,
                        pre_sharpness_every=4, device="cpu")
    assert cfg == by_hand and store.run_id(cfg) == store.run_id(by_hand)
    default = SETUP.config("simple_mup", 0.03, 1, 100, optimizer="gi_adam")
    assert (default.data.n_train, default.batch_size, default.loss, default.optim.name) == (1024, None, "mse", "gi_adam")
    assert (default.sharpness_every, default.pre_sharpness_every) == (0, 0)
    assert (default.optim.beta1, default.optim.beta2, default.optim.eps) == (0.9, 0.999, 1e-8)


def test_plan_crosses_settings_parameterisations_and_warmups() -> None:
    plan = ch.run_plan(SETUP, BOOK_SETTINGS)
    assert len(plan) == 2 * (3 + 2 + 2)
    assert list(plan)[:3] == [("main", "simple_mup", 1), ("main", "simple_mup", 16), ("main", "simple_mup", 128)]
    main = plan["main", "sp", 128]
    assert (main.schedule.eta_trgt, main.schedule.warmup_steps, main.steps, main.loss, main.batch_size) == \
        (0.02, 128, 256, "mse", None)
    assert (main.pre_sharpness_every, main.sharpness_every, main.data.n_train) == (4, 8, 1024)
    batch = plan["batch", "simple_mup", 1]
    assert (batch.batch_size, batch.data.n_train, batch.steps, batch.loss) == (512, 4000, 200, "mse")
    assert (batch.pre_sharpness_every, batch.sharpness_every, batch.schedule.eta_trgt) == (8, 8, 0.03)
    xent = plan["xent", "sp", 128]
    assert (xent.loss, xent.batch_size, xent.data.n_train, xent.schedule.eta_trgt) == ("xent", None, 1024, 0.04)
    assert BOOK_SETTINGS["batch"].label == "batch 512, MSE"
    every_example = ch.settings(8, 4, [1], 1, 1, {}, {}, 4, None, 4, [1], 1)["batch"]
    assert every_example.n_train is None


# ------------------------------------------------------------------------------ reading the runs


def _run(loss, lr, pre=None, sharpness=None, final_train_loss=0.5, outcome="converged", eta_trgt=0.1) -> RunResult:
    """A run with these per-step columns (NaN in ``pre`` / ``sharpness``: not measured there)."""
    steps = len(loss)
    records = pd.DataFrame({"step": np.arange(steps), "lr": np.asarray(lr, dtype=float),
                            "loss": np.asarray(loss, dtype=float),
                            "pre_sharpness": np.full(steps, np.nan) if pre is None else np.asarray(pre, dtype=float),
                            "sharpness": np.full(steps, np.nan) if sharpness is None else np.asarray(sharpness, dtype=float)})
    summary = {"steps_run": steps, "final_train_loss": final_train_loss, "outcome": outcome,
               "config": {"schedule": {"eta_trgt": eta_trgt}}}
    return RunResult(records=records, evals=pd.DataFrame(), summary=summary)


NAN = np.nan


def test_late_median_reads_the_second_half_of_the_measured_steps() -> None:
    lr = [0.1] * 4 + [0.2] * 4
    pre = [1000.0, NAN, 50.0, NAN, 100.0, NAN, 300.0, 200.0]  # late (steps >= 4): 100, 300, 200
    result = _run([1.0] * 8, lr, pre=pre)
    assert ch.late_median(result, "pre_sharpness") == pytest.approx(0.2 * 200.0)


def test_pre_sharpness_fall_is_last_over_the_later_maximum() -> None:
    pre = [1e5, NAN, 10.0, 400.0, NAN, 100.0, 40.0]
    assert ch.pre_sharpness_fall(_run([1.0] * 7, [0.1] * 7, pre=pre), after=2) == pytest.approx(40.0 / 400.0)
    # The first-step value (1e5) is before ``after`` and does not count; a run measured only before
    # ``after`` is read from its last measurement: ratio 1.
    short = _run([1.0] * 3, [0.1] * 3, pre=[1e5, NAN, 10.0])
    assert ch.pre_sharpness_fall(short, after=8) == 1.0


def test_first_step_at_threshold_skips_step_zero() -> None:
    lr = [0.01, 0.02, 0.03, 0.04, 0.05]
    pre = [1e5, 100.0, NAN, 1000.0, 800.0]  # eta lambda: 1000 (step 0), 2, -, 40, 40
    assert ch.first_step_at_threshold(_run([1.0] * 5, lr, pre=pre)) == 3
    assert ch.first_step_at_threshold(_run([1.0] * 5, lr, pre=[1e5, 1.0, 1.0, 1.0, 1.0])) is None
    sharp = [NAN, 10.0, 100.0, NAN, NAN]  # eta lambda^H: 0.2, 3.0 against 2.5
    assert ch.first_step_at_threshold(_run([1.0] * 5, lr, sharpness=sharp), "sharpness", 2.5) == 2


def _main_runs():
    """Two hand-made runs of the main setting whose readings are known."""
    spiky = _run(loss=[1.0, 8.0, 0.9, 0.5, 0.4, 1.0, 0.3, 0.2], lr=[0.1] * 8,
                 pre=[2000.0, NAN, 300.0, NAN, 390.0, NAN, 370.0, 380.0],
                 sharpness=[1.0, NAN, NAN, NAN, 2.0, NAN, NAN, NAN], final_train_loss=0.2, eta_trgt=0.1)
    smooth = _run(loss=[1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], lr=[0.05 * (t + 1) / 8 for t in range(8)],
                  pre=[2000.0, NAN, 900.0, NAN, 600.0, NAN, 500.0, 400.0],
                  sharpness=[1.0, NAN, NAN, NAN, 1.5, NAN, NAN, NAN], final_train_loss=0.3, eta_trgt=0.05)
    return {("main", "sp", 1): spiky, ("main", "sp", 8): smooth}


def test_measure_runs_reads_each_run() -> None:
    measures = ch.measure_runs(_main_runs(), rise=1.2, within=2)
    spiky = measures.loc["main", "sp", 1]
    assert spiky.lambda0_PH == 2000.0 and spiky.lambda0_H == 1.0 and spiky.eta0_lambda0_PH == pytest.approx(200.0)
    assert spiky.spike == pytest.approx(8.0)  # the loss jumps from 1.0 to 8.0 at step 1
    assert spiky.later_spikes == 1  # 0.4 -> 1.0 at step 5: 2.5 x the lowest loss before it
    assert spiky.late_eta_lambda_PH == pytest.approx(0.1 * 380.0)  # median of 390, 370, 380 (steps >= 4)
    assert spiky.max_eta_lambda_H == pytest.approx(0.2)
    assert spiky.pre_sharpness_fall == pytest.approx(380.0 / 390.0)
    smooth = measures.loc["main", "sp", 8]
    assert (smooth.spike, smooth.later_spikes, smooth.eta_trgt) == (1.0, 0, 0.05)
    table = ch.summary_table(measures, BOOK_SETTINGS)
    assert list(table["setting"]) == ["full batch, MSE"] * 2 and list(table["param"]) == ["SP", "SP"]
    assert list(table["T_wrm"]) == [1, 8] and list(table["first-step spike x"]) == [8.0, 1.0]
    assert table.loc[0, "late eta lambda_PH"] == 38.0 and table.loc[1, "final train loss"] == 0.3


def test_initial_curvature_scan_rounds_the_measured_values(tmp_path) -> None:
    tiny = ch.AdamSetup(dataset="mnist1d", n_train=64, n_test=32, data_root=None, width=8, depth=3, seed=0,
                        eval_every=0, device="cpu")
    configs = {"sp": tiny.config("sp", 0.01, 1, 3)}
    scan = ch.initial_curvature_scan("exp", configs, [4, 8], tmp_path)
    assert list(scan["param"]) == ["SP", "SP"] and list(scan["width"]) == [4, 8]
    direct = measure_initial_curvature(configs["sp"].replace(**{"model.width": 4}))
    row = scan.iloc[0]
    assert row["lambda0_PH"] == float(f'{direct["lambda_PH"]:.3g}')
    assert row["lambda0_H"] == float(f'{direct["lambda_H"]:.3g}')
    assert row["participation"] == round(direct["participation"], 1)
    assert row["parameters"] == (40 * 4 + 4) + (4 * 4 + 4) + (4 * 10 + 10)  # MNIST-1D: 40 features, 10 classes


def test_smallest_overshoot_and_value_range() -> None:
    scan = pd.DataFrame({"param": ["simple-muP", "SP", "SP"], "width": [64, 64, 128],
                         "lambda0_PH": [3800.0, 1900.0, 7600.0]})
    assert ch.smallest_overshoot(scan, {"simple_mup": 0.1, "sp": 0.2}) == pytest.approx(1900.0 * 0.2 / ch.ADAM_FACTOR)
    assert ch.value_range([3.0, 1.25, 2.0], ".1f") == "1.2-3.0"
    assert ch.value_range(pd.Series([11594, 2105610]), ",") == "11,594-2,105,610"


# ------------------------------------------------------------------------------------------ figures


def test_mechanism_figure_draws_each_threshold_over_eta_t() -> None:
    runs = {("main", param, warmup): result for param in ch.PARAMETERISATIONS
            for warmup, result in zip((1, 8), _main_runs().values())}
    fig = ch.mechanism_figure(runs, "main", [1, 8])
    assert len(fig.axes) == 6
    ax_pre, ax_h = fig.axes[1], fig.axes[2]
    lr = runs["main", "sp", 8].records["lr"].to_numpy()
    assert np.allclose(ax_pre.lines[3].get_ydata(), ch.ADAM_FACTOR / lr)  # second run's threshold
    assert np.allclose(ax_h.lines[3].get_ydata(), ch.MOMENTUM_FACTOR / lr)
    assert ax_pre.get_xscale() == "symlog" and ax_pre.get_yscale() == "log"
    assert fig.axes[0].get_ylabel() == "training loss (simple-muP)" and fig.axes[3].get_ylabel() == "training loss (SP)"


def test_width_scan_figure_draws_one_line_per_parameterisation_and_quantity() -> None:
    scan = pd.DataFrame({"param": ["simple-muP", "simple-muP", "SP", "SP"], "width": [64, 128, 64, 128],
                         "lambda0_H": [0.1, 0.1, 1.0, 2.0], "lambda0_PH": [1e4, 2e4, 3e4, 4e4],
                         "participation": [3.0, 1.0, 2.0, 1.5]})
    fig = ch.width_scan_figure(scan)
    ax_pre, ax_part = fig.axes
    assert len(ax_pre.lines) == 4 and len(ax_part.lines) == 2
    assert list(ax_pre.lines[2].get_ydata()) == [3e4, 4e4] and list(ax_part.get_xticks()) == [64, 128]


# ------------------------------------------------------------------------------------------- claims


def _holding_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fabricated measures and scan on which every claim (5a)-(5k) holds."""
    rows = []
    for param, lambda0 in (("simple_mup", 1e5), ("sp", 1e6)):
        for warmup in (1, 16, 128):
            rows.append({"setting": "main", "param": param, "warmup": warmup, "max_eta_lambda_H": 0.2,
                         "late_eta_lambda_PH": 36.0, "spike": 6.0 if warmup == 1 else 1.0, "lambda0_PH": lambda0,
                         "pre_sharpness_fall": 0.9})
        for setting, late, fall in (("batch", 16.0, 0.5), ("xent", 5.0, 0.01)):
            for warmup in (1, 128):
                rows.append({"setting": setting, "param": param, "warmup": warmup, "max_eta_lambda_H": 0.1,
                             "late_eta_lambda_PH": late, "spike": 3.0 if warmup == 1 else 1.0,
                             "lambda0_PH": lambda0, "pre_sharpness_fall": fall})
    measures = pd.DataFrame(rows).set_index(["setting", "param", "warmup"]).sort_index()
    scan = pd.DataFrame({"param": ["simple-muP", "simple-muP", "SP", "SP"], "width": [64, 512, 64, 512],
                         "lambda0_PH": [1e4, 1e5, 1e5, 1e6]})
    return measures, scan


def _verdicts(measures: pd.DataFrame, scan: pd.DataFrame) -> dict[str, bool]:
    return {claim.label: claim.holds for claim in ch.claims(measures, scan, width=128, batch_size=512)}


def test_every_claim_holds_on_the_holding_tables() -> None:
    measures, scan = _holding_tables()
    claims = ch.claims(measures, scan, width=128, batch_size=512)
    assert [c.label for c in claims] == [f"5{letter}" for letter in "abcdefghijk"]
    assert all(c.verdict == HOLDS for c in claims)
    assert "width 512" in claims[5].text and "width 128" in claims[7].text and "batch 512" in claims[9].text
    assert claims[7].measured == pytest.approx(5.0) and claims[6].measured == pytest.approx(6.0)


# (label, table, row, column, value): one change that breaks exactly that claim.
BREAKS = [
    ("5a", "measures", ("main", "sp", 16), "max_eta_lambda_H", 1.95),  # limit 3.8 / 2 = 1.9
    ("5b", "measures", ("main", "simple_mup", 128), "late_eta_lambda_PH", 18.9),
    ("5c", "measures", ("main", "sp", 1), "late_eta_lambda_PH", 45.1),
    ("5d", "measures", ("main", "sp", 1), "spike", 1.99),
    ("5e", "measures", ("main", "simple_mup", 128), "spike", 2.0),
    ("5f", "scan", 1, "lambda0_PH", 10 ** 5.51),
    ("5g", "scan", 3, "lambda0_PH", 10 ** 5.49),
    ("5h", "measures", ("main", "simple_mup", 1), "lambda0_PH", 10 ** 4.49),
    ("5i", "measures", ("main", "sp", 1), "lambda0_PH", 1.1e5),  # the book's 5.04: DOES NOT HOLD
    ("5j", "measures", ("batch", "sp", 128), "late_eta_lambda_PH", 30.0),
    ("5k", "measures", ("xent", "simple_mup", 1), "pre_sharpness_fall", 0.1),
]


@pytest.mark.parametrize("label, table, row, column, value", BREAKS, ids=[b[0] for b in BREAKS])
def test_each_claim_fails_when_its_criterion_is_broken(label, table, row, column, value) -> None:
    measures, scan = _holding_tables()
    (measures if table == "measures" else scan).loc[row, column] = value
    verdicts = _verdicts(measures, scan)
    assert verdicts.pop(label) is False
    assert all(verdicts.values()), f"breaking {label} also broke {[k for k, v in verdicts.items() if not v]}"


def test_claims_hold_just_inside_their_limits() -> None:
    measures, scan = _holding_tables()
    measures.loc[("main", "sp", 16), "max_eta_lambda_H"] = 1.89
    measures.loc[("main", "sp", 1), ["late_eta_lambda_PH", "spike"]] = [19.0, 2.0]
    measures.loc[("main", "simple_mup", 1), "late_eta_lambda_PH"] = 45.0
    measures.loc[("main", "simple_mup", 128), "spike"] = 1.99
    measures.loc[("main", "simple_mup", 1), "lambda0_PH"] = 10 ** 4.51
    measures.loc[("batch", "sp", 128), "late_eta_lambda_PH"] = 29.9
    measures.loc[("xent", "sp", 1), "pre_sharpness_fall"] = 0.099
    scan.loc[1, "lambda0_PH"] = 10 ** 5.49
    assert all(_verdicts(measures, scan).values())
