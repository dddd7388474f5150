"""Results store: exact round trips, stable ids, atomic writes, and kill-and-resume."""

import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
import torch

import warmup_lib.runs.store as store
from warmup_lib.config import DataConfig, ModelConfig, RunConfig, ScheduleConfig
from warmup_lib.runs.store import FILES, list_runs, load_or_run, load_run, run_dir, run_id, save_run

CFG = RunConfig(data=DataConfig(name="mnist1d", n_train=500, n_test=200), model=ModelConfig(width=16, depth=2),
                schedule=ScheduleConfig(eta_trgt=0.4, warmup_steps=4), batch_size=50, steps=12, eval_every=5)


def assert_same_result(a, b):
    pd.testing.assert_frame_equal(a.records, b.records, check_exact=True)
    pd.testing.assert_frame_equal(a.evals, b.evals, check_exact=True)
    assert json.dumps(a.summary, sort_keys=True) == json.dumps(b.summary, sort_keys=True)


def test_run_id_is_a_short_hash_of_the_config_json():
    assert run_id(CFG) == hashlib.sha256(CFG.to_json().encode()).hexdigest()[:16]
    assert run_id(CFG) == run_id(RunConfig.from_dict(json.loads(CFG.to_json())))
    assert run_id(CFG) != run_id(CFG.replace(**{"schedule.eta_trgt": 0.41}))
    assert run_id(CFG) != run_id(CFG.replace(sharpness_every=3))  # config trackers are part of the identity


def test_load_or_run_stores_then_loads_exactly(tmp_path, monkeypatch):
    first = load_or_run("exp", CFG, root=tmp_path)
    folder = run_dir("exp", CFG, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES) == ["evals.csv.gz", "records.csv.gz", "run.json"]
    record = json.loads((folder / "run.json").read_text())
    assert RunConfig.from_dict(record["config"]) == CFG and "config" not in record["summary"]
    for name in ("records.csv.gz", "evals.csv.gz"):
        assert (folder / name).read_bytes()[:2] == b"\x1f\x8b"  # gzip
        assert record["files"][name] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    rest = {key: record[key] for key in ("config", "summary", "environment", "files")}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()
    assert record["sha256"] == hashlib.sha256(canonical).hexdigest()
    monkeypatch.setattr(store, "run", lambda *args, **kwargs: pytest.fail("a stored run must not be re-run"))
    assert_same_result(load_or_run("exp", CFG, root=tmp_path), first)
    assert_same_result(load_run("exp", CFG, root=tmp_path), first)


def test_environment_record_has_versions_executor_and_no_host_name(tmp_path):
    load_or_run("exp", CFG, root=tmp_path)
    text = (run_dir("exp", CFG, tmp_path) / "run.json").read_text()
    env = json.loads(text)["environment"]
    assert env["torch"] == torch.__version__ and env["warmup_lib"] and env["python"]
    assert env["executor"] == "sequential" and env["threads"] == torch.get_num_threads() and "device" in env
    assert socket.gethostname() not in text
    save_run("other", CFG, load_run("exp", CFG, tmp_path), tmp_path, executor="ray", threads=1)
    env = json.loads((run_dir("other", CFG, tmp_path) / "run.json").read_text())["environment"]
    assert env["executor"] == "ray" and env["threads"] == 1


def test_identical_results_give_identical_bytes(tmp_path):
    result = load_or_run("exp", CFG, root=tmp_path / "a")
    save_run("exp", CFG, result, root=tmp_path / "b", executor="sequential")
    for name in FILES:
        assert (run_dir("exp", CFG, tmp_path / "a") / name).read_bytes() == \
            (run_dir("exp", CFG, tmp_path / "b") / name).read_bytes()


def test_diverged_run_round_trips_non_finite_values(tmp_path):
    cfg = CFG.replace(**{"schedule.eta_trgt": 1e5})
    result = load_or_run("exp", cfg, root=tmp_path)
    assert result.summary["outcome"] == "diverged"
    assert_same_result(load_run("exp", cfg, root=tmp_path), result)


