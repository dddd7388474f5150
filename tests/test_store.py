"""Results store: exact round trips, stable ids, atomic writes, and kill-and-resume."""

import gzip
import hashlib
import json
import os
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
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert RunConfig.from_dict(json.loads((folder / "config.json").read_text())) == CFG
    assert (folder / "records.csv.gz").read_bytes()[:2] == b"\x1f\x8b"  # gzip
    monkeypatch.setattr(store, "run", lambda *args, **kwargs: pytest.fail("a stored run must not be re-run"))
    assert_same_result(load_or_run("exp", CFG, root=tmp_path), first)
    assert_same_result(load_run("exp", CFG, root=tmp_path), first)


def test_environment_record_has_versions_and_no_host_name(tmp_path):
    load_or_run("exp", CFG, root=tmp_path)
    text = (run_dir("exp", CFG, tmp_path) / "env.json").read_text()
    env = json.loads(text)
    assert env["torch"] == torch.__version__ and env["warmup_lib"] and env["python"]
    assert {"device", "threads", "wall_time_s"} <= set(env)
    assert socket.gethostname() not in text


def test_identical_results_give_identical_bytes(tmp_path):
    result = load_or_run("exp", CFG, root=tmp_path / "a")
    save_run("exp", CFG, result, root=tmp_path / "b")
    for name in ("records.csv.gz", "evals.csv.gz", "summary.json", "config.json"):
        assert (run_dir("exp", CFG, tmp_path / "a") / name).read_bytes() == (run_dir("exp", CFG, tmp_path / "b") / name).read_bytes()


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
    (stale / "config.json").write_text(CFG.to_json())
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
