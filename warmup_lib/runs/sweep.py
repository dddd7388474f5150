"""Phase-diagram sweeps over (eta_trgt, T_wrm, seed, variant, any config field), through the store.

A :class:`Sweep` is a base :class:`RunConfig` plus axes.  The learning-rate axis holds either
absolute values or, as in the paper, multiples c of 1/lambda_0:

    eta_trgt = c / lambda_0,    lambda_0 = (1/M) sum_{m=1..M} lambda_max(H(theta_0; batch_m)),

the top Hessian eigenvalue at initialisation averaged over M (= 10, as the authors) training
batches.  lambda_0 is measured once per distinct (data, model, loss, batch, seed, dtype) setting,
recorded in ``results/<experiment>/lambda0.json`` and the absolute eta_trgt goes into the stored
config, so a stored run never depends on a measurement it did not record.

Every run goes through :mod:`warmup_lib.runs.store`: what is stored is loaded, not rerun, so a sweep
killed half way resumes where it stopped.  With ``extend=True`` the eta_trgt axis doubles
(c -> 2c) until every T_wrm row has diverged or failed (for every seed), as the paper's grids do.
The executor (:mod:`warmup_lib.runs.executors`) is chosen by a short calibration unless named; the
choice, the measured rates and the grid are written to ``results/<experiment>/sweep.json``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from warmup_lib.runs import store
from warmup_lib.config import RunConfig
from warmup_lib.runs.calibration import choose_executor
from warmup_lib.atomic import atomic_write_json
from warmup_lib.runs.executors import EXECUTOR_ENV, Executor, make_executor
from warmup_lib.runs.measure import load_or_measure_lambda0, measurement_key

ETA_UNITS = ("lambda0", "absolute")
OUTCOMES = ("converged", "diverged", "failed")
RESERVED = ("schedule.eta_trgt", "schedule.warmup_steps", "seed")
TABLE_METRICS = ("best_test_accuracy", "final_test_accuracy", "best_test_loss", "final_test_loss")

__all__ = ["Sweep", "SweepPoint", "SweepResult", "run_sweep", "load_sweep", "is_finished", "sweep_table"]


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{name}: {message}")


@dataclass(frozen=True)
class Sweep:
    """A grid of runs, a phase diagram: ``base`` with every combination of the axes applied.

    The learning-rate axis holds absolute values or, as in the paper, multiples c of 1/lambda_0::

        eta_trgt = c / lambda_0,    lambda_0 = (1/M) sum_{m=1..M} lambda_max(H(theta_0; batch m))

    the sharpness at initialisation averaged over M = ``lambda0_batches`` training batches,
    measured once per distinct setting and recorded beside the runs.

    Args:
        experiment: the experiment's folder name in the results store (letters, digits, '-', '_',
            '.'; not starting with '.', see :func:`warmup_lib.runs.store.validate_experiment`).
        base: the config every run starts from.
        eta_trgt: the learning-rate axis, multiples c of 1/lambda_0 or absolute values.
        eta_unit: 'lambda0' (the axis holds c) or 'absolute'.
        warmup_steps: the T_wrm axis, ints in [1, ``base.steps``].
        seeds: the run seeds.
        variants: name -> dotted overrides, e.g.
            ``{"sgd": {}, "momentum": {"optim.momentum": 0.9}}``.
        axes: any other config field by dotted name -> its values.
        extend: double eta_trgt (c -> 2c) until in every T_wrm row all seeds end in an outcome of
            ``stop_on``, at most ``max_extensions`` times.
        stop_on: the outcomes that end a row, among 'diverged' and 'failed' (the paper's SGD grids
            stop at divergence, its Adam grids at failure; a short run at a small eta_trgt can also
            'fail', which is why 'failed' can be left out).
        max_extensions: the most doublings of ``extend``.
        lambda0_batches: M, the batches averaged for lambda_0.

    Raises:
        ValueError: naming the first invalid field (overrides are checked against ``base``).
    """

    experiment: str
    base: RunConfig
    eta_trgt: tuple[float, ...]
    eta_unit: str = "lambda0"
    warmup_steps: tuple[int, ...] = (1,)
    seeds: tuple[int, ...] = (0,)
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: {"base": {}})
    axes: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    extend: bool = False
    stop_on: tuple[str, ...] = ("diverged", "failed")
    max_extensions: int = 8
    lambda0_batches: int = 10

    def __post_init__(self) -> None:
        store.validate_experiment(self.experiment)
        for name in ("eta_trgt", "warmup_steps", "seeds", "stop_on"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _require(len(self.eta_trgt) > 0 and all(float(v) > 0 for v in self.eta_trgt), "eta_trgt",
                 f"got {self.eta_trgt!r}; must be a non-empty list of numbers > 0")
        _require(self.eta_unit in ETA_UNITS, "eta_unit", f"got {self.eta_unit!r}; allowed values are {ETA_UNITS}")
        _require(len(self.warmup_steps) > 0 and all(isinstance(t, int) and 1 <= t <= self.base.steps
                                                    for t in self.warmup_steps), "warmup_steps",
                 f"got {self.warmup_steps!r}; must be ints in [1, steps = {self.base.steps}]")
        _require(len(self.seeds) > 0 and all(isinstance(s, int) for s in self.seeds), "seeds",
                 f"got {self.seeds!r}; must be a non-empty list of ints")
        _require(len(self.variants) > 0, "variants", "needs at least one variant (e.g. {'base': {}})")
        for name in [*(k for v in self.variants.values() for k in v), *self.axes]:
            _require(name not in RESERVED, "axes", f"{name!r} is set by the sweep itself; use the sweep's own axis")
        for values in self.axes.values():
            _require(len(values) > 0, "axes", "every axis needs at least one value")
        for overrides in self._group_overrides():
            self.base.replace(**overrides)  # raises ValueError naming the field if an override is invalid
        _require(len(self.stop_on) > 0 and set(self.stop_on) <= {"diverged", "failed"}, "stop_on",
                 f"got {self.stop_on!r}; allowed outcomes are 'diverged', 'failed'")
        _require(isinstance(self.max_extensions, int) and self.max_extensions >= 0, "max_extensions",
                 f"got {self.max_extensions!r}; must be an int >= 0")
        _require(isinstance(self.lambda0_batches, int) and self.lambda0_batches >= 1, "lambda0_batches",
                 f"got {self.lambda0_batches!r}; must be an int >= 1")

    def _group_overrides(self) -> list[dict[str, Any]]:
        names = list(self.axes)
        return [{**overrides, **dict(zip(names, values))}
                for overrides in self.variants.values() for values in itertools.product(*self.axes.values())]

    def groups(self) -> list[tuple[str, int, tuple[tuple[str, Any], ...], RunConfig]]:
        """Every combination of the axes other than eta_trgt and T_wrm.

        Returns:
            (variant, seed, extras, config) tuples: extras holds the values of ``axes`` as
            (dotted name, value) pairs and config is ``base`` with all of them applied.
        """
        names = list(self.axes)
        out = []
        for variant, overrides in self.variants.items():
            for values in itertools.product(*self.axes.values()):
                extras = tuple(zip(names, values))
                for seed in self.seeds:
                    out.append((variant, seed, extras, self.base.replace(**overrides, **dict(extras), seed=seed)))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The sweep as plain JSON values, as recorded in sweep.json (the inverse of :meth:`from_dict`).

        Returns:
            Every field by name, ``base`` as :meth:`RunConfig.to_dict`, tuples as lists and the
            variants and axes as plain dicts.
        """
        return {"experiment": self.experiment, "base": self.base.to_dict(), "eta_trgt": list(self.eta_trgt),
                "eta_unit": self.eta_unit, "warmup_steps": list(self.warmup_steps), "seeds": list(self.seeds),
                "variants": {k: dict(v) for k, v in self.variants.items()},
                "axes": {k: list(v) for k, v in self.axes.items()}, "extend": self.extend, "stop_on": list(self.stop_on),
                "max_extensions": self.max_extensions, "lambda0_batches": self.lambda0_batches}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Sweep":
        """Inverse of :meth:`to_dict`; ``base`` may also be a partial dict of dotted overrides.

        Args:
            values: the sweep's fields as plain values (as in sweep.json).

        Returns:
            The Sweep.

        Raises:
            ValueError: naming unknown fields, or the first invalid one.
        """
        _require(isinstance(values, Mapping), "sweep", f"got {type(values).__name__}; must be a mapping of fields")
        values = dict(values)
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        _require(not unknown, "sweep", f"unknown fields {unknown}; allowed are {[f.name for f in fields(cls)]}")
        base = values.pop("base", {})
        _require(isinstance(base, (Mapping, RunConfig)), "base",
                 f"got {type(base).__name__}; must be a RunConfig or a mapping of (dotted) fields")
        if isinstance(base, Mapping):
            dotted = {k: v for k, v in base.items() if "." in k}
            nested = {k: v for k, v in base.items() if "." not in k}
            base = RunConfig.from_dict(nested).replace(**dotted)
        return cls(base=base, **values)