def test_list_runs(tmp_path):
    assert list_runs("exp", root=tmp_path).empty
    configs = [CFG, CFG.replace(**{"schedule.eta_trgt": 0.2})]
    results = [load_or_run("exp", cfg, root=tmp_path) for cfg in configs]
    table = list_runs("exp", root=tmp_path).set_index("run_id")
    assert sorted(table.index) == sorted(run_id(cfg) for cfg in configs)
    for cfg, result in zip(configs, results):
        row = table.loc[run_id(cfg)]
        assert row["schedule.eta_trgt"] == cfg.schedule.eta_trgt and row["model.width"] == 16
        assert row["outcome"] == result.summary["outcome"] and row["final_test_loss"] == result.summary["final_test_loss"]


def test_failed_write_leaves_no_entry(tmp_path, monkeypatch):
    result = load_or_run("other", CFG, root=tmp_path)

    def crash(path, value):
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write_json", crash)
    with pytest.raises(OSError, match="disk full"):
        save_run("exp", CFG, result, root=tmp_path)
    assert not run_dir("exp", CFG, tmp_path).exists()
    assert list(os.listdir(tmp_path / "exp")) == []  # the staging folder is cleaned up


def test_stale_staging_folder_is_never_loaded(tmp_path):
    stale = tmp_path / "exp" / f".tmp-{run_id(CFG)}-dead"
    stale.mkdir(parents=True)
    (stale / "run.json").write_text(CFG.to_json())
    with pytest.raises(FileNotFoundError):
        load_run("exp", CFG, root=tmp_path)
    assert list_runs("exp", root=tmp_path).empty
    assert load_or_run("exp", CFG, root=tmp_path).summary["steps_run"] == CFG.steps


def test_run_killed_half_way_is_completed_later(tmp_path):
    started = tmp_path / "started"
    script = textwrap.dedent(f"""
        import pathlib, time
        from warmup_lib.config import RunConfig
        from warmup_lib.runs.store import load_or_run

        def stall(step, *args):
            if step == 5:
                pathlib.Path({str(started)!r}).write_text("5")
                time.sleep(120)

        load_or_run("exp", RunConfig.from_dict({CFG.to_dict()!r}), root={str(tmp_path)!r}, callbacks=[stall])
    """)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the child run did not start"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    assert not run_dir("exp", CFG, tmp_path).exists()
    with pytest.raises(FileNotFoundError):
        load_run("exp", CFG, root=tmp_path)
    result = load_or_run("exp", CFG, root=tmp_path)
    assert result.summary["steps_run"] == CFG.steps
    assert_same_result(load_run("exp", CFG, root=tmp_path), result)


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="^experiment:"):
        load_or_run("../escape", CFG, root=tmp_path)
    with pytest.raises(ValueError, match="^optimizer_factory:"):
        load_or_run("exp", CFG, root=tmp_path, optimizer_factory=lambda groups: torch.optim.SGD(groups, lr=0.0))


def _edit_json(path, change):
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def _reseal(record):
    """A record edited *and* given a matching checksum: only the config-to-folder check can catch it."""
    record["config"]["steps"] = 13
    rest = {key: record[key] for key in ("config", "summary", "environment", "files")}
    record["sha256"] = hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


