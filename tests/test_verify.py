"""The verify command (warmup_lib.tools.verify) and the comparisons it rests on (warmup_lib.runs.compare).

The comparisons are checked on fabricated frames and stores whose differences are known by
construction; the command end to end on a tiny notebook that trains one run through the
library's executors, executed once as "committed" and then recomputed into a scratch store.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from warmup_lib import config
from warmup_lib.claims import ClaimSpec, Criterion, Evidence, evidence_table, notebook_claims, parse_claims_table
from warmup_lib.config import DataConfig, ModelConfig, RunConfig
from warmup_lib.runs import store, train
from warmup_lib.runs.compare import compare_frames, compare_stores, json_differences
from warmup_lib.runs.executors import EXECUTOR_ENV, make_executor
from warmup_lib.runs.sweep import Sweep, run_sweep
from warmup_lib.tools import notebooks, verify
from warmup_lib.tools.cli import main

TINY = RunConfig(data=DataConfig(n_train=256, n_test=128), model=ModelConfig(width=16, depth=3), loss="mse",
                 batch_size=32, steps=24, eval_every=10, dtype="float64")
STEM = "00_tiny_verify"


# --- comparisons ----------------------------------------------------------------------------------

def _frame() -> pd.DataFrame:
    return pd.DataFrame({"step": [0, 1, 2, 3], "loss": [2.0, 1.0, 0.5, np.nan], "lr": [0.1, 0.1, 0.1, 0.1]})


def test_equal_frames_compare_equal_nan_included() -> None:
    found = compare_frames(_frame(), _frame())
    assert found.equal
    assert list(found.columns["differing"]) == [0, 0]


def test_a_perturbed_value_is_found_with_its_size_and_step() -> None:
    recomputed = _frame()
    recomputed.loc[2, "loss"] = 0.5 + 0.01  # the only difference: 0.01 at step 2, relative 0.01 / 0.5
    found = compare_frames(_frame(), recomputed)
    loss = found.columns.set_index("column").loc["loss"]
    assert not found.equal
    assert (loss["differing"], loss["first_step"]) == (1, 2)
    assert loss["max_abs"] == pytest.approx(0.01)
    assert loss["max_rel"] == pytest.approx(0.02)
    assert found.columns.set_index("column").loc["lr", "differing"] == 0
    assert list(found.differing()["column"]) == ["loss"]


def test_nan_against_a_number_missing_columns_and_missing_steps_are_differences() -> None:
    recomputed = _frame().drop(columns="lr").assign(sharpness=1.0).iloc[:3]
    recomputed.loc[1, "loss"] = np.nan  # diverged in the recomputation only
    found = compare_frames(_frame(), recomputed)
    columns = found.columns.set_index("column")
    assert math.isinf(columns.loc["loss", "max_abs"]) and columns.loc["loss", "first_step"] == 1
    assert columns.loc["lr", "differing"] == 3 and columns.loc["sharpness", "differing"] == 3  # one side only
    assert (found.only_stored, found.only_recomputed) == (1, 0)  # step 3


def test_json_differences_list_changed_leaves_but_not_how_a_run_was_made() -> None:
    stored = {"lambda_0": 1.0, "grid": [1, 2], "executor": {"name": "pool"}, "wall_s": 3.0}
    recomputed = {"lambda_0": 1.5, "grid": [1, 2, 4], "executor": {"name": "sequential"}, "wall_s": 9.0}
    assert json_differences(stored, recomputed) == [("grid[2]", None, 4), ("lambda_0", 1.0, 1.5)]
    assert json_differences(stored, stored) == []


def _perturbed(result: train.RunResult, delta: float, outcome: str) -> train.RunResult:
    records = result.records.copy()
    records.loc[5, "loss"] += delta
    return train.RunResult(records, result.evals, {**result.summary, "outcome": outcome})


def test_compare_stores_pairs_runs_by_id_and_names_the_new_and_the_missing(tmp_path: Path) -> None:
    committed, scratch = tmp_path / "committed", tmp_path / "scratch"
    same, changed, only_committed, only_scratch = (TINY.replace(seed=seed) for seed in range(4))
    results = {cfg: train.run(cfg) for cfg in (same, changed)}
    for root in (committed, scratch):
        store.save_run("exp", same, results[same], root, executor="sequential", threads=1)
    store.save_run("exp", changed, results[changed], committed, executor="pool", threads=1)
    store.save_run("exp", changed, _perturbed(results[changed], 1e-3, "diverged"), scratch, executor="vectorised",
                   threads=2)
    store.save_run("exp", only_committed, results[same], committed)
    store.save_run("exp", only_scratch, results[same], scratch)
    (committed / "exp" / "lambda0.json").write_text(json.dumps({"lambda_0": 2.0}))
    (scratch / "exp" / "lambda0.json").write_text(json.dumps({"lambda_0": 2.5}))

    found = compare_stores(committed, scratch)
    runs = {run.run_id: run for run in found.runs}
    assert set(runs) == {store.run_id(same), store.run_id(changed)}
    assert runs[store.run_id(same)].identical
    run = runs[store.run_id(changed)]
    assert not run.identical and not run.same_outcome and run.evals.equal
    loss = run.records.columns.set_index("column").loc["loss"]
    assert (loss["differing"], loss["first_step"]) == (1, 5)
    assert loss["max_abs"] == pytest.approx(1e-3, rel=1e-9)
    assert run.made_with == (("pool", 1), ("vectorised", 2))
    assert found.new == [("exp", store.run_id(only_scratch))]
    assert found.not_recomputed == [("exp", store.run_id(only_committed))]
    assert found.side_files == {"exp/lambda0.json": [("lambda_0", 2.0, 2.5)]}


def _spec(label: str) -> ClaimSpec:
    return ClaimSpec(label, 1, f"claim {label}", "-", STEM, "sec", "-", "value", Criterion("<", 1.0), "tiny")


def _table(*rows: tuple[str, list[float]]) -> list[dict[str, str]]:
    return parse_claims_table(evidence_table([Evidence.of(_spec(label), values) for label, values in rows]))


def test_claims_compare_by_label_and_only_verdicts_fail() -> None:
    committed = _table(("1a", [0.4, 0.5, 0.6]), ("1b", [2.0, 2.5, 3.0]), ("2", [0.1, 0.2, 0.3]))
    assert verify.compare_claims(committed, committed) == []
    moved = verify.compare_claims(committed, _table(("1a", [0.5, 0.6, 0.7]), ("1b", [2.0, 2.5, 3.0]),
                                                    ("2", [0.5, 0.6, 0.7])))
    assert [(d.label, d.committed, d.recomputed, d.verdict_differs, d.within_spread) for d in moved] == [
        ("1a", ("0.50 (0.40..0.60, n=3)", "HOLDS"), ("0.60 (0.50..0.70, n=3)", "HOLDS"), False, True),
        ("2", ("0.20 (0.10..0.30, n=3)", "HOLDS"), ("0.60 (0.50..0.70, n=3)", "HOLDS"), False, False)]
    flipped = verify.compare_claims(committed, _table(("1a", [0.4, 0.5, 0.6]), ("1b", [0.5, 1.5, 2.0]),
                                                      ("3", [0.1])))
    assert [(d.label, d.verdict_differs) for d in flipped] == [("1b", True), ("2", True), ("3", True)]
    assert flipped[0].recomputed[1] == "INCONCLUSIVE"
    assert flipped[1].recomputed is None and flipped[2].committed is None and flipped[1].within_spread is None


# --- the executor a recomputation forces ----------------------------------------------------------

def test_the_executor_variable_replaces_the_executor_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_executor("sequential").name == "sequential"
    monkeypatch.setenv(EXECUTOR_ENV, "vectorised-1thread")
    assert make_executor("sequential").name == "vectorised-1thread"


def test_a_sweep_runs_with_the_forced_executor_without_calibrating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from warmup_lib.runs import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "choose_executor", lambda *a, **k: pytest.fail("calibrated"))
    monkeypatch.setenv(EXECUTOR_ENV, "vectorised")
    grid = Sweep("grid", TINY, eta_trgt=(0.01, 0.02), eta_unit="absolute")
    result = run_sweep(grid, executor="auto", root=tmp_path, progress=False)
    record = json.loads((tmp_path / "grid" / "sweep.json").read_text())
    assert record["executor"]["name"] == "vectorised" and record["executor"]["chosen_by"] == EXECUTOR_ENV
    for run in result.table["run_id"]:
        environment = json.loads((tmp_path / "grid" / run / store.RUN_FILE).read_text())["environment"]
        assert environment["executor"] == "vectorised"


# --- the command on a tiny chapter ----------------------------------------------------------------

CHAPTER_CODE = f"""from warmup_lib.config import DataConfig, ModelConfig, RunConfig
from warmup_lib.runs import store
from warmup_lib.runs.executors import run_missing
root = store.results_root("../results")
cfg = RunConfig(data=DataConfig(n_train=256, n_test=128), model=ModelConfig(width=16, depth=3), loss="mse",
                batch_size=32, steps=steps, eval_every=10, dtype="float64")
