"""warmup_lib.chapters.catapult_primer: the primer's experiments on the solvable models, its numbers,
figures and claim criteria.

Oracles: hand-computed GD steps on a quadratic, hand-made loss curves and trajectories whose catapults,
measurements and limits are known, the same runs built directly through warmup_lib.solvable, and
measurements made to pass or fail each criterion.
"""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from warmup_lib import solvable
from warmup_lib.analysis.phase import largest_trainable
from warmup_lib.chapters import catapult_primer as primer
from warmup_lib.claims.registry import chapter_evidence, chapter_rows

matplotlib.use("Agg")

CHAPTER = "01_catapult_primer"
CURVATURES = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)


def test_threshold_agreement_counts_runs_whose_fate_matches_eta_above_two_over_lambda_max() -> None:
    # eta = 1.05 > 2/lambda_max = 1: one step maps (1, 1, 1) to (0.475, -0.05, -1.1), whose norm 1.2
    # is below sqrt(3), so after one step the run does not look diverged yet: a disagreement.
    assert primer.threshold_agreement(CURVATURES, [0.5, 1.05], steps=1) == 1
    assert primer.threshold_agreement(CURVATURES, [0.5, 1.05], steps=200) == 2
    assert primer.threshold_agreement(CURVATURES, [0.9, 0.99, 1.01, 1.9], steps=200) == 4


def test_catapult_peaks_on_hand_made_losses() -> None:
    # a closed excursion peaking at step 2 (3 > 2 x 0.5) and an open one at the end (2.0 > 2 x 0.3)
    assert primer.catapult_peaks(torch.tensor([1.0, 0.5, 3.0, 0.4, 0.3, 2.0], dtype=torch.float64), 2.0) == [2, 5]
    # losses at round-off (below 1e-8 L_0) never start a catapult, however much they grow relatively
    round_off = torch.tensor([1.0, 1e-12, 1e-10, 1e-12], dtype=torch.float64)
    assert primer.catapult_peaks(round_off, 2.0) == []
    # a divergence (inf) ends the scan; the excursion it was in counts, at its largest finite loss
    assert primer.catapult_peaks(torch.tensor([1.0, 0.5, 4.0, 9.0, math.inf]), 2.0) == [3]


def _trajectory(loss: list[list[float]], sharpness: list[list[float]], etas: list[list[float]],
                diverged_at: list[int]) -> solvable.UVTrajectory:
    """A UVTrajectory holding these records (the NTK set to the sharpness; u and v unused)."""
    loss, sharpness, etas = (torch.tensor(values, dtype=torch.float64) for values in (loss, sharpness, etas))
    empty = torch.zeros(len(loss), 1)
    return solvable.UVTrajectory(loss, sharpness, sharpness, etas, torch.tensor(diverged_at), empty, empty)


def test_regime_measurements_and_numbers_on_a_hand_made_trajectory() -> None:
    runs = _trajectory(loss=[[1.0, 0.5, 0.2], [1.0, 30.0, 0.1], [1.0, 50.0, math.nan]],
                       sharpness=[[2.0, 2.00004, 1.99998], [2.0, 1.5, 0.25], [2.0, 3.0, math.nan]],
                       etas=[[0.75, 0.75], [1.5, 1.5], [2.25, 2.25]], diverged_at=[-1, -1, 2])
    measured = primer.regime_measurements(runs, peaks=[[], [1], [1]])
    assert measured == pytest.approx({"lazy_change": 2e-5, "peak_step": 1, "peak_ratio": 30.0,
                                      "catapult_final": 0.375, "catapult_drop": 0.125, "diverged_at": 2})
    numbers = primer.regime_numbers(lambda_0=2.000049, sharpness_0=2.01236, measured=measured)
    assert numbers == {"primer_lambda0": 2.0, "primer_sharpness0": 2.0124, "primer_lazy_change": 2e-5,
                       "primer_peak_step": 1, "primer_peak_ratio": 30, "primer_catapult_final": 0.38,
                       "primer_catapult_drop": 0.12, "primer_diverged_at": 2}


def test_constant_runs_are_solvable_gd_at_eta_lambda_over_lambda_0_and_show_the_three_regimes() -> None:
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(512, seed=0)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    runs = primer.constant_runs(u0, v0, data, primer.REGIMES.values(), lambda_0, steps=300)
    etas = torch.tensor([[1.5], [3.0], [4.5]], dtype=torch.float64).expand(-1, 300) / lambda_0
    direct = solvable.uv_gd(u0, v0, data, etas)
    assert torch.equal(runs.loss.nan_to_num(-1), direct.loss.nan_to_num(-1))
    measured = primer.regime_measurements(runs, [primer.catapult_peaks(loss, 2.0) for loss in runs.loss])
    assert measured["lazy_change"] < 0.01 and measured["peak_ratio"] > 10 and measured["catapult_final"] < 2
    assert measured["diverged_at"] > 0


