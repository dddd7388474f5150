"""warmup_lib.chapters.phase_diagrams: sweeps from chapter parameters, the released grid, the failure
traces' callback (the thinning of stored records is tested with the store), and the chapter's
measurements, numbers, figures and claim criteria on fabricated tables and traces."""

from __future__ import annotations

import math

import matplotlib
import pandas as pd
import pytest

from warmup_lib import config
from warmup_lib.chapters import phase_diagrams as pe
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from warmup_lib.claims.registry import chapter_evidence, chapter_rows
from warmup_lib.runs import store, train

matplotlib.use("Agg")  # the chapter's figures are built in the tests

OK = "converged"
CHAPTER = "05_phase_diagrams"


def test_released_grid_holds_the_digest_numbers() -> None:
    released = pe.released_wrn_adam()
    assert len(released) == 24
    cell = released.set_index(["variant", "warmup_steps", "eta_trgt"])
    assert cell.loc[("adam", 1024, 0.00512), "best_test_accuracy"] == 0.947
    # the digest's claim 13: without warmup GI-Adam trains up to 0.08192, Adam only up to 0.02048
    trained = released[released["outcome"] == "converged"].groupby(["variant", "warmup_steps"])["eta_trgt"].max()
    assert trained[("adam", 1)] == pytest.approx(0.02048) and trained[("gi_adam", 1)] == pytest.approx(0.08192)
    ours = pd.DataFrame([{"variant": "adam", "warmup_steps": 1, "eta_trgt": 0.00512, "seed": 0,
                          "outcome": OK, "best_test_accuracy": 0.9}])
    merged = pe.compare_with_released(ours)
    row = merged[(merged["variant"] == "adam") & (merged["warmup_steps"] == 1) & (merged["eta_trgt"] == 0.00512)]
    assert row["ours_best_test_accuracy"].item() == 0.9 and row["released_best_test_accuracy"].item() == 0.936


@pytest.mark.parametrize("preset", config.PRESET_NAMES)
def test_sweeps_from_every_preset(preset: str) -> None:
    params = config.notebook_parameters("05_phase_diagrams", preset)
    sweeps = pe.sgd_sweeps(params)
    assert set(sweeps) == {*pe.SGD_FAMILIES, "extras"}
    assert set(sweeps["extras"].warmup_steps) <= set(params["warmup_steps"])  # plain SGD rows are the baseline
    assert sweeps["extras"].base == sweeps[params["extras_family"]].base
    adam = pd.DataFrame({"variant": ["adam", "gi_adam"], "eta_trgt": [0.128, 0.512]})
    beyond = pe.adam_beyond_sweep(params, adam)
    assert beyond.eta_trgt == tuple(0.128 * 2**k for k in range(1, params["adam_beyond"] + 1))
    assert set(beyond.variants) == {"adam"} and beyond.warmup_steps == tuple(params["adam_warmup_steps"])
    controls = pe.control_sweeps(params)
    assert {sw.experiment for sw in sweeps.values()} | {pe.adam_sweep(params).experiment, pe.trace_experiment(params),
                                                         beyond.experiment} | {sw.experiment for sw in controls.values()} \
        == {f"05_{preset}_{name}" for name in ("sgd_sp_mse", "sgd_sp_xent", "sgd_mup_mse", "sgd_mup_xent",
                                                "sgd_sp_xent_extras", "adam", "adam_probe", "adam_beyond",
                                                "adam_matched", "adam_rate")}
    assert all(sw.base == pe.adam_base(params) for sw in controls.values())


def test_control_settings_match_gi_adams_implicit_warmup() -> None:
    settings = pe.control_settings(1000)
    assert settings["adam_matched"] == (1000, pytest.approx(1000 / 1227))  # the 1227-step warmup, cut at 1000
    assert settings["adam_rate"] == (1, pytest.approx(0.5805, abs=1e-4))
    assert pe.control_settings(5000)["adam_matched"] == (1227, 1.0)  # a run longer than the warmup runs it whole
    run = pd.DataFrame({"variant": ["adam"], "warmup_steps": [1000], "eta_trgt": [0.064 * 1000 / 1227],
                        "seed": [0], "outcome": [OK]})
    table = pe.control_table(run, "adam_matched", 1000)
    assert table[["variant", "warmup_steps", "eta_trgt"]].iloc[0].tolist() == ["adam_matched", 1227, 0.064]
    assert table["eta_run"].iloc[0] == pytest.approx(0.064 * 1000 / 1227)
    numbers = pe.control_numbers({"adam_matched": table}, 1000)
    assert numbers == {"phase_match_warmup": 1227, "phase_match_factor": "0.81", "phase_rate_factor": "0.58",
                       "phase_adam_matched_max": "0.064"}