run_missing("tiny", [cfg], root)
result = store.load_run("tiny", cfg, root)"""
CLAIMS_CODE = """from warmup_lib.claims import ClaimSpec, Criterion, Evidence, print_evidence
spec = ClaimSpec("1", 1, "the final training loss is below 1", "-", "tiny", "sec", "-", "final loss",
                 Criterion("<", 1.0), "tiny", digits=4)
print_evidence([Evidence.of(spec, [result.summary["final_train_loss"]])])"""


@pytest.fixture
def chapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A tiny chapter executed once at its book preset: (its notebook, its committed store)."""
    monkeypatch.setitem(config.PRESETS["book"], STEM, {"steps": 24})
    notebook = new_notebook(cells=[
        new_code_cell('preset = "book"\nsteps = 24', metadata={"tags": ["parameters"]}),
        new_code_cell(CHAPTER_CODE),
        new_code_cell(CLAIMS_CODE, metadata={"tags": ["claims"]}),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "notebooks" / f"{STEM}.ipynb"
    path.parent.mkdir()
    nbformat.write(notebook, path)
    committed = tmp_path / "results"
    with notebooks.environment({store.RESULTS_ENV: str(committed)}):
        notebooks.execute_notebook(path, "book")
    assert (committed / "tiny").is_dir()
    return path, committed


def _flip_verdicts(path: Path) -> None:
    """Rewrite the claims cell's printed table of ``path`` with every verdict flipped."""
    rows = notebook_claims(path)
    flipped = {"HOLDS": "DOES NOT HOLD", "DOES NOT HOLD": "HOLDS"}
    table = "\n".join(["id  verdict", "--  -------------",
                       *(f"{row['label']:<2}  {flipped.get(row['verdict'], 'HOLDS')}" for row in rows)])
    notebook = nbformat.read(path, as_version=4)
    cell = next(cell for cell in notebook.cells if "claims" in cell.metadata.get("tags", []))
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=table + "\n")]
    nbformat.write(notebook, path)


def test_verify_recomputes_with_the_chosen_executor_and_threads_and_fails_on_a_verdict(
        chapter: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, committed = chapter
    found = verify.verify_notebook(path, committed, tmp_path / "scratch", executor="vectorised", threads=2)
    assert found.verdicts_agree and found.claims == [] and found.claims_rows == 1
    (run,) = found.store.runs
    assert run.made_with[1] == ("vectorised", 2)  # the kernel's run_missing used both
    assert run.records.columns["max_rel"].max() < 1e-10 and run.same_outcome
    assert "verdicts agree" in verify.report(found)
    with pytest.raises(FileExistsError):  # never recompute into a store that is not empty
        verify.verify_notebook(path, committed, tmp_path / "scratch")

    _flip_verdicts(path)
    assert notebook_claims(path)[0]["verdict"] == "DOES NOT HOLD"
    assert main(["verify", str(path), "--results", str(committed), "--scratch", str(tmp_path / "again")]) == 1
    printed = capsys.readouterr().out
    assert "VERDICT DIFFERS" in printed and printed.rstrip().endswith("VERDICTS DIFFER")
