"""warmup_lib.chapters.sgd_warmup_mechanisms: chapter 02's plan, run reading, facts and claim criteria.

Oracles: the committed results store (the book plan names exactly its 32 runs), a stand-in lambda_0
(eta_trgt = c / lambda_0 exactly), hand-made records whose medians, rises and catapults are counted
by hand, and fabricated facts where every claim holds, each then broken on its own.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from warmup_lib import config
from warmup_lib.analysis.trajectory import Catapult, Collision, EarlyRegime, detect_catapults, first_collision
from warmup_lib.chapters import sgd_warmup_mechanisms as chapter
from warmup_lib.claims import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE
from warmup_lib.claims.registry import chapter_evidence, chapter_rows
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from warmup_lib.runs import store
from warmup_lib.runs.train import RunResult
from warmup_lib.runs.executors import run_missing

matplotlib.use("Agg")

BOOK = config.notebook_parameters(chapter.EXPERIMENT, "book")
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / f"{chapter.EXPERIMENT}.ipynb"
SHARPENING, REDUCTION = "progressive sharpening", "sharpness reduction"
ROW_IDS = ["1a", "1b", "2a", "2b", "2c", "2d", "2e", "3a", "3b", "3c", "4a", "4b", "4c"]


# ------------------------------------------------------------------------------------ the plan

def test_book_plan_names_exactly_the_committed_runs(repo_root: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    committed = repo_root / "results" / chapter.EXPERIMENT
    (tmp_path / chapter.EXPERIMENT).mkdir()
    shutil.copy(committed / "lambda0.json", tmp_path / chapter.EXPERIMENT / "lambda0.json")
    monkeypatch.setattr("warmup_lib.runs.measure.measure_lambda0",
                        lambda *args, **kwargs: pytest.fail("lambda_0 must be read from the store"))
    plans = chapter.build_plans(BOOK, tmp_path)
    assert list(plans) == BOOK["seeds"] == [0, 1, 2]
    stored = {path.name for path in committed.iterdir() if path.is_dir()}
    configs = chapter.all_configs(plans)
    assert {store.run_id(cfg) for cfg in configs} == stored and len(stored) == len(configs) == 3 * 34
    assert {cfg.seed for cfg in plans[1].configs()} == {1}
    recorded = json.loads((committed / "lambda0.json").read_text())
    assert plans[0].lambda_0[chapter.GD, "mup"] in [entry["lambda_0"] for entry in recorded.values()]
    assert plans[0].lambda_0[chapter.GD, "mup"] != plans[1].lambda_0[chapter.GD, "mup"]  # per seed


def _fake_lambda0(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """lambda_0 = 2 in muP and 50 in SP, recorded per call."""
    values = {"mup": 2.0, "sp": 50.0}
    monkeypatch.setattr(chapter, "load_or_measure_lambda0",
                        lambda experiment, cfg, root: {"lambda_0": values[cfg.model.param]})
    return values


def test_plan_sets_each_rate_from_lambda0_and_each_setting_changes_one_thing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    lambda_0 = _fake_lambda0(monkeypatch)
    plan = chapter.build_plan(BOOK, "unused")
    settings = [chapter.GD, chapter.SGD, chapter.MOMENTUM, chapter.XENT]
    expected = [(s, p, w) for s in settings for p in ("mup", "sp")
                for w in (BOOK["warmup_steps"] if s == chapter.GD else BOOK["variant_warmup_steps"])]
    assert list(plan.runs) == expected + [(chapter.SGD_MOMENTUM, "mup", 1)]
    multiple = {"mup": BOOK["mup_multiple"], "sp": BOOK["sp_multiple"]}
    for (setting, param, warmup), cfg in plan.runs.items():
        assert cfg.schedule.eta_trgt == multiple[param] / lambda_0[param]
        assert cfg.schedule.warmup_steps == warmup and cfg.model.param == param
        gd = setting == chapter.GD
        assert cfg.steps == BOOK["steps" if gd else "variant_steps"]
        assert cfg.sharpness_every == BOOK["sharpness_every" if gd else "variant_sharpness_every"]
        assert cfg.loss == ("xent" if setting == chapter.XENT else "mse")
        minibatch = setting in (chapter.SGD, chapter.SGD_MOMENTUM)
        assert cfg.batch_size == (BOOK["batch_size"] if minibatch else None)
        with_momentum = setting in (chapter.MOMENTUM, chapter.SGD_MOMENTUM)
        assert cfg.optim.momentum == (BOOK["momentum"] if with_momentum else 0.0)
    assert list(plan.scan) == BOOK["sp_scan"]
    for c, cfg in plan.scan.items():
        assert cfg.schedule.eta_trgt == c / lambda_0["sp"] and cfg.schedule.warmup_steps == 1
        assert (cfg.steps, cfg.sharpness_every, cfg.eval_every) == (BOOK["scan_steps"], 0, 0)
    assert plan.configs() == [*plan.runs.values(), *plan.scan.values()]
    assert {cfg.seed for cfg in plan.configs()} == {0}
    assert {cfg.seed for cfg in chapter.build_plan(BOOK, "unused", seed=2).configs()} == {2}


TINY = RunConfig(data=DataConfig(name="mnist1d", n_train=64, n_test=32), model=ModelConfig(width=8, depth=3),
                 optim=OptimConfig(name="sgd"), loss="mse", steps=3, eval_every=0)


def test_the_plan_trains_only_what_the_store_lacks(tmp_path: Path) -> None:
    runs = {("GD", "sp", 1): TINY.replace(**{"schedule.eta_trgt": 0.01})}
    scan = {2.0: TINY.replace(**{"schedule.eta_trgt": 0.02})}
    plan = chapter.Plan(runs, scan, {})
    store.load_or_run(chapter.EXPERIMENT, scan[2.0], root=tmp_path)
    assert run_missing(chapter.EXPERIMENT, plan.configs(), tmp_path, workers=1) == 1
    assert run_missing(chapter.EXPERIMENT, plan.configs(), tmp_path, workers=1) == 0
    loaded = chapter.load_runs(plan.scan, tmp_path)
    assert list(loaded) == [2.0] and loaded[2.0].records["lr"].tolist() == [0.02] * 3


# ---------------------------------------------------------------------------- reading one run

def _records(sharpness: list[float], lr: float | list[float] = 0.5,
             loss: list[float] | None = None) -> pd.DataFrame:
    steps = len(sharpness)
    lr = [lr] * steps if np.isscalar(lr) else lr
    loss = loss if loss is not None else [1.0] * steps
    return pd.DataFrame({"step": range(steps), "lr": lr, "loss": loss, "sharpness": sharpness})


def test_threshold_ratio_after_collision_is_the_median_over_measured_steps_from_the_collision() -> None:
    records = _records([1.0, math.nan, 3.0, math.nan, 4.0, 5.0])  # eta lambda from step 2: 1.5, 2, 2.5
    assert chapter.threshold_ratio_after_collision(records, 2) == 2.0
    assert chapter.threshold_ratio_after_collision(records, 5) == 2.5
    assert math.isnan(chapter.threshold_ratio_after_collision(records, -1))


def test_first_crossing_carries_the_sharpness_forward_between_measurements() -> None:
    # measured at 0 and 8 only; eta rises 0.1, 0.2, ...: eta_t * 10 >= 2 from step 1 on, unmeasured
    sharpness = [10.0] + [math.nan] * 7 + [1.0]
    eta = [0.1 * (t + 1) for t in range(9)]
    assert chapter.first_crossing(sharpness, eta) == Collision(1, "rear-end")
    assert first_collision(sharpness, eta) == Collision(-1, "none")  # measured steps only: missed
    rising = [1.0, math.nan, 2.0, math.nan, 3.0, math.nan]  # crossing at step 5, lambda was rising
    assert chapter.first_crossing(rising, [0.1, 0.1, 0.1, 0.1, 0.7, 0.7]) == Collision(4, "head-on")
    assert chapter.first_crossing(rising, [0.1, 0.1, 0.1, 0.1, 0.1, 0.7]) == Collision(5, "head-on")
    assert chapter.first_crossing([3.0, 1.0], [1.0, 1.0]) == Collision(0, "at start")
    assert chapter.first_crossing([1.0, math.nan], [0.1, 0.1]) == Collision(-1, "none")
    falling = [4.0, 3.0, 2.5]  # every step measured: the library's first_collision
    assert chapter.first_crossing(falling, [0.1, 0.5, 0.8]) == first_collision(falling, [0.1, 0.5, 0.8])
    assert chapter.first_crossing([math.nan, 1.0, 3.0], [1.0, 1.0, 1.0]) == Collision(2, "head-on")


def test_threshold_ratios_during_warmup_read_from_a_head_on_crossing_to_the_warmups_end() -> None:
    records = _records([1.0, math.nan, 4.0, 4.2, 3.8, 4.0], lr=0.5)
    during = chapter.threshold_ratios_during_warmup(records, Collision(2, "head-on"), warmup=5)
    assert during.tolist() == [2.0, 2.1, 1.9]
    assert chapter.threshold_ratios_during_warmup(records, Collision(2, "rear-end"), 5).size == 0
    assert chapter.threshold_ratios_during_warmup(records, Collision(5, "head-on"), 5).size == 0
    assert chapter.threshold_ratios_during_warmup(records, Collision(-1, "none"), 5).size == 0


def test_late_threshold_ratio_reads_the_last_quarter_of_the_measurements() -> None:
    sharpness = [1.0, math.nan, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0]  # 11: the last 2
    assert chapter.late_threshold_ratio(_records(sharpness, lr=0.5)) == (5.0 + 6.0) / 2
    assert chapter.late_threshold_ratio(_records([4.0, math.nan, 6.0])) == 3.0  # at least one


def test_calm_rise_fraction_pools_steps_over_runs() -> None:
    # eta lambda (sharpness carried forward) 0.5, 0.5, 0.5, 2.0 before each step: steps 0-2 are
    # calm; the loss rises after 0 (1 -> 2) and 2 (1.5 -> 3), falls after 1: 2 rises in 3 calm steps
    first = _records([0.5, math.nan, math.nan, 2.0, math.nan], lr=1.0, loss=[1.0, 2.0, 1.5, 3.0, 2.0])
    assert chapter.calm_rise_fraction([first]) == 2 / 3
    second = _records([0.1, math.nan], lr=1.0, loss=[1.0, 0.5])  # 1 calm step, no rise
    assert chapter.calm_rise_fraction([first, second]) == 2 / 4  # pooled, not a mean of 2/3 and 0
    assert chapter.calm_rise_fraction([_records([5.0, 5.0], lr=1.0, loss=[1.0, 2.0])]) == 0.0
    assert chapter.calm_rise_fraction([_records([0.5, 5.0], lr=1.0, loss=[1.0, 2.0])]) == 1.0
    assert chapter.calm_rise_counts([first, second]) == (2, 4)


def test_analyse_passes_the_parameters_thresholds_to_the_detectors() -> None:
    loss = [1.0, 0.9, 0.8, 2.0, 0.7, 0.6]  # one spike at step 3, back at step 4
    sharpness = [10.0, math.nan, 10.0, math.nan, 7.0, math.nan]  # falls by 30% across it
    records = _records(sharpness, lr=0.01, loss=loss)
    thresholds = {k: BOOK[k] for k in ("catapult_rise", "catapult_window", "regime_window", "regime_tol")}
    found = chapter.analyse(records, {**thresholds, "catapult_drop": 0.2})
    assert [c.peak for c in found.catapults] == [3] and found.collision.kind == "none"
    assert found.catapults == detect_catapults(loss, sharpness, rise=BOOK["catapult_rise"], drop=0.2,
                                               window=BOOK["catapult_window"])
    assert chapter.analyse(records, {**thresholds, "catapult_drop": 0.5}).catapults == []  # 30% < 50%
    # the early regime stops before the crossing: eta 0.1 crosses 2 / 10 from step 1 (unmeasured)
    early = chapter.analyse(_records(sharpness, lr=[0.01, 0.3, 0.3, 0.3, 0.3, 0.3], loss=loss),
                            {**thresholds, "catapult_drop": 0.2})
    assert early.collision == Collision(1, "rear-end") and early.regime.label == "undetermined"


def _analysis(regime: str = SHARPENING, ratio: float = 1.5, catapults: tuple = (), hit: int = 10,
              kind: str = "head-on") -> chapter.RunAnalysis:
    return chapter.RunAnalysis(list(catapults), EarlyRegime(regime, ratio, 5), Collision(hit, kind))


def _catapult(peak: int, loss_ratio: float = 2.0, before: float = 10.0, after: float = 5.0) -> Catapult:
    return Catapult(peak - 1, peak, peak + 2, loss_ratio, before, after)


def _result(records: pd.DataFrame | None = None, **summary) -> RunResult:
    summary = {"outcome": "converged", "steps_run": 6, "final_test_accuracy": 0.5, **summary}
    return RunResult(records if records is not None else _records([1.0] * 6), pd.DataFrame(), summary)


def test_natural_regime_is_the_longest_warmups() -> None:
    analyses = {("GD", "sp", 64): _analysis(REDUCTION), ("GD", "sp", 256): _analysis("constant"),
                ("GD", "sp", 1): _analysis("undetermined"), ("SGD", "sp", 512): _analysis(SHARPENING)}
    assert chapter.natural_regime(analyses, "GD", "sp").label == "constant"


def test_summary_row_reports_the_first_catapult() -> None:
    analysis = _analysis(ratio=1.234, catapults=(_catapult(7, 3.456, 10.0, 4.0), _catapult(20)), hit=6)
    row = chapter.summary_row(("SGD", "sp", 64), _result(final_test_accuracy=0.81234), analysis)
    assert row == {"setting": "SGD", "param": "SP", "T_wrm": 64, "outcome": "converged",
                   "early regime": SHARPENING, "r": 1.23, "collision": "head-on @ 6", "catapults": 2,
                   "1st catapult step": 7, "loss x": 3.46, "sharpness x": 0.4, "test acc": 0.812}
    table = chapter.summary_table({("GD", "mup", 1): _result()}, {("GD", "mup", 1): _analysis()})
    assert table["1st catapult step"].dtype == "Int64" and table["1st catapult step"].isna().all()


# ------------------------------------------------------------------------------------ the facts

def test_gd_mup_facts_and_glue() -> None:
    records = _records([1.0, math.nan, 4.0, 4.2, 3.8, 4.0], lr=0.5)  # eta lambda 2, 2.1, 1.9, 2 after step 2
    keys = [("GD", "mup", 1), ("GD", "mup", 16)]
    runs = {key: _result(records) for key in keys}
    analyses = {keys[0]: _analysis(ratio=1.5, hit=2),
                keys[1]: _analysis(ratio=2.5, hit=4, catapults=(_catapult(5, 1.5, 4.0, 3.0),))}
    facts = chapter.gd_mup_facts(runs, analyses, [1, 16])
    assert facts.riding == pytest.approx([2.0, 1.95])
    assert facts.during_warmup == [16] and facts.natural.ratio == 2.5
    assert facts.warmup_riding == pytest.approx(1.95)  # steps 4, 5 of the warmup of 16: 1.9, 2.0
    assert math.isnan(dataclasses.replace(facts, during=[np.array([])] * 2).warmup_riding)
    glued = chapter.gd_mup_glue(facts)
    assert glued["mech_mup_ratio_range"] == "1.50-2.50" and glued["mech_mup_riding"] == "1.95-2.00"
    assert (glued["mech_mup_head_on"], glued["mech_mup_runs"], glued["mech_mup_catapults"]) == (2, 2, 1)
    assert glued["mech_mup_collision_steps"] == "2, 4" and glued["mech_mup_during"] == "16"
    assert (glued["mech_mup_cat_loss"], glued["mech_mup_cat_sharp"]) == ("1.50-1.50", "0.75-0.75")
    missed = [Collision(-1, "none")] * 2
    none = chapter.gd_mup_glue(dataclasses.replace(facts, catapults=[], collisions=missed,
                                                   during=[np.array([])] * 2))
    assert (none["mech_mup_cat_loss"], none["mech_mup_during"]) == ("-", "none of the warmup lengths")


def _sp_inputs(peaks: dict[int, tuple[int, float]]):
    """GD SP runs with T_wrm 1, 16, 64 whose first catapults peak at ``peaks`` (T_wrm -> step, loss
    ratio), and a scan."""
    analyses = {("GD", "sp", 1): _analysis("undetermined", math.nan, hit=0, kind="at start")}
    for warmup in (16, 64):
        catapults = (_catapult(*peaks[warmup]), _catapult(400)) if warmup in peaks else ()
        analyses["GD", "sp", warmup] = _analysis(REDUCTION, 0.7, catapults, hit=30, kind="rear-end")
    runs = {key: _result(outcome="diverged" if key[2] == 1 else "converged", steps_run=9) for key in analyses}
    scan = {2.0: _result(), 16.0: _result(outcome="diverged"), 32.0: _result(outcome="diverged")}
    return runs, analyses, scan


def test_gd_sp_facts_later_and_smaller_need_a_catapult_in_every_warmup() -> None:
    facts = chapter.gd_sp_facts(*_sp_inputs({16: (20, 3.0), 64: (70, 2.0)}), warmup_steps=[1, 16, 64])
    assert (facts.warm, facts.first_steps, facts.first_sizes) == ([16, 64], [20, 70], [3.0, 2.0])
    assert facts.rear_end == 2
    assert (facts.later, facts.smaller, facts.gentler) == (1.0, 1.0, 0.0)  # both remove half
    assert facts.smallest_diverging == 16.0
    assert chapter.gd_sp_facts(*_sp_inputs({16: (20, 3.0)}), warmup_steps=[1, 16, 64]).later == 0.0
    reversed_ = chapter.gd_sp_facts(*_sp_inputs({16: (70, 2.0), 64: (20, 3.0)}), warmup_steps=[1, 16, 64])
    assert (reversed_.later, reversed_.smaller) == (0.0, 0.0)
    assert math.isnan(dataclasses.replace(facts, scan={2.0: "converged"}).smallest_diverging)
    glued = chapter.gd_sp_glue(facts, scan_steps=64)
    assert glued == {"mech_sp_no_warmup": "diverged", "mech_sp_diverged_step": 9,
                     "mech_sp_first_steps": "20, 70", "mech_sp_first_sizes": "3.00, 2.00",
                     "mech_sp_first_drops": "0.50, 0.50", "mech_sp_warmups": "16, 64", "mech_sp_rear_end": 2,
                     "mech_sp_regime_ratio": "0.70, 0.70",
                     "mech_scan": "2: converged, 16: diverged, 32: diverged", "mech_smallest_diverging": "16",
                     "mech_scan_steps": 64}


def test_variant_facts_and_glue() -> None:
    keys = [("SGD", "mup", 1), ("SGD", "mup", 64), ("SGD", "sp", 1), ("SGD", "sp", 64), ("SGD", "sp", 256)]
    analyses = {key: _analysis(SHARPENING if key[1] == "mup" else REDUCTION, 1.5 if key[1] == "mup" else 0.6,
                               (_catapult(9), _catapult(30)) if key[2] == 64 else ()) for key in keys}
    analyses["SGD", "mup", 1] = _analysis("undetermined", math.nan)  # the natural regime is T_wrm = 64's
    runs = {key: _result(outcome="diverged" if key[2] == 1 else "converged") for key in keys}
    facts = chapter.variant_facts(runs, analyses, "SGD")
    assert (facts.sp_catapulting, facts.sp_warm) == (1, 2)
    assert list(facts.outcomes) == [("mup", 1), ("mup", 64), ("sp", 1), ("sp", 64), ("sp", 256)]
    glued = chapter.variants_glue({name: facts for name in chapter.VARIANTS}, BOOK)
    assert glued["mech_variant_warmups"] == "{1, 64, 256}" and glued["mech_batch_size"] == 128
    assert glued["mech_sgd_mup_regime"] == "progressive sharpening (r = 1.50)"
    assert glued["mech_mom_sp_catapulting"] == "1 of 2"
    assert glued["mech_xent_outcomes"].startswith(
        "muP T_wrm = 1: diverged; muP T_wrm = 64: converged")


def test_late_threshold_facts_read_the_mup_runs_without_warmup_and_skip_diverged_runs() -> None:
    calm = _records([0.5, 0.5, 0.5], lr=1.0, loss=[1.0, 2.0, 3.0])  # every calm step rises
    quiet = _records([0.5, 0.5, 0.5], lr=1.0, loss=[3.0, 2.0, 1.0])  # none does
    runs = {(setting, "mup", 1): _result(quiet) for setting in ("GD", "SGD", "GD+momentum", "SGD+momentum")}
    runs["GD", "sp", 64] = _result(calm, outcome="diverged")  # skipped
    runs["GD+momentum", "sp", 64] = _result(calm)
    facts = chapter.late_threshold_facts(runs)
    assert facts.late == {"GD": 0.5, "SGD": 0.5, "GD+momentum": 0.5, "SGD+momentum": 0.5}
    assert (facts.rise_gd, facts.rise_momentum, facts.calm_gd) == (0.0, 0.5, 2)
    assert facts.rise_ratio == 1.0  # 0.5 / (GD floored at one rise in its 2 calm steps)
    glued = chapter.late_threshold_glue(facts, momentum=0.9)
    assert (glued["mech_momentum_limit"], glued["mech_rise_momentum"]) == ("3.8", "50.0")
    assert glued["mech_late_gd"] == "0.50"


def test_setup_glue_quotes_the_parameters_and_lambda0() -> None:
    glued = chapter.setup_glue(BOOK, {("GD", "mup"): 0.0961234, ("GD", "sp"): 25.5})
    assert (glued["mech_lambda0_mup"], glued["mech_lambda0_sp"]) == ("0.0961", "25.5")
    assert glued["mech_lambda0_ratio"] == 265  # 25.5 / 0.0961234 = 265.3
    assert (glued["mech_drop_pct"], glued["mech_width"], glued["mech_sp_multiple"]) == (20, 128, 32.0)


# ---------------------------------------------------------------------------------- the claims

def test_pair_fraction_counts_adjacent_pairs_and_fails_missing_events() -> None:
    assert chapter.pair_fraction([1, 2, 3], increasing=True) == 1.0
    assert chapter.pair_fraction([1, 3, 2], increasing=True) == 0.5
    assert chapter.pair_fraction([1, 1, 3], increasing=True) == 0.5  # strictly
    assert chapter.pair_fraction([3.0, 2.0, 1.0], increasing=False) == 1.0
    assert chapter.pair_fraction([3.0, math.nan, 1.0], increasing=False) == 0.0  # a warmup without one
    assert math.isnan(chapter.pair_fraction([1.0], increasing=True))


def test_rise_ratio_floors_gds_rate_at_one_rise() -> None:
    late = chapter.LateThreshold({}, rise_gd=0.0, rise_momentum=0.05, calm_gd=1000)
    assert late.rise_ratio == pytest.approx(50.0)  # 0.05 / (1 / 1000)
    assert chapter.LateThreshold({}, 0.01, 0.05, 1000).rise_ratio == pytest.approx(5.0)


def _variant(checks: dict | None = None) -> chapter.VariantFacts:
    checks = checks or {name: True for name in chapter.MECHANISM_CHECKS}
    return chapter.VariantFacts(EarlyRegime(SHARPENING, 1.5, 9), EarlyRegime(REDUCTION, 0.7, 9), 2, 2, {},
                                checks)


def _seed(seed: int = 0) -> chapter.SeedFacts:
    """One seed's facts under which every row of the chapter holds."""
    during = [np.array([]), np.array([]), np.array([1.9, 2.0, 2.1])]
    mup = chapter.MupFacts(warmups=[1, 64, 256], regimes=[EarlyRegime(SHARPENING, 1.4, 3)] * 3,
                           collisions=[Collision(80, "head-on"), Collision(90, "head-on"), Collision(200, "head-on")],
                           riding=[2.3, 2.3, 2.2], during=during, catapults=[],
                           natural=EarlyRegime(SHARPENING, 1.9, 80))
    sp = chapter.SpFacts(warm=[16, 64, 256],
                         first_catapults={16: _catapult(5, 6.0, 10.0, 1.0), 64: _catapult(20, 3.0, 10.0, 2.0),
                                          256: _catapult(70, 2.0, 10.0, 5.0)},
                         rear_end=3, regimes=[], no_warmup={"outcome": "diverged", "steps_run": 7},
                         scan={32.0: "diverged"}, natural=EarlyRegime(REDUCTION, 0.6, 50))
    late = chapter.LateThreshold({"GD": 2.1, "SGD": 2.0, "GD+momentum": 3.6, "SGD+momentum": 1.5},
                                 rise_gd=0.0, rise_momentum=0.05, calm_gd=1000)
    return chapter.SeedFacts(seed, {}, {}, {}, {}, mup, sp, {name: _variant() for name in chapter.VARIANTS}, late)


