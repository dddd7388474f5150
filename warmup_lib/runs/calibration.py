"""Choose a sweep's executor by measuring it on the sweep's own configs.

Each candidate executor trains the same few configs, shortened to a few steps, and its rate is
member-steps per second; the predicted time of the sweep is its total steps over that rate.  The
simplest executor (the plain loop) is kept unless a more complex one is predicted at least MARGIN
times faster, so the choice is never predicted slower than the plain loop.  The choice and the
measured rates are returned as a JSON-ready record (the sweep keeps it in sweep.json).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import torch

from warmup_lib.config import RunConfig
from warmup_lib.runs.executors import MAX_MEMBERS, Executor, PoolExecutor, SequentialExecutor, make_executor, make_jobs

MARGIN = 1.10  # a more complex executor must be predicted this much faster to be chosen
MIN_SECONDS = 20.0  # below this predicted time no pool or Ray is started: nothing wins back its start-up

__all__ = ["choose_executor", "MARGIN", "MIN_SECONDS"]


def _truncate(cfg: RunConfig, steps: int) -> RunConfig:
    """``cfg`` shortened to ``steps`` updates, evaluation and measurements kept in proportion."""
    steps = min(steps, cfg.steps)

    def scaled(every: int) -> int:
        return 0 if every == 0 else max(1, round(every * steps / cfg.steps))

    return cfg.replace(steps=steps, eval_every=scaled(cfg.eval_every), sharpness_every=scaled(cfg.sharpness_every),
                       pre_sharpness_every=scaled(cfg.pre_sharpness_every),
                       **{"schedule.warmup_steps": min(cfg.schedule.warmup_steps, steps)})


def _steps_done(results: Sequence[Any]) -> int:
    return sum(len(result.records) for result in results)


def _measure(executor: Executor, configs: Sequence[RunConfig]) -> dict[str, float]:
    """Train ``configs`` (not stored) with ``executor``; steps per second over all members."""
    start = time.perf_counter()
    steps = _steps_done(executor.run("calibration", configs, progress=False, write=False))
    wall = time.perf_counter() - start
    return {"steps": steps, "wall_s": round(wall, 4), "steps_per_s": round(steps / wall, 2)}


def _spread(configs: Sequence[RunConfig], count: int) -> list[RunConfig]:
    """``count`` configs spread evenly over the list (so they cover the grid's corners)."""
    if len(configs) <= count:
        return list(configs)
    return [configs[round(i * (len(configs) - 1) / (count - 1))] for i in range(count)]


IN_PROCESS = ("sequential-1thread", "vectorised", "vectorised-1thread")
_SIMPLICITY = ("sequential", "sequential-1thread", "vectorised", "vectorised-1thread", "pool", "pool-vectorised", "ray")


def _pooled(first: dict[str, float], second: dict[str, float]) -> dict[str, float]:
    """Two measurements of one executor as one: all steps over all seconds."""
    steps, wall = first["steps"] + second["steps"], first["wall_s"] + second["wall_s"]
    return {"steps": steps, "wall_s": round(wall, 4), "steps_per_s": round(steps / wall, 2)}


def _predict(executors: dict[str, Executor], record: dict[str, Any], total_steps: int) -> dict[str, float]:
    """Predicted seconds of the sweep for every executor measured so far."""
    return {name: total_steps / record["rates"][name]["steps_per_s"] for name in executors if name in record["rates"]}


def _candidates(stack: Sequence[RunConfig], workers: int, ray_address: str | None) -> list[str]:
    threaded = torch.get_num_threads() > 1
    stacks = len(make_jobs(stack, vectorised=True)) < len(stack)
    names = ["sequential-1thread"] if threaded else []
    names += (["vectorised"] + (["vectorised-1thread"] if threaded else [])) if stacks else []
    names += (["pool"] + (["pool-vectorised"] if stacks else [])) if workers > 1 else []
    return names + (["ray"] if ray_address else [])


def choose_executor(configs: Sequence[RunConfig], workers: int | None = None, ray_address: str | None = None,
                    calibration_steps: int | None = None,
                    candidates: Sequence[str] | None = None) -> tuple[Executor, dict[str, Any]]:
    """Pick the executor for ``configs`` by measuring, not guessing.

    Each candidate trains the same configs shortened to ``calibration_steps`` (default
    max(10, steps/10)); its rate r_e is member-steps per second, and the predicted time of the
    sweep is S / r_e with S the configs' total steps.  The plain loop (this process, its torch
    threads, as a user's loop) is measured first, then the in-process candidates, which start
    nothing; the process-based ones (pools, Ray) are measured only when the best prediction so far
    is at least MIN_SECONDS, since on less work nothing wins back their start-up.  Every candidate
    is measured twice, the second round in reverse order, and the rounds pooled, because load from
    other processes comes in bursts.  Going from the simplest executor (the plain loop) to the most
    complex, a more complex one is chosen only when predicted at least MARGIN times faster than
    the one chosen so far; so the choice is never predicted slower than the plain loop.  Candidates:
    '-1thread' ones when torch uses more than one thread here, vectorised ones when at least two
    configs stack, pools when there is more than one CPU, Ray only with ``ray_address``.

    Args:
        configs: the sweep's configs still to run (S = the sum of their ``steps``); empty: the
            plain loop is returned without measuring.
        workers: processes of the pool and Ray candidates (None: every CPU this process may use).
        ray_address: the Ray cluster to measure (None: Ray is no candidate).
        calibration_steps: the steps each config is shortened to (None: max(10, T_min/10), T_min
            the shortest config's steps).
        candidates: the executor names to measure besides the plain loop (None: chosen as above).

    Returns:
        (executor, record): the chosen executor (a pool stays warm; the others are closed) and a
        JSON-ready record with ``chosen_by``, ``rates`` (steps, wall_s, steps_per_s per executor,
        pool start-up seconds), ``predicted_s``, ``calibration_steps`` and, where no pool or Ray
        was measured for lack of work, a ``reason`` (empty ``configs``: ``chosen_by``, empty
        ``rates`` and the ``reason`` only).
    """
    record: dict[str, Any] = {"chosen_by": "calibration", "rates": {}}
    if not configs:
        return SequentialExecutor(), {**record, "reason": "nothing to run"}
    total_steps = sum(cfg.steps for cfg in configs)
    steps = calibration_steps or max(10, min(cfg.steps for cfg in configs) // 10)
    workers = workers or len(os.sched_getaffinity(0))
    sample = [_truncate(cfg, steps) for cfg in _spread(configs, max(2 * workers, 4))]
    stack = [_truncate(cfg, steps) for cfg in _spread(configs, MAX_MEMBERS // 2)]
    candidates = _candidates(stack, workers, ray_address) if candidates is None else list(candidates)

    plain = SequentialExecutor()
    plain.run("calibration", sample[:1], progress=False, write=False)  # loads data and imports once
    executors: dict[str, Executor] = {"sequential": plain}
    inputs = {"sequential": sample}
    record["rates"]["sequential"] = _measure(plain, sample)
    for name in sorted(candidates, key=lambda n: n not in IN_PROCESS):  # in-process ones first
        if name not in IN_PROCESS and min(_predict(executors, record, total_steps).values()) < MIN_SECONDS:
            record["reason"] = f"predicted under {MIN_SECONDS:.0f} s in this process; no pool or Ray started"
            break
        executor = executors[name] = make_executor(name, workers=workers, ray_address=ray_address)
        inputs[name] = stack if executor.vectorised else sample
        if isinstance(executor, PoolExecutor):
            record["rates"][name + "_startup_s"] = round(executor.warm_up(), 3)
        executor.run("calibration", inputs[name][: max(1, executor.workers)], progress=False, write=False)  # warm
        record["rates"][name] = _measure(executor, inputs[name])
    for name in reversed(list(executors)):  # a second round in reverse order: other load comes in bursts
        record["rates"][name] = _pooled(record["rates"][name], _measure(executors[name], inputs[name]))
    predicted = _predict(executors, record, total_steps)
    best = "sequential"
    for name in sorted(predicted, key=_SIMPLICITY.index):  # a more complex executor must win by MARGIN
        if predicted[name] * MARGIN < predicted[best]:
            best = name
    for name, executor in executors.items():
        if name != best:
            executor.close()
    record["predicted_s"] = {name: round(value, 2) for name, value in predicted.items()}
    record["calibration_steps"] = steps
    return executors[best], record
