"""Replay a sample of committed runs: a change to the training code must not leave stale results behind.

The sample is the cheapest committed run of every experiment folder of ``results/`` (cost =
steps x examples per step x width^2, ties broken by run id), but the folders in
:data:`NOT_REPLAYABLE`.  Each is trained again with :func:`warmup_lib.runs.train.run` from its
stored config alone and compared with the stored records and evaluations
(:func:`warmup_lib.runs.compare.compare_results`).

Why tolerances and not bit-exact equality: the committed runs record one torch thread and no
executor (they predate that field), yet none of them reproduces bit for bit on the test machine,
not even with the code of the commit that stored it: the loss at step 0, one forward pass, already
differs by ~1e-7 relative (float32 rounding of a matrix product whose kernel depends on the CPU
and its math library, not on our code).  Such rounding differences grow chaotically with the
steps (to percents within ~100 steps at a large learning rate), so only the start of a run is
held tightly.  A change to the training code (initialisation, data order, loss, optimizer update,
schedule, evaluation, outcome rule) moves these numbers far beyond rounding:

* ``lr`` on every step both hold: exactly (float64 schedule arithmetic, no kernel involved);
* every record column on the first :data:`EARLY_STEPS` steps: relative :data:`RTOL`; sharpness
  estimates (and their Hessian-vector-product counts) within :data:`EIGEN_RTOL`, since the
  eigensolvers stop at a relative residual of 1e-3;
* the evaluation at step 0 (the initial model on the train and test sets): relative :data:`RTOL`;
* the same columns and the same outcome.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from warmup_lib.config import RunConfig
from warmup_lib.data import load_data
from warmup_lib.runs import store, train
from warmup_lib.runs.compare import compare_frames, compare_results

RESULTS = Path(__file__).resolve().parents[1] / "results"
# Runs made with a callback that set their rates (persistent catapult warmup, chapters 06 and 08; the
# curvature-adaptive rate, chapter 08) or added measurement columns (chapter 08's curvature signals):
# their stored config alone does not describe them, so train.run(cfg) cannot replay them.
NOT_REPLAYABLE = ("06_book_critical_lr_warmup_pcw_delta0.1_eta00.0001_fp500",
                  "08_book_warmup_remedies_pcw_delta0.1_eta00.0001_fp500",
                  "08_book_warmup_remedies_cdat_scale2_beta0.9_every2", "08_book_warmup_remedies_signals_every2")
EARLY_STEPS = 8  # at a large learning rate, rounding differences reach 1e-4 by step 15 (06)
RTOL = 1e-5  # float32 rounding (~1e-7) grown over a few steps; largest seen on the sample: 6e-7
EIGEN_RTOL = 1e-2  # eigensolver stopping tolerance 1e-3, with room; largest seen: 8e-4


def _experiments() -> list[str]:
    # folders without a stored run (results/gpu, results/07_gpu) hold summaries of GPU runs, not runs
    return sorted(path.name for path in RESULTS.iterdir()
                  if path.is_dir() and not path.name.startswith(".") and path.name not in NOT_REPLAYABLE
                  and any(path.glob(f"*/{store.RUN_FILE}")))


@functools.lru_cache(maxsize=None)
def _train_size(data: str) -> int:
    return len(load_data(RunConfig.from_dict({"data": json.loads(data)}).data).x_train)


def _cost(cfg: dict) -> int:
    examples = cfg["batch_size"] or cfg["data"]["n_train"] or _train_size(json.dumps(cfg["data"], sort_keys=True))
    return cfg["steps"] * examples * cfg["model"]["width"] ** 2


def cheapest_run(experiment: str) -> RunConfig:
    """The config of the cheapest committed run of ``experiment`` that converged (ties: the smallest run id;
    any run when none converged).

    A run that diverged or failed sits near a boundary, where float32 rounding of another thread count can
    decide its outcome (seen: a chapter-05 run at the stall threshold, 'failed' with one thread and
    'converged' with two), so the sample prefers runs whose outcome rounding cannot flip."""
    stored = {path.parent.name: json.loads(path.read_text())
              for path in (RESULTS / experiment).glob(f"*/{store.RUN_FILE}") if not path.parent.name.startswith(".")}
    converged = {run: record["config"] for run, record in stored.items() if record["summary"].get("outcome") == "converged"}
    configs = converged or {run: record["config"] for run, record in stored.items()}
    _, run = min((_cost(cfg), run) for run, cfg in configs.items())
    return RunConfig.from_dict(configs[run])


def _worst(frame: pd.DataFrame, columns: list[str]) -> float:
    return float(frame.set_index("column").loc[columns, "max_rel"].max()) if columns else 0.0


@pytest.mark.parametrize("experiment", _experiments())
def test_a_committed_run_replays_within_tolerance(experiment: str) -> None:
    cfg = cheapest_run(experiment)
    stored = store.load_run(experiment, cfg, RESULTS)
    start = time.perf_counter()
    replayed = train.run(cfg)
    seconds = time.perf_counter() - start
    records, evals = compare_results(stored, replayed)
    print(f"{experiment}/{store.run_id(cfg)}: replayed in {seconds:.1f} s, "
          f"{'bit for bit' if records.equal and evals.equal else 'not bit for bit'}")

    assert list(replayed.records.columns) == list(stored.records.columns)
    assert list(replayed.evals.columns) == list(stored.evals.columns)
    assert replayed.summary["outcome"] == stored.summary["outcome"]
    assert records.columns.set_index("column").loc["lr", "differing"] == 0
    early = compare_frames(*(result.records[result.records["step"] < EARLY_STEPS] for result in (stored, replayed)))
    assert early.only_stored == 0  # a thinned store (chapter 05) keeps every 20th step: fewer stored steps
    eigen = [column for column in early.columns["column"] if "sharpness" in column]
    others = [column for column in early.columns["column"] if column not in eigen]
    assert _worst(early.columns, others) <= RTOL, early.differing()
    assert _worst(early.columns, eigen) <= EIGEN_RTOL, early.differing()
    initial = compare_frames(*(result.evals[result.evals["step"] == 0] for result in (stored, replayed)))
    assert initial.only_stored == 0 and np.all(initial.columns["max_rel"] <= RTOL), initial.differing()