def _broken(row: str, facts: chapter.SeedFacts) -> chapter.SeedFacts:
    """``facts`` changed so that row ``row`` alone stops holding."""
    replace = dataclasses.replace
    mup, sp, late, variants = facts.mup, facts.sp, facts.late, dict(facts.variants)
    if row == "1a":
        mup = replace(mup, natural=EarlyRegime("constant", 1.1, 9))
    elif row == "1b":  # no warmup meets the threshold before it ends
        mup = replace(mup, during=[np.array([])] * 3)
    elif row == "2a":
        sp = replace(sp, natural=EarlyRegime("constant", 0.9, 9))
    elif row == "2b":
        sp = replace(sp, no_warmup={"outcome": "converged", "steps_run": 512})
    elif row in ("2c", "2d", "2e"):
        name = {"2c": "peak", "2d": "loss_ratio", "2e": "sharpness_after"}[row]
        cats = dict(sp.first_catapults)
        cats[64], cats[256] = (replace(cats[64], **{name: getattr(cats[256], name)}),
                               replace(cats[256], **{name: getattr(cats[64], name)}))
        sp = replace(sp, first_catapults=cats)
    elif row in ("3a", "3b", "3c"):
        setting = {"3a": chapter.SGD, "3b": chapter.MOMENTUM, "3c": chapter.XENT}[row]
        variants[setting] = _variant({**variants[setting].checks, "no run lost that GD keeps": False})
    elif row == "4a":
        late = replace(late, late={**late.late, "GD+momentum": 2.4})  # nearer GD's 2 than 3.8
    elif row == "4b":
        late = replace(late, rise_gd=0.01)  # momentum only 5x GD
    elif row == "4c":
        late = replace(late, late={**late.late, "SGD+momentum": 3.5})  # below 2 + 2 beta, not below 2
    return replace(facts, mup=mup, sp=sp, late=late, variants=variants)