@dataclass(frozen=True)
class SweepPoint:
    """One cell of the grid: its coordinates and the absolute config that is run and stored."""

    variant: str
    seed: int
    extras: tuple[tuple[str, Any], ...]
    warmup_steps: int
    eta_value: float  # c (eta_unit 'lambda0') or the absolute eta_trgt
    lambda_0: float | None
    config: RunConfig

    @property
    def row(self) -> tuple:
        """The T_wrm row this point belongs to (seeds pooled)."""
        return (self.variant, self.extras, self.warmup_steps)


def _lambda0_table(sweep: Sweep, root: str | Path) -> dict[str, dict[str, Any]]:
    """lambda_0 per distinct setting of the sweep (:func:`~warmup_lib.runs.measure.load_or_measure_lambda0`:
    measured once, kept in lambda0.json), by measurement key."""
    path = store.experiment_dir(sweep.experiment, root) / "lambda0.json"
    if sweep.eta_unit != "lambda0":
        return json.loads(path.read_text()) if path.exists() else {}
    return {_lambda0_key(sweep, cfg): load_or_measure_lambda0(sweep.experiment, cfg, sweep.lambda0_batches, root)
            for _, _, _, cfg in sweep.groups()}


def _lambda0_key(sweep: Sweep, cfg: RunConfig) -> str:
    return measurement_key(cfg, "lambda0", batches=sweep.lambda0_batches)


