"""warmup_lib.chapters.critical_lr_warmup: warmup from eta_c through the store, the Fig. 5 grid, and persistent catapult warmup inside train.run.

Oracles: the search and the warmup built by hand from their public parts (build_model,
BatchStream, critical_lr, PersistentCatapultWarmup in a hand-written loop), the closed-form
schedule, and t_reach / t_save.
"""

from __future__ import annotations

import math

import pytest

from warmup_lib.chapters import critical_lr_warmup as cr
from warmup_lib.claims.registry import chapter_evidence, chapter_rows
from warmup_lib.runs import executors, store
from warmup_lib.critical.warmup import PersistentCatapultWarmup, t_reach, t_save
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig

CHAPTER = "06_critical_lr_warmup"
TINY = RunConfig(data=DataConfig(name="mnist1d", n_train=256, n_test=64), model=ModelConfig(width=16, depth=3),
                 optim=OptimConfig(name="sgd"), schedule=ScheduleConfig(eta_trgt=2.0, warmup_steps=8),
                 loss="xent", batch_size=64, steps=12, eval_every=6)


def test_from_critical_lr_is_the_papers_schedule_in_the_stored_run(tmp_path) -> None:
    eta_c = 0.5
    cfg = cr.from_critical_lr(TINY, eta_c)
    assert (cfg.schedule.warmup, cfg.schedule.eta_init) == ("from_init", eta_c)
    result = store.load_or_run("exp", cfg, root=tmp_path)
    lr = result.records["lr"].tolist()
    eta_trgt, warmup = TINY.schedule.eta_trgt, TINY.schedule.warmup_steps
    assert lr == pytest.approx([min(eta_c + eta_trgt * (t + 1) / warmup, eta_trgt) for t in range(TINY.steps)])
    assert lr.index(eta_trgt) + 1 == t_reach(eta_c, eta_trgt, warmup) == math.ceil(warmup * (1 - eta_c / eta_trgt))
    assert cr.from_critical_lr(TINY, 9.0).schedule.eta_init == eta_trgt  # eta_c >= eta_trgt: start at the target
    with pytest.raises(ValueError, match="eta_c"):
        cr.from_critical_lr(TINY, 0.0)


def test_grid_rows_follow_the_formulas_and_a_rerun_runs_nothing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = TINY.replace(steps=8)
    grid = cr.critical_warmup_grid("grid", base, [2.0, 64.0], [4, 8], lambda0_batches=1, root=tmp_path)
    assert len(grid) == 4 and len(store.list_runs("grid", tmp_path)) == 8
    for row in grid.itertuples():
        assert row.eta_trgt == pytest.approx(row.c / row.lambda_0)
        assert row.eta0 == pytest.approx(row.eta_trgt / row.warmup_steps)
        eta_init = min(row.eta_c, row.eta_trgt)
        assert row.t_reach == t_reach(eta_init, row.eta_trgt, row.warmup_steps)
        assert row.t_save == t_save(eta_init, row.eta_trgt, row.warmup_steps, row.total_passes)
        assert not row.capped or row.eta_c == row.eta_trgt
    small = grid[grid["c"] == 2.0]
    assert small["capped"].all() and (small["t_reach"] == 1).all()  # 2/lambda_0 is below the one-step eta_c
    monkeypatch.setattr(executors, "make_executor", lambda *a, **k: pytest.fail("ran again"))
    again = cr.critical_warmup_grid("grid", base, [2.0, 64.0], [4, 8], lambda0_batches=1, root=tmp_path)
    assert again.equals(grid)


