"""warmup_lib.chapters.transformers: the value functions of chapter 7's claims rows on fabricated
tables and runs, both ways (a case where each row holds and one where it does not), the preset
and a tiny end-to-end pass through the store.

Oracles: hand-made sweep tables, records and lambda_0 grids whose answers are written out here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from warmup_lib import config
from warmup_lib.chapters import transformers as tf
from warmup_lib.claims.registry import chapter_evidence, chapter_rows
from warmup_lib.runs.train import RunResult

CHAPTER = "07_transformers"
CHANCE = math.log(103)
SEEDS = [0, 1, 2]


def _grid(ratio: float) -> pd.DataFrame:
    rows = []
    for seed in SEEDS:
        for variant, value in (("ln", 5.0 + seed), ("no_ln", (5.0 + seed) * ratio)):
            rows.append({"variant": variant, "width": 64, "depth": 2, "seed": seed, "lambda_0": value,
                         "num_params": 1})
    return pd.DataFrame(rows)


def _phase(trained_c: dict[tuple[str, int], float]) -> pd.DataFrame:
    """A sweep table over c in 2..16 and T_wrm in 1, 64: a run trains up to trained_c[variant, T_wrm]
    and diverges above it (one run at c = 32 ends with an exploded but finite loss)."""
    rows = []
    for seed in SEEDS:
        for (variant, warmup), c_max in trained_c.items():
            for c in (2.0, 4.0, 8.0, 16.0, 32.0):
                good = c <= c_max
                exploded = c == 32.0
                rows.append({"variant": variant, "seed": seed, "warmup_steps": warmup, "c": c, "eta_trgt": c / 10,
                             "lambda_0": 10.0, "outcome": "converged" if good or exploded else "diverged",
                             "final_test_loss": 2.5 if good else (1e17 if exploded else math.nan),
                             "best_test_loss": 2.5})
    return pd.DataFrame(rows)


def _run(column: str, steps: np.ndarray, values: np.ndarray, lr: np.ndarray, total: int) -> RunResult:
    records = pd.DataFrame({"step": np.arange(total), "lr": lr, "loss": np.linspace(4.0, 2.0, total),
                            column: np.nan})
    records.loc[steps, column] = values
    return RunResult(records, pd.DataFrame(), {"config": {"steps": total}, "outcome": "converged",
                                               "final_train_loss": 2.0})


def _sgd(change: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "seed": s, "change": change[v]} for v in tf.VARIANTS for s in SEEDS])


def _adam(fall: float, over: float) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "seed": s, "pre_fall": fall, "max_over_38": over}
                         for v in tf.VARIANTS for s in SEEDS])


def _critical(passes: int) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "seed": s, "forward_passes": passes} for v in tf.VARIANTS for s in SEEDS])


def _verdicts(values: dict[str, list[float]]) -> dict[str, str]:
    return {evidence.spec.id: evidence.verdict for evidence in chapter_evidence(CHAPTER, values, SEEDS)}


def test_trained_needs_a_finite_loss_below_chance() -> None:
    table = pd.DataFrame({"outcome": ["converged", "converged", "diverged", "converged"],
                          "final_test_loss": [2.0, 1e17, math.nan, CHANCE + 0.1]})
    assert tf.trained(table, CHANCE).tolist() == [True, False, False, False]


def test_seed_gains_compare_the_longest_warmup_with_none() -> None:
    phase = _phase({("ln", 1): 8.0, ("ln", 64): 8.0, ("no_ln", 1): 2.0, ("no_ln", 64): 8.0})
    assert tf.seed_gains(phase, CHANCE, "no_ln") == {0: 4.0, 1: 4.0, 2: 4.0}
    assert tf.seed_gains(phase, CHANCE, "ln") == {0: 1.0, 1: 1.0, 2: 1.0}
    only_warmup = _phase({("ln", 1): 0.0, ("ln", 64): 4.0})
    assert tf.seed_gains(only_warmup, CHANCE, "ln") == {0: math.inf, 1: math.inf, 2: math.inf}
    assert list(tf.phase_table(phase, CHANCE)["largest trained c per seed"]) == ["8, 8, 8", "8, 8, 8", "2, 2, 2",
                                                                                   "8, 8, 8"]


def test_sharpness_change_uses_the_last_quarter() -> None:
    steps = np.arange(0, 128, 8)
    rising = np.linspace(5.0, 15.0, len(steps))
    assert tf.sharpness_change(steps, rising, 96) == pytest.approx(np.median(rising[steps >= 96]) / 5.0)
    assert tf.sharpness_change(steps, rising[::-1], 96) < 1.0
    # a short run without a measurement in its last quarter uses its last measurement
    assert tf.sharpness_change(np.array([0, 4, 8]), np.array([2.0, 3.0, 4.0]), 9) == 2.0
    assert math.isnan(tf.sharpness_change(np.array([0]), np.array([np.nan]), 0))


def test_adam_row_reads_the_end_of_warmup_and_the_threshold_after_skip() -> None:
    total, steps = 32, np.arange(0, 32, 4)
    values = np.array([1e5, 1e3, 500.0, 400.0, 300.0, 300.0, 300.0, 300.0])
    lr = np.full(total, 0.1)
    row = tf.adam_trajectory_row(_run("pre_sharpness", steps, values, lr, total), warmup_steps=16, skip=8)
    assert row["pre_start"] == 1e5 and row["pre_end_warmup"] == 300.0
    assert row["pre_fall"] == pytest.approx(3e-3)
    assert row["start_over_38"] == pytest.approx(0.1 * 1e5 / 38.0)
    assert row["max_over_38"] == pytest.approx(0.1 * 500.0 / 38.0)  # step 4 (1e3) is before skip


def test_sgd_row_counts_catapults_and_reads_eta_lambda() -> None:
    total = 64
    loss = np.full(total, 3.0)
    loss[20:24] = [6.0, 9.0, 6.0, 3.0]  # one spike that comes back ...
    sharp = np.full(total, np.nan)
    sharp[::4] = 40.0
    sharp[24::4] = 10.0  # ... with the sharpness falling after it
    records = pd.DataFrame({"step": np.arange(total), "lr": np.full(total, 0.05), "loss": loss, "sharpness": sharp})
    row = tf.sgd_trajectory_row(RunResult(records, pd.DataFrame(), {"config": {"steps": total},
                                                                       "outcome": "converged",
                                                                       "final_train_loss": 3.0}))
    assert row["catapults"] == 1 and row["catapult_steps"] == [21]
    assert row["lambda_start"] == 40.0 and row["change"] == 0.25 and row["max_eta_lambda"] == 2.0
    assert (row["cross_step"], row["rise_before_cross"]) == (-1, 1.0)  # eta lambda never above 2


def _giadam(adam_max: float, gi_max: float) -> pd.DataFrame:
    """An absolute Adam / GI-Adam sweep at T_wrm = 1: each trains up to its eta_max, fails above."""
    rows = []
    for seed in SEEDS:
        for variant, eta_max in (("adam", adam_max), ("gi_adam", gi_max)):
            for eta in (0.001, 0.004, 0.016, 0.064):
                good = eta <= eta_max
                rows.append({"variant": variant, "seed": seed, "warmup_steps": 1, "eta_trgt": eta, "c": math.nan,
                             "outcome": "converged" if good else "failed",
                             "final_test_loss": 2.5 if good else 3.0})
    return pd.DataFrame(rows)


def _values(ratio: float, phase: pd.DataFrame, change: dict[str, float], fall: float, over: float,
            passes: int, gi: tuple[float, float] = (0.004, 0.016)) -> dict[str, list[float]]:
    return tf.claim_values(_grid(ratio), 64, 2, phase, CHANCE, _sgd(change), _adam(fall, over), _critical(passes),
                           _giadam(*gi), SEEDS)


def test_claim_values_hold_where_the_paper_says_and_fail_otherwise() -> None:
    papers = _phase({("ln", 1): 8.0, ("ln", 64): 8.0, ("no_ln", 1): 2.0, ("no_ln", 64): 8.0})
    holds = _verdicts(_values(100.0, papers, {"ln": 2.0, "no_ln": 0.3}, 0.01, 1.2, 12))
    assert set(holds.values()) == {"HOLDS"}
    flat = _phase({("ln", 1): 8.0, ("ln", 64): 8.0, ("no_ln", 1): 8.0, ("no_ln", 64): 8.0})
    fails = _verdicts(_values(1.5, flat, {"ln": 0.9, "no_ln": 1.1}, 0.9, 3.0, 40, gi=(0.016, 0.016)))
    assert set(fails.values()) == {"DOES NOT HOLD"}
    # 9a tests the paper's ~100x, 9b only the direction
    tenfold = _verdicts(_values(10.0, papers, {"ln": 2.0, "no_ln": 0.3}, 0.01, 1.2, 12))
    assert (tenfold["9a"], tenfold["9b"]) == ("DOES NOT HOLD", "HOLDS")


def test_the_registry_rows_are_the_ids_the_values_give() -> None:
    phase = _phase({("ln", 1): 8.0, ("ln", 64): 8.0, ("no_ln", 1): 2.0, ("no_ln", 64): 8.0})
    values = _values(100.0, phase, {"ln": 2.0, "no_ln": 0.3}, 0.01, 1.2, 12)
    assert list(values) == [spec.id for spec in chapter_rows(CHAPTER)]
    assert all(len(v) == len(SEEDS) for v in values.values())


def test_lambda0_ratios_and_numbers() -> None:
    grid = _grid(20.0)
    assert tf.lambda0_ratios(grid)["ratio"].tolist() == pytest.approx([20.0] * 3)
    numbers = tf.lambda0_numbers(grid, 64, 2)
    assert numbers["tf_lambda0_ratio"] == "20" and numbers["tf_lambda0_ln"] == "6"


def test_paper_preset_is_the_papers_lm() -> None:
    paper = config.notebook_parameters(CHAPTER, "paper")
    assert (paper["dataset"], paper["context"], paper["width"], paper["depth"]) == ("wikitext2", 64, 128, 4)
    assert (paper["batch_size"], paper["steps"], paper["device"]) == (64, 10_000, "cuda")
    book = config.notebook_parameters(CHAPTER, "book")
    assert book["dataset"] == "chars" and len(book["seeds"]) >= 3 and book["workers"] == 1


def test_the_chapter_runs_end_to_end_at_the_smoke_preset(tmp_path) -> None:
    params = config.notebook_parameters(CHAPTER, "smoke")
    grid = tf.lambda0_grid("exp", params, [8], [1], [0], 1, tmp_path)
    assert set(grid["variant"]) == {"ln", "no_ln"} and (grid["lambda_0"] > 0).all()
    again = tf.lambda0_grid("exp", params, [8], [1], [0], 1, tmp_path)  # from the store's record
    assert again.equals(grid)
    runs = tf.train_and_load("exp", tf.adam_configs({**params, "seeds": [0]}), tmp_path)
    table = tf.adam_table(runs, params["adam_warmup"], params["adam_skip"])
    assert len(table) == 2 and table["pre_start"].gt(0).all()


def test_advice_misses_count_no_warmup_advice_where_no_warmup_failed() -> None:
    phase = _phase({("ln", 1): 4.0, ("ln", 64): 8.0, ("no_ln", 1): 8.0, ("no_ln", 64): 8.0})
    critical = pd.DataFrame([{"variant": v, "seed": s, "advice": "no warmup needed"}
                             for v in tf.VARIANTS for s in SEEDS])
    assert tf.advice_misses(critical, phase, CHANCE, 8.0) == 3  # the ln runs at c = 8, T_wrm = 1 diverged
    assert tf.advice_misses(critical, phase, CHANCE, 4.0) == 0
    critical["advice"] = "start at eta_c"
    assert tf.advice_misses(critical, phase, CHANCE, 8.0) == 0


def test_phase_numbers_give_gains_and_absolute_rates() -> None:
    phase = _phase({("ln", 1): 8.0, ("ln", 64): 8.0, ("no_ln", 1): 2.0, ("no_ln", 64): 8.0})
    numbers = tf.phase_numbers(phase, CHANCE)
    assert (numbers["tf_gain_no_ln"], numbers["tf_gain_ln"]) == ("4-4", "1-1")
    assert (numbers["tf_cmax1_ln"], numbers["tf_etamax1_no_ln"]) == ("8-8", "0.2-0.2")  # lambda_0 = 10


def test_gpu_numbers_read_the_timing_record() -> None:
    record = {"gpu": "X", "sgd_params": 1000, "lambda0_True": 20.0, "lambda0_False": 400.0,
              "sgd_100": 1.0, "sgd_400": 4.0, "stack30_400": 20.0}
    paper = {"sgd_eta": [1.0, 2.0, 4.0, 8.0, 16.0], "warmup_steps": [1, 64], "seeds": [0, 1, 2], "steps": 6000}
    numbers = tf.gpu_numbers(record, paper)  # 60 runs
    assert (numbers["tf_gpu_ratio"], numbers["tf_gpu_steps_s"], numbers["tf_gpu_stacked_s"]) == ("20", "100", "600")
    assert numbers["tf_gpu_phase_hours"] == "0.2"  # 360,000 member-steps at 600 per second
    assert set(tf.gpu_numbers(None, paper).values()) == {"-"} and set(numbers) == set(tf.GPU_NAMES)
    assert tf.gpu_record() is not None  # committed in results/07_gpu


def test_optimizer_gains_read_an_absolute_sweep_and_count_failures_as_untrained() -> None:
    assert tf.optimizer_gains(_giadam(0.004, 0.064), CHANCE) == {0: 16.0, 1: 16.0, 2: 16.0}
    assert tf.optimizer_gains(_giadam(0.0001, 0.004), CHANCE) == {0: math.inf, 1: math.inf, 2: math.inf}
    numbers = tf.giadam_numbers(_giadam(0.004, 0.016), CHANCE)
    assert (numbers["tf_gi_gain"], numbers["tf_gi_etamax_adam"]) == ("4-4", "0.004-0.004")
    assert (numbers["tf_gi_common_eta"], numbers["tf_gi_loss_at_max_gi_adam"]) == ("0.004", "2.50-2.50")
    sweep = tf.giadam_sweep("exp", config.notebook_parameters(CHAPTER, "book"))
    assert sweep.eta_unit == "absolute" and set(sweep.variants) == {"adam", "gi_adam"}
    table = tf.phase_table(_giadam(0.004, 0.016), CHANCE, tf.OPTIMIZER_LABELS)
    assert table["largest trained eta per seed"].tolist() == ["0.004, 0.004, 0.004", "0.016, 0.016, 0.016"]


def test_phase_cells_mark_exploded_runs_failed_and_nan_runs_diverged() -> None:
    table = pd.DataFrame({"outcome": ["converged", "converged", "diverged", "failed"],
                          "final_test_loss": [2.0, 1e17, math.nan, 3.0]})
    assert tf.phase_cells(table, CHANCE)["outcome"].tolist() == ["converged", "failed", "diverged", "failed"]