def _points(sweep: Sweep, eta_values: Sequence[float], lambda0s: Mapping[str, dict]) -> list[SweepPoint]:
    points = []
    for variant, seed, extras, cfg in sweep.groups():
        lambda_0 = lambda0s[_lambda0_key(sweep, cfg)]["lambda_0"] if sweep.eta_unit == "lambda0" else None
        for warmup_steps in sweep.warmup_steps:
            for value in eta_values:
                eta = value / lambda_0 if lambda_0 is not None else value
                run_cfg = cfg.replace(**{"schedule.eta_trgt": float(eta), "schedule.warmup_steps": warmup_steps})
                points.append(SweepPoint(variant, seed, extras, warmup_steps, float(value), lambda_0, run_cfg))
    return points


def _number(value: Any) -> float:
    return math.nan if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _reach_steps(summary: Mapping[str, Any]) -> float:
    """Updates made until the first one at eta_trgt (lr_reach_step t gives t + 1); NaN when the run
    stopped (diverged) before making it."""
    reach = int(summary["lr_reach_step"])
    return float(reach + 1) if summary["steps_run"] > reach else math.nan


def sweep_table(points: Sequence[SweepPoint], experiment: str, root: str | Path = "results") -> pd.DataFrame:
    """Tidy table, one row per stored run of ``points``: coordinates, outcome and test metrics.

    Columns: variant, seed, warmup_steps (T_wrm), eta_trgt (absolute), c (= eta_trgt lambda_0,
    NaN for absolute sweeps), lambda_0, one column per extra axis, outcome, best/final test
    accuracy and loss, steps_to_eta_trgt, diverged_step, run_id.  Points not yet run are left out.

    steps_to_eta_trgt is lr_reach_step + 1, the updates made until the first at eta_trgt (NaN when
    the run stopped before it); diverged_step is NaN for a run that did not diverge.

    Args:
        points: the grid's points (:class:`SweepPoint`).
        experiment: the sweep's folder name in the results store.
        root: the results store's folder.

    Returns:
        The table, in the order of ``points``; an empty DataFrame (no columns) when none is stored.
    """
    stored = store.list_runs(experiment, root)
    summaries = {row["run_id"]: row for row in stored.to_dict("records")} if len(stored) else {}
    rows = []
    for point in points:
        summary = summaries.get(store.run_id(point.config))
        if summary is None:
            continue
        row = {"variant": point.variant, "seed": point.seed, "warmup_steps": point.warmup_steps,
               "eta_trgt": point.config.schedule.eta_trgt,
               "c": point.eta_value if point.lambda_0 is not None else math.nan,
               "lambda_0": point.lambda_0 if point.lambda_0 is not None else math.nan,
               **dict(point.extras), "outcome": summary["outcome"],
               **{name: summary.get(name, math.nan) for name in TABLE_METRICS},
               "steps_to_eta_trgt": _reach_steps(summary),
               "diverged_step": _number(summary.get("diverged_step")),
               "run_id": summary["run_id"]}
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class SweepResult:
    """What :func:`run_sweep` returns: the tidy table, the points, lambda_0 per setting and the
    executor record (name, how it was chosen, calibration rates)."""

    sweep: Sweep
    table: pd.DataFrame
    points: list[SweepPoint]
    eta_values: list[float]
    lambda0: dict[str, dict[str, Any]]
    executor: dict[str, Any]