def test_persistent_catapult_run_equals_the_hand_written_loop(hand_built_start) -> None:
    cfg = TINY.replace(**{"schedule.eta_trgt": 10.0, "schedule.warmup_steps": 1})
    result = cr.run_persistent_catapult(cfg, delta=0.1, eta0=1e-3, max_forward_passes=200)
    model, loss_fn, stream, optimizer = hand_built_start(cfg, cfg.schedule.eta_trgt)
    warmup = PersistentCatapultWarmup(optimizer, model, loss_fn, eta_trgt=10.0, delta=0.1, eta0=1e-3,
                                      max_forward_passes=200)
    losses, rates = [], []
    for _ in range(cfg.steps):  # the loop of the class docstring
        inputs, targets = stream.next()
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        rates.append(warmup.step(loss, inputs, targets))
        losses.append(loss.item())
        optimizer.step()
    assert result.records["lr"].tolist() == rates
    assert result.records["loss"].tolist() == pytest.approx(losses, rel=1e-6)
    summary = result.summary
    assert summary["pcw_reestimates"] == len(warmup.records) >= 2
    assert summary["pcw_forward_passes"] == sum(r.forward_passes + 2 for r in warmup.records)
    reached = [t for t, eta in enumerate(rates) if eta >= 10.0]
    assert summary["pcw_reach_step"] == (reached[0] if reached else None)


def test_persistent_catapult_store_roundtrip_and_refuses_a_warmup_schedule(tmp_path) -> None:
    cfg = TINY.replace(**{"schedule.eta_trgt": 1.0, "schedule.warmup_steps": 1}, steps=4)
    first = cr.run_persistent_catapult(cfg, eta0=0.01, experiment="exp", root=tmp_path)
    folder = cr.persistent_experiment("exp", 0.1, 0.01, 500)
    assert folder == "exp_pcw_delta0.1_eta00.01_fp500" and store.is_done(folder, cfg, tmp_path)
    again = cr.run_persistent_catapult(cfg, eta0=0.01, experiment="exp", root=tmp_path)
    assert again.records["lr"].tolist() == first.records["lr"].tolist()
    assert again.summary["pcw_reestimates"] == first.summary["pcw_reestimates"]
    with pytest.raises(ValueError, match="schedule"):
        cr.run_persistent_catapult(TINY)


# ---------------------------------------------------------------------------------------------------
# The chapter's plan, numbers, figures and claim criteria, on fabricated grids and runs whose
# verdicts are known.
# ---------------------------------------------------------------------------------------------------

PARAMS = dict(dataset="mnist1d", n_train=256, n_test=64, augment=False, data_root=None, data_download=False,
              arch="fcn", width=16, depth=3, widen=4, param="sp", batch_size=64, steps=12, seed=3,
              eval_every=6, device="cpu")


def _cell(c: float, warmup: int, eta_c: float, linear: str = "converged", critical: str = "converged",
          linear_acc: float = 0.5, critical_acc: float = 0.5, passes: int = 10) -> dict:
    """One grid row as critical_warmup_grid writes it, at lambda_0 = 1 (so eta_trgt = c)."""
    eta_init = min(eta_c, c)
    return {"c": c, "eta_trgt": c, "warmup_steps": warmup, "lambda_0": 1.0, "eta_c": eta_c, "eta_c_lambda0": eta_c,
            "total_passes": passes, "t_reach": t_reach(eta_init, c, warmup),
            "t_save": t_save(eta_init, c, warmup, passes),
            "save_fraction": t_save(eta_init, c, warmup, passes) / warmup,
            "linear_outcome": linear, "linear_best_test_accuracy": linear_acc,
            "linear_final_test_accuracy": linear_acc - 0.01, "critical_outcome": critical,
            "critical_best_test_accuracy": critical_acc, "critical_final_test_accuracy": critical_acc - 0.03}


def _grid(changes: dict | None = None) -> "pd.DataFrame":
    """Two warmups x targets 1, 2, 8 with eta_c = 2: two cells per warmup at or below eta_c.

    ``changes`` maps a cell (c, warmup) to keyword arguments of :func:`_cell`."""
    import pandas as pd

    rows = []
    for warmup in (16, 64):
        for c in (1.0, 2.0, 8.0):
            rows.append(_cell(c, warmup, 2.0, **(changes or {}).get((c, warmup), {})))
    return pd.DataFrame(rows)