def test_loss_improvement_reads_the_last_fifth_of_the_evaluations() -> None:
    evals = pd.DataFrame({"step": [0, 400, 800, 1000], "train_loss": [2.0, 1.0, 0.5, 0.45]})
    assert pe.loss_improvement(evals, 1000) == pytest.approx(0.1)
    assert math.isnan(pe.loss_improvement(evals[evals["step"] < 1000], 1000))  # did not reach its end


def test_trace_state_records_the_columns_of_the_stored_traces() -> None:
    """The committed 05_<preset>_adam_probe runs carry exactly these columns, in this order, and
    their configs say so (TRACE_STATE is part of the run id)."""
    cfg = RunConfig(data=DataConfig(n_train=64, n_test=32), model=ModelConfig(arch="fcn", width=8, depth=3),
                    optim=OptimConfig(name="adam"), loss="xent", steps=2, eval_every=0)
    probed = cfg.replace(**pe.TRACE_STATE)
    records = train.run(probed).records
    assert list(records.columns) == ["step", "lr", "loss", "accuracy", "grad_norm", "m_norm", "v_norm", "v_hat_norm",
                                     "grad_sq_norm", "readout_bias_grad_share", "dead_units", "dead_units_last"]
    assert store.run_id(probed) != store.run_id(cfg)


# ---------------------------------------------------------------------------------------------------
# The chapter's measurements, numbers, figures and claim criteria, on fabricated sweep tables and
# traces whose values are known.
# ---------------------------------------------------------------------------------------------------


def _table(variant: str, converged_up_to: dict[int, float], accuracy, seeds=(0, 1), etas=(1.0, 2.0, 4.0, 8.0),
           beyond: str = "diverged") -> pd.DataFrame:
    """A sweep table of one variant on eta axis c: for each T_wrm row, every seed converges up to
    ``converged_up_to[T_wrm]`` and ends ``beyond`` above it; accuracy(T_wrm, c, seed) of a converged run."""
    rows = []
    for warmup, largest in converged_up_to.items():
        for c in etas:
            for seed in seeds:
                converged = c <= largest
                rows.append({"variant": variant, "warmup_steps": warmup, "c": c, "eta_trgt": c / 10, "seed": seed,
                             "outcome": OK if converged else beyond, "run_id": f"{variant}-{warmup}-{c}-{seed}",
                             "best_test_accuracy": accuracy(warmup, c, seed) if converged else 0.1})
    return pd.DataFrame(rows)


def _rising(warmup: int, c: float, seed: int) -> float:
    """Accuracy set by c alone (a little seed noise): eta explains all of the variance."""
    return 0.4 + 0.05 * math.log2(c) + 0.001 * seed


def test_variant_measurements_read_boundary_gain_and_best_cells() -> None:
    table = _table("sgd", {1: 2.0, 16: 8.0}, _rising)
    measured = pe.variant_measurements(table, "sgd")
    assert measured["gain"] == pytest.approx(4.0)
    assert (measured["cmax_first"], measured["cmax_last"]) == (2.0, 8.0)
    assert measured["best"] == pytest.approx(0.4 + 0.15 + 0.0005)  # c = 8, only with warmup
    assert measured["best_first"] == pytest.approx(0.4 + 0.05 + 0.0005)  # c = 2 without
    # c = 1 is the only column a doubling below every row's boundary: no interior to split
    assert math.isnan(measured["eta_share"])
    wide = pe.variant_measurements(_table("sgd", {1: 8.0, 16: 8.0}, _rising, etas=(0.5, 1.0, 2.0, 4.0, 8.0)), "sgd")
    assert wide["eta_share"] == pytest.approx(1.0) and wide["gain"] == 1.0
    # a row where no seed trained has no boundary
    assert math.isnan(pe.variant_measurements(_table("sgd", {1: 0.5, 16: 8.0}, _rising), "sgd")["cmax_first"])


