"""Benchmark of what each warmup remedy of chapter 8 costs per step; writes results/benchmarks/remedy_cost.json,
which chapter 8 shows (committed, unlike benchmarks/out/).

Measured in one run, single-threaded (run with OMP_NUM_THREADS=1), on chapter 8's FCN task at the
book preset (FCN-4-128 SP on MNIST-1D, batch 128, cross-entropy), SGD at 8 / lambda_0 and Adam at
0.008, for ``--steps`` updates per run: every remedy of the setting is trained ``--rounds`` times,
round-robin (so that a slow spell of the shared machine hits every remedy alike), and its wall-clock
per step is the median over the rounds (after one unrecorded warm-up round).  The ratio to no warmup of the same optimizer, measured in
the same run, is the number to read; seconds depend on the machine.  The warmup from eta_c
includes its one search at initialisation; PCW its re-estimations; the curvature-adaptive rate its
HVPs (one every ``cdat_every`` steps).

Usage: OMP_NUM_THREADS=1 python benchmarks/remedy_cost.py [--steps 300] [--rounds 5]
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

from warmup_lib.atomic import atomic_write
from warmup_lib.chapters import warmup_remedies as wr
from warmup_lib.config import notebook_parameters
from warmup_lib.critical.search import critical_lr
from warmup_lib.runs.measure import measure_lambda0
from warmup_lib.runs.train import init_run, run

OUT = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "remedy_cost.json"  # chapter 8 reads it
TARGETS = {"sgd": 8.0, "adam": 0.008}  # SGD in units of 1/lambda_0, Adam absolute


def _eta_c_seconds(cfg, params) -> tuple[float, float]:
    """(eta_c, seconds of its search) at the initialisation of ``cfg``."""
    setup = init_run(cfg, lr=0.0)
    start = time.perf_counter()
    search = critical_lr(setup.model, setup.loss_fn, *setup.next_batch(), setup.optimizer,
                         eta0=params["search_eta0"], delta=params["search_delta"])
    return search.eta_c, time.perf_counter() - start


def _train_seconds(remedy: str, cfg, params) -> float:
    start = time.perf_counter()
    if remedy == "pcw":
        wr.run_persistent_catapult(cfg, params["pcw_delta"], params["pcw_eta0"], params["pcw_max_forward_passes"])
    elif remedy == "cdat":
        wr.run_curvature_adaptive(cfg, params["cdat_scale"], params["cdat_beta"], params["cdat_every"])
    else:
        run(cfg)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    params = notebook_parameters("08_warmup_remedies", "book")
    task = params["tasks"]["fcn"]
    result = {"steps": args.steps, "rounds": args.rounds, "threads": torch.get_num_threads(),
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "torch": torch.__version__,
              "machine": platform.machine(), "settings": {}}
    for optimizer in ("sgd", "adam"):
        base = wr.task_config({**task, "steps": args.steps}, optimizer, params["beta2"], 0)
        lambda_0 = measure_lambda0(base, params["lambda0_batches"])["lambda_0"] if optimizer == "sgd" else 1.0
        eta = TARGETS[optimizer] / lambda_0 if optimizer == "sgd" else TARGETS[optimizer]
        eta_c, search_seconds = _eta_c_seconds(base, params)
        configs = {remedy.key: wr.remedy_configs(remedy.key, base, eta, params, eta_c)[0][1]
                   for remedy in wr.remedies_for(optimizer)}
        for remedy, cfg in configs.items():  # an unrecorded warm-up round: data loading and first calls
            _train_seconds(remedy, cfg, params)
        seconds = {remedy: [] for remedy in configs}
        for _ in range(args.rounds):
            for remedy, cfg in configs.items():
                seconds[remedy].append(_train_seconds(remedy, cfg, params) / args.steps)
        per_step = {remedy: statistics.median(values) for remedy, values in seconds.items()}
        per_step["eta_c"] += search_seconds / args.steps
        result["settings"][optimizer] = {
            "eta_trgt": eta, "search_seconds": search_seconds, "seconds_per_step": per_step,
            "ratio_to_none": {remedy: value / per_step["none"] for remedy, value in per_step.items()},
        }
        print(optimizer, {remedy: round(ratio, 2) for remedy, ratio in result["settings"][optimizer]["ratio_to_none"].items()})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    atomic_write(OUT, lambda handle: handle.write(text))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