def _verdicts(facts: list[chapter.SeedFacts]) -> dict[str, str]:
    evidence = chapter_evidence(chapter.EXPERIMENT, chapter.claim_values(facts), [f.seed for f in facts])
    return {e.spec.id: e.verdict for e in evidence}


def test_the_registry_rows_are_exactly_the_values_rows() -> None:
    assert [spec.id for spec in chapter_rows(chapter.EXPERIMENT)] == list(chapter.claim_values([_seed()]))


def test_every_row_holds_on_facts_made_to_hold() -> None:
    values = chapter.claim_values([_seed(0), _seed(1)])
    assert values["1b"] == [2.0, 2.0] and values["2c"] == [1.0, 1.0] and values["4b"] == [50.0, 50.0]
    assert set(_verdicts([_seed(0), _seed(1)]).values()) == {HOLDS}


@pytest.mark.parametrize("row", ROW_IDS)
def test_each_row_fails_when_its_own_fact_does_and_straddling_seeds_are_inconclusive(row: str) -> None:
    verdicts = _verdicts([_broken(row, _seed(0)), _broken(row, _seed(1))])
    assert verdicts.pop(row) == DOES_NOT_HOLD
    assert set(verdicts.values()) == {HOLDS}
    assert _verdicts([_seed(0), _broken(row, _seed(1))])[row] == INCONCLUSIVE