DAMAGES = {  # name -> (what is done to the run folder, a word the message must contain)
    "run.json missing": (lambda d: (d / "run.json").unlink(), "run.json is missing"),
    "run.json truncated": (lambda d: (d / "run.json").write_bytes((d / "run.json").read_bytes()[:100]),
                           "not valid JSON"),
    "run.json garbage": (lambda d: (d / "run.json").write_bytes(os.urandom(300)), "not valid JSON"),
    "summary number edited": (lambda d: _edit_json(d / "run.json", lambda r: r["summary"].update(final_test_loss=0.5)),
                              "run.json does not match its sha256"),
    "entry removed": (lambda d: _edit_json(d / "run.json", lambda r: r.pop("files")), "does not hold the entries"),
    "config of another run": (lambda d: _edit_json(d / "run.json", _reseal), "not to the folder's name"),
    "records missing": (lambda d: (d / "records.csv.gz").unlink(), "records.csv.gz is missing"),
    "records truncated": (lambda d: (d / "records.csv.gz").write_bytes((d / "records.csv.gz").read_bytes()[:-40]),
                          "records.csv.gz does not match its sha256"),
    "records replaced by 2 valid rows": (
        lambda d: pd.read_csv(d / "records.csv.gz").head(2).to_csv(d / "records.csv.gz", index=False,
                                                                   compression={"method": "gzip", "mtime": 0}),
        "records.csv.gz does not match its sha256"),
    "evals garbage": (lambda d: (d / "evals.csv.gz").write_bytes(b"garbage"), "evals.csv.gz does not match its sha256"),
    "empty folder": (lambda d: [p.unlink() for p in d.iterdir()], "run.json is missing"),
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One stored run of CFG and of a second config, trained once for every damage case."""
    root = tmp_path_factory.mktemp("store")
    other = CFG.replace(**{"schedule.eta_trgt": 0.2})
    return root, other, {cfg: load_or_run("exp", cfg, root=root) for cfg in (CFG, other)}


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_a_damaged_run_is_named_never_loaded_moved_aside_and_recomputed(stored, tmp_path, monkeypatch, damage):
    source, other, results = stored
    shutil.copytree(source, tmp_path, dirs_exist_ok=True)
    folder = run_dir("exp", CFG, tmp_path)
    harm, message = DAMAGES[damage]
    harm(folder)
    damaged_bytes = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.warns(store.DamagedRunWarning, match=f"{run_id(CFG)}.*{message}"):
        assert not store.is_done("exp", CFG, tmp_path)
    with pytest.raises(store.DamagedRunError, match=f"{run_id(CFG)}.*{message}.*recomputes it"):
        load_run("exp", CFG, root=tmp_path)
    with pytest.warns(store.DamagedRunWarning, match=message):
        assert list(list_runs("exp", tmp_path)["run_id"]) == [run_id(other)]  # the intact run is still listed
    assert list(store.damaged_runs("exp", tmp_path)) == [run_id(CFG)]
    assert message in store.damaged_runs("exp", tmp_path)[run_id(CFG)]
    assert sorted(p.name for p in folder.iterdir()) == sorted(damaged_bytes)  # nothing moved by the readers

    trained = []
    monkeypatch.setattr(store, "run", lambda cfg, **kwargs: trained.append(cfg) or results[cfg])
    with pytest.warns(store.DamagedRunWarning, match=f"moved to .*{store.DAMAGED_DIR}/{run_id(CFG)}-1"):
        assert_same_result(load_or_run("exp", CFG, root=tmp_path), results[CFG])
    assert trained == [CFG]
    aside = tmp_path / "exp" / store.DAMAGED_DIR / f"{run_id(CFG)}-1"
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == damaged_bytes  # kept as it was, for inspection
    assert store.is_done("exp", CFG, tmp_path) and store.damaged_runs("exp", tmp_path) == {}
    assert_same_result(load_run("exp", CFG, root=tmp_path), results[CFG])
    assert sorted(list_runs("exp", tmp_path)["run_id"]) == sorted([run_id(CFG), run_id(other)])
    harm(folder)  # damaged again: the second copy goes beside the first
    with pytest.warns(store.DamagedRunWarning, match=f"{run_id(CFG)}-2"):
        save_run("exp", CFG, results[CFG], root=tmp_path)
    assert store.is_done("exp", CFG, tmp_path)


def test_an_intact_run_stored_meanwhile_is_kept(stored, tmp_path):
    source, _, results = stored
    shutil.copytree(source, tmp_path, dirs_exist_ok=True)
    folder = run_dir("exp", CFG, tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert save_run("exp", CFG, results[CFG], root=tmp_path) == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    assert not (tmp_path / "exp" / store.DAMAGED_DIR).exists()
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == sorted(p.name for p in (source / "exp").iterdir())


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=60)
    return process.pid


def test_orphaned_temporaries_are_cleaned_but_never_a_live_writers(stored, tmp_path):
    _, _, results = stored
    experiment = tmp_path / "exp"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {"dead": f".tmp-{run_id(CFG)}-pid{_dead_pid()}-abc", "live": f".tmp-{run_id(CFG)}-pid{live.pid}-abc",
                 "mine": f".tmp-{run_id(CFG)}-pid{os.getpid()}-abc", "old": f".tmp-{run_id(CFG)}-x1y2z3",
                 "recent": f".tmp-{run_id(CFG)}-x4y5z6", "old live": f".tmp-{run_id(CFG)}-pid{live.pid}-def"}
        for name in names.values():
            (experiment / name).mkdir(parents=True)
            (experiment / name / "records.csv.gz").write_bytes(b"partial")
        two_days_ago = time.time() - 2 * 24 * 3600
        for key in ("old", "old live"):
            os.utime(experiment / names[key], (two_days_ago, two_days_ago))
        removed = store.clean_temporaries("exp", tmp_path)
        assert sorted(p.name for p in removed) == sorted(names[k] for k in ("dead", "old", "old live"))
        kept = sorted(p.name for p in experiment.iterdir())
        assert kept == sorted(names[k] for k in ("live", "mine", "recent"))
        (experiment / names["dead"]).mkdir()  # a writer killed just now: the next store write cleans it
        save_run("exp", CFG, results[CFG], root=tmp_path)
        assert sorted(p.name for p in experiment.iterdir()) == sorted([*kept, run_id(CFG)])
        assert store.clean_temporaries("exp", tmp_path, max_age_s=0.0)  # age alone also makes an orphan
    finally:
        live.kill()
        live.wait(timeout=60)
    assert store.clean_temporaries("absent", tmp_path) == []


@pytest.mark.parametrize("experiment", ["..", "../escape", "a/b", "/tmp/abs", "", ".hidden", ".damaged", "a\\b",
                                        "a\0b", "a b", None, 3])
def test_experiment_names_that_leave_the_root_are_refused_everywhere(tmp_path, experiment):
    from warmup_lib.runs import measure

    calls = [lambda: load_or_run(experiment, CFG, root=tmp_path), lambda: list_runs(experiment, tmp_path),
             lambda: store.is_done(experiment, CFG, tmp_path), lambda: load_run(experiment, CFG, tmp_path),
             lambda: store.clean_temporaries(experiment, tmp_path), lambda: store.thin_records(experiment, tmp_path),
             lambda: store.damaged_runs(experiment, tmp_path),
             lambda: measure.load_or_measure(experiment, "lambda0", CFG, lambda: {"x": 1}, tmp_path)]
    for call in calls:
        with pytest.raises(ValueError, match=r"^experiment: got .*one folder name"):
            call()
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere


def test_thin_records_keeps_every_kth_and_the_last_row_with_checksums_and_is_idempotent(tmp_path):
    cfg = CFG.replace(steps=23)
    full = load_or_run("grid", cfg, root=tmp_path)
    folder = run_dir("grid", cfg, tmp_path)
    (tmp_path / "grid" / ".tmp-unfinished").mkdir()  # an orphaned staging folder is not a run
    assert store.thin_records("grid", tmp_path, every=10) == 1
    thin = load_run("grid", cfg, tmp_path)  # checksums still match: the run is intact
    assert thin.records["step"].tolist() == [0, 10, 20, 22]
    pd.testing.assert_frame_equal(thin.records, full.records.iloc[[0, 10, 20, 22]].reset_index(drop=True),
                                  check_exact=True)  # rows kept exactly
    pd.testing.assert_frame_equal(thin.evals, full.evals, check_exact=True)
    assert thin.summary == full.summary
    fresh = save_run("fresh", cfg, thin, tmp_path)  # the same bytes as a fresh run holding these rows
    assert (fresh / "records.csv.gz").read_bytes() == (folder / "records.csv.gz").read_bytes()
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert store.thin_records("grid", tmp_path, every=10) == 0  # already thin: nothing written
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert store.thin_records("absent", tmp_path) == 0
    for every in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="^every"):
            store.thin_records("grid", tmp_path, every=every)
