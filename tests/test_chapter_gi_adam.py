"""warmup_lib.chapters.gi_adam: the run plans, the readings of a run, the figures and the claims'
criteria of chapter 4.

Oracles: configs written out field by field (the notebook's own before the chapter had a module,
so the store's run ids are those of the committed runs), the full-batch algebra (with eps -> 0,
GI-Adam's lambda_0^{P^-1 H} is exactly sqrt(1 - beta2) times Adam's), hand-made records whose readings
are known, and fabricated tables on which each claim's verdict is known both ways.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from warmup_lib.chapters import gi_adam as ch  # noqa: E402
from warmup_lib.chapters.adam_preconditioned_sharpness import AdamSetup, seed_runs  # noqa: E402
from warmup_lib.claims import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE  # noqa: E402
from warmup_lib.claims.registry import chapter_evidence, chapter_rows  # noqa: E402
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig  # noqa: E402
from warmup_lib.runs import store  # noqa: E402
from warmup_lib.runs.train import RunResult  # noqa: E402

SETUP = AdamSetup(dataset="mnist1d", n_train=1024, n_test=1000, data_root=None, width=128, depth=4, seed=0,
                  eval_every=64, device="cpu")
TINY = AdamSetup(dataset="mnist1d", n_train=64, n_test=32, data_root=None, width=8, depth=3, seed=0,
                 eval_every=0, device="cpu")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------------------- plans


def _by_hand(param: str, optimizer: str, eta: float, warmup: int, steps: int, pre_every: int,
             adam_state_every: int = 0, seed: int = 0, exponent: float = 1.0) -> RunConfig:
    return RunConfig(data=DataConfig(name="mnist1d", n_train=1024, n_test=1000, root=None),
                     model=ModelConfig(arch="fcn", width=128, depth=4, param=param),
                     optim=OptimConfig(name=optimizer, beta1=0.9, beta2=0.999),
                     schedule=ScheduleConfig(eta_trgt=eta, warmup_steps=warmup, warmup_exponent=exponent),
                     loss="mse", batch_size=None, steps=steps, seed=seed, eval_every=64,
                     pre_sharpness_every=pre_every, adam_state_every=adam_state_every, device="cpu")


def test_mechanism_plan_is_every_optimizer_without_warmup() -> None:
    plan = ch.mechanism_plan(SETUP, {"simple_mup": 0.03, "sp": 0.02}, 256, 4, seeds=[0, 1])
    assert list(plan) == [(param, opt, seed) for param in ("simple_mup", "sp") for opt in ("adam", "gi_adam", "ri_adam")
                          for seed in (0, 1)]
    for (param, opt, seed), cfg in plan.items():
        by_hand = _by_hand(param, opt, {"simple_mup": 0.03, "sp": 0.02}[param], 1, 256, 4, seed=seed)
        assert cfg == by_hand and store.run_id(cfg) == store.run_id(by_hand)
    assert list(ch.mechanism_plan(SETUP, {"simple_mup": 0.03, "sp": 0.02}, 256, 4))[0] == ("simple_mup", "adam", 0)


def test_implicit_and_failure_plans_are_sp_runs_with_their_labels() -> None:
    implicit = ch.implicit_plan(SETUP, 0.02, 2048, 615, seeds=[0, 3])
    labels = ["Adam, no warmup", "GI-Adam, no warmup", "Adam, linear warmup 615", "Adam, sqrt warmup 1000"]
    assert list(implicit) == [(label, seed) for seed in (0, 3) for label in labels]
    assert labels == list(ch.implicit_labels(615, 1000).values())
    assert implicit["Adam, linear warmup 615", 0] == _by_hand("sp", "adam", 0.02, 615, 2048, 0, adam_state_every=1)
    assert implicit["GI-Adam, no warmup", 3] == _by_hand("sp", "gi_adam", 0.02, 1, 2048, 0, adam_state_every=1,
                                                         seed=3)
    # eta_trgt sqrt((t+1)/1000): GI-Adam's eta_trgt sqrt(1 - 0.999^(t+1)) over its first steps
    assert implicit["Adam, sqrt warmup 1000", 0] == _by_hand("sp", "adam", 0.02, 1000, 2048, 0, adam_state_every=1,
                                                             exponent=0.5)
    assert ch.sqrt_warmup_steps(2048) == 1000 and ch.sqrt_warmup_steps(64) == 64
    failure = ch.failure_plan(SETUP, 0.1, 1024, 256)
    assert [label for label, _ in failure] == ["Adam, no warmup", "GI-Adam, no warmup", "RI-Adam, no warmup",
                                               "Adam, linear warmup 256"]
    assert failure["RI-Adam, no warmup", 0] == _by_hand("sp", "ri_adam", 0.1, 1, 1024, 0, adam_state_every=1)
    assert failure["Adam, linear warmup 256", 0] == _by_hand("sp", "adam", 0.1, 256, 1024, 0, adam_state_every=1)


def test_tracked_runs_record_adams_state_and_are_loaded_the_second_time(tmp_path) -> None:
    plan = ch.failure_plan(TINY, 0.01, 4, 2)
    runs = ch.load_or_run_plan("exp", plan, tmp_path)
    assert all(store.is_done("exp", cfg, tmp_path) for cfg in plan.values())
    for column in ("v_norm", "m_norm", "last_update_rms"):
        assert column in runs["GI-Adam, no warmup", 0].records
    again = ch.load_or_run_plan("exp", plan, tmp_path)
    pd.testing.assert_frame_equal(again["Adam, no warmup", 0].records, runs["Adam, no warmup", 0].records,
                                  check_dtype=False)


def test_full_batch_gi_adam_first_steps_follow_eta_sqrt_one_minus_beta2_t(tmp_path) -> None:
    # The implicit warmup as an implementation check (not a claims row): in full batch, while
    # |m_hat| / sqrt(v) ~ 1 (sign descent), GI-Adam's measured update is eta sqrt(1 - beta2^{t+1})
    # times the RMS of sign(g) over the live coordinates; Adam's first update is a full eta.
    plan = ch.implicit_plan(TINY, 0.01, 12, 12)
    runs = ch.load_or_run_plan("exp", plan, tmp_path)
    ratio = ch.early_step_ratio(runs["GI-Adam, no warmup", 0], count=8)
    assert len(ratio) == 8 and np.all((ratio > 0.7) & (ratio < 1.4))
    assert ch.step_size(runs["Adam, no warmup", 0])[0] == pytest.approx(ratio[0], rel=1e-3) \
        or ch.step_size(runs["Adam, no warmup", 0])[0] > 10 * ch.step_size(runs["GI-Adam, no warmup", 0])[0]


def test_without_eps_gi_adam_lowers_the_initial_pre_sharpness_by_exactly_one_over_sqrt_one_minus_beta2(tmp_path) -> None:
    # Full batch: g_1 = g_0, so GI-Adam's first pre-conditioner is Adam's / sqrt(1 - beta2) in every
    # coordinate; with eps -> 0 the ratio of the pre-conditioned sharpnesses is exactly that.
    plan = ch.mechanism_plan(TINY, {"simple_mup": 0.01, "sp": 0.01}, 2, 1)
    ratios = ch.epsilon_free_ratios("exp", plan, tmp_path)
    assert ratios["sp"] == [pytest.approx(1 / np.sqrt(1 - 0.999), rel=2e-3)]
    assert ratios["simple_mup"] == [pytest.approx(1 / np.sqrt(1 - 0.999), rel=2e-3)]


# ------------------------------------------------------------------------------ reading the runs


def _run(loss, pre=None, update_rms=None, eta_trgt=0.1, final_train_loss=0.5, accuracy=0.9) -> RunResult:
    steps = len(loss)
    records = pd.DataFrame({"step": np.arange(steps), "lr": np.full(steps, eta_trgt),
                            "loss": np.asarray(loss, dtype=float),
                            "pre_sharpness": np.full(steps, np.nan) if pre is None else np.asarray(pre, float),
                            "last_update_rms": np.full(steps, np.nan) if update_rms is None
                            else np.asarray(update_rms, float)})
    summary = {"final_train_loss": final_train_loss, "final_train_accuracy": accuracy, "outcome": "converged",
               "config": {"schedule": {"eta_trgt": eta_trgt}, "steps": steps}}
    return RunResult(records=records, evals=pd.DataFrame(), summary=summary)


def test_step_size_is_the_update_out_of_each_row_over_eta_trgt() -> None:
    result = _run([1.0] * 4, update_rms=[np.nan, 0.02, 0.04, 0.08], eta_trgt=0.2)
    assert np.allclose(ch.step_size(result), [0.1, 0.2, 0.4, np.nan], equal_nan=True)


def test_early_step_ratio_is_one_when_the_step_follows_the_implicit_warmup() -> None:
    eta_trgt, t = 0.01, np.arange(16)
    factor = np.sqrt(1 - 0.999 ** (t + 1))
    rms = np.concatenate([[np.nan], eta_trgt * factor[:-1]])  # row t + 1 holds the update of step t
    ratio = ch.early_step_ratio(_run([1.0] * 16, update_rms=rms, eta_trgt=eta_trgt))
    assert len(ratio) == 10 and np.allclose(ratio, 1.0)
    short = ch.early_step_ratio(_run([1.0] * 4, update_rms=rms[:4] * 2, eta_trgt=eta_trgt))
    assert len(short) == 3 and np.allclose(short, 2.0)


def test_largest_loss_rise_skips_the_first_steps() -> None:
    loss = [1.0, 10.0, 0.5, 0.4, 0.2, 1.0, 0.9, 0.1]  # rises: 10 (into step 1), 5 (into step 5)
    assert ch.largest_loss_rise(loss, after=2) == (4, pytest.approx(5.0))
    assert ch.largest_loss_rise(loss, after=0) == (0, pytest.approx(10.0))
    assert ch.largest_loss_rise([1.0, 3.0, 1.5], after=8) == (1, pytest.approx(0.5))  # too short: the last rise


def _mechanism():
    """Hand-made mechanism runs: Adam spikes at step 1, GI- and RI-Adam do not."""
    spiky, smooth = [1.0, 6.0, 0.8, 0.6], [1.0, 0.9, 0.8, 0.7]
    runs = {}
    for param, scale in (("simple_mup", 1.0), ("sp", 10.0)):
        runs[param, "adam", 0] = _run(spiky, pre=[4e4 * scale, np.nan, 1.0, 1.0], final_train_loss=0.2)
        runs[param, "gi_adam", 0] = _run(smooth, pre=[4e3 * scale, np.nan, 1.0, 1.0], final_train_loss=0.1)
        runs[param, "ri_adam", 0] = _run(smooth, pre=[5e2 * scale, np.nan, 1.0, 1.0], final_train_loss=0.15)
    return runs


def test_measure_mechanism_and_its_table() -> None:
    measures = ch.measure_mechanism(_mechanism(), rise=1.2, within=8)
    assert measures.loc[("sp", "adam", 0), "lambda0_PH"] == 4e5
    assert measures.loc[("sp", "adam", 0), "spike"] == pytest.approx(6.0)
    assert measures.loc[("sp", "gi_adam", 0), "spike"] == 1.0
    assert measures.loc[("sp", "gi_adam", 0), "late_loss"] == pytest.approx(np.sqrt(0.8 * 0.7))  # steps 2, 3
    table = ch.mechanism_table(measures, {"simple_mup": 0.03, "sp": 0.02})
    assert list(table["optimizer"][:3]) == ["Adam", "GI-Adam", "RI-Adam"] and list(table["param"][-1:]) == ["SP"]
    assert list(table["Adam / this"]) == ["1.0", "10.0", "80.0"] * 2
    assert table.loc[3, "eta lambda0_PH"] == f"{0.02 * 4e5:.3g}"
    assert table.loc[0, "final train acc"] == "0.900"


def test_window_loss_is_the_geometric_mean_over_the_window() -> None:
    assert ch.window_loss([1.0, 100.0, 1.0, np.inf, 4.0], 1, 5) == pytest.approx((100.0 * 4.0) ** (1 / 3))
    assert np.isnan(ch.window_loss([np.nan, np.nan], 0, 2))
    assert ch.implicit_window(2048) == (512, 1024)


# ------------------------------------------------------------------------------------------ figures


def test_mechanism_figure_draws_adams_threshold_at_38_over_eta() -> None:
    fig = ch.mechanism_figure(seed_runs(_mechanism(), 0), {"simple_mup": 0.03, "sp": 0.02})
    assert len(fig.axes) == 4
    threshold = fig.axes[3].lines[-1]
    assert np.allclose(threshold.get_ydata(), 38.0 / 0.02) and threshold.get_label() == r"$38/\eta_{trgt}$"
    assert [line.get_label() for line in fig.axes[1].lines[:3]] == ["Adam", "GI-Adam", "RI-Adam"]


def test_implicit_and_state_figures_draw_every_run() -> None:
    runs = {label: _run([1.0, 0.5, 0.25, 0.2], update_rms=[np.nan, 0.001, 0.002, 0.004], eta_trgt=0.1)
            for label in ("Adam, no warmup", "GI-Adam, no warmup", "Adam, linear warmup 3")}
    fig = ch.implicit_figure(runs, 3)
    ax_step, ax_loss = fig.axes
    assert len(ax_step.lines) == 5 and len(ax_loss.lines) == 3
    assert np.allclose(ax_step.lines[4].get_ydata(), [1 / 3, 2 / 3, 1.0, 1.0])  # min(1, (t+1)/3)
    fig = ch.implicit_figure(runs, 3, sqrt_warmup=4)
    assert np.allclose(fig.axes[0].lines[5].get_ydata(), np.sqrt([0.25, 0.5, 0.75, 1.0]))
    for result in runs.values():
        result.records["grad_norm"] = [1.0, 2.0, 3.0, 4.0]
        result.records["v_norm"] = [0.0, 1.0, 1.0, 1.0]
    fig = ch.state_figure(runs)
    assert len(fig.axes) == 4 and all(len(ax.lines) == 3 for ax in fig.axes)
    assert np.allclose(fig.axes[3].lines[0].get_ydata()[:3], [0.01, 0.02, 0.04])


# ------------------------------------------------------------------------------------------- claims

LABELS = ch.implicit_labels(1227, 1000)


def _holding(seeds=(0, 1, 2), implicit_seeds=(0, 1, 2, 3, 4)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fabricated mechanism and implicit tables on which every row holds in every seed."""
    rows = []
    for seed in seeds:
        for param in ("simple_mup", "sp"):
            for opt, lambda0, spike, late in (("adam", 1e5, 6.0, 0.3), ("gi_adam", 3e3, 1.0, 0.1),
                                              ("ri_adam", 1e3, 1.0, 0.1)):
                rows.append({"param": param, "optimizer": opt, "seed": seed, "lambda0_PH": lambda0, "spike": spike,
                             "late_loss": late, "final_train_loss": late, "final_train_accuracy": 0.9})
    measures = pd.DataFrame(rows).set_index(["param", "optimizer", "seed"]).sort_index()
    implicit = pd.DataFrame([{"label": LABELS[role], "seed": seed, "window_loss": loss, "final_train_loss": loss / 10,
                              "final_train_accuracy": 1.0, "outcome": "converged"}
                             for seed in implicit_seeds
                             for role, loss in (("adam", 1e-2), ("gi_adam", 1e-3), ("matched", 2e-3),
                                                ("sqrt", 5e-4))]).set_index(["label", "seed"])
    return measures, implicit


