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
from warmup_lib.claims import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE  # noqa: E402
from warmup_lib.claims.registry import chapter_evidence, chapter_rows  # noqa: E402
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
    assert list(plan)[:3] == [("main", "simple_mup", 1, 0), ("main", "simple_mup", 16, 0),
                              ("main", "simple_mup", 128, 0)]
    plan = {key[:-1]: cfg for key, cfg in plan.items()}
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


def test_plan_repeats_every_run_for_each_seed_and_keeps_seed_zero_ids() -> None:
    single = ch.run_plan(SETUP, BOOK_SETTINGS)
    seeded = ch.run_plan(SETUP, BOOK_SETTINGS, seeds=[0, 1, 2])
    assert len(seeded) == 3 * len(single)
    assert list(seeded)[:3] == [("main", "simple_mup", 1, seed) for seed in (0, 1, 2)]
    for key, cfg in seeded.items():
        assert cfg.seed == key[-1] and cfg.replace(seed=0) == single[key[:-1] + (0,)]
    assert store.run_id(seeded["xent", "sp", 128, 0]) == store.run_id(single["xent", "sp", 128, 0])
    assert ch.seed_runs({("a", 1, 0): "x", ("a", 1, 1): "y"}, 1) == {("a", 1): "y"}


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
    return {("main", "sp", 1, 0): spiky, ("main", "sp", 8, 0): smooth}


def test_measure_runs_reads_each_run() -> None:
    measures = ch.measure_runs(_main_runs(), rise=1.2, within=2)
    spiky = measures.loc["main", "sp", 1, 0]
    assert spiky.lambda0_PH == 2000.0 and spiky.lambda0_H == 1.0 and spiky.eta0_lambda0_PH == pytest.approx(200.0)
    assert spiky.spike == pytest.approx(8.0)  # the loss jumps from 1.0 to 8.0 at step 1
    assert spiky.later_spikes == 1  # 0.4 -> 1.0 at step 5: 2.5 x the lowest loss before it
    assert spiky.late_eta_lambda_PH == pytest.approx(0.1 * 380.0)  # median of 390, 370, 380 (steps >= 4)
    assert spiky.max_eta_lambda_H == pytest.approx(0.2)
    assert spiky.pre_sharpness_fall == pytest.approx(380.0 / 390.0)
    assert spiky.largest_spike == pytest.approx(8.0) and spiky.min_PH == 300.0
    assert spiky.cross_step == 4.0  # 0.1 x 390 >= 38 at step 4
    smooth = measures.loc["main", "sp", 8, 0]
    assert (smooth.spike, smooth.later_spikes, smooth.eta_trgt, smooth.largest_spike) == (1.0, 0, 0.05, 1.0)
    assert np.isnan(smooth.cross_step)  # eta lambda stays below 38
    table = ch.summary_table(measures, BOOK_SETTINGS)
    assert list(table["setting"]) == ["full batch, MSE"] * 2 and list(table["param"]) == ["SP", "SP"]
    assert list(table["T_wrm"]) == [1, 8] and list(table["first-step spike x"]) == ["8.00", "1.00"]
    assert table.loc[0, "late eta lambda_PH"] == "38.0" and table.loc[1, "final train loss"] == "0.3"
    assert table.loc[0, "outcome"] == "1 converged" and table.loc[0, "seeds"] == 1


def test_summary_table_gives_the_seeds_mean_and_range() -> None:
    runs = _main_runs()
    two = {("main", "sp", 1, 0): runs["main", "sp", 1, 0], ("main", "sp", 1, 1): runs["main", "sp", 8, 0]}
    table = ch.summary_table(ch.measure_runs(two, rise=1.2, within=2), BOOK_SETTINGS)
    assert len(table) == 1 and table.loc[0, "seeds"] == 2
    assert table.loc[0, "first-step spike x"] == "4.50 (1.00-8.00)"
    assert ch.seed_spread([2.0, 2.0001], ".2f") == "2.00" and ch.seed_spread([], ".1f") == "-"


