"""Built-in phase-diagram grids and the ``sweep`` command of ``python -m warmup_lib``.

Grids (each at the presets smoke / book / paper):

* ``sgd``: the paper's Fig. 3 setting, SGD phase diagram over eta_trgt = c/lambda_0 (c = 1, 2, 4,
  ..., doubling until every T_wrm row diverges, as the authors' SGD loop) x T_wrm, MSE.  smoke and book: FCN-4 (SP) on
  MNIST-1D, batch 128; paper: WRN-16-4 on CIFAR-10 with augmentation, batch 128, 10^5 steps.
* ``adam``: the paper's Fig. 4 / released Adam grid, Adam vs GI-Adam over absolute
  eta_trgt = 2^j x 5 x 10^-4 (smoke, book) or 5.12 x 10^-3 (paper) x T_wrm, cross-entropy, cosine decay,
  doubling until every row diverges or fails (the authors' Adam loop stops at failure).

A sweep can also come from a JSON file holding :meth:`warmup_lib.runs.sweep.Sweep.to_dict` fields, where
``base`` may be a partial dict of dotted overrides of the default RunConfig, and an optional
``presets`` mapping preset -> fields that replace the file's own at that preset::

    {"experiment": "my_grid", "base": {"model.width": 64, "steps": 300, "batch_size": 128},
     "eta_trgt": [1, 2, 4], "warmup_steps": [1, 16, 64], "seeds": [0, 1], "extend": true,
     "presets": {"smoke": {"base": {"model.width": 16, "steps": 30}, "seeds": [0]}}}

Command line::

    python -m warmup_lib sweep --grid sgd --preset book --executor auto
    python -m warmup_lib sweep --spec my_grid.json --preset smoke --executor pool --workers 2
    python -m warmup_lib sweep --grid sgd --preset paper --executor ray --ray-address auto
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from warmup_lib.config import PRESET_NAMES
from warmup_lib.runs.executors import EXECUTORS
from warmup_lib.runs.store import results_root
from warmup_lib.runs.sweep import Sweep, run_sweep

_SCALE = {  # preset -> shared sizes of the built-in grids
    "smoke": {"steps": 60, "eval_every": 30, "model.width": 32, "data.n_train": 512, "data.n_test": 256},
    "book": {"steps": 1000, "eval_every": 100, "model.width": 128},
    "paper": {"steps": 100_000, "eval_every": 391, "data.name": "cifar10", "data.augment": True,
              "model.arch": "wrn", "model.depth": 16, "model.widen": 4, "model.width": 16},
}


def _sgd(preset: str) -> dict[str, Any]:
    warmups = {"smoke": [1, 8], "book": [1, 8, 64, 512], "paper": [1, 64, 256, 1024, 4096]}[preset]
    return {"experiment": f"sweep_sgd_{preset}", "base": {**_SCALE[preset], "loss": "mse", "batch_size": 128},
            "eta_trgt": [1, 2, 4] if preset == "smoke" else [1, 2, 4, 8], "warmup_steps": warmups,
            "seeds": [0] if preset != "book" else [0, 1], "extend": preset != "smoke", "stop_on": ["diverged"],
            "lambda0_batches": 2 if preset == "smoke" else 10}


def _adam(preset: str) -> dict[str, Any]:
    start = 5.12e-3 if preset == "paper" else 5e-4
    warmups = {"smoke": [1, 8], "book": [1, 64, 512], "paper": [1, 1024]}[preset]
    return {"experiment": f"sweep_adam_{preset}", "eta_unit": "absolute",
            "base": {**_SCALE[preset], "loss": "xent", "batch_size": 128, "optim.name": "adam",
                     "schedule.decay": "cosine"},
            "eta_trgt": [start * 2**j for j in range(3 if preset == "smoke" else 4)], "warmup_steps": warmups,
            "variants": {"adam": {}, "gi_adam": {"optim.name": "gi_adam"}}, "seeds": [0],
            "extend": preset != "smoke"}


GRIDS = {"sgd": _sgd, "adam": _adam}


def grid_spec(name: str, preset: str) -> dict[str, Any]:
    """The Sweep fields of built-in grid ``name`` at ``preset``."""
    if name not in GRIDS:
        raise ValueError(f"grid: got {name!r}; allowed values are {', '.join(map(repr, GRIDS))}")
    if preset not in PRESET_NAMES:
        raise ValueError(f"preset: got {preset!r}; allowed values are {', '.join(map(repr, PRESET_NAMES))}")
    return GRIDS[name](preset)


def spec_from_file(path: str | Path, preset: str) -> dict[str, Any]:
    """Sweep fields from a JSON spec file, with its ``presets[preset]`` fields applied (``base``
    overrides are merged, other fields replaced)."""
    spec = json.loads(Path(path).read_text())
    overrides = spec.pop("presets", {}).get(preset, {})
    base = {**spec.get("base", {}), **overrides.pop("base", {})}
    return {**spec, **overrides, "base": base}


def _run(args: argparse.Namespace) -> int:
    spec = spec_from_file(args.spec, args.preset) if args.spec else grid_spec(args.grid, args.preset)
    if args.experiment:
        spec["experiment"] = args.experiment
    sweep = Sweep.from_dict(spec)
    result = run_sweep(sweep, executor=args.executor, root=args.root, progress=not args.quiet,
                       ray_address=args.ray_address, workers=args.workers)
    table_path = Path(args.root) / sweep.experiment / "table.csv"
    result.table.to_csv(table_path, index=False)
    counts = result.table["outcome"].value_counts().to_dict() if len(result.table) else {}
    print(f"{sweep.experiment}: {len(result.table)} runs {counts}, executor {result.executor.get('name')}; "
          f"table in {table_path}")
    return 0


def add_sweep_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``python -m warmup_lib sweep``."""
    parser = subparsers.add_parser(
        "sweep", help="run a phase-diagram sweep (eta_trgt x T_wrm) through the results store",
        description="Run a sweep from a built-in grid or a JSON spec; stored runs are loaded, not rerun, so "
                    "an interrupted sweep resumes.  Writes <root>/<experiment>/sweep.json and table.csv.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--grid", choices=sorted(GRIDS), help="a built-in grid")
    source.add_argument("--spec", help="a JSON sweep spec (see warmup_lib.tools.grids)")
    parser.add_argument("--preset", choices=PRESET_NAMES, default="book", help="cost preset (default: book)")
    parser.add_argument("--executor", choices=("auto", *EXECUTORS), default="auto",
                        help="auto: calibrate and pick the fastest (default)")
    parser.add_argument("--workers", type=int, default=None, help="processes of the pool executors (default: CPUs)")
    parser.add_argument("--ray-address", default=None, help="join this Ray cluster ('auto' or ray://host:port)")
    parser.add_argument("--root", default=str(results_root()),
                        help="results store (default: $WARMUP_RESULTS or ./results)")
    parser.add_argument("--experiment", default=None, help="override the experiment name")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_run)