def _verdicts(measures: pd.DataFrame, implicit: pd.DataFrame) -> dict[str, str]:
    evidence = chapter_evidence("04_gi_adam", ch.claim_values(measures, implicit, LABELS), [0, 1, 2])
    return {row.spec.id: row.verdict for row in evidence}


def test_the_registry_rows_are_the_ids_the_values_give() -> None:
    measures, implicit = _holding()
    values = ch.claim_values(measures, implicit, LABELS)
    assert list(values) == [spec.id for spec in chapter_rows("04_gi_adam")]
    assert [len(values[row]) for row in values] == [3, 3, 5, 5, 5, 3, 3, 3]


def test_every_row_holds_on_the_holding_tables() -> None:
    measures, implicit = _holding()
    values = ch.claim_values(measures, implicit, LABELS)
    assert values["13a"] == [pytest.approx(1e5 / 3e3)] * 3 and values["14a"] == [100.0] * 3
    assert values["13f"] == [0.5] * 5 and values["13g"] == [2.0] * 5 and values["13h"] == [10.0] * 5
    assert values["14c"] == [pytest.approx(1 / 3)] * 3
    assert set(_verdicts(measures, implicit).values()) == {HOLDS}


# (row, table, where, column, value): one change in every seed that breaks exactly that row.
BREAKS = [
    ("13a", "measures", ("sp", "gi_adam"), "lambda0_PH", 1e5 / 29.9),  # 10x would have passed before
    ("13c", "measures", ("sp", "gi_adam"), "spike", 2.0),
    ("13f", "implicit", "matched", "window_loss", 1e-3 / 3.01),  # GI-Adam 3.01 x the matched warmup's
    ("13f", "implicit", "matched", "window_loss", 3.01e-3),  # 1/3.01 of it
    ("13g", "implicit", "sqrt", "window_loss", 3.1e-3),
    ("13h", "implicit", "adam", "window_loss", 2.9e-3),
    ("14a", "measures", ("simple_mup", "ri_adam"), "lambda0_PH", 1e5 / 9.9),
    ("14b", "measures", ("simple_mup", "ri_adam"), "spike", 2.5),
    ("14c", "measures", ("sp", "ri_adam"), "late_loss", 0.16),  # a gain, but less than a factor 2
]