def test_sgd_numbers_format_as_the_prose_cites_them() -> None:
    measured = {"sp_mse": {"gain": 12.7, "cmax_first": 10.079, "cmax_last": 128.0, "best": 0.48123,
                           "best_first": 0.2461, "eta_share": 0.9}}
    assert pe.sgd_numbers(measured, longest_warmup=256) == {
        "phase_longest_warmup": 256, "phase_gain_sp_mse": "12.7", "phase_cmax1_sp_mse": "10.1",
        "phase_cmaxT_sp_mse": "128", "phase_best_sp_mse": "0.481", "phase_best1_sp_mse": "0.246"}


def test_accuracy_changes_at_the_smallest_and_largest_rates() -> None:
    index = pd.MultiIndex.from_tuples([(1, 0.5), (1, 1.0), (1, 2.0), (16, 0.5), (16, 1.0)],
                                      names=["warmup_steps", "eta"])
    cells = pd.DataFrame({"sgd": [0.5, 0.6, 0.7, 0.5, 0.6], "cosine": [0.4, 0.6, 0.9, 0.46, float("nan")]}, index)
    change = pe.accuracy_change(cells, "cosine")
    assert change.to_dict() == pytest.approx({(1, 0.5): -0.1, (1, 1.0): 0.0, (1, 2.0): 0.2, (16, 0.5): -0.04})
    assert pe.at_smallest(change, 0.5) == pytest.approx(-0.07)
    assert pe.at_largest(change) == pytest.approx((0.2 - 0.04) / 2)  # row 16's last shared rate is 0.5
    assert pe.accuracy_change(cells, "momentum").empty
    assert math.isnan(pe.at_smallest(pd.Series(dtype=float), 0.5)) and math.isnan(pe.at_largest(pd.Series(dtype=float)))


def test_extras_measurements_compare_each_variant_with_plain_sgd() -> None:
    sgd = _table("sgd", {1: 8.0}, _rising)
    cosine = _table("cosine", {1: 8.0}, lambda w, c, s: _rising(w, c, s) + (0.02 if c == 8.0 else -0.03))
    momentum = _table("momentum", {1: 4.0}, lambda w, c, s: _rising(w, c, s) + 0.1)
    effects = pe.extras_measurements(pd.concat([sgd, cosine, momentum], ignore_index=True))
    assert effects["smallest_eta"] == 1.0
    assert effects == pytest.approx({"smallest_eta": 1.0, "cosine_small": -0.03, "cosine_large": 0.02,
                                     "momentum_small": 0.1})
    numbers = pe.extras_numbers({"momentum": {"cmax_first": 4.0, "best": 0.6512, "gain": 1.0}}, effects)
    assert numbers == {"phase_cosine_small": "-3.0", "phase_cosine_large": "+2.0", "phase_momentum_small": "+10.0",
                       "phase_extras_small_eta": "1", "phase_extras_cmax1_momentum": "4",
                       "phase_extras_best_momentum": "0.651", "phase_extras_gain_momentum": "1.0"}


def _adam_table() -> pd.DataFrame:
    """Adam trains up to eta_trgt 0.2 (c = 2) in both rows and fails above; GI-Adam up to 0.8 without
    warmup and 0.4 with; accuracies peak two doublings below Adam's boundary."""
    def peaked(warmup: int, c: float, seed: int) -> float:
        return 0.6 - 0.1 * abs(math.log2(c / 0.5))

    table = pd.concat([_table("adam", {1: 2.0, 16: 2.0}, peaked, etas=(0.5, 1.0, 2.0, 4.0, 8.0), beyond="failed"),
                       _table("gi_adam", {1: 8.0, 16: 4.0}, peaked, etas=(0.5, 1.0, 2.0, 4.0, 8.0), beyond="failed")],
                      ignore_index=True)
    return table.drop(columns="c")  # Adam's eta axis is the absolute eta_trgt


def test_adam_measurements() -> None:
    adam = _adam_table()
    one_run = (adam["variant"] == "adam") & (adam["eta_trgt"] == 0.8) & (adam["seed"] == 1) & (adam["warmup_steps"] == 1)
    adam.loc[one_run, "outcome"] = "diverged"
    sgd = {"sp_xent": _table("sgd", {1: 8.0}, _rising), "sp_mse": _table("sgd", {1: 4.0}, _rising)}
    measured = pe.adam_measurements(adam, sgd, "sp_xent")
    assert (measured["failed"], measured["diverged"]) == (7, 1)
    assert measured["failed_share"] == pytest.approx(7 / 8)
    assert measured["warmups"] == [1, 16]
    assert measured["eta_max"] == {"adam": pytest.approx([0.2, 0.2]), "gi_adam": pytest.approx([0.8, 0.4])}
    assert measured["gi_gain"] == pytest.approx([4.0, 2.0])
    assert measured["adam_best_gap"] == pytest.approx(2.0)  # best at 0.05, boundary 0.2
    assert (measured["sgd_best_gap"], measured["sp_mse_best_gap"]) == (0.0, 0.0)  # SGD's best at its boundary
    assert measured["gi_small_cost"] == pytest.approx(0.0)
    numbers = pe.adam_numbers(measured)
    assert (numbers["phase_adam_failed"], numbers["phase_gi_gains"], numbers["phase_adam_maxes"]) == (7, "4.0, 2.0",
                                                                                                     "0.2, 0.2")
    assert (numbers["phase_adam_warmups"], numbers["phase_gi_small_cost"]) == ("1, 16", "+0.0")