def _comparisons3(pcw: str = "converged", constant: str = "diverged", linear: str = "converged",
                  pcw_acc: float = 0.61234) -> dict:
    """Three persistent-warmup targets, the first with these outcomes, the others holding."""
    first = {"persistent catapult": _run(pcw, pcw=True, accuracy=pcw_acc),
             "linear, T_wrm = 256": _run(linear), "constant": _run(constant)}
    holding = {"persistent catapult": _run("converged", pcw=True), "linear, T_wrm = 256": _run("converged"),
               "constant": _run("diverged")}
    return {("xent", 48.0): first, ("xent", 64.0): holding, ("mse", 32.0): dict(holding)}


def _verdicts(grids, ratios=(3.25, 3.0), comparisons=None) -> dict[str, str]:
    """The chapter's verdicts over seeds (one grid, ratio and comparison each)."""
    comparisons = comparisons or [_comparisons3() for _ in grids]
    values = cr.claim_values(list(grids), list(ratios), comparisons)
    return {row.spec.id: row.verdict for row in chapter_evidence(CHAPTER, values, seeds=list(range(len(grids))))}


def _holding_grid():
    """The fabricated grid, its saving in the column above eta_c raised to 0.45 (12b holds)."""
    grid = _grid()
    return grid.assign(save_fraction=grid["save_fraction"].where(grid["c"] != 8.0, 0.45))


def test_base_config_is_the_notebooks_sgd_run() -> None:
    cfg = cr.base_config(PARAMS, "mse")
    expected = RunConfig(data=DataConfig(name="mnist1d", n_train=256, n_test=64), model=ModelConfig(width=16, depth=3),
                         optim=OptimConfig(name="sgd"), loss="mse", batch_size=64, steps=12, seed=3, eval_every=6)
    assert cfg == expected and store.run_id(cfg) == store.run_id(expected)
    assert cr.base_config(PARAMS, "xent").loss == "xent"


def test_threshold_ratio() -> None:
    assert cr.threshold_ratio(eta_c=2 / 5.0, lambda_0=5.0) == pytest.approx(1.0)
    assert cr.threshold_ratio(eta_c=0.3, lambda_0=20.0) == pytest.approx(3.0)


def test_search_numbers_round_as_the_prose_cites_them() -> None:
    search = {"eta_c": 0.409612, "forward_passes": 13, "total_passes": 15}
    numbers = cr.search_numbers(search, lambda_0=15.8912, lambda0_batches=10, delta=0.1)
    assert numbers == {"crit_lambda0_batches": 10, "crit_lambda0": 15.89, "crit_two_over_lambda": 0.1259,
                       "crit_init_eta_c": 0.4096, "crit_init_ratio": 3.25, "crit_init_passes": 15,
                       "crit_init_trials": 13, "crit_delta": 0.1}


def test_claim_values_are_the_registrys_rows_of_the_chapter() -> None:
    values = cr.claim_values([_holding_grid()], [3.25], [_comparisons3()])
    assert list(values) == [row.id for row in chapter_rows(CHAPTER)]
    kinds = {row.id: row.kind for row in chapter_rows(CHAPTER)}
    assert kinds == {"12a": "definition", "12b": "definition", "12c": "paper", "12d": "paper", "12e": "beyond",
                     "12f": "definition", "15a": "paper", "15b": "paper", "15c": "paper"}
    with pytest.raises(ValueError, match="seeds"):
        cr.claim_values([_grid()], [3.0, 3.0], [_comparisons3()])
    more = cr.claim_values([_grid()], [3.0], [_comparisons3(), _comparisons3(pcw="diverged")])  # more PCW seeds
    assert len(more["12a"]) == 1 and more["15a"] == [0.0, -math.inf] and more["15b"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="three"):
        cr.claim_values([_grid()], [3.0], [dict(list(_comparisons3().items())[:2])])