def test_scan_limits() -> None:
    outcomes = ["converged", "converged", "unstable", "converged", "diverged"]
    assert primer.scan_limits([1.0, 2.0, 3.0, 4.0, 5.0], outcomes) == (2.0, 5.0)  # contiguous from the left
    eta_max, first_diverged = primer.scan_limits([1.0, 2.0], ["unstable", "converged"])
    assert math.isnan(eta_max) and math.isnan(first_diverged)


def test_warmup_maps_equal_the_sweep_and_gains_read_its_rows() -> None:
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(64, seed=1)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    multiples, warmups = [1.25, 1.75, 2.25], [1, 16]
    outcomes, largest = primer.warmup_maps({"one example": (u0, v0, data, lambda_0)}, multiples, warmups, 100)
    direct = solvable.warmup_sweep(u0, v0, data, [2 * m / lambda_0 for m in multiples], warmups, 100)
    assert outcomes == {"one example": direct}
    assert largest == {"one example": [largest_trainable(multiples, row, contiguous=True) for row in direct]}
    best, ratios = primer.warmup_gains({"a": [1.25, math.nan, 2.5], "b": [2.0, 2.0]})
    assert best == {"a": 2.5, "b": 2.0} and ratios == {"a": 2.0, "b": 1.0}
    assert primer.warmup_numbers({"one example": [2.0, 2.0], "linear teacher": [1.75, 4.25]},
                                 {"one example": 2.0, "linear teacher": 4.25},
                                 {"one example": 1.0, "linear teacher": 4.25 / 1.75}) == {
        "primer_one_no_warmup": 2.0, "primer_one_ratio": 1.0, "primer_teacher_no_warmup": 1.75,
        "primer_teacher_best": 4.25, "primer_teacher_ratio": 2.43}


def test_warmup_demo_runs_constant_and_warmup_at_one_target() -> None:
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(32, seed=0)
    demo = primer.warmup_demo(u0, v0, data, eta_trgt=0.8, warmup=8, extra_steps=4)
    assert demo.etas.shape == (2, 12)
    assert demo.etas[0].tolist() == [0.8] * 12
    assert demo.etas[1].tolist() == pytest.approx([0.8 * min(1, (t + 1) / 8) for t in range(12)])
    assert primer.demo_numbers(4.25, demo, peaks=[7, 11]) == {
        "primer_demo_multiple": 4.25, "primer_demo_catapults": 2, "primer_demo_first": 7,
        "primer_demo_final": round((0.8 * demo.sharpness[1, -1]).item(), 2)}


# every measurement just on the holding side of its row's criterion (two seeds)
HOLDING = {"lazy_change": 0.0099, "peak_ratio": 10.5, "catapult_final": 1.99, "eta_max": 4.09,
           "ratio_one": 1.21, "ratio_teacher": 1.21}


def _verdicts(agree: int = 40, first: dict | None = None, second: dict | None = None) -> dict[str, str]:
    values = primer.claim_values(agree, 40, [{**HOLDING, **(first or {})}, {**HOLDING, **(second or {})}])
    return {row.spec.id: row.verdict for row in chapter_evidence(CHAPTER, values, seeds=[0, 1])}


def test_the_rows_are_the_registrys_textbook_rows_of_the_chapter() -> None:
    rows = chapter_rows(CHAPTER)
    assert [row.id for row in rows] == list(primer.claim_values(40, 40, [HOLDING]))
    assert {(row.kind, row.paper_claim) for row in rows} == {("textbook", 0)}


def test_every_row_holds_on_measurements_made_to_hold() -> None:
    assert set(_verdicts().values()) == {"HOLDS"}
    values = primer.claim_values(39, 40, [HOLDING, HOLDING])
    assert values["T1a"] == [39 / 40] and values["T1d"] == [4.09, 4.09]