def test_failed_example_is_the_smallest_failing_rate_without_warmup() -> None:
    adam = _adam_table()
    example = pe.failed_example(adam, seed=1)
    assert (example["variant"], example["warmup_steps"], example["eta_trgt"], example["seed"]) == ("adam", 1, 0.4, 1)
    converged = adam.assign(outcome=OK)
    assert pe.failed_example(converged, seed=0)["eta_trgt"] == 0.8  # none failed: the largest rate


def test_failure_measurements_read_the_late_tenth_of_the_traces() -> None:
    steps = 10
    def trace(v_hat: float, dead: float) -> pd.DataFrame:
        return pd.DataFrame({"step": range(steps), "grad_norm": [1.0, 12.0] + [0.5] * 8,
                             "v_hat_norm": [v_hat] * steps, "grad_sq_norm": [2.0] * steps,
                             "dead_units_last": [0.0] * 9 + [dead], "readout_bias_grad_share": [0.1] * 9 + [0.9]})

    measured = pe.failure_measurements({"adam": trace(60.0, 1.0), "gi_adam": trace(4.0, 0.25)}, steps)
    assert measured == pytest.approx({"spike_step": 1, "spike": 12.0, "collapse": 24.0, "memory_adam": 30.0,
                                      "memory_gi": 2.0, "v_hat_ratio": 15.0, "dead": 1.0, "dead_gi": 0.25,
                                      "bias_share": 0.9})


def test_released_reference_marks_failures() -> None:
    reference = pe.released_reference()
    assert reference.loc[("adam", 1), 0.00512] == "0.936"
    assert reference.loc[("adam", 1), 0.04096] == "F" and reference.loc[("adam", 1), 0.08192] == ""
    assert reference.loc[("adam", 1024), 0.16384] == "F (0.30)"


# A fabricated chapter where every row of warmup_lib.claims.chapter05 holds, and changes that make
# exactly one row fail.  Seeds 0 and 1; SGD rows T_wrm 1 and 256, Adam rows 1 and 16.
ETAS = (0.5, 1.0, 2.0, 4.0, 8.0)


def _peaked(peak: float, bonus: float = 0.0):
    """Accuracy peaking at eta (c or the table's c before /10) = ``peak``, plus ``bonus``."""
    return lambda warmup, c, seed: 0.6 + bonus - 0.1 * abs(math.log2(c / peak))


