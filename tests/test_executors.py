"""Executors and the vectorised trainer against the sequential trainer (the oracle)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from warmup_lib.runs import calibration, executors, store, train
from warmup_lib.config import DataConfig, ModelConfig, RunConfig
from warmup_lib.runs.calibration import _truncate, choose_executor
from warmup_lib.runs.executors import PoolExecutor, SequentialExecutor, make_executor, make_jobs
from warmup_lib.runs.sweep import Sweep, load_sweep, run_sweep
from warmup_lib.runs.vectorised import stack_key, train_stack

TINY = RunConfig(data=DataConfig(n_train=256, n_test=128), model=ModelConfig(width=16, depth=3), loss="mse",
                 batch_size=32, steps=24, eval_every=10, dtype="float64")

LINEAR = TINY.replace(**{"model.act": "linear"})  # a deep linear network diverges (ReLUs die instead)

# Ray on one machine: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps every Ray service on 127.0.0.1 (Ray
# otherwise binds the machine's network address); the cluster and its driver share a token of their own
# (Ray's default would be one kept in ~/.ray, which a driver given an explicit address does not use);
# nothing reports usage statistics.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}


def _grid(base: RunConfig, rows: list[tuple]) -> list[RunConfig]:
    """Configs from (eta_trgt, warmup_steps, seed, extra overrides) tuples."""
    return [base.replace(**{"schedule.eta_trgt": eta, "schedule.warmup_steps": warmup, "seed": seed, **extra})
            for eta, warmup, seed, extra in rows]


def _assert_close(sequential: train.RunResult, stacked: train.RunResult, rtol: float = 1e-6) -> None:
    for name in ("records", "evals"):
        a, b = getattr(sequential, name), getattr(stacked, name)
        assert list(a.columns) == list(b.columns) and a.shape == b.shape, name
        np.testing.assert_allclose(b.to_numpy(dtype=float), a.to_numpy(dtype=float), rtol=rtol, atol=1e-12)
    for key, value in sequential.summary.items():
        if key == "wall_time_s":
            continue
        if isinstance(value, float):
            assert stacked.summary[key] == pytest.approx(value, rel=rtol, nan_ok=True), key
        else:
            assert stacked.summary[key] == value, key


@pytest.mark.parametrize("name, base, rows", [
    ("sgd", TINY, [(0.05, 1, 0, {}), (0.3, 8, 1, {}), (200.0, 1, 2, {})]),  # the last one fails
    ("sgd-linear", LINEAR, [(0.05, 1, 0, {}), (0.5, 8, 1, {}), (50.0, 1, 2, {})]),  # the last one diverges
    ("momentum", TINY, [(0.05, 1, 0, {"optim.momentum": 0.9}), (0.1, 5, 1, {"optim.momentum": 0.5}),
                        (0.2, 1, 0, {})]),
    ("adam", TINY.replace(**{"optim.name": "adam"}), [(1e-3, 1, 0, {}), (1e-2, 6, 1, {"optim.beta2": 0.99}),
                                                       (3e-3, 3, 2, {"optim.eps": 1e-6})]),
    ("mup-adam-xent", TINY.replace(loss="xent", **{"optim.name": "adam", "model.param": "mup",
                                                   "schedule.decay": "cosine"}),
     [(1e-2, 1, 0, {}), (3e-2, 10, 1, {})]),
])
def test_vectorised_members_equal_sequential_runs(name: str, base: RunConfig, rows: list[tuple]) -> None:
    cfgs = _grid(base, rows)
    for sequential, stacked in zip([train.run(cfg) for cfg in cfgs], train_stack(cfgs)):
        _assert_close(sequential, stacked)


def test_vectorised_diverged_member_is_recorded_at_its_step_and_masked() -> None:
    cfgs = _grid(LINEAR, [(50.0, 1, 0, {}), (0.1, 1, 0, {})])
    diverged, healthy = train_stack(cfgs)
    reference = train.run(cfgs[0])
    assert diverged.summary["outcome"] == reference.summary["outcome"] == "diverged"
    assert diverged.summary["diverged_step"] == reference.summary["diverged_step"] < TINY.steps
    assert len(diverged.records) == reference.summary["diverged_step"] + 1  # the non-finite row is kept
    assert healthy.summary["steps_run"] == TINY.steps and len(healthy.records) == TINY.steps
    _assert_close(train.run(cfgs[1]), healthy)


def test_stack_key_groups_what_can_share_a_stack() -> None:
    assert stack_key(TINY) == stack_key(TINY.replace(seed=3, **{"schedule.eta_trgt": 1.0, "optim.momentum": 0.9}))
    assert stack_key(TINY) != stack_key(TINY.replace(**{"model.width": 32}))
    assert stack_key(TINY) != stack_key(TINY.replace(**{"optim.name": "adam"}))
    assert stack_key(TINY.replace(**{"optim.name": "gi_adam"})) is None
    assert stack_key(TINY.replace(sharpness_every=5)) is None
    with pytest.raises(ValueError, match="cfgs"):
        train_stack([TINY, TINY.replace(**{"model.width": 32})])


def test_make_jobs_splits_stacks_and_keeps_unstackable_configs_single() -> None:
    cfgs = _grid(TINY, [(0.1 * i, 1, 0, {}) for i in range(1, 8)]) + [TINY.replace(**{"optim.name": "gi_adam"})]
    assert make_jobs(cfgs, vectorised=False) == [[cfg] for cfg in cfgs]
    jobs = make_jobs(cfgs, vectorised=True, max_members=3)
    assert [len(job) for job in jobs] == [3, 3, 1, 1] and sum(jobs, []) == cfgs
    assert [len(job) for job in make_jobs(cfgs[:6], vectorised=True, min_jobs=2)] == [3, 3]


def test_truncate_keeps_evaluation_and_warmup_in_proportion() -> None:
    cfg = TINY.replace(steps=1000, eval_every=100, **{"schedule.warmup_steps": 500})
    short = _truncate(cfg, 50)
    assert (short.steps, short.eval_every, short.schedule.warmup_steps) == (50, 5, 50)
    assert _truncate(cfg, 5000) == cfg.replace(**{"schedule.warmup_steps": 500})


def test_unknown_executor_name_raises_naming_the_field() -> None:
    with pytest.raises(ValueError, match="executor: got 'threads'"):
        make_executor("threads")


def test_sequential_and_vectorised_executors_store_runs_that_load(tmp_path) -> None:
    cfgs = _grid(TINY, [(0.05, 1, 0, {}), (0.2, 4, 1, {})])
    SequentialExecutor().run("plain", cfgs, root=tmp_path, progress=False)
    SequentialExecutor(vectorised=True).run("stacked", cfgs, root=tmp_path, progress=False)
    for cfg in cfgs:
        _assert_close(store.load_run("plain", cfg, tmp_path), store.load_run("stacked", cfg, tmp_path))


@pytest.mark.slow  # starting two spawned workers takes 5-20 s on a loaded 2-core machine
def test_pool_workers_store_runs_bit_identical_to_the_plain_loop(tmp_path) -> None:
    cfgs = _grid(TINY.replace(dtype="float32"), [(0.05, 1, 0, {}), (0.2, 4, 1, {}), (0.1, 2, 2, {})])
    pool = PoolExecutor(workers=2)
    try:
        pool.run("pool", cfgs, root=tmp_path, progress=False)
    finally:
        pool.close()
    for cfg in cfgs:
        stored = store.load_run("pool", cfg, tmp_path)
        pd.testing.assert_frame_equal(stored.records, train.run(cfg).records)


@pytest.mark.slow
def test_ray_executor_runs_locally_with_two_cpus(tmp_path, monkeypatch) -> None:
    for name, value in RAY_ENV.items():
        monkeypatch.setenv(name, value)
    ray = pytest.importorskip("ray")
    cfgs = _grid(TINY.replace(dtype="float32"), [(0.05, 1, 0, {}), (0.2, 4, 1, {})])
    executor = executors.RayExecutor(num_cpus=2)
    try:
        assert executor.workers == 2
        executor.run("ray", cfgs, root=tmp_path, progress=False)
    finally:
        executor.close()
    assert not ray.is_initialized()
    for cfg in cfgs:
        pd.testing.assert_frame_equal(store.load_run("ray", cfg, tmp_path).records, train.run(cfg).records)


# 8 runs of about half a second each on an idle core (1-3 s under load): killed while in flight.
RAY_SWEEP = {"experiment": "ray_cluster", "eta_unit": "absolute", "eta_trgt": [0.01, 0.02, 0.04, 0.08],
             "warmup_steps": [1, 8], "base": {"data.n_train": 512, "data.n_test": 128, "model.width": 32,
                                              "model.depth": 3, "steps": 1000, "batch_size": 64, "eval_every": 250}}


def _session_processes(session: int) -> dict[int, str]:
    """pid -> first word of the command line of every process in ``session`` (Linux /proc); Ray titles a
    worker running a task 'ray::<task function>'."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:  # the process ended meanwhile
                continue
    return found