def test_every_row_holds_on_seeds_that_meet_every_criterion() -> None:
    grid = _holding_grid()
    below, above = cr.split_by_eta_c(grid)
    assert list(below["c"]) == [1.0, 2.0, 1.0, 2.0] and list(above["c"]) == [8.0, 8.0]
    # T_save/T_wrm at c = 8 of the plain grid: eta_c/eta_trgt - T_fp/(2 T_wrm) = 0.25 - 5/16 < 0 and 0.25 - 5/64
    assert cr.max_save_fraction(_grid()) == pytest.approx(0.25 - 5 / 64)
    better = _holding_grid().assign(critical_best_test_accuracy=0.5 + 0.02 / 6 * (_grid()["c"] == 8.0))
    values = cr.claim_values([grid, better], [3.25, 3.0], [_comparisons3(), _comparisons3()])
    assert values["12a"] == [1.0, 1.0] and values["12b"] == [0.45, 0.45] and values["12c"] == [10.0, 10.0]
    assert values["12d"][0] == pytest.approx(0.0) and values["12e"] == [0.0, 0.0]
    assert values["15a"] == [0.0, 0.0]
    assert set(_verdicts([grid, better])) and set(_verdicts([grid, better]).values()) == {"HOLDS"}


@pytest.mark.parametrize("row, changes", [
    ("12a", {}),  # set below: a cell at or below eta_c that did not start at the target
    ("12c", {(1.0, 16): {"passes": 21}}),
    ("12d", {(1.0, 16): {"critical_acc": 0.38}}),  # loses 12/6 = 2 points on average, beyond 1
    ("12e", {(8.0, 64): {"critical": "diverged"}}),  # one cell lost, none gained
])
def test_each_grid_row_fails_on_its_own_and_a_straddle_is_inconclusive(row: str, changes: dict) -> None:
    bad = _holding_grid()
    if row == "12a":
        bad.loc[0, "t_reach"] = 2  # a cell at or below eta_c that did not start at the target
    else:
        bad = _grid(changes)
        bad = bad.assign(save_fraction=bad["save_fraction"].where(bad["c"] != 8.0, 0.45))
    verdicts = _verdicts([bad, bad])
    assert verdicts.pop(row) == "DOES NOT HOLD"
    assert set(verdicts.values()) == {"HOLDS"}
    assert _verdicts([bad, _holding_grid()])[row] == "INCONCLUSIVE"


def test_12a_without_a_cell_below_eta_c_and_12b_12f_fail() -> None:
    assert _verdicts([_grid().iloc[[2, 5]]] * 2)["12a"] == "DOES NOT HOLD"  # no such cell: NaN
    assert _verdicts([_grid()] * 2)["12b"] == "DOES NOT HOLD"  # the plain grid saves at most 0.17
    assert _verdicts([_holding_grid()] * 2, ratios=(0.8, 0.9))["12f"] == "DOES NOT HOLD"
    assert cr.accuracy_gap(_grid({(1.0, 16): {"critical_acc": 0.38}})) == pytest.approx(-0.02)
    lost_and_gained = _grid({(8.0, 64): {"critical": "diverged"}, (8.0, 16): {"linear": "diverged"}})
    lost, gained = cr.changed_outcomes(lost_and_gained)
    assert (list(lost["warmup_steps"]), list(gained["warmup_steps"])) == ([64], [16])
    assert cr.claim_values([lost_and_gained], [3.0], [_comparisons3()])["12e"] == [0.0]  # one lost, one gained


def test_pcw_value_and_the_15_rows_both_ways() -> None:
    assert cr.pcw_value(_comparisons3()[("xent", 48.0)]) == pytest.approx(0.0)
    assert cr.pcw_value(_comparisons3(pcw_acc=0.55)[("xent", 48.0)]) == pytest.approx(100 * (0.55 - 0.61234))
    assert cr.pcw_value(_comparisons3(pcw="diverged")[("xent", 48.0)]) == -math.inf
    assert math.isnan(cr.pcw_value(_comparisons3(constant="converged")[("xent", 48.0)]))
    # a linear warmup that diverged counts as accuracy 0
    assert cr.pcw_value(_comparisons3(linear="diverged")[("xent", 48.0)]) == pytest.approx(61.234)
    grid = _holding_grid()
    for changes, verdict in (({"pcw": "diverged"}, "DOES NOT HOLD"), ({"constant": "converged"}, "DOES NOT HOLD"),
                             ({"pcw_acc": 0.56}, "DOES NOT HOLD"), ({"pcw_acc": 0.57}, "HOLDS")):
        verdicts = _verdicts([grid, grid], comparisons=[_comparisons3(**changes)] * 2)
        assert verdicts.pop("15a") == verdict and set(verdicts.values()) == {"HOLDS"}
    mixed = _verdicts([grid, grid], comparisons=[_comparisons3(pcw="diverged"), _comparisons3()])
    assert mixed["15a"] == "INCONCLUSIVE"


