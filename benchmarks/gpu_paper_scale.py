"""One prepared script for a lent GPU: the vectorised executor's speed-up and the paper-scale models.

Run from the repository root (``PYTHONPATH=.``); every part writes into ``--out`` as it finishes:

* ``vectorised``: K runs of an FCN on MNIST-1D (seeds x eta_trgt, SGD, MSE) trained one after another
  with :func:`warmup_lib.runs.train.run` and stacked with :func:`warmup_lib.runs.vectorised.train_stack`.
  Wall time of each, their ratio, and whether the members agree (outcome and final train loss).  When
  the sequential runs outgrow their share of the budget, the rest is extrapolated from the runs made
  (``sequential_extrapolated``: true) and only those are compared.
* ``fcn``: FCN-4-512 (SP and muP, MSE) on MNIST-1D (all 4000 training examples; the paper used a 5k
  CIFAR-10 subset): lambda_0 at initialisation (float64, full batch) and full-batch GD for the paper's
  2048 steps at eta_trgt = 1/lambda_0 (muP) and 32/lambda_0 (SP) with T_wrm in {1, 64, 1024}, the
  sharpness tracked every ``k`` steps (warm-started Lanczos, float32); seed 0 first, then more seeds
  while the budget lasts.  A run cut by the budget records how far it got.
* ``lm``: the Pre-LN LM-4-128 (``warmup_lib.models.gpt``) on the character corpus (context 64, B = 64),
  with and without the final LayerNorm: lambda_0 (mean over 10 batches, float64) for 3 seeds each
  (paper claim 9: removing the final LN raises lambda_0 ~100x), then short SGD runs of both variants
  at eta_trgt = c / lambda_0(with final LN) for several c, with and without warmup (one stack each).
* ``wrn``: WRN-16-4 training-step throughput on random CIFAR-shaped tensors (no CIFAR here):
  a throughput figure, not a result.

Each part runs in its own try/except (an error is recorded in the JSON, the other parts go on) and
under its own time budget (``--budget-s part=seconds``).  ``--tiny`` shrinks everything to seconds
(CPU or GPU) for a dry run of the same command.  Outputs: ``<out>/gpu_paper_scale.json`` (everything,
rewritten after each part), ``<out>/<part>.json`` per part, and ``<out>/fcn_sharpness.png``.

MNIST-1D is read from the library's cache (``$WARMUP_LIB_CACHE/mnist1d_seed0.npz``); on a machine
without the ``mnist1d`` package pass ``--data-cache DIR`` with that file in DIR (the script sets
``WARMUP_LIB_CACHE`` to DIR before loading anything).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PARTS = ("vectorised", "fcn", "lm", "wrn")
# seconds per part on the GPU (full sizes); the whole script then takes about 6.5 minutes
DEFAULT_BUDGETS = {"vectorised": 140.0, "fcn": 150.0, "lm": 70.0, "wrn": 20.0}
TINY_BUDGETS = {"vectorised": 10.0, "fcn": 10.0, "lm": 10.0, "wrn": 5.0}


class Budget:
    """Seconds left of one part's budget."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def over(self) -> bool:
        return self.left() <= 0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def clean(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (strict JSON has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dump(value: Any) -> str:
    return json.dumps(clean(value), indent=1, default=str, allow_nan=False)


# ---------------------------------------------------------------------------------------- environment


def environment(device_name: str) -> dict[str, Any]:
    import numpy
    import torch

    info: dict[str, Any] = {
        "python": sys.version.split()[0], "platform": platform.platform(), "torch": torch.__version__,
        "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "numpy": numpy.__version__, "device": device_name, "cuda_available": torch.cuda.is_available(),
        "cpu_count": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "warmup_lib_cache": os.environ.get("WARMUP_LIB_CACHE"),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info |= {"gpu_name": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                 "gpu_capability": f"{props.major}.{props.minor}", "gpu_count": torch.cuda.device_count()}
    return info


def data_check() -> dict[str, Any]:
    """Where MNIST-1D will come from: the cached arrays, or the ``mnist1d`` package (else the
    MNIST-1D parts fail, each recording the error)."""
    import importlib.util

    from warmup_lib.data import cache_dir

    cached = cache_dir() / "mnist1d_seed0.npz"
    return {"cache_dir": str(cache_dir()), "mnist1d_seed0_cached": cached.exists(),
            "mnist1d_package": importlib.util.find_spec("mnist1d") is not None}


# ----------------------------------------------------------------------------- part 1: vectorised


def part_vectorised(args, budget: Budget, device: str) -> dict[str, Any]:
    from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
    from warmup_lib.runs.measure import measure_lambda0
    from warmup_lib.runs.train import run
    from warmup_lib.runs.vectorised import train_stack

    tiny = args.tiny
    width, steps, batch = (16, 20, 64) if tiny else (128, 1000, 128)
    seeds = list(range(2 if tiny else 8))
    multiples = [0.5, 4.0] if tiny else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0]
    warmup = 4 if tiny else 16
    base = RunConfig(data=DataConfig(name="mnist1d", n_train=512 if tiny else None, n_test=256 if tiny else None),
                     model=ModelConfig(arch="fcn", width=width, depth=4, param="sp"), optim=OptimConfig(name="sgd"),
                     schedule=ScheduleConfig(eta_trgt=0.1, warmup_steps=warmup), loss="mse", batch_size=batch,
                     steps=steps, eval_every=0, device=device)
    lambda0 = measure_lambda0(base, batches=1 if tiny else 10)["lambda_0"]
    cfgs = [base.replace(seed=seed, **{"schedule.eta_trgt": c / lambda0}) for c in multiples for seed in seeds]
    out: dict[str, Any] = {
        "setup": {"model": f"FCN-4-{width} SP", "data": "mnist1d", "loss": "mse", "optimizer": "sgd",
                  "batch_size": batch, "steps": steps, "warmup_steps": warmup, "eta_multiples_of_1_over_lambda0": multiples,
                  "seeds": seeds, "members": len(cfgs), "lambda_0": lambda0, "dtype": "float32", "device": device},
    }
    log(f"vectorised: lambda_0 = {lambda0:.4g}, K = {len(cfgs)} members of {steps} steps")
    # warm-up (CUDA context, cuBLAS handles, vmap tracing) outside the timings
    short = [c.replace(steps=8, **{"schedule.warmup_steps": 1}) for c in cfgs[:2]]
    run(short[0])
    train_stack(short)

    sequential_share = budget.left() * 0.75  # the stack gets what is left
    t0 = time.perf_counter()
    seq_results = []
    for index, cfg in enumerate(cfgs):
        seq_results.append(run(cfg).summary)
        elapsed = time.perf_counter() - t0
        if index == 0 or (index + 1) % 8 == 0:
            log(f"vectorised: sequential {index + 1}/{len(cfgs)} in {elapsed:.1f}s")
        if elapsed > sequential_share and index + 1 < len(cfgs):
            break
    seq_time = time.perf_counter() - t0
    done = len(seq_results)
    seq_total = seq_time if done == len(cfgs) else seq_time / done * len(cfgs)
    out["sequential"] = {"runs_timed": done, "wall_s": seq_time, "wall_s_all_members": seq_total,
                         "extrapolated": done < len(cfgs), "per_run_s": seq_time / done}
    log(f"vectorised: sequential {done} runs {seq_time:.1f}s -> all {len(cfgs)}: {seq_total:.1f}s"
        + (" (extrapolated)" if done < len(cfgs) else ""))

    t0 = time.perf_counter()
    stack_results = [r.summary for r in train_stack(cfgs)]
    stack_time = time.perf_counter() - t0
    out["stacked"] = {"wall_s": stack_time, "members": len(cfgs)}
    out["speedup"] = seq_total / stack_time
    out["sequential_extrapolated"] = done < len(cfgs)
    log(f"vectorised: stack {stack_time:.2f}s, speed-up {out['speedup']:.1f}x")

    rows, rel_diffs, outcome_equal = [], [], 0
    for cfg, seq, stk in zip(cfgs[:done], seq_results, stack_results[:done]):
        a, b = seq["final_train_loss"], stk["final_train_loss"]
        same = seq["outcome"] == stk["outcome"]
        outcome_equal += same
        rel = None
        if seq["outcome"] == stk["outcome"] == "converged" and math.isfinite(a) and math.isfinite(b):
            rel = abs(a - b) / max(abs(a), 1e-12)
            rel_diffs.append(rel)
        rows.append({"seed": cfg.seed, "eta_trgt": cfg.schedule.eta_trgt, "outcome_sequential": seq["outcome"],
                     "outcome_stacked": stk["outcome"], "final_train_loss_sequential": finite_or_none(a),
                     "final_train_loss_stacked": finite_or_none(b), "rel_diff": rel})
    out["agreement"] = {
        "compared": done, "outcomes_equal": outcome_equal, "converged_pairs": len(rel_diffs),
        "max_rel_diff_final_train_loss": max(rel_diffs) if rel_diffs else None,
        "median_rel_diff_final_train_loss": sorted(rel_diffs)[len(rel_diffs) // 2] if rel_diffs else None,
        "within_1e-3": sum(r <= 1e-3 for r in rel_diffs), "within_1e-2": sum(r <= 1e-2 for r in rel_diffs),
        "note": "float32 on the device: stacked (vmap) and sequential kernels round differently, and runs near the "
                "divergence boundary can amplify that; exact agreement is tested in float64 on the CPU",
    }
    out["members"] = rows
    out["outcomes_stacked"] = {k: sum(s["outcome"] == k for s in stack_results) for k in ("converged", "failed", "diverged")}
    return out


# --------------------------------------------------------------------------------- part 2: FCN-4-512


def train_tracked(cfg, every: int, budget: Budget, dense: int = 0) -> dict[str, Any]:
    """Train ``cfg`` (SGD/GD) with the sharpness at every one of the first ``dense`` steps, then every
    ``every`` steps (warm-started); stop early when over budget."""
    import torch

    from warmup_lib.curvature.tracker import SharpnessTracker
    from warmup_lib.runs.train import init_run
    from warmup_lib.schedules import Schedule

    rates = Schedule.from_config(cfg.schedule, cfg.steps).values().tolist()
    setup = init_run(cfg, lr=rates[0])
    model, loss_fn, optimizer = setup.model, setup.loss_fn, setup.optimizer
    tracker = SharpnessTracker(every=1)  # called only at the steps to measure
    losses: list[float] = []
    status, t0 = "completed", time.perf_counter()
    for step in range(cfg.steps):
        if budget.over():
            status = "stopped_by_budget"
            break
        inputs, targets = setup.next_batch()
        if step < dense or step % every == 0:
            tracker(step, model, loss_fn, inputs, targets, optimizer)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        value = float(loss.detach())
        losses.append(value)
        if not math.isfinite(value):
            status = "diverged"
            break
        for group in optimizer.param_groups:
            group["lr"] = group.get("lr_mult", 1.0) * rates[step]
        optimizer.step()
    wall = time.perf_counter() - t0
    sharp = [(r["step"], r["sharpness"]) for r in tracker.history]
    finite = [v for v in losses if math.isfinite(v)]
    result = {"status": status, "steps_done": len(losses) - (status == "diverged"), "steps": cfg.steps, "wall_s": wall,
              "loss_initial": losses[0] if losses else None, "loss_final": finite_or_none(losses[-1]) if losses else None,
              "loss_min": min(finite) if finite else None,
              "loss_max": max(finite) if finite else None,
              "sharpness_initial": sharp[0][1] if sharp else None, "sharpness_final": sharp[-1][1] if sharp else None,
              "sharpness_max": max(v for _, v in sharp) if sharp else None,
              "sharpness_min": min(v for _, v in sharp) if sharp else None,
              "sharpness_measurements": len(sharp),
              "hvps_total": int(sum(r.get("sharpness_hvps", 0) for r in tracker.history)),
              "sharpness_every": every, "sharpness_every_step_until": dense,
              "sharpness": [[s, v] for s, v in sharp],
              "loss_sampled": [[t, v] for t, v in enumerate(losses) if t < dense or t % every == 0 or t == len(losses) - 1]}
    try:  # catapults (paper section 3): loss spikes that come back with a sharpness drop
        import numpy as np

        from warmup_lib.analysis.trajectory import detect_catapults

        if status != "diverged" and len(losses) > 2:
            series = np.full(len(losses), np.nan)
            for s, v in sharp:
                series[s] = v
            result["catapults"] = [{"start": c.start, "peak": c.peak, "end": c.end, "loss_ratio": c.loss_ratio}
                                   for c in detect_catapults(np.array(losses), series, window=2 * every)]
    except Exception as error:  # noqa: BLE001 - a summary column, never the run
        result["catapults_error"] = repr(error)
    del model, optimizer, setup
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return result


def part_fcn(args, budget: Budget, device: str) -> dict[str, Any]:
    from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
    from warmup_lib.runs.measure import measure_lambda0

    tiny = args.tiny
    width, steps = (32, 24) if tiny else (512, 2048)
    warmups = [1, 8] if tiny else [1, 64, 1024]
    every = 4 if tiny else args.sharpness_every
    dense = 4 if tiny else args.dense_steps
    multiples = {"mup": 1.0, "sp": 32.0}
    data = DataConfig(name="mnist1d", n_train=256 if tiny else None, n_test=128 if tiny else None)
    out: dict[str, Any] = {"setup": {"model": f"FCN-4-{width}", "data": "mnist1d (4000 train, full batch)" if not tiny else "mnist1d tiny",
                                     "loss": "mse", "optimizer": "GD (full batch)", "steps": steps, "warmup_steps": warmups,
                                     "eta_trgt": "mup: 1/lambda_0, sp: 32/lambda_0 (paper Fig. 1)",
                                     "sharpness_every": every, "sharpness_every_step_until": dense, "sharpness_dtype": "float32 (tracker), lambda_0 in float64",
                                     "paper": "CIFAR-10 5k subset, GD, 2048 steps, sharpness every step"},
                           "lambda_0": {}, "runs": [], "seeds_started": []}
    for seed in range(1 if tiny else args.fcn_seeds):
        for param in ("mup", "sp"):
            if budget.over():
                out["stopped_by_budget"] = True
                return out
            base = RunConfig(data=data, model=ModelConfig(arch="fcn", width=width, depth=4, param=param),
                             optim=OptimConfig(name="sgd"), schedule=ScheduleConfig(eta_trgt=1.0), loss="mse",
                             batch_size=None, steps=steps, eval_every=0, device=device, seed=seed)
            t0 = time.perf_counter()
            lam = measure_lambda0(base)["lambda_0"]
            out["lambda_0"][f"{param}_seed{seed}"] = {"lambda_0": lam, "wall_s": time.perf_counter() - t0}
            log(f"fcn: {param} seed {seed}: lambda_0 = {lam:.4g}")
            if seed not in out["seeds_started"]:
                out["seeds_started"].append(seed)
            for warmup in warmups:
                if budget.over():
                    out["stopped_by_budget"] = True
                    return out
                cfg = base.replace(**{"schedule.eta_trgt": multiples[param] / lam, "schedule.warmup_steps": warmup})
                result = train_tracked(cfg, every, budget, dense)
                result |= {"param": param, "seed": seed, "warmup_steps": warmup, "eta_trgt": cfg.schedule.eta_trgt,
                           "eta_trgt_times_lambda0": multiples[param], "lambda_0": lam}
                out["runs"].append(result)
                log(f"fcn: {param} seed {seed} T_wrm {warmup}: {result['status']} after {result['steps_done']} steps "
                    f"({result['wall_s']:.1f}s), loss {result['loss_final']}, sharpness {result['sharpness_initial']} -> "
                    f"{result['sharpness_final']}")
    out["stopped_by_budget"] = False
    return out


def plot_fcn(fcn: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in fcn.get("runs", []) if r["seed"] == 0]
    if not runs:
        return
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
    for column, param in enumerate(("mup", "sp")):
        for r in (r for r in runs if r["param"] == param):
            loss = [v for _, v in r["loss_sampled"]]
            steps = [s for s, _ in r["loss_sampled"]]
            line, = axes[0, column].semilogy(steps, loss, label=f"T_wrm={r['warmup_steps']}")
            axes[1, column].semilogy([s for s, _ in r["sharpness"]], [v for _, v in r["sharpness"]], color=line.get_color())
            eta = r["eta_trgt"]
            t_wrm = r["warmup_steps"]
            two_over = [2.0 / (eta * min((s + 1) / t_wrm, 1.0)) for s in steps]
            axes[1, column].semilogy(steps, two_over, "--", color=line.get_color(), linewidth=0.8)
        axes[0, column].set_title(f"{fcn['setup']['model']} {param.upper()}, GD, MNIST-1D, seed 0", fontsize=9)
        axes[0, column].set_ylabel("train loss")
        axes[1, column].set_ylabel("sharpness (dashed: 2/eta_t)")
        axes[1, column].set_xlabel("step")
        axes[0, column].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# -------------------------------------------------------------------------------- part 3: LM-4-128


def part_lm(args, budget: Budget, device: str) -> dict[str, Any]:
    from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
    from warmup_lib.runs.measure import measure_lambda0
    from warmup_lib.runs.train import run
    from warmup_lib.runs.vectorised import train_stack

    tiny = args.tiny
    width, depth, heads = (16, 1, 2) if tiny else (128, 4, 4)
    batches = 2 if tiny else 10
    seeds = [0] if tiny else [0, 1, 2]
    steps = 16 if tiny else args.lm_steps
    warmup = 8 if tiny else min(256, steps)
    data = DataConfig(name="chars", context=16 if tiny else 64, n_train=512 if tiny else None, n_test=64 if tiny else None)
    out: dict[str, Any] = {"setup": {"model": f"Pre-LN GPT LM-{depth}-{width}, {heads} heads, SP", "data": "chars corpus",
                                     "context": data.context, "batch_size": 64, "lambda0_batches": batches,
                                     "lambda0_dtype": "float64", "paper": "WikiText-2 BPE-4096, B=64, 10^4 steps"},
                           "lambda_0": {}}

    def config(final_ln: bool, seed: int) -> RunConfig:
        return RunConfig(data=data, model=ModelConfig(arch="gpt", width=width, depth=depth, heads=heads, final_ln=final_ln),
                         optim=OptimConfig(name="sgd"), schedule=ScheduleConfig(eta_trgt=0.1), loss="xent",
                         batch_size=64, steps=steps, eval_every=0, device=device, seed=seed)

    for seed in seeds:
        for final_ln in (True, False):
            if budget.over() or (seed > 0 and budget.left() < budget.seconds * 0.5):
                out["lambda0_stopped_by_budget"] = True
                break
            t0 = time.perf_counter()
            record = measure_lambda0(config(final_ln, seed), batches=batches)
            key = f"{'with' if final_ln else 'without'}_final_ln_seed{seed}"
            out["lambda_0"][key] = {"lambda_0": record["lambda_0"], "per_batch": record["per_batch"],
                                    "wall_s": time.perf_counter() - t0}
            log(f"lm: {key}: lambda_0 = {record['lambda_0']:.4g} ({time.perf_counter() - t0:.1f}s)")
    with_ln = [v["lambda_0"] for k, v in out["lambda_0"].items() if k.startswith("with_")]
    without = [v["lambda_0"] for k, v in out["lambda_0"].items() if k.startswith("without_")]
    if with_ln and without:
        pairs = [(out["lambda_0"][f"without_final_ln_seed{s}"]["lambda_0"], out["lambda_0"][f"with_final_ln_seed{s}"]["lambda_0"])
                 for s in seeds if f"without_final_ln_seed{s}" in out["lambda_0"] and f"with_final_ln_seed{s}" in out["lambda_0"]]
        out["lambda0_ratio_without_over_with"] = {"per_seed": [a / b for a, b in pairs],
                                                  "of_means": (sum(without) / len(without)) / (sum(with_ln) / len(with_ln))}
        log(f"lm: lambda_0 ratio without/with final LN: {out['lambda0_ratio_without_over_with']['of_means']:.3g}")
    if budget.over() or not with_ln:
        out["training_skipped"] = "budget spent on lambda_0" if with_ln else "no lambda_0"
        return out

    # SGD runs: eta_trgt = c / lambda_0(with final LN, seed 0) for several c, T_wrm = 1 and T_wrm = warmup, both variants
    lam_ln = out["lambda_0"]["with_final_ln_seed0"]["lambda_0"]
    multiples = [1.0, 8.0] if tiny else args.lm_multiples
    out["training_setup"] = {"steps": steps, "warmup_steps": [1, warmup], "eta_multiples_of_1_over_lambda0_with_ln": multiples,
                             "lambda_0_with_ln_seed0": lam_ln, "seed": 0, "optimizer": "sgd", "batch_size": 64,
                             "evaluation": "final train loss on the first 10000 windows, test loss on the test split"}
    out["training"] = {}
    for final_ln in (True, False):
        name = "with_final_ln" if final_ln else "without_final_ln"
        if budget.over():
            out["training"][name] = {"skipped": "budget"}
            continue
        cfgs = [config(final_ln, 0).replace(**{"schedule.eta_trgt": c / lam_ln, "schedule.warmup_steps": w})
                for c in multiples for w in (1, warmup)]
        t0 = time.perf_counter()
        try:
            # calibrate: a short stack gives the seconds per step, so that the run fits what is left
            probe = 10 if tiny else 40
            tp = time.perf_counter()
            train_stack([c.replace(steps=probe, **{"schedule.warmup_steps": 1}) for c in cfgs])
            per_step = (time.perf_counter() - tp) / probe
            share = budget.left() / (2 if final_ln else 1) * 0.8
            fit = max(probe, min(steps, int(share / per_step)))
            if fit < steps:
                cfgs = [c.replace(steps=fit, **{"schedule.warmup_steps": min(c.schedule.warmup_steps, fit)}) for c in cfgs]
                out.setdefault("steps_cut_by_budget", {})[name] = fit
            log(f"lm: {name}: {per_step * 1e3:.1f} ms per stacked step (probe incl. evaluation) -> {fit} steps")
            summaries = [r.summary for r in train_stack(cfgs)]
            how = "train_stack"
        except Exception as error:  # noqa: BLE001 - fall back to sequential runs while the budget lasts
            out.setdefault("stack_errors", {})[name] = repr(error)
            summaries, how = [], "sequential (stack failed)"
            for cfg in cfgs:
                if budget.over():
                    break
                summaries.append(run(cfg).summary)
        wall = time.perf_counter() - t0
        rows = [{"eta_multiple": cfg.schedule.eta_trgt * lam_ln, "eta_trgt": cfg.schedule.eta_trgt,
                 "warmup_steps": cfg.schedule.warmup_steps, "outcome": s["outcome"], "steps_run": s["steps_run"],
                 "final_train_loss": finite_or_none(s["final_train_loss"]), "final_test_loss": finite_or_none(s["final_test_loss"])}
                for cfg, s in zip(cfgs, summaries)]
        out["training"][name] = {"how": how, "wall_s": wall, "runs": rows}
        log(f"lm: {name}: {len(rows)} runs in {wall:.1f}s via {how}: "
            + ", ".join(f"c={r['eta_multiple']:.3g}/T{r['warmup_steps']}:{r['outcome']}:{r['final_train_loss']}" for r in rows))
    # the largest rate the variant with final LN trains at without warmup, and the other variant there
    ln_rows = out["training"].get("with_final_ln", {}).get("runs", [])
    good = [r["eta_multiple"] for r in ln_rows if r["warmup_steps"] == 1 and r["outcome"] == "converged"
            and r["final_train_loss"] is not None and r["final_train_loss"] < math.log(103) - 0.5]
    if good:
        c = max(good)
        comparison = {"eta_multiple": c}
        for name in ("with_final_ln", "without_final_ln"):
            for r in out["training"].get(name, {}).get("runs", []):
                if r["eta_multiple"] == c:
                    comparison[f"{name}_T{r['warmup_steps']}"] = {"outcome": r["outcome"], "final_train_loss": r["final_train_loss"]}
        out["comparison_at_largest_trainable_rate_with_ln"] = comparison
    return out


# ------------------------------------------------------------------------------ part 4: WRN-16-4


def part_wrn(args, budget: Budget, device: str) -> dict[str, Any]:
    import torch

    from warmup_lib.config import ModelConfig
    from warmup_lib.losses import get_loss
    from warmup_lib.models import build_model

    tiny = args.tiny
    batch = 8 if tiny else 128
    torch.manual_seed(0)
    dev = torch.device(device)
    model = build_model(ModelConfig(arch="wrn", width=16, depth=16 if not tiny else 10, widen=4 if not tiny else 1),
                        (3, 32, 32), 10).to(dev)
    model.train()
    loss_fn = get_loss("xent")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 3, 32, 32, device=dev)
    y = torch.nn.functional.one_hot(torch.randint(0, 10, (batch,), device=dev), 10).float()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    for _ in range(3 if tiny else 10):
        step()
    sync(dev)
    count, t0 = 0, time.perf_counter()
    limit = 5 if tiny else 400
    while count < limit and budget.left() > 0:
        step()
        count += 1
        if count % 20 == 0:
            sync(dev)
    sync(dev)
    wall = time.perf_counter() - t0
    per_step = wall / max(count, 1)
    return {"label": "THROUGHPUT ONLY: random CIFAR-shaped tensors, not a result (CIFAR cannot be loaded here)",
            "model": "WRN-16-4 (LayerNorm)" if not tiny else "WRN-10-1 (tiny)",
            "num_params": sum(p.numel() for p in model.parameters()), "batch_size": batch, "dtype": "float32",
            "optimizer": "sgd", "loss": "xent", "steps_timed": count, "wall_s": wall, "ms_per_step": 1e3 * per_step,
            "steps_per_s": 1.0 / per_step if count else None,
            "est_hours_per_1e5_step_run": per_step * 1e5 / 3600, "est_hours_per_1e4_step_run": per_step * 1e4 / 3600}


# ------------------------------------------------------------------------------------------- main


def parse_budgets(items: list[str], tiny: bool) -> dict[str, float]:
    budgets = dict(TINY_BUDGETS if tiny else DEFAULT_BUDGETS)
    for item in items:
        name, _, seconds = item.partition("=")
        if name not in PARTS or not seconds:
            raise SystemExit(f"--budget-s: got {item!r}; use PART=SECONDS with PART in {', '.join(PARTS)}")
        budgets[name] = float(seconds)
    return budgets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the JSON summaries and the figure")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (seconds): a dry run of the same command")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--budget-s", action="append", default=[], metavar="PART=SECONDS",
                        help=f"time budget of one part (defaults {DEFAULT_BUDGETS}; tiny {TINY_BUDGETS})")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--data-cache", default=None, help="folder holding mnist1d_seed0.npz (sets WARMUP_LIB_CACHE)")
    parser.add_argument("--fcn-seeds", type=int, default=3, help="FCN seeds (0, 1, ...) while the budget lasts")
    parser.add_argument("--sharpness-every", type=int, default=8, help="FCN sharpness cadence k (full size)")
    parser.add_argument("--dense-steps", type=int, default=128, help="FCN: sharpness at every one of the first steps")
    parser.add_argument("--lm-steps", type=int, default=1000, help="steps of each LM SGD run (full size)")
    parser.add_argument("--lm-multiples", default="1,4,16,64",
                        help="LM eta_trgt in units of 1/lambda_0 of the variant with final LN (full size)")
    args = parser.parse_args(argv)
    args.lm_multiples = [float(v) for v in args.lm_multiples.split(",")]
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown {unknown}; allowed {PARTS}")
    budgets = parse_budgets(args.budget_s, args.tiny)
    if args.data_cache:
        os.environ["WARMUP_LIB_CACHE"] = str(Path(args.data_cache).resolve())
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    summary: dict[str, Any] = {"script": "benchmarks/gpu_paper_scale.py", "argv": sys.argv[1:] if argv is None else argv,
                               "tiny": args.tiny, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "device": device,
                               "budgets_s": budgets, "parts": {}, "wall_s": {}, "errors": {}}
    try:
        summary["environment"] = environment(device)
    except Exception as error:  # noqa: BLE001
        summary["errors"]["environment"] = repr(error)
    log(f"device {device}; {summary.get('environment', {}).get('gpu_name', '')}; torch {torch.__version__}; parts {parts}")
    summary["data_check"] = data_check()
    log(f"data: {summary['data_check']}")

    def write() -> None:
        summary["total_wall_s"] = time.perf_counter() - start
        path = out_dir / "gpu_paper_scale.json"
        path.write_text(dump(summary))

    functions = {"vectorised": part_vectorised, "fcn": part_fcn, "lm": part_lm, "wrn": part_wrn}
    for name in parts:
        budget = Budget(budgets[name])
        log(f"=== part {name} (budget {budgets[name]:.0f}s)")
        try:
            result = functions[name](args, budget, device)
            summary["parts"][name] = result
        except Exception as error:  # noqa: BLE001 - one part's failure must not lose the others
            summary["errors"][name] = {"error": repr(error), "traceback": traceback.format_exc()}
            log(f"part {name} FAILED: {error!r}")
        summary["wall_s"][name] = budget.elapsed()
        if name in summary["parts"]:
            (out_dir / f"{name}.json").write_text(dump(summary["parts"][name]))
        if name == "fcn" and name in summary["parts"]:
            try:
                plot_fcn(summary["parts"][name], out_dir / "fcn_sharpness.png")
            except Exception as error:  # noqa: BLE001
                summary["errors"]["fcn_plot"] = repr(error)
        log(f"=== part {name} done in {budget.elapsed():.1f}s")
        write()
    write()
    log(f"all done in {time.perf_counter() - start:.1f}s; errors: {list(summary['errors']) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