def _live_rows(points: Sequence[SweepPoint], table: pd.DataFrame, stop_on: Sequence[str]) -> set[tuple]:
    """T_wrm rows in which some seed's run at the row's largest eta_trgt so far is not in ``stop_on``."""
    outcome = dict(zip(table["run_id"], table["outcome"])) if len(table) else {}
    last = {}
    for p in points:
        last[p.row] = max(last.get(p.row, p.eta_value), p.eta_value)
    live = set()
    for row, value in last.items():
        at_last = [outcome.get(store.run_id(p.config)) for p in points if p.row == row and p.eta_value == value]
        if not all(o in stop_on for o in at_last):
            live.add(row)
    return live


def _missing(points: Sequence[SweepPoint], experiment: str, root: Path) -> list[RunConfig]:
    return [p.config for p in points if not store.is_done(experiment, p.config, root)]


def _walk_grid(sweep: Sweep, lambda0s: Mapping[str, dict], root: Path,
               runner: Executor | None, progress: bool) -> tuple[list[SweepPoint], list[float], pd.DataFrame]:
    """Run (or, with ``runner`` None, only load) the grid column block by column block.

    The first block is ``sweep.eta_trgt``; with ``sweep.extend`` each further column doubles the
    last value and holds only the rows still live.  Everything is recomputed from the store, so a
    resumed sweep walks the same grid and runs only what is missing.
    """
    eta_values = list(sweep.eta_trgt)
    points = _points(sweep, eta_values, lambda0s)
    if runner is not None:
        runner.run(sweep.experiment, _missing(points, sweep.experiment, root), root=root, progress=progress)
    table = sweep_table(points, sweep.experiment, root)
    for _ in range(sweep.max_extensions if sweep.extend else 0):
        live = _live_rows(points, table, sweep.stop_on)
        if not live:
            break
        eta_values.append(eta_values[-1] * 2)
        new = [p for p in _points(sweep, [eta_values[-1]], lambda0s) if p.row in live]
        if runner is not None:
            runner.run(sweep.experiment, _missing(new, sweep.experiment, root), root=root, progress=progress)
        points += new
        table = sweep_table(points, sweep.experiment, root)
    return points, eta_values, table


def _finished_record(sweep: Sweep, root: str | Path) -> dict[str, Any] | None:
    """The sweep.json of ``sweep`` in ``root`` if it records this very sweep (same spec) as finished."""
    record_path = store.experiment_dir(sweep.experiment, root) / "sweep.json"
    if not record_path.exists():
        return None
    record = json.loads(record_path.read_text())
    same = record.get("spec") == json.loads(json.dumps(sweep.to_dict()))
    return record if record.get("finished") and same else None


