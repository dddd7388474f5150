"""Benchmark: the Ray executor's overhead per run against the process pool, on tiny runs.

Runs so small that training is a few hundredths of a second (FCN-3 of width 16 on 256 MNIST-1D
examples, 50 SGD steps) let the executors' own per-run costs show: handing a config to a worker,
getting the result back, writing the run into the store.  Each repetition times, in turn and in a
rotating order:

* ``sequential-1thread``: the plain loop in this process (the compute of one run, and the store write);
* ``pool``: 2 single-threaded spawn workers, each writing its runs to the store;
* ``ray``: Ray tasks of one CPU on a local Ray of 2 CPUs (or the cluster at ``--ray-address``); the
  workers send each result back and this process writes it to the store.

Each executor is started and warmed up first (its first ``workers`` runs, which pay for importing
torch in every worker, are timed as ``start_s``), then ``--runs`` new runs are timed into a fresh
store: ``per_run_s`` is that wall time over the runs.  Reported per executor: medians over the
repetitions, and for Ray the ratio of its per-run time to the pool's in the same repetition and the
difference (its extra seconds per run).

    python benchmarks/ray_overhead.py [--runs 32] [--repeats 3] [--ray-address ADDRESS]
        [--out benchmarks/out/ray_overhead.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from warmup_lib.atomic import atomic_write_json
from warmup_lib.config import DataConfig, ModelConfig, RunConfig
from warmup_lib.runs import train
from warmup_lib.runs.executors import make_executor

TINY = RunConfig(data=DataConfig(name="mnist1d", n_train=256, n_test=128), model=ModelConfig(width=16, depth=3),
                 loss="mse", batch_size=32, steps=50, eval_every=25)
WORKERS = 2


def configs(count: int, first_seed: int) -> list[RunConfig]:
    """``count`` distinct tiny runs (seeds ``first_seed``, ``first_seed + 1``, ...)."""
    return [TINY.replace(seed=first_seed + i) for i in range(count)]


def time_executor(name: str, runs: int, repeat: int, ray_address: str | None) -> dict[str, float]:
    """Seconds to start and warm up executor ``name``, and wall seconds per run of ``runs`` runs after that."""
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as root:
        begin = time.perf_counter()
        executor = make_executor(name, workers=WORKERS, ray_address=ray_address)
        try:
            warm_up = configs(WORKERS, first_seed=1000 * repeat + 500)
            executor.run("warm_up", warm_up, root=root, progress=False)
            started = time.perf_counter()
            executor.run("timed", configs(runs, first_seed=1000 * repeat), root=root, progress=False)
            finished = time.perf_counter()
        finally:
            executor.close()
    return {"start_s": started - begin, "per_run_s": (finished - started) / runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ray-address", default=None, help="a running Ray cluster (default: a local Ray of 2 CPUs)")
    parser.add_argument("--out", default="benchmarks/out/ray_overhead.json")
    args = parser.parse_args()
    if args.ray_address is None:  # a one-machine Ray: its services on 127.0.0.1, no usage statistics
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    names = ["sequential-1thread", "pool", "ray"]
    train.run(TINY)  # builds the data set's cache before anything is timed
    load_start = os.getloadavg()
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            measured[name].append(time_executor(name, args.runs, repeat, args.ray_address))
            print(f"repeat {repeat} {name}: {measured[name][-1]}", flush=True)

    def median(name: str, key: str) -> float:
        return round(statistics.median(m[key] for m in measured[name]), 4)

    pool_per_run = [m["per_run_s"] for m in measured["pool"]]
    ray_per_run = [m["per_run_s"] for m in measured["ray"]]
    report = {
        "machine": {"cpus": len(os.sched_getaffinity(0)), "torch": torch.__version__,
                    "python": platform.python_version(), "load_average_start": load_start,
                    "load_average_end": os.getloadavg()},
        "runs": {"config": TINY.to_dict(), "timed_runs": args.runs, "warm_up_runs": WORKERS,
                 "repeats": args.repeats, "workers": WORKERS, "ray_address": args.ray_address or "local"},
        "executors": {name: {"per_run_s_median": median(name, "per_run_s"), "start_s_median": median(name, "start_s"),
                             "measurements": measured[name]} for name in names},
        "ray_vs_pool": {
            "per_run_ratio": [round(r / p, 3) for r, p in zip(ray_per_run, pool_per_run)],
            "per_run_ratio_median": round(statistics.median(r / p for r, p in zip(ray_per_run, pool_per_run)), 3),
            "extra_s_per_run_median": round(statistics.median(r - p for r, p in zip(ray_per_run, pool_per_run)), 4),
        },
    }
    atomic_write_json(Path(args.out), report)
    print({name: entry["per_run_s_median"] for name, entry in report["executors"].items()}, report["ray_vs_pool"])


if __name__ == "__main__":
    main()