def test_seed_tables_and_numbers() -> None:
    grids = [_grid({(8.0, 64): {"critical": "diverged"}}), _grid()]
    table = cr.seed_table([0, 1], grids, {"xent": [3.25, 3.0], "mse": [1.62, 1.43]})
    assert list(table["seed"]) == [0, 1] and list(table["cells lost"]) == [1, 0]
    assert list(table["eta_c/(2/lambda_0), mse"]) == [1.62, 1.43] and list(table["largest T_fp"]) == [10, 10]
    assert list(table["eta_c*lambda_0 above"]) == ["2", "2"]
    assert cr.seed_numbers(grids) == {"crit_seeds": 2, "crit_gap_min": 0.0, "crit_gap_max": 0.0,
                                      "crit_fraction_min": round(0.25 - 5 / 64, 2),
                                      "crit_fraction_max": round(0.25 - 5 / 64, 2), "crit_lost_total": 1,
                                      "crit_gained_total": 0, "crit_changed_c_min": 8.0}
    assert math.isnan(cr.seed_numbers([_grid()])["crit_changed_c_min"])
    assert cr.ratio_numbers({"xent": [3.254, 3.026, 3.03], "mse": [1.621, 1.328]}) == {
        "crit_ratio_xent_min": 3.03, "crit_ratio_xent_max": 3.25, "crit_ratio_mse_min": 1.33,
        "crit_ratio_mse_max": 1.62}
    comparisons = [_comparisons3(pcw="diverged"), _comparisons3(constant="converged")]
    pcw_table = cr.persistent_seed_table([0, 1], comparisons)
    assert len(pcw_table) == 18 and list(pcw_table.columns[:2]) == ["seed", "loss"]
    assert cr.persistent_outcome_numbers(pcw_table) == {
        "crit_pcw_seeds": 2, "crit_pcw_xent_48_pcw": 1, "crit_pcw_xent_48_linear": 2,
        "crit_pcw_xent_48_constant": 1, "crit_pcw_xent_64_pcw": 2, "crit_pcw_xent_64_linear": 2,
        "crit_pcw_xent_64_constant": 0, "crit_pcw_mse_32_pcw": 2, "crit_pcw_mse_32_linear": 2,
        "crit_pcw_mse_32_constant": 0}


def test_grid_numbers_on_a_fabricated_grid() -> None:
    grid = _grid({(8.0, 64): {"critical": "diverged"}, (8.0, 16): {"linear": "diverged", "passes": 4},
                    (2.0, 64): {"critical_acc": 0.53}})
    numbers = cr.grid_numbers(grid, steps=100)
    assert numbers == {
        "crit_runs": 12, "crit_steps": 100, "crit_below_cells": 4, "crit_below_reach_one": 4,
        "crit_above_cells": 2, "crit_max_fraction": round(0.25 - 5 / 64, 2), "crit_above_eta_c": 2.0,
        "crit_passes_min": 4, "crit_passes_max": 10, "crit_both_cells": 4, "crit_accuracy_gap": 0.75,
        "crit_final_gap": -1.25, "crit_lost": 1, "crit_gained": 1, "crit_lost_c": 8.0, "crit_lost_warmup": 64,
        "crit_gained_c": 8.0, "crit_gained_warmup": 16}
    none_changed = cr.grid_numbers(_grid(), steps=100)
    assert math.isnan(none_changed["crit_lost_c"]) and none_changed["crit_lost_warmup"] == 0


