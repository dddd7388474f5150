"""Benchmark of the sharpness machinery on MNIST-1D; writes benchmarks/out/sharpness.json.

Measured in one run, single-threaded (run with OMP_NUM_THREADS=1):

1. Products and seconds to reach 1e-3 relative accuracy on lambda_max (against a float64 reference
   with residual 1e-10) for: our Lanczos (stopped by its residual test, tol=1e-3), scipy eigsh
   (ARPACK, same test), our Lanczos stopped at the first budget whose estimate is within 1e-3 of the
   reference (an oracle stop, for equal accuracy), plain power iteration (stopped at the first iterate within 1e-3 of the
   reference: an oracle stop, the best power iteration can do) and PyHessian (its own stop rule).
2. Seconds per HVP by double backward (graph built once, then one reverse pass per product; the
   one-off graph cost reported separately) and by forward-over-reverse, and their ratio to one
   gradient (forward + backward).
3. Products per measurement during 100 SGD steps measured every step and every 5 steps, cold
   (fixed random start) versus warm-started from the previous eigenvector.

Usage: OMP_NUM_THREADS=1 python benchmarks/sharpness.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from warmup_lib.config import DataConfig, ModelConfig
from warmup_lib.curvature import SharpnessTracker, sharpness
from warmup_lib.data import load_data
from warmup_lib.curvature.hessian import HVPOperator
from warmup_lib.losses import mse_loss, xent_loss
from warmup_lib.models import build_model

OUT = Path(__file__).parent / "out" / "sharpness.json"
TOL = 1e-3


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def power_iteration(operator, reference: float, max_iters: int = 1000, seed: int = 0) -> dict:
    """Plain power iteration v <- Hv/|Hv|, Rayleigh quotient estimate; stops within TOL of reference."""
    generator = torch.Generator().manual_seed(seed)
    vector = torch.randn(operator.n, generator=generator).to(operator.theta)
    vector /= vector.norm()
    for iteration in range(1, max_iters + 1):
        image = operator(vector)
        estimate = float(vector @ image)
        if abs(estimate - reference) <= TOL * abs(reference):
            return {"hvps": iteration, "value": estimate, "reached": True}
        vector = image / image.norm()
    return {"hvps": max_iters, "value": estimate, "reached": False}


def lanczos_oracle_stop(model, loss_fn, inputs, targets, reference: float) -> dict:
    """The fewest products after which our Lanczos estimate is within TOL of the reference."""
    for budget in range(1, 200):
        result = sharpness(model, loss_fn, inputs, targets, tol=1e-12, max_hvps=budget, return_info=True)
        if relative_error(result.value, reference) <= TOL:
            return {"hvps": budget, "value": result.value, "relative_error": relative_error(result.value, reference)}
    raise RuntimeError("Lanczos did not reach the reference within 200 products")


def pyhessian_top(model, loss_fn, inputs, targets, tol: float) -> dict:
    """PyHessian's power iteration; products counted by wrapping its hessian_vector_product."""
    import pyhessian  # noqa: F401  (registers the submodule, which the package shadows by a class)

    pyhessian_module = sys.modules["pyhessian.hessian"]

    counter = {"hvps": 0}
    original = pyhessian_module.hessian_vector_product

    def counting(*args, **kwargs):
        counter["hvps"] += 1
        return original(*args, **kwargs)

    pyhessian_module.hessian_vector_product = counting
    try:
        torch.manual_seed(0)
        computer = pyhessian_module.hessian(model, loss_fn, data=(inputs, targets), cuda=False)
        values, _ = computer.eigenvalues(maxIter=1000, tol=tol)
    finally:
        pyhessian_module.hessian_vector_product = original
        model.train()
    return {"hvps": counter["hvps"], "value": float(values[0])}


def relative_error(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference)


def solver_comparison(model, loss_fn, inputs, targets) -> dict:
    """Products, seconds and achieved accuracy of each solver on one model and batch (float32)."""
    reference = sharpness(model, loss_fn, inputs, targets, tol=1e-10, dtype=torch.float64, return_info=True)
    ref = reference.value
    rows = {"reference": {"value": ref, "hvps": reference.hvps, "float64": True}}
    for solver in ("lanczos", "eigsh"):
        result, seconds = timed(lambda: sharpness(model, loss_fn, inputs, targets, tol=TOL, solver=solver,
                                                  return_info=True))
        rows[solver] = {"hvps": result.hvps, "seconds": seconds, "value": result.value,
                        "relative_error": relative_error(result.value, ref), "residual": float(result.residuals[0])}
    rows["lanczos_oracle_stop"] = lanczos_oracle_stop(model, loss_fn, inputs, targets, ref)
    operator = HVPOperator(model, loss_fn, inputs, targets)
    power, seconds = timed(lambda: power_iteration(operator, ref))
    rows["power_iteration_oracle_stop"] = {**power, "seconds": seconds, "relative_error": relative_error(power["value"], ref)}
    for tol in (1e-3, 1e-4):
        result, seconds = timed(lambda: pyhessian_top(model, loss_fn, inputs, targets, tol))
        rows[f"pyhessian_tol{tol:g}"] = {**result, "seconds": seconds, "relative_error": relative_error(result["value"], ref)}
    power_hvps = rows["power_iteration_oracle_stop"]["hvps"]
    rows["hvp_ratio_lanczos_residual_stop_vs_power_oracle_stop"] = rows["lanczos"]["hvps"] / power_hvps
    rows["hvp_ratio_lanczos_vs_power_both_oracle_stop"] = rows["lanczos_oracle_stop"]["hvps"] / power_hvps
    return rows