def test_initial_curvature_scan_rounds_the_measured_values(tmp_path) -> None:
    tiny = ch.AdamSetup(dataset="mnist1d", n_train=64, n_test=32, data_root=None, width=8, depth=3, seed=0,
                        eval_every=0, device="cpu")
    configs = {"sp": tiny.config("sp", 0.01, 1, 3)}
    scan = ch.initial_curvature_scan("exp", configs, [4, 8], tmp_path, seeds=[0, 1])
    assert list(scan["param"]) == ["SP"] * 4 and list(scan["width"]) == [4, 4, 8, 8]
    assert list(scan["seed"]) == [0, 1, 0, 1]
    direct = measure_initial_curvature(configs["sp"].replace(**{"model.width": 4, "seed": 1}))
    row = scan.iloc[1]
    assert row["lambda0_PH"] == pytest.approx(direct["lambda_PH"], rel=1e-6)
    assert row["lambda0_H"] == pytest.approx(direct["lambda_H"], rel=1e-6)
    assert row["participation"] == pytest.approx(direct["participation"], rel=1e-6)
    assert row["parameters"] == (40 * 4 + 4) + (4 * 4 + 4) + (4 * 10 + 10)  # MNIST-1D: 40 features, 10 classes
    assert scan.iloc[0]["lambda0_PH"] != row["lambda0_PH"]  # another initialisation
    table = ch.scan_table(scan)
    assert list(table["width"]) == [4, 8] and list(table["seeds"]) == [2, 2]


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
    seeds = pd.concat([scan.assign(seed=0), scan.assign(seed=1, lambda0_PH=scan["lambda0_PH"] * 2)])
    fig = ch.width_scan_figure(seeds)
    ax_pre, ax_part = fig.axes
    assert len(ax_pre.lines) == 8 and len(ax_part.lines) == 4
    assert len(ax_pre.get_legend().get_texts()) == 4  # each quantity labelled once


# ------------------------------------------------------------------------------------------- claims