def _variant_inputs(setting: str = "SGD"):
    """GD and ``setting`` runs (muP and SP at T_wrm 1, 64, 256) where every mechanism check passes."""
    runs, analyses = {}, {}
    for name in ("GD", setting):
        for param in ("mup", "sp"):
            for warmup in (1, 64, 256):
                key = (name, param, warmup)
                diverged = param == "sp" and warmup == 1
                # muP: eta lambda 1, 2, 2.2 at steps 0, 2, 4 (median after the crossing at 2: 2.1)
                records = _records([2.0, math.nan, 4.0, math.nan, 4.4, math.nan], lr=0.5)
                runs[key] = _result(records, outcome="diverged" if diverged else "converged")
                if param == "mup":
                    analyses[key] = _analysis(SHARPENING, 1.5, hit=2, kind="head-on")
                elif diverged:
                    analyses[key] = _analysis("undetermined", math.nan, hit=0, kind="at start")
                else:
                    analyses[key] = _analysis(REDUCTION, 0.6, (_catapult(9),), hit=3, kind="rear-end")
    return runs, analyses


def test_variant_checks_pass_when_everything_is_as_in_gd_and_each_fails_on_its_own() -> None:
    runs, analyses = _variant_inputs()
    facts = chapter.variant_facts(runs, analyses, "SGD")
    assert facts.checks == {name: True for name in chapter.MECHANISM_CHECKS} and facts.score == 1.0
    assert facts.riding == pytest.approx(2.1)  # eta lambda 2.0 and 2.2 from the crossing at step 2
    breaks = {
        "muP sharpens": ("analyses", ("SGD", "mup", 256), _analysis("constant", 1.1, hit=2, kind="head-on")),
        "muP meets 2/eta head-on": ("analyses", ("SGD", "mup", 64), _analysis(SHARPENING, 1.5, hit=2,
                                                                             kind="rear-end")),
        "SP flattens": ("analyses", ("SGD", "sp", 256), _analysis("constant", 0.9, (_catapult(9),), hit=3,
                                                                  kind="rear-end")),
        "SP meets 2/eta from behind": ("analyses", ("SGD", "sp", 64), _analysis(REDUCTION, 0.6, (_catapult(9),),
                                                                               hit=3, kind="head-on")),
        "SP warmups catapult": ("analyses", ("SGD", "sp", 64), _analysis(REDUCTION, 0.6, (), hit=3,
                                                                         kind="rear-end")),
        "no run lost that GD keeps": ("runs", ("SGD", "mup", 64), _result(runs["SGD", "mup", 64].records,
                                                                          outcome="diverged")),
    }
    for check, (table, key, value) in breaks.items():
        changed = {"runs": dict(runs), "analyses": dict(analyses)}
        changed[table][key] = value
        failed = chapter.variant_facts(changed["runs"], changed["analyses"], "SGD").failed
        assert failed == [check], check
    steep = dict(runs)  # eta lambda 3 after the crossing: above 2.4 without momentum, within 3.99 with it
    for key in [k for k in runs if k[1] == "mup"]:
        steep[key] = _result(_records([2.0, math.nan, 6.0, math.nan, 6.0, math.nan], lr=0.5))
    assert chapter.variant_facts(steep, analyses, "SGD").failed == ["muP rides the threshold"]
    steep_m = {("GD+momentum",) + k[1:] if k[0] == "SGD" else k: v for k, v in steep.items()}
    analyses_m = {("GD+momentum",) + k[1:] if k[0] == "SGD" else k: v for k, v in analyses.items()}
    assert chapter.variant_facts(steep_m, analyses_m, "GD+momentum", momentum=0.9).failed == []
    sp_t1 = dict(runs)  # SP without warmup diverges in GD too: not counted against the variant
    assert chapter.variant_facts(sp_t1, analyses, "SGD").checks["no run lost that GD keeps"]