def hvp_timing(model, loss_fn, inputs, targets, repeats: int) -> dict:
    """Seconds per gradient and per HVP by each method (median of ``repeats``)."""
    params = list(model.parameters())

    def gradient():
        return torch.autograd.grad(loss_fn(model(inputs), targets), params)

    def median_seconds(function) -> float:
        function()  # warm up
        times = sorted(timed(function)[1] for _ in range(repeats))
        return times[len(times) // 2]

    vector = torch.randn(sum(p.numel() for p in params))
    grad_s = median_seconds(gradient)
    double = HVPOperator(model, loss_fn, inputs, targets, method="double_backward")
    _, graph_s = timed(lambda: double(vector))  # first product builds the gradient graph
    double_s = median_seconds(lambda: double(vector))
    forward = HVPOperator(model, loss_fn, inputs, targets, method="forward_over_reverse")
    forward_s = median_seconds(lambda: forward(vector))
    return {
        "gradient_s": grad_s, "double_backward_first_hvp_s": graph_s, "double_backward_hvp_s": double_s,
        "forward_over_reverse_hvp_s": forward_s, "double_backward_hvp_per_gradient": double_s / grad_s,
        "forward_over_reverse_hvp_per_gradient": forward_s / grad_s,
        "forward_over_reverse_per_double_backward": forward_s / double_s,
    }


def warm_start_run(model_cfg, data, loss_fn, steps: int, every: int, batch: int, warm: bool) -> dict:
    """SGD at eta = 1/lambda_0 on minibatches; tracker measurements cold or warm-started."""
    torch.manual_seed(0)
    model = build_model(model_cfg, data.input_shape, data.num_classes)
    lambda0 = sharpness(model, loss_fn, data.x_train[:batch], data.y_train[:batch], tol=1e-4)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0 / lambda0)
    tracker = SharpnessTracker(every=every, tol=TOL)
    generator = torch.Generator().manual_seed(0)
    hvps, values = [], []
    start = time.perf_counter()
    for step in range(steps):
        index = torch.randint(0, data.x_train.shape[0], (batch,), generator=generator)
        x, y = data.x_train[index], data.y_train[index]
        if step % every == 0:
            if warm:
                record = tracker(step, model, loss_fn, x, y)
                hvps.append(record["sharpness_hvps"])
                values.append(record["sharpness"])
            else:  # cold: the solver's fixed random start every time
                result = sharpness(model, loss_fn, x, y, tol=TOL, return_info=True)
                hvps.append(result.hvps)
                values.append(result.value)
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return {"measurements": len(hvps), "mean_hvps": sum(hvps) / len(hvps), "max_hvps": max(hvps),
            "first_hvps": hvps[0], "seconds": time.perf_counter() - start, "lambda0": lambda0,
            "sharpness_first_last": [values[0], values[-1]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps (a smoke run)")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_data(DataConfig())
    n_examples, steps = (1000, 20) if args.quick else (2000, 100)
    inputs, targets = data.x_train[:n_examples], data.y_train[:n_examples]
    models = {
        "fcn_4_256": ModelConfig(arch="fcn", width=256, depth=4),
        "cnn1d_3_32": ModelConfig(arch="cnn1d", width=32, depth=3),
    }
    report = {"environment": {"torch": torch.__version__, "python": platform.python_version(),
                              "threads": torch.get_num_threads(), "omp": os.environ.get("OMP_NUM_THREADS"),
                              "n_examples": n_examples, "tol": TOL}}
    for name, cfg in models.items():
        for loss_name, loss_fn in (("mse", mse_loss), ("xent", xent_loss)):
            torch.manual_seed(0)
            model = build_model(cfg, data.input_shape, data.num_classes)
            key = f"{name}_{loss_name}"
            report[key] = {"params": sum(p.numel() for p in model.parameters()),
                           "solvers": solver_comparison(model, loss_fn, inputs, targets),
                           "hvp_timing": hvp_timing(model, loss_fn, inputs, targets, 3 if args.quick else 7)}
            print(key, json.dumps(report[key], indent=1), flush=True)
    report["training_fcn_4_256_mse"] = {
        f"every{every}_{'warm' if warm else 'cold'}": warm_start_run(models["fcn_4_256"], data, mse_loss, steps, every, 512, warm)
        for every in (1, 5) for warm in (True, False)
    }
    print(json.dumps(report["training_fcn_4_256_mse"], indent=1), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    temporary = OUT.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2))
    temporary.replace(OUT)  # atomic
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
