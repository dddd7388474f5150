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
from warmup_lib.chapters.adam_preconditioned_sharpness import AdamSetup  # noqa: E402
from warmup_lib.claims import HOLDS  # noqa: E402
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
             adam_state_every: int = 0) -> RunConfig:
    return RunConfig(data=DataConfig(name="mnist1d", n_train=1024, n_test=1000, root=None),
                     model=ModelConfig(arch="fcn", width=128, depth=4, param=param),
                     optim=OptimConfig(name=optimizer, beta1=0.9, beta2=0.999),
                     schedule=ScheduleConfig(eta_trgt=eta, warmup_steps=warmup), loss="mse", batch_size=None,
                     steps=steps, seed=0, eval_every=64, pre_sharpness_every=pre_every,
                     adam_state_every=adam_state_every, device="cpu")


def test_mechanism_plan_is_every_optimizer_without_warmup() -> None:
    plan = ch.mechanism_plan(SETUP, {"simple_mup": 0.03, "sp": 0.02}, 256, 4)
    assert list(plan) == [(param, opt) for param in ("simple_mup", "sp") for opt in ("adam", "gi_adam", "ri_adam")]
    for (param, opt), cfg in plan.items():
        by_hand = _by_hand(param, opt, {"simple_mup": 0.03, "sp": 0.02}[param], 1, 256, 4)
        assert cfg == by_hand and store.run_id(cfg) == store.run_id(by_hand)


def test_implicit_and_failure_plans_are_sp_runs_with_their_labels() -> None:
    implicit = ch.implicit_plan(SETUP, 0.02, 2048, 615)
    assert list(implicit) == ["Adam, no warmup", "GI-Adam, no warmup", "Adam, linear warmup 615"]
    assert implicit["Adam, linear warmup 615"] == _by_hand("sp", "adam", 0.02, 615, 2048, 0, adam_state_every=1)
    assert implicit["GI-Adam, no warmup"] == _by_hand("sp", "gi_adam", 0.02, 1, 2048, 0, adam_state_every=1)
    failure = ch.failure_plan(SETUP, 0.1, 1024, 256)
    assert list(failure) == ["Adam, no warmup", "GI-Adam, no warmup", "RI-Adam, no warmup",
                             "Adam, linear warmup 256"]
    assert failure["RI-Adam, no warmup"] == _by_hand("sp", "ri_adam", 0.1, 1, 1024, 0, adam_state_every=1)
    assert failure["Adam, linear warmup 256"] == _by_hand("sp", "adam", 0.1, 256, 1024, 0, adam_state_every=1)


def test_tracked_runs_record_adams_state_and_are_loaded_the_second_time(tmp_path) -> None:
    plan = ch.failure_plan(TINY, 0.01, 4, 2)
    runs = ch.load_or_run_plan("exp", plan, tmp_path)
    assert all(store.is_done("exp", cfg, tmp_path) for cfg in plan.values())
    for column in ("v_norm", "m_norm", "last_update_rms"):
        assert column in runs["GI-Adam, no warmup"].records
    again = ch.load_or_run_plan("exp", plan, tmp_path)
    pd.testing.assert_frame_equal(again["Adam, no warmup"].records, runs["Adam, no warmup"].records,
                                  check_dtype=False)


def test_without_eps_gi_adam_lowers_the_initial_pre_sharpness_by_exactly_one_over_sqrt_one_minus_beta2(tmp_path) -> None:
    # Full batch: g_1 = g_0, so GI-Adam's first pre-conditioner is Adam's / sqrt(1 - beta2) in every
    # coordinate; with eps -> 0 the ratio of the pre-conditioned sharpnesses is exactly that.
    plan = ch.mechanism_plan(TINY, {"simple_mup": 0.01, "sp": 0.01}, 2, 1)
    ratios = ch.epsilon_free_ratios("exp", plan, tmp_path)
    assert ratios["sp"] == pytest.approx(1 / np.sqrt(1 - 0.999), rel=2e-3)
    assert ratios["simple_mup"] == pytest.approx(1 / np.sqrt(1 - 0.999), rel=2e-3)


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
        runs[param, "adam"] = _run(spiky, pre=[4e4 * scale, np.nan, 1.0, 1.0], final_train_loss=0.2)
        runs[param, "gi_adam"] = _run(smooth, pre=[4e3 * scale, np.nan, 1.0, 1.0], final_train_loss=0.1)
        runs[param, "ri_adam"] = _run(smooth, pre=[5e2 * scale, np.nan, 1.0, 1.0], final_train_loss=0.15)
    return runs


