"""Benchmark of the critical-learning-rate search on MNIST-1D; writes benchmarks/out/critical_lr.json.

Measured in one run, single-threaded (run with OMP_NUM_THREADS=1), at delta = 0.1, for the book
FCN (FCN-4-256, SP) and a small 1-D CNN (4 conv layers, 32 channels, SP), MSE loss, a 512 batch
and the full 4000 batch, SGD and Adam, three initialisation seeds, and both search methods
("paper": doubling + bisection; "model": quadratic-model-guided, same output contract):

1. cold start (eta0 = 1e-4) at initialisation: trial forward passes, seconds, eta_c, and for SGD
   the ratio eta_c lambda_0 / 2 with lambda_0 the top Hessian eigenvalue on the same batch;
2. warm start: after 5 training steps at eta_c / 2, re-estimate from eta0 = the previous estimate;
3. the cost of one gradient (forward + backward) in the same run, so the search's cost reads as
   gradient equivalents.

Targets (issue 16), met by the default method: at most 9 forward passes from a cold start and at
most 5 from a warm start.

Usage: OMP_NUM_THREADS=1 python benchmarks/critical_lr.py [--quick]
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

from warmup_lib.critical.search import DEFAULT_METHOD, METHODS, critical_lr
from warmup_lib.config import DataConfig, ModelConfig
from warmup_lib.curvature.spectrum import sharpness
from warmup_lib.data import load_data
from warmup_lib.losses import mse_loss
from warmup_lib.models import build_model

OUT = Path(__file__).parent / "out" / "critical_lr.json"
MODELS = {"fcn_4_256": ModelConfig(arch="fcn", width=256, depth=4, param="sp"),
          "cnn1d_4_32": ModelConfig(arch="cnn1d", width=32, depth=4, param="sp")}
OPTIMIZERS = {"sgd": lambda params: torch.optim.SGD(params, lr=0.0),
              "adam": lambda params: torch.optim.Adam(params, lr=0.0)}
WARM_STEPS = 5
COLD_ETA0 = 1e-4
TARGETS = {"cold": 9, "warm": 5}


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def gradient_seconds(model, inputs, targets, repeats: int = 3) -> float:
    def gradient():
        model.zero_grad()
        mse_loss(model(inputs), targets).backward()
    return statistics.median(timed(gradient)[1] for _ in range(repeats))


def search(model, optimizer, inputs, targets, eta0: float, method: str) -> dict:
    result, seconds = timed(lambda: critical_lr(model, mse_loss, inputs, targets, optimizer, eta0=eta0,
                                                delta=0.1, method=method))
    return {"eta_c": result.eta_c, "eta_lower": result.eta_lower, "forward_passes": result.forward_passes,
            "seconds": seconds, "within_tolerance": result.within_tolerance, "capped": result.capped}


def train(model, optimizer, inputs, targets, eta: float, steps: int) -> None:
    for group in optimizer.param_groups:
        group["lr"] = eta
    for _ in range(steps):
        optimizer.zero_grad()
        mse_loss(model(inputs), targets).backward()
        optimizer.step()


def one_setting(data, model_name: str, batch: int, optimizer_name: str, seed: int, with_sharpness: bool) -> dict:
    torch.manual_seed(seed)
    model = build_model(MODELS[model_name], data.input_shape, data.num_classes)
    inputs, targets = data.x_train[:batch], data.y_train[:batch]
    record = {"model": model_name, "batch": batch, "optimizer": optimizer_name, "seed": seed,
              "gradient_seconds": gradient_seconds(model, inputs, targets), "search": {}}
    model.zero_grad(set_to_none=True)
    if with_sharpness:
        record["lambda0"] = sharpness(model, mse_loss, inputs, targets, tol=1e-4)
    for method in METHODS:
        trained = build_model(MODELS[model_name], data.input_shape, data.num_classes)
        trained.load_state_dict(model.state_dict())
        optimizer = OPTIMIZERS[optimizer_name](trained.parameters())
        cold = search(trained, optimizer, inputs, targets, COLD_ETA0, method)
        train(trained, optimizer, inputs, targets, cold["eta_c"] / 2, WARM_STEPS)
        warm = search(trained, optimizer, inputs, targets, cold["eta_c"], method)
        if with_sharpness:
            cold["ratio_eta_c_lambda0_over_2"] = cold["eta_c"] * record["lambda0"] / 2
        record["search"][method] = {"cold": cold, "warm": warm}
    return record


def summarise(records: list[dict]) -> dict:
    summary = {}
    for method in METHODS:
        for start in ("cold", "warm"):
            passes = [r["search"][method][start]["forward_passes"] for r in records]
            seconds_ratio = [r["search"][method][start]["seconds"] / r["gradient_seconds"] for r in records]
            summary[f"{method}_{start}"] = {
                "forward_passes_mean": statistics.mean(passes), "forward_passes_max": max(passes),
                "meets_target": max(passes) <= TARGETS[start], "target": TARGETS[start],
                "seconds_over_gradient_median": statistics.median(seconds_ratio),
                "all_within_tolerance": all(r["search"][method][start]["within_tolerance"] for r in records)}
    ratios = [r["search"][m]["cold"]["ratio_eta_c_lambda0_over_2"] for r in records if "lambda0" in r for m in METHODS]
    summary["ratio_eta_c_lambda0_over_2"] = {"min": min(ratios), "max": max(ratios)}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, one batch size")
    args = parser.parse_args()
    seeds, batches = ((0,), (512,)) if args.quick else ((0, 1, 2), (512, 4000))
    data = load_data(DataConfig(name="mnist1d"))
    records = []
    for model_name in MODELS:
        for batch in batches:
            for optimizer_name in OPTIMIZERS:
                for seed in seeds:
                    record = one_setting(data, model_name, batch, optimizer_name, seed, optimizer_name == "sgd")
                    records.append(record)
                    print(model_name, batch, optimizer_name, seed,
                          {m: (s["cold"]["forward_passes"], s["warm"]["forward_passes"], round(s["cold"]["eta_c"], 4))
                           for m, s in record["search"].items()},
                          round(record.get("lambda0", float("nan")), 3), flush=True)
    result = {"environment": {"torch": torch.__version__, "python": platform.python_version(),
                              "threads": torch.get_num_threads(), "machine": platform.machine()},
              "delta": 0.1, "cold_eta0": COLD_ETA0, "warm_steps": WARM_STEPS, "default_method": DEFAULT_METHOD,
              "summary": summarise(records), "records": records}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    temporary = OUT.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(result, indent=1))
    os.replace(temporary, OUT)  # atomic
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
