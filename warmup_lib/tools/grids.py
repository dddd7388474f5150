"""Built-in phase-diagram grids and the ``sweep`` command of ``python -m warmup_lib``.

The built-in grids are the phase-diagram chapter's own sweeps
(:func:`warmup_lib.chapters.phase_diagrams.sgd_sweeps` and :func:`~warmup_lib.chapters.phase_diagrams.adam_sweep`)
at a preset's parameters (``warmup_lib.config.PRESETS[preset]["05_phase_diagrams"]``), so that
``--grid sgd --preset book`` is exactly the grid of the book's chapter and loads what it stored:

* ``sgd``: the paper's Fig. 3 and 21, five sweeps: SGD over eta_trgt = c/lambda_0 (c doubling until
  every T_wrm row diverges or fails) x T_wrm for SP / muP x MSE / cross-entropy, and the momentum and
  cosine-decay variants of one family.
* ``adam``: the paper's Fig. 4 / released Adam grid, Adam vs GI-Adam over absolute eta_trgt x T_wrm,
  cross-entropy, cosine decay, doubling until every row diverges or fails.

The chapter's module docstring and presets give the data, models and grids of each preset.

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
import sys
from pathlib import Path
from typing import Any

from warmup_lib.chapters.phase_diagrams import adam_sweep, sgd_sweeps
from warmup_lib.config import PRESET_NAMES, notebook_parameters
from warmup_lib.runs.executors import EXECUTORS
from warmup_lib.runs.store import results_root
from warmup_lib.runs.sweep import Sweep, is_finished, run_sweep

CHAPTER = "05_phase_diagrams"  # the notebook whose presets parameterise the built-in grids
GRIDS = {"sgd": lambda params: list(sgd_sweeps(params).values()), "adam": lambda params: [adam_sweep(params)]}


def grid_sweeps(name: str, preset: str) -> list[Sweep]:
    """The sweeps of built-in grid ``name`` at ``preset``: the phase-diagram chapter's, built from
    its preset parameters.

    Args:
        name: 'sgd' or 'adam'.
        preset: 'smoke', 'book' or 'paper'.

    Returns:
        The chapter's sweeps of that grid, in the chapter's order.

    Raises:
        ValueError: for an unknown grid or preset.
    """
    if name not in GRIDS:
        raise ValueError(f"grid: got {name!r}; allowed values are {', '.join(map(repr, GRIDS))}")
    if preset not in PRESET_NAMES:
        raise ValueError(f"preset: got {preset!r}; allowed values are {', '.join(map(repr, PRESET_NAMES))}")
    return GRIDS[name](notebook_parameters(CHAPTER, preset))


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: got a JSON {type(value).__name__}; must be an object")
    return value


def spec_from_file(path: str | Path, preset: str) -> dict[str, Any]:
    """Sweep fields from a JSON spec file, with its ``presets[preset]`` fields applied (``base``
    overrides are merged, other fields replaced).

    Args:
        path: the JSON file.
        preset: the preset whose overrides apply.

    Returns:
        The fields of :meth:`warmup_lib.runs.sweep.Sweep.from_dict`.

    Raises:
        ValueError: naming the file and what is wrong (missing, unreadable, not JSON, not objects
            where objects belong).
    """
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"spec: cannot read {path} ({error.strerror if isinstance(error, OSError) else error})") \
            from None
    except json.JSONDecodeError as error:
        raise ValueError(f"spec: {path} is not valid JSON ({error})") from None
    spec = _mapping(spec, f"spec {path}")
    overrides = _mapping(_mapping(spec.pop("presets", {}), f"spec {path}: presets").get(preset, {}),
                         f"spec {path}: presets.{preset}")
    base = {**_mapping(spec.get("base", {}), f"spec {path}: base"),
            **_mapping(overrides.pop("base", {}), f"spec {path}: presets.{preset}.base")}
    return {**spec, **overrides, "base": base}


def _sweeps(args: argparse.Namespace) -> list[Sweep]:
    """The sweeps the command line asks for; ValueError naming what is wrong with it."""
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers: got {args.workers}; must be >= 1")
    if not args.spec:
        if args.experiment:
            raise ValueError("--experiment renames a --spec sweep; a built-in grid keeps the chapter's "
                             "experiment names")
        return grid_sweeps(args.grid, args.preset)
    spec = spec_from_file(args.spec, args.preset)
    if args.experiment:
        spec["experiment"] = args.experiment
    try:
        return [Sweep.from_dict(spec)]
    except (TypeError, ValueError) as error:  # TypeError: e.g. a number where a list belongs
        raise ValueError(f"spec {args.spec}: {error}") from None


def _run(args: argparse.Namespace) -> int:
    try:
        sweeps = _sweeps(args)
    except ValueError as error:  # bad input: one line and exit status 2, as for argparse's own errors
        print(f"sweep: error: {error}", file=sys.stderr)
        return 2
    for sweep in sweeps:
        folder = Path(args.root) / sweep.experiment
        finished = is_finished(sweep, args.root)  # then run_sweep only loads: the store stays untouched
        result = run_sweep(sweep, executor=args.executor, root=args.root, progress=not args.quiet,
                           ray_address=args.ray_address, workers=args.workers)
        table = result.table
        if finished:
            where = f"finished sweep loaded from {folder}, nothing trained or written"
        else:
            table.to_csv(folder / "table.csv", index=False)
            where = f"executor {result.executor.get('name')}; table in {folder / 'table.csv'}"
        counts = table["outcome"].value_counts().to_dict() if len(table) else {}
        print(f"{sweep.experiment}: {len(table)} runs {counts}; {where}")
    return 0


def add_sweep_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``python -m warmup_lib sweep``."""
    parser = subparsers.add_parser(
        "sweep", help="run a phase-diagram sweep (eta_trgt x T_wrm) through the results store",
        description="Run a sweep from a built-in grid or a JSON spec; stored runs are loaded, not rerun, so "
                    "an interrupted sweep resumes.  Writes <root>/<experiment>/sweep.json and table.csv; a "
                    "finished sweep is only loaded (nothing written).")
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
    parser.add_argument("--experiment", default=None, help="override the experiment name of a --spec sweep")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_run)