def test_seeds_glue_summarises_every_seed() -> None:
    broken = _broken("2d", _seed(1))
    glued = chapter.seeds_glue([_seed(0), broken])
    assert glued["mech_s_smaller"] == "0.75 (0.50..1.00, n=2)"
    assert glued["mech_s_sp_steps"] == "seed 0: 5, 20, 70; seed 1: 5, 20, 70"
    assert glued["mech_s_sp_sizes"] == "seed 0: 6.00, 3.00, 2.00; seed 1: 6.00, 2.00, 3.00"
    assert glued["mech_s_during"] == "seed 0: 256; seed 1: 256"
    assert glued["mech_s_xent_riding"] == "nan (n=2)"  # no riding level in the fabricated facts
    assert glued["mech_s_diverged_steps"] == "7, 7" and glued["mech_s_sgd_failed"] == "seed 0: none; seed 1: none"
    params = {**BOOK, "seeds": [0, 1]}
    lambda_0 = {("GD", "mup"): 0.1, ("GD", "sp"): 20.0}
    shown = [dataclasses.replace(f, lambda_0=lambda_0) for f in (_seed(0), broken)]
    everything = chapter.chapter_glue(shown, params)
    assert everything["mech_seeds"] == "0, 1" and everything["mech_lambda0_ratio"] == 200
    assert everything["mech_sp_first_sizes"] == "6.00, 3.00, 2.00"  # the first seed's
    assert everything["mech_s_smaller"] == glued["mech_s_smaller"]
    failing = dataclasses.replace(_seed(2), variants={**_seed(2).variants, chapter.XENT: _variant(
        {**_variant().checks, "SP flattens": False, "SP warmups catapult": False})})
    assert chapter.seeds_glue([failing])["mech_s_xent_failed"] == "seed 2: SP flattens, SP warmups catapult"