def _world(**changes) -> dict:
    """The arguments of claim_values, every row holding, with ``changes`` (name -> value) applied."""
    world = {
        "sgd_bounds": {"sp_mse": {1: 2.0, 256: 8.0}, "sp_xent": {1: 2.0, 256: 4.0}, "mup_mse": {1: 2.0, 256: 4.0},
                       "mup_xent": {1: 2.0, 256: 4.0}},
        "mup_accuracy": _peaked(1.0), "sp_accuracy": _rising, "momentum_bounds": {1: 1.0, 256: 4.0},
        "cosine_accuracy": lambda w, c, s: _rising(w, c, s) + (0.02 if c == {1: 2.0, 256: 4.0}[w] else -0.03),
        "adam_bounds": {1: 2.0, 16: 4.0}, "gi_bounds": {1: 8.0, 16: 8.0}, "gi_bonus": 0.01,
        "adam_beyond": "failed", "control_bound": 2.0, "improvement": 0.0,
        "trace": {"v_hat_ratio": 1.0, "collapse": 100.0, "dead": 0.5},
    }
    world.update(changes)
    sgd = {family: _table("sgd", bounds, world["sp_accuracy"] if family.startswith("sp") else world["mup_accuracy"],
                          etas=ETAS)
           for family, bounds in world["sgd_bounds"].items()}
    cosine_bounds = world["sgd_bounds"]["sp_xent"]
    extras = pd.concat([sgd["sp_xent"], _table("momentum", world["momentum_bounds"], _rising, etas=ETAS),
                        _table("cosine", cosine_bounds, world["cosine_accuracy"], etas=ETAS)], ignore_index=True)
    adam = pd.concat([_table("adam", world["adam_bounds"], _peaked(0.5), etas=ETAS, beyond=world["adam_beyond"]),
                      _table("gi_adam", world["gi_bounds"], _peaked(0.5, world["gi_bonus"]), etas=ETAS,
                             beyond="failed")], ignore_index=True).drop(columns="c")
    controls = {name: _table(name, {warmup: world["control_bound"]}, _peaked(0.5), etas=ETAS,
                             beyond="failed").drop(columns="c")
                for name, warmup in (("adam_matched", 1227), ("adam_rate", 1))}
    improvement = {rid: world["improvement"] for table in sgd.values() for rid in table["run_id"]}
    return dict(sgd=sgd, extras=extras, adam=adam, controls=controls, traces=[world["trace"]] * 2,
                improvement=improvement, tol=0.05, extras_family="sp_xent", seeds=[0, 1])


def _verdicts(**changes) -> dict[str, str]:
    values = pe.claim_values(**_world(**changes))
    return {evidence.spec.id: evidence.verdict for evidence in chapter_evidence(CHAPTER, values, [0, 1])}