def _change(measures, implicit, table, where, column, value, seeds=None) -> None:
    if table == "measures":
        for seed in (0, 1, 2) if seeds is None else seeds:
            measures.loc[where + (seed,), column] = value
    else:
        for seed in (0, 1, 2, 3, 4) if seeds is None else seeds:
            implicit.loc[(LABELS[where], seed), column] = value


@pytest.mark.parametrize("row, table, where, column, value", BREAKS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BREAKS)])
def test_each_row_fails_when_its_criterion_is_broken(row, table, where, column, value) -> None:
    measures, implicit = _holding()
    _change(measures, implicit, table, where, column, value)
    verdicts = _verdicts(measures, implicit)
    assert verdicts.pop(row) == DOES_NOT_HOLD
    assert set(verdicts.values()) == {HOLDS}, f"breaking {row} also broke {verdicts}"


def test_seeds_that_straddle_a_criterion_are_inconclusive() -> None:
    measures, implicit = _holding()
    _change(measures, implicit, "implicit", "matched", "window_loss", 2e-4, seeds=(3, 4))  # ratio 5 there
    _change(measures, implicit, "measures", ("sp", "ri_adam"), "late_loss", 0.2, seeds=(2,))
    verdicts = _verdicts(measures, implicit)
    assert (verdicts.pop("13f"), verdicts.pop("14c")) == (INCONCLUSIVE, INCONCLUSIVE)
    assert set(verdicts.values()) == {HOLDS}