def run_sweep(sweep: Sweep, executor: str | Executor = "auto", root: str | Path = "results",
              progress: bool = True, ray_address: str | None = None, workers: int | None = None) -> SweepResult:
    """Run every point of ``sweep`` that is not stored yet and return the tidy table.

    Every run goes through the results store: a stored run is loaded, not rerun, so a sweep killed
    half way resumes where it stopped.  lambda_0 is measured first where the axis is in units of
    1/lambda_0.  With ``sweep.extend``, new columns c -> 2c are added while some T_wrm row has not
    ended.  The executor's choice, the measured rates and the grid are written to
    ``<root>/<experiment>/sweep.json``.  A finished sweep whose runs are all stored and intact is
    only loaded: nothing is computed or written (so a read-only store can be re-read); a damaged
    run is recomputed (:mod:`warmup_lib.runs.store` moves it aside).

    Args:
        sweep: the grid.
        executor: 'auto' (a short calibration chooses, see
            :func:`warmup_lib.runs.calibration.choose_executor`), 'sequential', 'pool',
            'vectorised', 'pool-vectorised', 'ray', or an Executor; ``$WARMUP_EXECUTOR`` (see
            :func:`~warmup_lib.runs.executors.make_executor`), when set, names it instead.
        root: the results store's folder.
        progress: show a progress bar.
        ray_address: the address of a Ray cluster to join.
        workers: the processes of the pool executors (None: the CPU count).

    Returns:
        A :class:`~warmup_lib.runs.sweep.SweepResult` with the tidy table (one row per run:
        coordinates, outcome, test metrics, run id), the points, lambda_0 per setting and the
        executor record.
    """
    start = time.perf_counter()
    root = Path(root)
    record_path = store.experiment_dir(sweep.experiment, root) / "sweep.json"
    stored = _stored_result(sweep, root)
    if stored is not None:  # every point stored and intact: nothing to run or write
        return stored
    lambda0s = _lambda0_table(sweep, root)
    record: dict[str, Any] = {"experiment": sweep.experiment, "spec": sweep.to_dict(), "finished": False}
    atomic_write_json(record_path, record)
    first = _missing(_points(sweep, sweep.eta_trgt, lambda0s), sweep.experiment, root)
    forced = os.environ.get(EXECUTOR_ENV)  # make_executor honours it; no calibration then
    if isinstance(executor, str) and executor == "auto" and not forced:
        runner, choice = choose_executor(first, workers=workers, ray_address=ray_address)
    elif isinstance(executor, str):
        runner = make_executor(executor, workers=workers, ray_address=ray_address)
        choice = {"chosen_by": EXECUTOR_ENV if forced else "user"}
    else:
        runner, choice = executor, {"chosen_by": "user"}
    record["executor"] = {"name": runner.name, **choice}
    atomic_write_json(record_path, record)
    try:
        points, eta_values, table = _walk_grid(sweep, lambda0s, root, runner, progress)
    finally:
        runner.close()
    record.update(finished=True, eta_values=eta_values, runs=len(table),
                  wall_s=round(time.perf_counter() - start, 3))
    atomic_write_json(record_path, record)
    return SweepResult(sweep, table, points, eta_values, lambda0s, record["executor"])


def load_sweep(experiment: str, root: str | Path = "results") -> SweepResult:
    """The stored sweep ``experiment`` (its sweep.json, lambda0.json and runs), running nothing.

    Args:
        experiment: the sweep's folder name in the results store.
        root: the results store's folder.

    Returns:
        The :class:`~warmup_lib.runs.sweep.SweepResult` of the stored runs (points not yet run
        are left out).

    Raises:
        DamagedRunError: naming every damaged run of the experiment (none is loaded);
            :func:`run_sweep` moves them aside and recomputes them.
    """
    folder = store.experiment_dir(experiment, root)
    damaged = store.damaged_runs(experiment, root)
    if damaged:
        raise store.DamagedRunError(
            f"load_sweep({experiment!r}): {len(damaged)} damaged run(s), not loaded: {'; '.join(damaged.values())}. "
            f"run_sweep (or python -m warmup_lib sweep) moves them aside to {folder / store.DAMAGED_DIR} and "
            "recomputes them")
    record = json.loads((folder / "sweep.json").read_text())
    sweep = Sweep.from_dict(record["spec"])
    lambda0_path = folder / "lambda0.json"
    lambda0s = json.loads(lambda0_path.read_text()) if lambda0_path.exists() else {}
    points, eta_values, table = _walk_grid(sweep, lambda0s, Path(root), None, False)
    stored = set(table["run_id"]) if len(table) else set()
    points = [p for p in points if store.run_id(p.config) in stored]
    return SweepResult(sweep, table, points, eta_values, lambda0s, record.get("executor", {}))


def _stored_result(sweep: Sweep, root: Path) -> SweepResult | None:
    """The complete stored result of this very sweep, or None when its sweep.json does not say
    finished for the same spec, or any point of its grid is missing or damaged."""
    finished = _finished_record(sweep, root)
    if finished is None:
        return None
    lambda0s = _lambda0_table(sweep, root)
    points, eta_values, table = _walk_grid(sweep, lambda0s, root, None, False)
    if len(table) != len(points):
        return None
    return SweepResult(sweep, table, points, eta_values, lambda0s, finished.get("executor", {}))


def is_finished(sweep: Sweep, root: str | Path = "results") -> bool:
    """Whether ``root`` holds a finished run of this very sweep: its sweep.json says finished for
    the same spec and every point of the grid is stored and intact.

    Args:
        sweep: the sweep.
        root: the results store's folder.

    Returns:
        True when :func:`run_sweep` would only load (compute and write nothing).
    """
    return _stored_result(sweep, Path(root)) is not None