def _holding_tables(seeds=(0, 1, 2)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fabricated measures and scan on which every row 5a-5k holds, for each seed."""
    rows = []
    for seed in seeds:
        for param, lambda0 in (("simple_mup", 1e5), ("sp", 1e6)):
            for warmup in (1, 16, 128):
                rows.append({"setting": "main", "param": param, "warmup": warmup, "seed": seed,
                             "max_eta_lambda_H": 0.2, "late_eta_lambda_PH": 36.0,
                             "spike": 6.0 if warmup == 1 else 1.0, "largest_spike": 6.0 if warmup == 1 else 1.3,
                             "lambda0_PH": lambda0, "pre_sharpness_fall": 0.9})
            for setting, late, fall in (("batch", 16.0, 0.5), ("xent", 5.0, 0.01)):
                for warmup in (1, 128):
                    rows.append({"setting": setting, "param": param, "warmup": warmup, "seed": seed,
                                 "max_eta_lambda_H": 0.1, "late_eta_lambda_PH": late,
                                 "spike": 3.0 if warmup == 1 else 1.0, "largest_spike": 3.0,
                                 "lambda0_PH": lambda0, "pre_sharpness_fall": fall})
    measures = pd.DataFrame(rows).set_index(["setting", "param", "warmup", "seed"]).sort_index()
    scan = pd.DataFrame([{"param": param, "width": width, "seed": seed, "lambda0_PH": value}
                         for seed in seeds
                         for param, values in (("simple-muP", (1e3, 3e3, 1e5)), ("SP", (1e5, 2e5, 1e6)))
                         for width, value in zip((64, 128, 512), values)])
    return measures, scan


def _verdicts(measures: pd.DataFrame, scan: pd.DataFrame) -> dict[str, str]:
    evidence = chapter_evidence("03_adam_preconditioned_sharpness", ch.claim_values(measures, scan), [0, 1, 2])
    return {row.spec.id: row.verdict for row in evidence}


def test_the_registry_rows_are_the_ids_the_values_give() -> None:
    measures, scan = _holding_tables()
    values = ch.claim_values(measures, scan)
    assert list(values) == [spec.id for spec in chapter_rows("03_adam_preconditioned_sharpness")]
    assert all(len(per_seed) == 3 for per_seed in values.values())


def test_every_row_holds_on_the_holding_tables() -> None:
    measures, scan = _holding_tables()
    values = ch.claim_values(measures, scan)
    assert values["5f"] == [pytest.approx(5.0)] * 3 and values["5g"] == [pytest.approx(6.0)] * 3
    assert values["5h"] == [pytest.approx(10.0)] * 3 and values["5i"] == [pytest.approx(2.0)] * 3
    assert values["5b"] == [36.0] * 3 and values["5e"] == [1.3] * 3
    assert set(_verdicts(measures, scan).values()) == {HOLDS}


# (row, table, where, column, value): one change in every seed that breaks exactly that row.
BREAKS = [
    ("5a", "measures", ("main", "sp", 16), "max_eta_lambda_H", 1.95),  # limit 3.8 / 2 = 1.9
    ("5b", "measures", ("main", "simple_mup", 128), "late_eta_lambda_PH", 18.9),
    ("5b", "measures", ("main", "sp", 1), "late_eta_lambda_PH", 76.1),
    ("5d", "measures", ("main", "sp", 1), "spike", 1.99),
    ("5e", "measures", ("main", "simple_mup", 128), "largest_spike", 2.0),  # a later spike counts too
    ("5f", "scan", ("simple-muP", 512), "lambda0_PH", 9e3),
    ("5g", "scan", ("SP", 512), "lambda0_PH", 1.1e7),
    ("5h", "scan", ("simple-muP", 512), "lambda0_PH", 4e5),
    ("5i", "scan", ("SP", 128), "lambda0_PH", 9e4),  # width 128 below width 64
    ("5j", "measures", ("batch", "sp", 128), "late_eta_lambda_PH", 30.0),
    ("5k", "measures", ("xent", "simple_mup", 1), "pre_sharpness_fall", 0.1),
]


def _change(measures, scan, table, where, column, value, seeds=(0, 1, 2)) -> None:
    for seed in seeds:
        if table == "measures":
            measures.loc[where + (seed,), column] = value
        else:
            match = (scan["param"] == where[0]) & (scan["width"] == where[1]) & (scan["seed"] == seed)
            scan.loc[match, column] = value


@pytest.mark.parametrize("row, table, where, column, value", BREAKS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BREAKS)])
def test_each_row_fails_when_its_criterion_is_broken(row, table, where, column, value) -> None:
    measures, scan = _holding_tables()
    _change(measures, scan, table, where, column, value)
    verdicts = _verdicts(measures, scan)
    assert verdicts.pop(row) == DOES_NOT_HOLD
    assert set(verdicts.values()) == {HOLDS}, f"breaking {row} also broke {verdicts}"


def test_a_row_broken_in_one_seed_is_inconclusive() -> None:
    measures, scan = _holding_tables()
    _change(measures, scan, "measures", ("main", "sp", 1), "spike", 1.5, seeds=(1,))
    verdicts = _verdicts(measures, scan)
    assert verdicts.pop("5d") == INCONCLUSIVE and set(verdicts.values()) == {HOLDS}


def test_rows_hold_just_inside_their_limits() -> None:
    measures, scan = _holding_tables()
    _change(measures, scan, "measures", ("main", "sp", 16), "max_eta_lambda_H", 1.89)
    _change(measures, scan, "measures", ("main", "sp", 1), "late_eta_lambda_PH", 19.0)
    _change(measures, scan, "measures", ("main", "simple_mup", 1), "late_eta_lambda_PH", 76.0)
    _change(measures, scan, "measures", ("main", "sp", 1), "spike", 2.0)
    _change(measures, scan, "measures", ("main", "simple_mup", 128), "largest_spike", 1.99)
    _change(measures, scan, "measures", ("batch", "sp", 128), "late_eta_lambda_PH", 29.9)
    _change(measures, scan, "measures", ("xent", "sp", 1), "pre_sharpness_fall", 0.099)
    _change(measures, scan, "scan", ("simple-muP", 512), "lambda0_PH", 9.9e5)  # log10 5.996, ratio 1.01
    _change(measures, scan, "scan", ("SP", 512), "lambda0_PH", 3e6)  # ratio SP / muP 3.03
    assert set(_verdicts(measures, scan).values()) == {HOLDS}
    late = ch.claim_values(measures, scan)["5b"]
    assert set(late) <= {19.0, 76.0}  # both a factor 2 from 38, farther than 36 on a log scale


def test_farthest_from_and_width_growth() -> None:
    assert ch.farthest_from([30.0, 45.0, 38.0], 38.0) == 30.0  # ln(38/30) = 0.236 > ln(45/38) = 0.169
    _, scan = _holding_tables(seeds=(0,))
    assert ch.width_growth(scan, 0) == pytest.approx(2.0)  # SP: 1e5 -> 2e5
    assert ch.widest_values(scan, 0) == (512, {"simple-muP": 1e5, "SP": 1e6})


def test_page_numbers_quote_the_seeds() -> None:
    measures, scan = _holding_tables()
    measures["lambda0_H"] = 0.1
    measures["eta0_lambda0_PH"] = measures["lambda0_PH"] * 0.02
    measures["later_spikes"] = 0
    measures["min_PH"] = 100.0
    measures["cross_step"] = np.nan
    measures["final_train_loss"] = 1e-3
    measures.loc[("main", "sp", 1, 1), "spike"] = 8.0
    scan["lambda0_H"], scan["participation"], scan["parameters"] = 1.0, 1.5, 1000
    numbers = ch.page_numbers(measures, scan, {"simple_mup": 0.03, "sp": 0.02})
    assert numbers["adam_spike1_sp"] == "6.7 (6.0-8.0)" and numbers["adam_spike1_mup"] == "6.0"
    assert numbers["adam_thr_sp"] == "1900" and numbers["adam_cross_long_sp"] == "never"
    assert numbers["adam_widest_ratio"] == "10.0" and numbers["adam_late_range"] == "36-36"
    assert numbers["adam_scan_min_over"] == f"{1e3 * 0.03 / 38:.0f}"
