"""Benchmark: runs per hour of a book-like phase diagram with each sweep executor on this machine.

The grid is the book preset's kind of sweep: FCN-4 (SP) on MNIST-1D, MSE, SGD at batch 128, a few
hundred steps, 4 eta_trgt x 4 T_wrm x 2 seeds = 32 runs, for a small (width 64) and a mid (width 256)
FCN.  Every executor trains the configs end to end (pool start-up included, nothing stored); the
speed-up of each is its runs per hour over a plain one-process loop's, measured in the same
repetition, against two baselines: 'sequential' (torch's default threads, as a user's loop runs; it
trains only ``--plain-subset`` configs because under load it is very slow) and 'sequential-1thread'.
The repetitions rotate the order so that load from other processes hits all alike.  The auto
calibration is run last and its choice is reported with its measured speed-ups.

    python benchmarks/sweep.py [--repeats 3] [--steps 300] [--widths 64 256] [--out benchmarks/out/sweep.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from warmup_lib.config import DataConfig, ModelConfig, RunConfig
from warmup_lib.runs.calibration import choose_executor
from warmup_lib.atomic import atomic_write_json
from warmup_lib.runs.executors import make_executor

ETAS = (0.02, 0.05, 0.1, 0.2)
WARMUPS = (1, 16, 64, 256)
SEEDS = (0, 1)


def grid(width: int, steps: int) -> list[RunConfig]:
    base = RunConfig(data=DataConfig(name="mnist1d"), model=ModelConfig(arch="fcn", width=width, depth=4),
                     loss="mse", batch_size=128, steps=steps, eval_every=100)
    return [base.replace(seed=seed, **{"schedule.eta_trgt": eta, "schedule.warmup_steps": min(warmup, steps)})
            for eta in ETAS for warmup in WARMUPS for seed in SEEDS]


def time_executor(name: str, configs: list[RunConfig]) -> float:
    """Seconds to train every config with executor ``name``, start-up and shut-down included."""
    start = time.perf_counter()
    executor = make_executor(name)
    try:
        executor.run("benchmark", configs, progress=False, write=False)
    finally:
        executor.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--executors", nargs="+", default=["sequential", "sequential-1thread", "vectorised",
                                                           "vectorised-1thread", "pool", "pool-vectorised"])
    parser.add_argument("--plain-subset", type=int, default=4,
                        help="the default-thread plain loop trains only this many configs (spread over the "
                             "grid): under load it is 5-30x slower; rates are per run")
    parser.add_argument("--out", default="benchmarks/out/sweep.json")
    parser.add_argument("--calibration-only", type=int, default=0, metavar="N",
                        help="only rerun the auto calibration N times per width (kept beside earlier measurements)")
    args = parser.parse_args()
    try:
        import ray  # noqa: F401

        executors = [*args.executors, "ray"] if "ray" not in args.executors else args.executors
    except ImportError:
        executors = args.executors
    report = {"machine": {"cpus": len(os.sched_getaffinity(0)), "torch": torch.__version__,
                          "torch_threads_main": torch.get_num_threads(), "python": platform.python_version(),
                          "load_average_start": os.getloadavg()},
              "grid": {"model": "FCN-4 SP", "data": "mnist1d (4000 train / 1000 test)", "loss": "mse",
                       "batch_size": 128, "steps": args.steps, "eval_every": 100, "eta_trgt": ETAS,
                       "warmup_steps": WARMUPS, "seeds": SEEDS, "runs": len(ETAS) * len(WARMUPS) * len(SEEDS)},
              "note": "other processes loaded this machine during the measurement; spread over repeats is reported",
              "widths": {}}
    out = Path(args.out)
    if out.exists():  # keep what an earlier invocation measured (e.g. one width at a time)
        earlier = json.loads(out.read_text())
        report["widths"] = earlier.get("widths", {})
        report["machine"] = {**earlier.get("machine", {}), "calibration_only_load_average": os.getloadavg()} \
            if args.calibration_only else report["machine"]
    if args.calibration_only:
        for width in args.widths:
            runs = []
            for _ in range(args.calibration_only):
                chosen, calibration = choose_executor(grid(width, args.steps))
                chosen.close()
                runs.append({"chosen": chosen.name, "predicted_s": calibration["predicted_s"]})
                print(width, runs[-1], flush=True)
            report["widths"].setdefault(str(width), {})["calibration_runs"] = runs
        atomic_write_json(out, report)
        return
    for width in args.widths:
        configs = grid(width, args.steps)
        subset = [configs[round(i * (len(configs) - 1) / (args.plain_subset - 1))] for i in range(args.plain_subset)]
        make_executor("sequential").run("benchmark", configs[:1], progress=False, write=False)  # data cache
        rates: dict[str, list[float]] = {name: [] for name in executors}  # runs per hour
        for repeat in range(args.repeats):
            order = executors[repeat % len(executors):] + executors[:repeat % len(executors)]
            for name in order:
                chosen_configs = subset if name == "sequential" else configs
                seconds = time_executor(name, chosen_configs)
                rates[name].append(3600 * len(chosen_configs) / seconds)
                print(f"width {width} repeat {repeat} {name}: {len(chosen_configs)} runs in {seconds:.1f} s", flush=True)
        chosen, calibration = choose_executor(configs)
        chosen.close()
        entry: dict = {"executors": {}, "calibration": calibration, "chosen": chosen.name,
                       "repeats": args.repeats, "plain_loop_runs_per_repeat": len(subset)}
        for name in executors:
            entry["executors"][name] = {"runs_per_hour": [round(r, 1) for r in rates[name]],
                                        "runs_per_hour_median": round(statistics.median(rates[name]), 1)}
            for baseline in ("sequential", "sequential-1thread"):
                if baseline in rates:
                    ratios = [r / b for r, b in zip(rates[name], rates[baseline])]  # same repetition
                    entry["executors"][name][f"speedup_vs_{baseline}"] = {
                        "median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3),
                        "max": round(max(ratios), 3)}
        entry["chosen_speedups"] = {k: v for k, v in entry["executors"].get(chosen.name, {}).items()
                                    if k.startswith("speedup")}
        report["widths"][str(width)] = entry
        report["machine"]["load_average_end"] = os.getloadavg()
        atomic_write_json(Path(args.out), report)
        print(json.dumps({width: entry["chosen"], **entry["chosen_speedups"]}), flush=True)


if __name__ == "__main__":
    main()