def test_measure_mechanism_and_its_table() -> None:
    measures = ch.measure_mechanism(_mechanism(), rise=1.2, within=8)
    assert measures.loc[("sp", "adam"), "lambda0_PH"] == 4e5
    assert measures.loc[("sp", "adam"), "spike"] == pytest.approx(6.0)
    assert measures.loc[("sp", "gi_adam"), "spike"] == 1.0
    table = ch.mechanism_table(measures, {"simple_mup": 0.03, "sp": 0.02})
    assert list(table["optimizer"][:3]) == ["Adam", "GI-Adam", "RI-Adam"] and list(table["param"][-1:]) == ["SP"]
    assert list(table["Adam / this"]) == [1.0, 10.0, 80.0] * 2
    assert table.loc[3, "eta lambda0_PH"] == pytest.approx(0.02 * 4e5)
    assert table.loc[0, "final train acc"] == 0.9


# ------------------------------------------------------------------------------------------ figures


def test_mechanism_figure_draws_adams_threshold_at_38_over_eta() -> None:
    fig = ch.mechanism_figure(_mechanism(), {"simple_mup": 0.03, "sp": 0.02})
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
    for result in runs.values():
        result.records["grad_norm"] = [1.0, 2.0, 3.0, 4.0]
        result.records["v_norm"] = [0.0, 1.0, 1.0, 1.0]
    fig = ch.state_figure(runs)
    assert len(fig.axes) == 4 and all(len(ax.lines) == 3 for ax in fig.axes)
    assert np.allclose(fig.axes[3].lines[0].get_ydata()[:3], [0.01, 0.02, 0.04])


# ------------------------------------------------------------------------------------------- claims


def _holding() -> tuple[pd.DataFrame, np.ndarray, float]:
    """A fabricated measures table, early-step ratios and loss ratio on which every claim holds."""
    rows = []
    for param in ("simple_mup", "sp"):
        for opt, lambda0, spike, loss in (("adam", 1e5, 6.0, 0.3), ("gi_adam", 5e3, 1.0, 0.1),
                                          ("ri_adam", 1e3, 1.0, 0.2)):
            rows.append({"param": param, "optimizer": opt, "lambda0_PH": lambda0, "spike": spike,
                         "final_train_loss": loss, "final_train_accuracy": 0.9})
    return pd.DataFrame(rows).set_index(["param", "optimizer"]), np.array([0.95, 1.0, 1.2]), 0.55


def test_every_claim_holds_on_the_holding_tables() -> None:
    measures, early, loss_ratio = _holding()
    claims = ch.claims(measures, early, loss_ratio)
    assert [c.label for c in claims] == ["13a", "13b", "13c", "13d", "13e", "13f", "14a", "14b", "14c"]
    assert all(c.verdict == HOLDS for c in claims)
    assert (claims[0].measured, claims[6].measured, claims[8].measured) == (20.0, 100.0, pytest.approx(2 / 3))


# (label, (param, optimizer), column, value) or (label, "early", index, value) or (label, "loss", value):
# one change that breaks exactly that claim.
BREAKS = [
    ("13a", ("sp", "gi_adam"), "lambda0_PH", 1e5 / 9.9),
    ("13b", ("simple_mup", "adam"), "spike", 1.99),
    ("13c", ("sp", "gi_adam"), "spike", 2.0),
    ("13d", "early", 0, 0.69),
    ("13e", "early", 2, 1.41),
    ("13f", "loss", 3.01),
    ("13f", "loss", 0.33),
    ("14a", ("simple_mup", "ri_adam"), "lambda0_PH", 1e5 / 9.9),
    ("14b", ("simple_mup", "ri_adam"), "spike", 2.5),
    ("14c", ("sp", "ri_adam"), "final_train_loss", 0.3),
]


@pytest.mark.parametrize("change", BREAKS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BREAKS)])
def test_each_claim_fails_when_its_criterion_is_broken(change) -> None:
    measures, early, loss_ratio = _holding()
    label, where = change[0], change[1]
    if where == "early":
        early[change[2]] = change[3]
    elif where == "loss":
        loss_ratio = change[2]
    else:
        measures.loc[where, change[2]] = change[3]
    verdicts = {claim.label: claim.holds for claim in ch.claims(measures, early, loss_ratio)}
    assert verdicts.pop(label) is False
    assert all(verdicts.values()), f"breaking {label} also broke {[k for k, v in verdicts.items() if not v]}"


def test_claims_hold_at_their_limits() -> None:
    measures, early, _ = _holding()
    measures.loc[("sp", "gi_adam"), "lambda0_PH"] = 1e4  # ratio exactly 10
    measures.loc[("simple_mup", "adam"), "spike"] = 2.0
    measures.loc[("sp", "ri_adam"), "spike"] = 1.99
    early[:] = [0.7, 1.0, 1.4]
    assert all(claim.holds for claim in ch.claims(measures, early, 3.0))
    assert all(claim.holds for claim in ch.claims(measures, early, 1 / 3))