def test_claim_values_cover_exactly_the_chapters_rows() -> None:
    values = pe.claim_values(**_world())
    assert list(values) == [spec.id for spec in chapter_rows(CHAPTER)]
    settings = {"6a": 4, "7": 4, "8a": 2, "8b": 2}  # rows with one value per setting and seed
    assert all(len(row) == 2 * settings.get(row_id, 1) for row_id, row in values.items())
    assert values["6a"] == [4.0, 4.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert values["6b"] == [2.0, 2.0] and values["13"] == [4.0, 4.0]
    assert values["10d"] == pytest.approx([2.5, 2.5]) and values["13i"] == pytest.approx([0.01, 0.01])
    assert values["8a"] == pytest.approx([0.0] * 4)
    assert values["8b"] == pytest.approx([0.1, 0.1, 0.05, 0.05])  # SP-MSE: c_max 8 vs 2, SP-xent: 4 vs 2
    numbers = pe.claim_numbers(values)
    assert numbers["phase_seeds_6b"] == "2, 2" and numbers["phase_seeds_10d"] == "2.5, 2.5"


def test_every_row_holds_in_the_fabricated_chapter() -> None:
    assert set(_verdicts().values()) == {"HOLDS"}


@pytest.mark.parametrize("row, changes", [
    ("6a", {"sgd_bounds": {family: {1: 2.0, 256: 2.0} for family in pe.FAMILY_LABELS}}),  # no setting gains
    ("6b", {"sgd_bounds": {"sp_mse": {1: 2.0, 256: 4.0}, "sp_xent": {1: 2.0, 256: 4.0},
                           "mup_mse": {1: 1.0, 256: 8.0}, "mup_xent": {1: 2.0, 256: 4.0}}}),
    ("6c", {"adam_bounds": {1: 2.0, 16: 2.0}}),
    ("7", {"improvement": 0.06}),  # nothing trained out: no interior to test
    ("7", {"sp_accuracy": lambda w, c, s: 0.4 + 0.1 * math.log2(w) + 0.001 * c, "mup_accuracy":
           lambda w, c, s: 0.6 + 0.1 * math.log2(w) + 0.001 * c - 0.1 * (c > 2)}),  # the row explains it
    ("8a", {"mup_accuracy": _peaked(4.0)}),  # muP's best needs warmup
    ("8b", {"sp_accuracy": _peaked(1.0)}),  # SP's best without warmup
    ("10a", {"adam_beyond": "diverged"}),
    ("10b", {"trace": {"v_hat_ratio": 0.99, "collapse": 100.0, "dead": 0.5}}),
    ("10e", {"trace": {"v_hat_ratio": 1.0, "collapse": 99.0, "dead": 0.5}}),
    ("10c", {"trace": {"v_hat_ratio": 1.0, "collapse": 100.0, "dead": 0.49}}),
    ("10d", {"adam_bounds": {1: 0.5, 16: 0.5}}),  # Adam's best cell is its last trainable one
    ("10f", {"sp_accuracy": lambda w, c, s: _rising(w, c, s) - 0.3 * (c >= 2.0)}),  # SGD peaks 2 doublings in
    ("11a", {"momentum_bounds": {1: 2.0, 256: 4.0}}),
    ("11b", {"cosine_accuracy": lambda w, c, s: _rising(w, c, s) + 0.02}),
    ("11c", {"cosine_accuracy": lambda w, c, s: _rising(w, c, s) - 0.03}),
    ("13", {"gi_bounds": {1: 2.0, 16: 8.0}, "control_bound": 1.0}),
    ("13w", {"control_bound": 8.0}),
    ("13i", {"gi_bonus": -0.01}),
])
def test_each_row_fails_when_its_quantity_crosses(row: str, changes: dict) -> None:
    """Every seed crossing the row's threshold: DOES NOT HOLD (the unchanged chapter holds every row)."""
    assert _verdicts(**changes)[row] == "DOES NOT HOLD"


def test_seed_values_straddle_to_inconclusive() -> None:
    """One seed of two moving one grid step in one setting: gains 2 and 1 there, the verdict INCONCLUSIVE."""
    world = _world()
    sp_xent = world["sgd"]["sp_xent"]
    late = (sp_xent["seed"] == 1) & (sp_xent["warmup_steps"] == 256) & (sp_xent["c"] == 4.0)
    sp_xent.loc[late, "outcome"] = "diverged"
    values = pe.claim_values(**world)
    assert values["6a"][2:4] == [2.0, 1.0]  # SP-xent's two seeds
    assert chapter_evidence(CHAPTER, values, [0, 1])[0].verdict == "INCONCLUSIVE"


def test_trained_and_gain_numbers() -> None:
    world = _world(improvement=0.01)
    still = world["sgd"]["sp_mse"]["run_id"].iloc[0]  # still training (the fabricated families share run ids)
    world["improvement"][still] = 0.2
    numbers = pe.trained_numbers(world["sgd"], world["improvement"], 0.05)
    converged = [table[table["outcome"] == OK] for table in world["sgd"].values()]
    untrained = sum(int((table["run_id"] == still).sum()) for table in converged)
    assert untrained == 4
    assert (numbers["phase_trained_runs"], numbers["phase_converged_runs"]) == \
        (sum(map(len, converged)) - untrained, sum(map(len, converged)))
    assert numbers["phase_trained_tol"] == "5" and numbers["phase_best_fall_sp_mse"] == "1"
    assert pe.gain_numbers(world["sgd"])["phase_gain_seeds_sp_mse"] == "4, 4"
    nothing = {family: table.assign(outcome="diverged") for family, table in world["sgd"].items()}
    assert pe.trained_numbers(nothing, world["improvement"], 0.05)["phase_best_fall_sp_mse"] == "nan"
    assert pe.seeds_text([0.1234, math.nan, 16.0]) == "0.12, nan, 16"


def test_figures_build() -> None:
    sgd = {family: _table("sgd", {1: 2.0, 16: 8.0}, _rising) for family in pe.FAMILY_LABELS}
    assert len(pe.plot_diagrams(pe.sgd_panels(sgd), nrows=2, ncols=2, figsize=(12, 9.6)).axes) == 8  # + colour bars
    assert len(pe.plot_slices(pe.sgd_panels(sgd), nrows=2, ncols=2, figsize=(10, 7.4)).axes) == 4
    assert len(pe.plot_sgd_boundaries(sgd).axes) == 1
    adam = _adam_table()
    controls = _world()["controls"]
    fig = pe.plot_slices(pe.adam_panels(adam, pe.ADAM_LABELS), nrows=1, ncols=3, figsize=(12, 3.6),
                         boundary=pe.boundary_table(adam, controls))
    assert set(fig.axes[2].get_legend_handles_labels()[1]) == {"Adam", "GI-Adam", *pe.CONTROL_LABELS.values()}
    records = pd.DataFrame({"step": range(4), "loss": [2.0, 3.0, 1.0, 0.5], "grad_norm": [1.0, 2.0, 0.5, 0.4],
                            "v_hat_norm": [1.0] * 4, "grad_sq_norm": [0.5] * 4, "dead_units_last": [0.0] * 4,
                            "readout_bias_grad_share": [0.1] * 4})
    assert len(pe.plot_failure({"adam": records, "gi_adam": records}, steps=4).axes) == 4
