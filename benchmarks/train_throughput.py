"""Trainer throughput against a bare torch loop and this machine's dense fp32 matmul rate.

For the book-preset FCN on MNIST-1D (depth 4: 40 -> n -> n -> n -> 10, SGD, MSE) at width n in
{256, 512} and batch B in {512, full batch 4000}, and for the 1-D CNN (width 64, depth 4, B = 512):

* ``trainer_steps_per_s``: updates per second inside :func:`warmup_lib.runs.train.run`, timed between
  two steps by a callback (so data loading, model building and the final evaluation are excluded,
  and every per-step cost of the trainer, records and lr setting included, is in);
* ``bare_steps_per_s``: the same model, batches and SGD update in a hand-written loop;
* ``trainer_over_bare``: their ratio (1.0 = the trainer's bookkeeping costs nothing);
* FCN only, ``achieved_flops``: 6 P B / (seconds per trainer step) with P the number of parameters
  (2 P B flops forward, 4 P B backward; this slightly over-counts the input layer, whose input
  gradient is not computed: about 2 % at n = 256, 1 % at n = 512), and ``fraction_of_matmul`` =
  achieved_flops / ``matmul_flops``, where ``matmul_flops`` is torch.mm's rate, measured in the same
  run, on the three GEMMs of a hidden layer: (B, n) x (n, n), (B, n) x (n, n)^T and (n, B) x (B, n).

Run from the repository root: ``python benchmarks/train_throughput.py`` (leave OMP_NUM_THREADS
unset to use the machine's cores).  Writes benchmarks/out/train_throughput.json.  Timings on a
shared machine are noisy: each rate is the best over a window of consecutive steps (see
:func:`best_rate`), taken over ``REPEATS`` interleaved measurements.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.data import BatchStream, load_data
from warmup_lib.losses import mse_loss
from warmup_lib.models import build_model
from warmup_lib.runs.train import run

OUT = Path(__file__).parent / "out" / "train_throughput.json"
REPEATS = 3  # trainer, bare loop and matmul are measured in turn, REPEATS times
STEPS = {512: 120, None: 20}  # steps per measurement, by batch size (full batch = 4000)
WINDOW = {512: 15, None: 4}  # rates are the best over any WINDOW consecutive steps


def best_rate(stamps: list[float], window: int) -> float:
    """Iterations per second over the fastest ``window`` consecutive iterations.

    On a shared machine, other processes stall two-threaded torch for whole time slices; the
    fastest window is the rate of the code itself, and it is measured the same way for all three
    contenders, so their ratios stay fair.
    """
    return window / min(later - earlier for earlier, later in zip(stamps, stamps[window:]))


def trainer_rate(cfg: RunConfig, window: int) -> float:
    stamps: list[float] = []
    run(cfg, callbacks=[lambda *args: stamps.append(time.perf_counter())])
    return best_rate(stamps, window)


def bare_rate(cfg: RunConfig, window: int) -> float:
    data = load_data(cfg.data)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.schedule.eta_trgt)
    stream = BatchStream(data, cfg.batch_size, seed=cfg.seed)
    stamps = []
    for _ in range(cfg.steps):
        stamps.append(time.perf_counter())
        x, y = stream.next()
        optimizer.zero_grad()
        mse_loss(model(x), y).backward()
        optimizer.step()
    return best_rate(stamps, window)


def matmul_flops(batch: int, width: int, iterations: int, window: int) -> float:
    """fp32 torch.mm rate on the GEMM shapes of one hidden layer's forward and backward pass."""
    a, w, g = torch.randn(batch, width), torch.randn(width, width), torch.randn(batch, width)
    stamps = []
    for _ in range(iterations):
        stamps.append(time.perf_counter())
        torch.mm(a, w), torch.mm(g, w.t()), torch.mm(a.t(), g)
    return best_rate(stamps, window) * 3 * 2 * batch * width * width


def case(arch: str, width: int, batch_size: int | None) -> dict:
    cfg = RunConfig(data=DataConfig(name="mnist1d"), model=ModelConfig(arch=arch, width=width, depth=4),
                    optim=OptimConfig("sgd"), schedule=ScheduleConfig(eta_trgt=0.05), loss="mse",
                    batch_size=batch_size, steps=STEPS[batch_size], eval_every=0)
    batch, window = batch_size or cfg.data.train_size, WINDOW[batch_size]
    trainer, bare, peak = [], [], []
    for _ in range(REPEATS):
        trainer.append(trainer_rate(cfg, window))
        bare.append(bare_rate(cfg, window))
        if arch == "fcn":
            peak.append(matmul_flops(batch, width, 2 * STEPS[batch_size], 2 * window))
    result = dict(arch=arch, width=width, batch=batch, trainer_steps_per_s=max(trainer), bare_steps_per_s=max(bare),
                  trainer_over_bare=max(trainer) / max(bare))
    if arch == "fcn":
        data = load_data(cfg.data)
        params = sum(p.numel() for p in build_model(cfg.model, data.input_shape, data.num_classes).parameters())
        achieved = 6 * params * batch * max(trainer)
        result |= dict(params=params, achieved_flops=achieved, matmul_flops=max(peak),
                       fraction_of_matmul=achieved / max(peak), bare_fraction_of_matmul=6 * params * batch * max(bare) / max(peak))
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    cases = [case("fcn", width, batch) for width in (256, 512) for batch in (512, None)]
    cases.append(case("cnn1d", 64, 512))
    report = dict(torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.machine(),
                  omp_num_threads=os.environ.get("OMP_NUM_THREADS"), cases=cases)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
