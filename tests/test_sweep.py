"""Sweeps: grid definition, lambda_0 units, store-backed resume (also after SIGKILL), self-extension, CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from warmup_lib import config
from warmup_lib.analysis import phase
from warmup_lib.chapters import phase_diagrams
from warmup_lib.runs import store, train
from warmup_lib.tools.cli import main as cli_main
from warmup_lib.tools.grids import grid_sweeps
from warmup_lib.config import DataConfig, ModelConfig, RunConfig
from warmup_lib.runs.sweep import Sweep, is_finished, load_sweep, run_sweep

TINY = RunConfig(data=DataConfig(n_train=256, n_test=128), model=ModelConfig(width=16, depth=3), loss="mse",
                 batch_size=32, steps=24, eval_every=10)
LINEAR = TINY.replace(**{"model.act": "linear"})  # diverges at large eta_trgt (ReLU networks fail instead)


@pytest.fixture
def count_runs(monkeypatch) -> list[RunConfig]:
    """Every config that train.run trains (and still trains it)."""
    trained: list[RunConfig] = []
    real_run = train.run

    def counting_run(cfg, *args, **kwargs):
        trained.append(cfg)
        return real_run(cfg, *args, **kwargs)

    monkeypatch.setattr(train, "run", counting_run)
    return trained


@pytest.mark.parametrize("changes, field", [
    ({"eta_unit": "per_lambda"}, "eta_unit"),
    ({"eta_trgt": ()}, "eta_trgt"),
    ({"warmup_steps": (0,)}, "warmup_steps"),
    ({"warmup_steps": (100,)}, "warmup_steps"),
    ({"axes": {"seed": (0, 1)}}, "axes"),
    ({"variants": {"m": {"optim.momentum": 1.5}}}, "optim.momentum"),
    ({"experiment": "a/b"}, "experiment"),
    ({"stop_on": ("converged",)}, "stop_on"),
])
def test_invalid_sweeps_raise_naming_the_field(changes, field) -> None:
    with pytest.raises(ValueError, match=field):
        Sweep(**{"experiment": "x", "base": TINY, "eta_trgt": (1.0,), **changes})


def test_grid_covers_every_combination_in_lambda0_units(tmp_path) -> None:
    sweep = Sweep("grid", TINY.replace(steps=8), eta_trgt=(2.0,), warmup_steps=(1, 8), seeds=(0, 1),
                  variants={"sgd": {}, "momentum": {"optim.momentum": 0.9}}, axes={"model.width": (8, 16)},
                  lambda0_batches=2)
    result = run_sweep(sweep, executor="vectorised", root=tmp_path, progress=False)
    table = result.table
    assert len(table) == 2 * 2 * 2 * 2 == len(set(table["run_id"]))
    assert set(table["model.width"]) == {8, 16} and set(table["variant"]) == {"sgd", "momentum"}
    # eta_trgt = c / lambda_0, lambda_0 measured per (width, seed) and shared by the optimizer variants
    assert (table["eta_trgt"] * table["lambda_0"]).round(9).tolist() == table["c"].round(9).tolist()
    assert len(json.loads((tmp_path / "grid" / "lambda0.json").read_text())) == 4
    assert table.groupby(["model.width", "seed"])["lambda_0"].nunique().eq(1).all()
    for row in table.itertuples():  # the stored config is the absolute one of its cell
        stored = store.list_runs("grid", tmp_path).set_index("run_id").loc[row.run_id]
        assert stored["schedule.warmup_steps"] == row.warmup_steps and stored["seed"] == row.seed
        assert stored["optim.momentum"] == (0.9 if row.variant == "momentum" else 0.0)
    assert table["steps_to_eta_trgt"].tolist() == table["warmup_steps"].astype(float).tolist()
    expected = {"variant", "seed", "warmup_steps", "eta_trgt", "c", "lambda_0", "outcome", "best_test_accuracy",
                "final_test_accuracy", "best_test_loss", "final_test_loss", "steps_to_eta_trgt", "run_id"}
    assert expected <= set(table.columns)


def test_stored_runs_are_loaded_not_rerun(tmp_path, count_runs) -> None:
    sweep = Sweep("resume", TINY, eta_trgt=(0.05, 0.2), eta_unit="absolute", warmup_steps=(1, 4))
    first = run_sweep(sweep, executor="sequential", root=tmp_path, progress=False)
    assert len(count_runs) == 4
    again = run_sweep(dataclasses.replace(sweep, seeds=(0, 1)), executor="sequential", root=tmp_path,
                      progress=False)
    assert len(count_runs) == 8 and len(again.table) == 8  # only the new seed ran
    pd.testing.assert_frame_equal(first.table, again.table[again.table["seed"] == 0].reset_index(drop=True))
    loaded = load_sweep("resume", tmp_path)
    pd.testing.assert_frame_equal(loaded.table, again.table)
    assert len(count_runs) == 8


def test_grid_extends_eta_until_every_warmup_row_diverged(tmp_path, count_runs) -> None:
    sweep = Sweep("extend", LINEAR, eta_trgt=(0.05, 0.1), eta_unit="absolute", warmup_steps=(1, 16),
                  seeds=(0, 1), extend=True, stop_on=("diverged",), max_extensions=10)
    result = run_sweep(sweep, executor="vectorised", root=tmp_path, progress=False)
    eta_values = result.eta_values
    assert eta_values[:2] == [0.05, 0.1] and all(b == 2 * a for a, b in zip(eta_values[1:], eta_values[2:]))
    table = result.table
    for warmup, row in table.groupby("warmup_steps"):
        last = row[row["eta_trgt"] == row["eta_trgt"].max()]
        assert last["outcome"].eq("diverged").all() and len(last) == 2  # both seeds diverged in the last column
        extended = row[(row["eta_trgt"] > 0.1) & (row["eta_trgt"] < row["eta_trgt"].max())]
        for _, column in extended.groupby("eta_trgt"):
            assert not column["outcome"].eq("diverged").all()  # the row would have stopped there
    assert table.groupby("warmup_steps")["eta_trgt"].max().is_monotonic_increasing  # warmup tolerates more
    trained = len(count_runs)
    assert len(run_sweep(sweep, executor="sequential", root=tmp_path, progress=False).table) == len(table)
    assert len(count_runs) == trained  # a finished self-extended grid reruns nothing


def test_extension_stops_after_max_extensions(tmp_path) -> None:
    sweep = Sweep("capped", TINY, eta_trgt=(0.01,), eta_unit="absolute", extend=True, stop_on=("diverged",),
                  max_extensions=2)  # a ReLU network fails but never diverges: only the cap stops it
    result = run_sweep(sweep, executor="sequential", root=tmp_path, progress=False)
    assert result.eta_values == [0.01, 0.02, 0.04] and len(result.table) == 3
    record = json.loads((tmp_path / "capped" / "sweep.json").read_text())
    assert record["finished"] and record["eta_values"] == result.eta_values


KILLED_SPEC = {"experiment": "killed", "eta_unit": "absolute", "eta_trgt": [0.01, 0.02, 0.04, 0.08],
               "warmup_steps": [1, 8], "base": {"data.n_train": 512, "data.n_test": 128, "model.width": 32,
                                                "model.depth": 3, "steps": 300, "batch_size": 64, "eval_every": 100}}


def _wait_for_group_to_exit(group: int, timeout: float = 30.0) -> None:
    """Wait until no process of the session ``group`` is left (orphaned pool workers exit by themselves);
    kill the rest and fail if any outlives ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(group, signal.SIGKILL)
    pytest.fail("pool workers outlived their SIGKILLed sweep process")


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["sequential", "pool"])
def test_sweep_killed_with_sigkill_resumes_without_loss_or_corruption(tmp_path, count_runs, executor) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(KILLED_SPEC))
    root = tmp_path / "results"
    experiment = root / "killed"
    command = [sys.executable, "-m", "warmup_lib", "sweep", "--spec", str(spec), "--executor", executor,
               "--root", str(root), "--quiet"]
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if experiment.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in experiment.iterdir()):
                break
            time.sleep(0.01)
    finally:
        os.kill(process.pid, signal.SIGKILL)  # the sweep process only: its pool workers must notice and leave
        process.wait(timeout=60)
    _wait_for_group_to_exit(process.pid)
    finished = {p.name: p.stat().st_mtime_ns for p in experiment.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert 1 <= len(finished) < 8, "the sweep must be killed part way"
    assert not json.loads((experiment / "sweep.json").read_text())["finished"]

    sweep = Sweep.from_dict(KILLED_SPEC)
    result = run_sweep(sweep, executor="sequential", root=root, progress=False)
    assert len(result.table) == 8 and len(count_runs) == 8 - len(finished)  # nothing finished is rerun
    for name, mtime in finished.items():
        assert (experiment / name).stat().st_mtime_ns == mtime  # nor rewritten
    assert json.loads((experiment / "sweep.json").read_text())["finished"]
    for point in (result.points[0], result.points[-1]):  # complete, uncorrupted, bit-exact
        stored = store.load_run("killed", point.config, root)
        fresh = train.run(point.config)
        pd.testing.assert_frame_equal(stored.records, fresh.records)
        pd.testing.assert_frame_equal(stored.evals, fresh.evals)


def test_cli_runs_a_sweep_from_a_json_spec_at_a_preset(tmp_path, capsys) -> None:
    spec = {"experiment": "from_json", "base": {"data.n_train": 256, "data.n_test": 128, "model.width": 8,
                                                "model.depth": 3, "steps": 40, "batch_size": 32, "eval_every": 20},
            "eta_trgt": [1, 4], "warmup_steps": [1, 8], "lambda0_batches": 2,
            "presets": {"smoke": {"base": {"steps": 16, "eval_every": 8}, "warmup_steps": [1, 4]}}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert cli_main(["sweep", "--spec", str(path), "--preset", "smoke", "--executor", "sequential",
                     "--root", str(tmp_path), "--quiet"]) == 0
    assert "from_json: 4 runs" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "from_json" / "table.csv")
    assert sorted(table["warmup_steps"].unique()) == [1, 4]
    record = json.loads((tmp_path / "from_json" / "sweep.json").read_text())
    assert record["spec"]["base"]["steps"] == 16 and record["executor"]["name"] == "sequential"


def test_cli_loads_a_finished_sweep_without_training_or_writing(tmp_path, capsys, count_runs) -> None:
    spec = {"experiment": "finished", "base": {"data.n_train": 128, "data.n_test": 64, "model.width": 8,
                                               "model.depth": 3, "steps": 8, "batch_size": 32, "eval_every": 4},
            "eta_trgt": [0.01, 0.1], "eta_unit": "absolute", "warmup_steps": [1, 4]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    command = ["sweep", "--spec", str(path), "--preset", "smoke", "--executor", "sequential", "--root",
               str(tmp_path), "--quiet"]
    assert cli_main(command) == 0 and len(count_runs) == 4
    folder = tmp_path / "finished"
    stamps = {name: os.stat(folder / name).st_mtime_ns for name in ("sweep.json", "table.csv")}
    capsys.readouterr()
    assert cli_main(command) == 0 and len(count_runs) == 4  # nothing trained the second time
    assert "finished: 4 runs" in capsys.readouterr().out
    assert {name: os.stat(folder / name).st_mtime_ns for name in stamps} == stamps  # nor written


def _first_stored_config(sweep: Sweep, root) -> RunConfig:
    """The config of the first point of a stored sweep."""
    return load_sweep(sweep.experiment, root).points[0].config


def test_is_finished_only_for_this_very_finished_sweep(tmp_path) -> None:
    sweep = Sweep(experiment="once", base=TINY.replace(steps=6, eval_every=3), eta_trgt=(0.01,), eta_unit="absolute",
                  warmup_steps=(1, 2))
    assert not is_finished(sweep, tmp_path)
    run_sweep(sweep, executor="sequential", root=tmp_path, progress=False)
    assert is_finished(sweep, tmp_path)
    assert not is_finished(dataclasses.replace(sweep, warmup_steps=(1, 4)), tmp_path)  # another spec
    shutil.rmtree(store.run_dir(sweep.experiment, _first_stored_config(sweep, tmp_path), tmp_path))
    assert not is_finished(sweep, tmp_path)  # one run deleted: run_sweep would recompute it


@pytest.mark.parametrize("preset", config.PRESET_NAMES)
def test_built_in_grids_are_the_phase_diagram_chapters_sweeps(preset) -> None:
    params = config.notebook_parameters("05_phase_diagrams", preset)
    chapter = {"sgd": list(phase_diagrams.sgd_sweeps(params).values()), "adam": [phase_diagrams.adam_sweep(params)]}
    for name, sweeps in chapter.items():
        assert [s.to_dict() for s in grid_sweeps(name, preset)] == [s.to_dict() for s in sweeps]
    with pytest.raises(ValueError, match="grid"):
        grid_sweeps("rmsprop", preset)


def test_cli_rejects_an_unknown_executor(tmp_path) -> None:
    with pytest.raises(SystemExit):
        cli_main(["sweep", "--grid", "sgd", "--preset", "smoke", "--executor", "threads", "--root", str(tmp_path)])


def _synthetic_table() -> pd.DataFrame:
    """Two seeds on a 3 x 2 grid in lambda_0 units: known metrics and outcomes."""
    rows = []
    for warmup, outcomes in ((1, ["converged", "converged", "diverged"]), (16, ["converged", "converged", "failed"])):
        for j, (c, outcome) in enumerate(zip((1.0, 2.0, 4.0), outcomes)):
            for seed in (0, 1):
                rows.append({"variant": "sgd", "seed": seed, "warmup_steps": warmup, "c": c, "eta_trgt": c / 5.0,
                             "lambda_0": 5.0, "outcome": outcome, "best_test_accuracy": 0.5 + 0.1 * j + 0.02 * seed})
    rows[-1]["outcome"] = "diverged"  # (T_wrm 16, c 4): one seed failed, one diverged -> 'failed'
    rows.append({**rows[2], "c": 8.0, "eta_trgt": 1.6, "warmup_steps": 16, "outcome": "converged"})
    return pd.DataFrame(rows)


def test_phase_diagram_colours_seed_means_hatches_ended_cells_and_draws_the_boundary() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from warmup_lib import plots

    table = _synthetic_table()
    cells = phase.cell_means(table).set_index(["eta", "warmup_steps"])
    assert cells.loc[(2.0, 1), "mean"] == pytest.approx(0.61) and cells.loc[(2.0, 1), "std"] == pytest.approx(0.01)
    assert cells.loc[(4.0, 1), "status"] == "diverged" and cells.loc[(4.0, 16), "status"] == "failed"
    fig, axes = plots.figure(ncols=3)
    mesh = plots.plot_phase_diagram(axes[0], table)
    values = mesh.get_array().reshape(2, 4)  # rows T_wrm 1, 16; columns c 1, 2, 4, 8
    assert values[0, :2].tolist() == pytest.approx([0.51, 0.61]) and values.mask[:, 2].all()
    assert values.mask[0, 3] and values[1, 3] == pytest.approx(0.60)  # not run / run beyond the failure
    hatched = [p for p in axes[0].patches if p.get_hatch()]
    assert sorted(p.get_hatch() for p in hatched) == ["///", "xxx"]
    boundary = axes[0].lines[-1].get_xdata()  # right edges of the largest trainable c: 2 (T 1), 8 (T 16)
    assert boundary.tolist() == pytest.approx([1.5, 1.5, 3.5, 3.5])
    assert "units of $1/\\lambda_0$" in axes[0].get_xlabel()
    plots.plot_phase_slices(axes[1], table)
    plots.plot_max_trainable(axes[2], table)
    largest = phase.largest_trainable_eta(table).set_index("warmup_steps")  # seeds (1): 2, 2; (16): 8, 2
    assert largest[["eta_max_min", "eta_max_max"]].to_numpy().tolist() == [[2.0, 2.0], [2.0, 8.0]]
    centres = axes[2].containers[0].lines[0]  # the errorbar's line through eta_max per T_wrm
    assert centres.get_ydata().tolist() == pytest.approx([2.0, 4.0])  # geometric means over the seeds
    with pytest.raises(ValueError, match="variant"):
        plots.plot_phase_diagram(axes[0], pd.concat([table, table.assign(variant="other")]))


SMALL = TINY.replace(steps=6, eval_every=3)


def _files(root) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: its bytes and mtime."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


DAMAGES = {
    "run.json garbage": lambda folder: (folder / "run.json").write_bytes(b"\x00garbage"),
    "run.json missing": lambda folder: (folder / "run.json").unlink(),
    "records truncated": lambda folder: (folder / "records.csv.gz").write_bytes(
        (folder / "records.csv.gz").read_bytes()[:30]),
}


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_one_damaged_run_is_reported_by_load_sweep_and_recomputed_by_the_sweep(tmp_path, count_runs, damage) -> None:
    sweep = Sweep("damaged", SMALL, eta_trgt=(0.01, 0.1), eta_unit="absolute", warmup_steps=(1, 2))
    first = run_sweep(sweep, executor="sequential", root=tmp_path, progress=False)
    assert len(count_runs) == 4
    victim = first.table["run_id"][1]
    DAMAGES[damage](tmp_path / "damaged" / victim)
    with pytest.raises(store.DamagedRunError, match=f"load_sweep\\('damaged'\\): 1 damaged run.*{victim}.*recomputes"):
        load_sweep("damaged", tmp_path)  # runs nothing, so it says what is wrong instead of dropping a row
    with pytest.warns(store.DamagedRunWarning, match=victim):
        again = run_sweep(sweep, executor="sequential", root=tmp_path, progress=False)
    assert count_runs[4:] == [first.points[1].config]  # only the damaged run is recomputed
    pd.testing.assert_frame_equal(again.table, first.table)
    assert [p.name for p in (tmp_path / "damaged" / store.DAMAGED_DIR).iterdir()] == [f"{victim}-1"]
    pd.testing.assert_frame_equal(load_sweep("damaged", tmp_path).table, first.table)


def test_a_finished_sweep_rereads_a_read_only_store_without_writing(tmp_path, monkeypatch) -> None:
    sweep = Sweep("frozen", SMALL, eta_trgt=(1.0, 2.0), warmup_steps=(1, 2), lambda0_batches=2)  # lambda0.json too
    first = run_sweep(sweep, executor="vectorised", root=tmp_path, progress=False)
    before = _files(tmp_path)
    assert {"frozen/sweep.json", "frozen/lambda0.json"} <= set(before)
    for name in first.table["run_id"]:  # each run records the executor that trained it
        record = json.loads((tmp_path / "frozen" / name / "run.json").read_text())
        assert record["environment"]["executor"] == "vectorised"

    def refuse(*args, **kwargs):
        raise PermissionError("read-only store")

    from warmup_lib.runs import measure, sweep as sweep_module

    # tests run as root, where chmod does not stop writes: every writer of the store fails instead
    for module, name in ((store, "save_run"), (store, "_write_json"), (sweep_module, "atomic_write_json"),
                         (measure, "atomic_write_json")):
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(sweep_module, "choose_executor", refuse)
    for path in tmp_path.rglob("*"):
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        again = run_sweep(sweep, executor="auto", root=tmp_path, progress=False)
    finally:
        for path in tmp_path.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
    assert _files(tmp_path) == before  # nothing trained, nothing written
    pd.testing.assert_frame_equal(again.table, first.table)
    assert again.executor == first.executor and again.eta_values == first.eta_values


@pytest.mark.parametrize("experiment", ["..", "../outside", "a/b", "/tmp/absolute", ".hidden", ""])
def test_a_sweep_never_reaches_outside_its_root(tmp_path, experiment) -> None:
    root = tmp_path / "root"
    with pytest.raises(ValueError, match="^experiment: got"):
        Sweep(experiment, TINY, eta_trgt=(1.0,))
    with pytest.raises(ValueError, match="^experiment: got"):
        load_sweep(experiment, root)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_a_bad_worker_count_is_refused(tmp_path, workers) -> None:
    sweep = Sweep("workers", SMALL, eta_trgt=(0.01,), eta_unit="absolute")
    with pytest.raises(ValueError, match=f"^workers: got {workers!r}"):
        run_sweep(sweep, executor="pool", root=tmp_path, progress=False, workers=workers)


@pytest.mark.parametrize("values, message", [
    ([1, 2], "^sweep: got list"),
    ({"experiment": "x", "base": {}, "eta_trgt": [1], "warmup": [1]}, r"^sweep: unknown fields \['warmup'\]"),
    ({"experiment": "x", "base": [1], "eta_trgt": [1]}, "^base: got list"),
])
def test_sweep_from_dict_names_what_is_wrong(values, message) -> None:
    with pytest.raises(ValueError, match=message):
        Sweep.from_dict(values)


BAD_COMMANDS = {  # name -> (spec file content or None for no file, extra arguments, words the error line holds)
    "missing spec file": (None, [], "cannot read .*missing.json \\(No such file or directory\\)"),
    "spec is a folder": ("<folder>", [], "cannot read .*\\(Is a directory\\)"),
    "malformed JSON": ('{"experiment": "x", ', [], "is not valid JSON"),
    "JSON list": ("[1, 2]", [], "got a JSON list; must be an object"),
    "presets not an object": ('{"experiment": "x", "eta_trgt": [1], "presets": [1]}', [], "presets: got a JSON list"),
    "base not an object": ('{"experiment": "x", "eta_trgt": [1], "base": 3}', [], "base: got a JSON int"),
    "unknown field": ('{"experiment": "x", "eta_trgt": [1], "etas": [1]}', [], "unknown fields \\['etas'\\]"),
    "number for a list": ('{"experiment": "x", "eta_trgt": 3}', [], "spec .*: 'int' object is not iterable"),
    "bad field value": ('{"experiment": "x", "eta_trgt": [1], "warmup_steps": [0]}', [], "warmup_steps: got"),
    "experiment outside the root": ('{"experiment": "x", "eta_trgt": [1]}', ["--experiment", ".."],
                                    "experiment: got '..'"),
    "workers 0": ('{"experiment": "x", "eta_trgt": [1]}', ["--workers", "0"], "--workers: got 0; must be >= 1"),
    "workers negative": ('{"experiment": "x", "eta_trgt": [1]}', ["--workers", "-2"], "--workers: got -2"),
}


@pytest.mark.parametrize("case", BAD_COMMANDS, ids=list(BAD_COMMANDS))
def test_cli_bad_input_is_one_error_line_and_exit_status_2(tmp_path, capsys, case) -> None:
    content, extra, words = BAD_COMMANDS[case]
    spec = tmp_path / "missing.json"
    if content == "<folder>":
        spec = tmp_path / "folder"
        spec.mkdir()
    elif content is not None:
        spec = tmp_path / "spec.json"
        spec.write_text(content)
    root = tmp_path / "root"
    code = cli_main(["sweep", "--spec", str(spec), "--root", str(root), "--executor", "sequential", "--quiet", *extra])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep: error: ") and re.search(words, lines[0]), captured.err
    assert not root.exists()  # nothing written
