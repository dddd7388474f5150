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
from warmup_lib.runs import store, train

matplotlib.use("Agg")  # the chapter's figures are built in the tests

OK = "converged"


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
    assert {sw.experiment for sw in sweeps.values()} | {pe.adam_sweep(params).experiment, pe.trace_experiment(params)} \
        == {f"05_{preset}_{name}" for name in ("sgd_sp_mse", "sgd_sp_xent", "sgd_mup_mse", "sgd_mup_xent",
                                                "sgd_sp_xent_extras", "adam", "adam_probe")}


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
    assert measured == pytest.approx({"spike_step": 1, "spike": 12.0, "memory_adam": 30.0, "memory_gi": 2.0,
                                      "v_ratio": 15.0, "dead": 1.0, "dead_gi": 0.25, "bias_share": 0.9})


def test_released_reference_marks_failures() -> None:
    reference = pe.released_reference()
    assert reference.loc[("adam", 1), 0.00512] == "0.936"
    assert reference.loc[("adam", 1), 0.04096] == "F" and reference.loc[("adam", 1), 0.08192] == ""
    assert reference.loc[("adam", 1024), 0.16384] == "F (0.30)"


HOLDING_SGD = {family: {"gain": 2.0, "best": 0.6, "best_first": 0.6, "eta_share": 0.51}
               for family in pe.FAMILY_LABELS}
HOLDING = dict(
    sgd={**HOLDING_SGD, "sp_mse": {**HOLDING_SGD["sp_mse"], "gain": 4.0, "best_first": 0.58},
         "sp_xent": {**HOLDING_SGD["sp_xent"], "best_first": 0.5899},
         "mup_mse": {**HOLDING_SGD["mup_mse"], "best_first": 0.5901}},
    extras={"sgd": {"cmax_first": 32.0}, "momentum": {"cmax_first": 31.0}},
    effects={"cosine_small": -0.001, "cosine_large": 0.001},
    adam={"failed_share": 0.9, "adam_best_gap": 2.0, "sgd_best_gap": 1.0, "gi_gain": [2.0, 1.0]},
    trace={"v_ratio": 10.0, "dead": 0.5})


def _verdicts(**changes) -> dict[str, str]:
    return {claim.label: claim.verdict for claim in pe.phase_claims(**{**HOLDING, **changes})}


def test_every_claim_holds_just_inside_its_bound() -> None:
    claims = pe.phase_claims(**HOLDING)
    assert [claim.verdict for claim in claims] == ["HOLDS"] * 12
    measured = {claim.label: claim.measured_text for claim in claims}
    assert measured["6a"] == "4.00 / 2.00 / 2.00 / 2.00" and measured["8a"] == "0.010"
    assert measured["8b"] == "0.020 / 0.010" and measured["13"] == "2.0"


def _with(group: str, key: str, value, family: str | None = None) -> dict:
    """HOLDING[group] with one value changed (of one family / variant when given)."""
    if family is None:
        return {group: {**HOLDING[group], key: value}}
    return {group: {**HOLDING[group], family: {**HOLDING[group][family], key: value}}}


@pytest.mark.parametrize("labels, changes", [
    ({"6a"}, _with("sgd", "gain", 1.99, "mup_xent")),
    ({"6b"}, _with("sgd", "gain", 4.01, "sp_xent")),
    ({"7"}, _with("sgd", "eta_share", 0.5, "mup_mse")),
    ({"8a"}, _with("sgd", "best_first", 0.5899, "mup_xent")),
    ({"8b"}, _with("sgd", "best_first", 0.5901, "sp_xent")),
    ({"10a"}, _with("adam", "failed_share", 0.89)),
    ({"10b"}, _with("trace", "v_ratio", 9.9)),
    ({"10c"}, _with("trace", "dead", 0.49)),
    ({"10d"}, _with("adam", "adam_best_gap", 1.9)),
    ({"10d"}, _with("adam", "sgd_best_gap", 1.1)),
    ({"11a"}, _with("extras", "cmax_first", 32.0, "momentum")),
    ({"11b"}, _with("effects", "cosine_small", 0.0)),
    ({"11b"}, _with("effects", "cosine_large", 0.0)),
    ({"13"}, _with("adam", "gi_gain", [1.9, 4.0])),
])
def test_each_claim_fails_on_its_own(labels: set[str], changes: dict) -> None:
    verdicts = _verdicts(**changes)
    assert {label for label, verdict in verdicts.items() if verdict != "HOLDS"} == labels


def test_figures_build() -> None:
    sgd = {family: _table("sgd", {1: 2.0, 16: 8.0}, _rising) for family in pe.FAMILY_LABELS}
    assert len(pe.plot_diagrams(pe.sgd_panels(sgd), nrows=2, ncols=2, figsize=(12, 9.6)).axes) == 8  # + colour bars
    assert len(pe.plot_slices(pe.sgd_panels(sgd), nrows=2, ncols=2, figsize=(10, 7.4)).axes) == 4
    assert len(pe.plot_sgd_boundaries(sgd).axes) == 1
    adam = _adam_table()
    fig = pe.plot_slices(pe.adam_panels(adam, pe.ADAM_LABELS), nrows=1, ncols=3, figsize=(12, 3.6),
                         boundary=pe.labelled(adam, pe.ADAM_LABELS))
    assert [ax.get_legend_handles_labels()[1] for ax in fig.axes][2] == ["Adam", "GI-Adam"]
    records = pd.DataFrame({"step": range(4), "loss": [2.0, 3.0, 1.0, 0.5], "grad_norm": [1.0, 2.0, 0.5, 0.4],
                            "v_hat_norm": [1.0] * 4, "grad_sq_norm": [0.5] * 4, "dead_units_last": [0.0] * 4,
                            "readout_bias_grad_share": [0.1] * 4})
    assert len(pe.plot_failure({"adam": records, "gi_adam": records}, steps=4).axes) == 4