@pytest.mark.parametrize("row, changes", [
    ("T1b", {"lazy_change": 0.01}),
    ("T1c1", {"peak_ratio": 10.0}),
    ("T1c1", {"peak_ratio": math.nan}),
    ("T1c2", {"catapult_final": 2.0}),
    ("T1d", {"eta_max": 3.85}),
    ("T1d", {"eta_max": 4.11}),
    ("T1e1", {"ratio_teacher": 1.2}),
    ("T1e2", {"ratio_one": 1.0}),
])
def test_each_row_fails_on_its_own_and_a_straddle_is_inconclusive(row: str, changes: dict) -> None:
    verdicts = _verdicts(first=changes, second=changes)
    assert verdicts.pop(row) == "DOES NOT HOLD"
    assert set(verdicts.values()) == {"HOLDS"}
    assert _verdicts(first=changes)[row] == "INCONCLUSIVE"  # one seed passes, the other not


def test_the_quadratic_row_fails_when_one_rate_disagrees() -> None:
    assert _verdicts(agree=39)["T1a"] == "DOES NOT HOLD"


def test_seed_measurements_are_the_chapters_runs_of_that_seed() -> None:
    multiples, warmups = [1.25, 2.25], [1, 8]
    measured = primer.seed_measurements(1, width=64, steps=120, scan_step=0.5, teacher_width=8, teacher_dim=2,
                                        teacher_examples=4, warmup_steps=warmups, eta_multiples=multiples,
                                        extra_steps=50)
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(64, seed=1)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    runs = primer.constant_runs(u0, v0, data, primer.REGIMES.values(), lambda_0, 120)
    regimes = primer.regime_measurements(runs, [primer.catapult_peaks(loss, 2.0) for loss in runs.loss])
    assert measured["lazy_change"] == regimes["lazy_change"] and measured["peak_ratio"] == regimes["peak_ratio"]
    teacher = solvable.UVData.linear_teacher(4, 2, seed=1)
    tu, tv = solvable.uv_init(8, 2, seed=1)
    _, largest = primer.warmup_maps({"one example": (u0, v0, data, lambda_0),
                                     "linear teacher": (tu, tv, teacher,
                                                        solvable.uv_ntk_eigenvalue(tu, tv, teacher).item())},
                                    multiples, warmups, 50)
    _, ratios = primer.warmup_gains(largest)
    assert (measured["ratio_one"], measured["ratio_teacher"]) == (ratios["one example"], ratios["linear teacher"])
    assert measured != primer.seed_measurements(0, 64, 120, 0.5, 8, 2, 4, warmups, multiples, 50)


def test_seed_numbers() -> None:
    per_seed = [{**HOLDING, "eta_max": 3.95, "ratio_one": 1.0, "ratio_teacher": 2.43, "peak_ratio": 23428.9,
                 "lazy_change": 3.16e-5},
                {**HOLDING, "eta_max": 3.85, "ratio_one": 1.25, "ratio_teacher": 1.571, "peak_ratio": 103.77,
                 "lazy_change": 0.00709}]
    assert primer.seed_numbers(per_seed) == {
        "primer_seeds": 2, "primer_eta_max_min": 3.85, "primer_eta_max_max": 3.95, "primer_one_ratio_min": 1.0,
        "primer_one_ratio_max": 1.25, "primer_teacher_ratio_min": 1.57, "primer_teacher_ratio_max": 2.43,
        "primer_peak_ratio_min": 104, "primer_peak_ratio_max": 23429, "primer_lazy_change_min": 3.2e-5,
        "primer_lazy_change_max": 7.1e-3, "primer_one_gaining": 1, "primer_teacher_gaining": 2}


def test_figures_build() -> None:
    assert len(primer.plot_quadratic(steps=8).axes) == 1
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(32, seed=0)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    runs = primer.constant_runs(u0, v0, data, primer.REGIMES.values(), lambda_0, steps=20)
    peaks = [primer.catapult_peaks(loss, 2.0) for loss in runs.loss]
    assert len(primer.plot_regimes(runs, primer.REGIMES, peaks).axes) == 2
    scan = [1.0, 3.0, 5.0]
    scan_runs = primer.constant_runs(u0, v0, data, scan, lambda_0, steps=20, record_every=20)
    assert len(primer.plot_scan(scan, scan_runs, solvable.uv_outcomes(scan_runs), lambda_0).axes) == 1
    maps = {"a": [["converged", "diverged"]], "b": [["unstable", "converged"]]}
    assert len(primer.plot_warmup_maps(maps, [1.0, 2.0], [1]).axes) == 2
    demo = primer.warmup_demo(u0, v0, data, eta_trgt=2 / lambda_0, warmup=4, extra_steps=4)
    assert len(primer.plot_demo(demo, 4, peaks=[]).axes) == 2