def test_rows_hold_at_their_limits() -> None:
    measures, implicit = _holding()
    _change(measures, implicit, "measures", ("sp", "gi_adam"), "lambda0_PH", 1e5 / 30)  # ratio exactly 30
    _change(measures, implicit, "measures", ("sp", "ri_adam"), "spike", 1.99)
    _change(measures, implicit, "measures", ("sp", "ri_adam"), "late_loss", 0.15)  # exactly 1/2
    _change(measures, implicit, "implicit", "matched", "window_loss", 3e-3)  # exactly 1/3
    _change(measures, implicit, "implicit", "adam", "window_loss", 3e-3)  # exactly 3
    assert set(_verdicts(measures, implicit).values()) == {HOLDS}


def test_page_numbers_and_failure_outcomes() -> None:
    measures, implicit = _holding()
    measures.loc[("sp", "gi_adam", 2), "lambda0_PH"] = 1e4  # reduction 10 in that seed
    numbers = ch.page_numbers(measures, implicit, LABELS, {"simple_mup": [30.0, 31.0, 32.0], "sp": [31.6] * 3})
    assert numbers["gi_ratio_sp"] == f"{(2 * 1e5 / 3e3 + 10) / 3:.1f} (10.0-33.3)"
    assert numbers["gi_eps0_mup"] == "31.0 (30.0-32.0)" and numbers["gi_eps0_sp"] == "31.6"
    assert numbers["gi_vs_matched"] == "0.50" and numbers["gi_failed_adam"] == "0 of 5"
    assert numbers["gi_implicit_seeds"] == "5"
    runs = {("Adam, no warmup", seed): _run([1.0], accuracy=acc) for seed, acc in ((0, 0.1), (1, 0.12))}
    runs["Adam, no warmup", 1].summary["outcome"] = "failed"
    assert ch.failure_outcomes(runs) == "Adam, no warmup: 1 converged, 1 failed (training accuracy 0.11 (0.10-0.12))"


