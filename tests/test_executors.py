"""Executors and the vectorised trainer against the sequential trainer (the oracle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from warmup_lib.runs import calibration, executors, store, train
from warmup_lib.config import DataConfig, ModelConfig, RunConfig
from warmup_lib.runs.calibration import _truncate, choose_executor
from warmup_lib.runs.executors import PoolExecutor, SequentialExecutor, make_executor, make_jobs
from warmup_lib.runs.vectorised import stack_key, train_stack

TINY = RunConfig(data=DataConfig(n_train=256, n_test=128), model=ModelConfig(width=16, depth=3), loss="mse",
                 batch_size=32, steps=24, eval_every=10, dtype="float64")

LINEAR = TINY.replace(**{"model.act": "linear"})  # a deep linear network diverges (ReLUs die instead)


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
def test_ray_executor_runs_locally_with_two_cpus(tmp_path) -> None:
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