# --------------------------------------------------------------------------------- the figures

def test_figures_draw_every_run_and_the_thresholds() -> None:
    records = _records([1.0, math.nan, 2.0, math.nan], lr=0.5, loss=[1.0, 0.9, 1e20, math.nan])
    runs = {(setting, param, warmup): _result(records) for setting in ("GD", chapter.MOMENTUM, "SGD")
            for param in ("mup", "sp") for warmup in (1, 64)}
    runs[chapter.SGD_MOMENTUM, "mup", 1] = _result(records)
    analyses = {key: _analysis(catapults=(_catapult(2),)) for key in runs}
    fig = chapter.gd_figure(runs, analyses, "sp", [1, 64], cap_loss=True)
    assert fig.axes[0].get_ylim()[1] == chapter.LOSS_AXIS_FACTOR * 1.0  # cut at 30 x the initial loss
    fig = chapter.variant_figure(runs, analyses, chapter.MOMENTUM, [1, 64], momentum=0.9)
    assert len(fig.axes) == 4
    assert [text.get_text() for text in fig.legends[0].get_texts()][-3:] == [
        r"$2/\eta_t$", r"$(2+2\beta)/\eta_t$", "catapult peak"]
    assert chapter.variant_thresholds(chapter.SGD, 0.9) == ((2.0, r"$2/\eta_t$"),)
    fig = chapter.late_threshold_figure(runs, batch_size=512, momentum=0.9)
    assert [line.get_label() for line in fig.axes[0].get_lines()[:4]] == [
        "GD", "SGD, batch 512", r"GD, $\beta$ = 0.9", r"SGD, batch 512, $\beta$ = 0.9"]
    plt.close("all")