def _kill_session(session: int, timeout: float = 30.0) -> None:
    """SIGKILL every process of ``session`` and wait (at most ``timeout``) until they are gone."""
    try:
        os.killpg(session, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _session_processes(session) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def ray_cluster() -> Iterator[tuple[str, int]]:
    """A local Ray cluster of 2 CPUs in processes of its own (``ray start --head`` on a free port); yields
    its address and the session id that all its processes share.  Teardown SIGKILLs that session only
    (``ray stop --force`` would also stop any other Ray on the machine)."""
    pytest.importorskip("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp_dir = tempfile.mkdtemp(prefix="ray-")  # a short path: Ray's socket paths must fit in 107 bytes
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={port}", "--num-cpus=2",
               "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}",
               "--object-store-memory=100000000"]
    head = subprocess.Popen(command, env={**os.environ, **RAY_ENV}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = head.communicate(timeout=180)
        assert head.returncode == 0, f"ray start failed:\n{output}"
        yield f"127.0.0.1:{port}", head.pid
    finally:
        head.kill()
        _kill_session(head.pid)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _kill_a_running_task(session: int, sweep: subprocess.Popen, experiment: Path, timeout: float) -> int:
    """SIGKILL the first Ray worker of ``session`` seen running a sweep task; returns how many runs were
    stored at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sweep.poll() is None:
        running = [pid for pid, title in _session_processes(session).items()
                   if title == f"ray::{executors._ray_job.__name__}"]
        if running:
            stored = len(store.list_runs(experiment.name, experiment.parent)) if experiment.is_dir() else 0
            os.kill(running[0], signal.SIGKILL)
            return stored
        time.sleep(0.05)
    output = sweep.communicate(timeout=60)[0] if sweep.poll() is not None else ""
    pytest.fail(f"no Ray worker ran a task within {timeout} s (sweep exit code {sweep.poll()}):\n{output}")


@pytest.mark.slow  # 20-70 s on 2 shared cores: the cluster, its workers, the 8 runs on Ray and in a plain loop
@pytest.mark.timeout(600)
def test_sweep_through_a_ray_cluster_survives_a_killed_worker_and_equals_the_plain_loop(tmp_path,
                                                                                       ray_cluster) -> None:
    address, session = ray_cluster
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(RAY_SWEEP))
    root = tmp_path / "ray"
    command = [sys.executable, "-m", "warmup_lib", "sweep", "--spec", str(spec), "--executor", "ray",
               "--ray-address", address, "--root", str(root), "--quiet"]
    sweep = subprocess.Popen(command, env={**os.environ, **RAY_ENV}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        stored_at_kill = _kill_a_running_task(session, sweep, root / RAY_SWEEP["experiment"], timeout=300)
        output, _ = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, output
    assert stored_at_kill < 8, "the worker must be killed while runs are in flight"

    runs = store.list_runs(RAY_SWEEP["experiment"], root)
    folders = sorted(path.name for path in (root / RAY_SWEEP["experiment"]).iterdir() if path.is_dir())
    assert len(runs) == 8 and sorted(runs["run_id"]) == folders  # each run once, no leftover temporaries
    plain = run_sweep(Sweep.from_dict(RAY_SWEEP), executor="sequential", root=tmp_path / "plain", progress=False)
    pd.testing.assert_frame_equal(load_sweep(RAY_SWEEP["experiment"], root).table, plain.table)
    for point in plain.points:
        on_ray = store.load_run(RAY_SWEEP["experiment"], point.config, root)
        in_loop = store.load_run(RAY_SWEEP["experiment"], point.config, tmp_path / "plain")
        pd.testing.assert_frame_equal(on_ray.records, in_loop.records)
        pd.testing.assert_frame_equal(on_ray.evals, in_loop.evals)
        assert {**on_ray.summary, "wall_time_s": 0} == {**in_loop.summary, "wall_time_s": 0}


def test_calibration_starts_no_pool_for_a_tiny_sweep() -> None:
    cfgs = _grid(TINY, [(0.05, 1, 0, {}), (0.2, 4, 1, {})])
    chosen, record = choose_executor(cfgs, workers=2)
    assert chosen.name in ("sequential",) + calibration.IN_PROCESS and "reason" in record
    assert "pool" not in record["rates"] and record["rates"]["sequential"]["steps"] > 0
    assert record["predicted_s"][chosen.name] == min(record["predicted_s"].values()) or chosen.name == "sequential"
    chosen.close()


@pytest.mark.parametrize("rates, expected", [
    ({"sequential": 100.0, "vectorised": 105.0}, "sequential"),  # within the margin: keep the plain loop
    ({"sequential": 100.0, "vectorised": 300.0}, "vectorised"),
    ({"sequential": 100.0, "vectorised": 50.0}, "sequential"),
    ({"sequential": 100.0, "vectorised": 200.0, "vectorised-1thread": 210.0}, "vectorised"),  # simpler wins ties
    ({"sequential": 100.0, "vectorised": 200.0, "vectorised-1thread": 400.0}, "vectorised-1thread"),
])
def test_calibration_picks_the_fastest_measured_and_never_a_slower_one(monkeypatch, rates, expected) -> None:
    cfgs = _grid(TINY.replace(steps=10_000, eval_every=1000), [(0.05, 1, 0, {}), (0.2, 4, 1, {})])

    def fake_measure(executor, configs):
        return {"steps": rates[executor.name], "wall_s": 1.0, "steps_per_s": rates[executor.name]}

    monkeypatch.setattr(calibration, "_measure", fake_measure)
    monkeypatch.setattr(executors.Executor, "run", lambda self, *args, **kwargs: [])
    chosen, record = choose_executor(cfgs, workers=1, candidates=[name for name in rates if name != "sequential"])
    assert chosen.name == expected
    assert record["predicted_s"]["sequential"] == pytest.approx(20_000 / rates["sequential"])
    assert set(record["rates"]) == set(rates)


def test_single_thread_executor_holds_torch_to_one_thread_and_restores_it(monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(executors, "run_job", lambda *args, **kwargs: seen.append(torch.get_num_threads()) or [])
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        make_executor("sequential-1thread").run("x", [TINY], progress=False)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_run_missing_trains_only_what_the_store_lacks(tmp_path) -> None:
    configs = [TINY.replace(seed=seed, steps=3, eval_every=0) for seed in (0, 1)]
    store.load_or_run("exp", configs[0], root=tmp_path)
    assert executors.run_missing("exp", configs, tmp_path, workers=1) == 1
    assert all(store.is_done("exp", cfg, tmp_path) for cfg in configs)
    assert executors.run_missing("exp", configs, tmp_path, workers=1) == 0