def test_failure_numbers_read_one_seeds_runs() -> None:
    loss = [1.0, 50.0, 2.0, 1.5, 1.0, 4.0, 3.0, 2.0]
    runs = {label: _run(loss, update_rms=[np.nan, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07], eta_trgt=0.1)
            for label in ("Adam, no warmup", "GI-Adam, no warmup", "Adam, linear warmup 4")}
    for scale, result in zip((1.0, 0.5, 1.0), runs.values()):
        result.records["v_norm"] = np.array([0.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0]) * scale
        result.records["grad_norm"] = [1.0, 30.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.1]
    numbers = ch.failure_numbers(runs, warmup=4, spike_steps=2)
    assert numbers["gi_fail_peak_grad"] == "30" and numbers["gi_fail_v_peak"] == "9"
    assert (numbers["gi_fail_late_step"], numbers["gi_fail_v_late"], numbers["gi_fail_v_gi"]) == ("4", "6", "3")
    assert numbers["gi_fail_mid_step"] == "6" and numbers["gi_fail_mid_grad"] == "0.1"
    assert numbers["gi_fail_mid_update"] == "7.0e-01"  # update of step 6 (row 7) over eta_trgt
    assert (numbers["gi_fail_warm_jump"], numbers["gi_fail_warm_jump_x"]) == ("4", "4")  # 1.0 -> 4.0 into step 5