def test_slice_cell_is_the_longest_warmup_smallest_converged_target_above_eta_c() -> None:
    grid = _grid()
    row = cr.slice_cell(grid)
    assert (row["warmup_steps"], row["c"]) == (64, 8.0)
    fallback = cr.slice_cell(_grid({(8.0, 16): {"critical": "diverged"}, (8.0, 64): {"critical": "diverged"}}))
    assert (fallback["warmup_steps"], fallback["c"]) == (64, 1.0)  # none above eta_c converged: any cell
    assert cr.slice_numbers(row) == {"crit_slice_c": 8.0, "crit_slice_warmup": 64, "crit_slice_reach": 48,
                                     "crit_slice_acc_linear": 50.0, "crit_slice_acc_critical": 50.0}


def _run(outcome: str, pcw: bool = False, diverged_step: int | None = None, accuracy: float = 0.61234):
    """A stand-in for a stored run: only the summary fields the chapter reads."""
    from types import SimpleNamespace

    summary = {"outcome": outcome, "best_test_accuracy": accuracy, "final_test_accuracy": 0.6, "lr_reach_step": 255,
               "diverged_step": diverged_step}
    if pcw:
        summary.update(pcw_reach_step=5, pcw_reestimates=3, pcw_forward_passes=24)
    return SimpleNamespace(summary=summary)


def _comparisons(pcw_outcome: str, constant_outcome: str) -> dict:
    return {("mse", 32.0): {"persistent catapult": _run(pcw_outcome, pcw=True),
                            "linear, T_wrm = 256": _run("converged"), "constant": _run(constant_outcome)},
            ("xent", 48.0): {"persistent catapult": _run("diverged", pcw=True, diverged_step=383),
                             "linear, T_wrm = 256": _run("converged"), "constant": _run("diverged")}}


def test_persistent_table_and_numbers() -> None:
    comparisons = _comparisons("converged", "diverged")
    table = cr.persistent_table(comparisons)
    assert len(table) == 6 and list(table["schedule"][:3]) == ["persistent catapult", "linear, T_wrm = 256",
                                                               "constant"]
    first, second = table.iloc[0], table.iloc[1]
    assert (first["reaches eta_trgt at step"], first["re-estimations"], first["extra forward passes"]) == (5, 3, 24)
    assert (second["reaches eta_trgt at step"], second["re-estimations"], second["best acc"]) == (255, 0, 0.612)
    assert cr.persistent_numbers(comparisons, table) == {
        "crit_pcw_mse_32_diverged": -1, "crit_pcw_xent_48_diverged": 383, "crit_pcw_reach_max": 5,
        "crit_pcw_searches_max": 3, "crit_pcw_fp_max": 24}


def test_grid_table_and_figures_build() -> None:
    import matplotlib

    matplotlib.use("Agg")
    grid = _grid({(8.0, 64): {"critical": "diverged"}})
    assert list(cr.grid_table(grid).columns) == list(cr.GRID_COLUMNS.values())
    assert len(cr.plot_grid_heatmaps(grid).axes) == 2
    assert len(cr.plot_accuracy(grid).axes) == 1
    search = {"trials": [[0.1, 2.0], [0.2, 1.9], [0.4, 2.1]], "loss0": 2.0, "eta_c": 0.4}
    assert len(cr.plot_search(search, lambda_0=10.0, delta=0.1).axes) == 1


def test_init_ratios_are_the_recorded_searches_of_each_seed(tmp_path) -> None:
    from warmup_lib.runs.measure import load_or_measure_lambda0, load_or_search

    params = {key: value for key, value in PARAMS.items() if key != "seed"}
    ratios = cr.init_ratios("exp", params, ["xent", "mse"], [0, 1], lambda0_batches=1, eta0=1e-3, delta=0.1,
                            root=tmp_path)
    assert set(ratios) == {"xent", "mse"} and all(len(values) == 2 for values in ratios.values())
    cfg = cr.base_config({**params, "seed": 1}, "mse")
    lambda_0 = load_or_measure_lambda0("exp", cfg, 1, tmp_path)["lambda_0"]
    search = load_or_search("exp", cfg, eta0=1e-3, delta=0.1, eta_max=None, root=tmp_path)
    assert ratios["mse"][1] == cr.threshold_ratio(search["eta_c"], lambda_0)
    assert ratios["xent"][0] != ratios["xent"][1]
