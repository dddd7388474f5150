"""How far apart two results of one run are: a committed run and its recomputation, column by column.

The rows of two frames are matched by their ``step``.  For a column with stored values x and
recomputed values y on the steps both frames hold,

    max_abs = max_i |x_i - y_i|,    max_rel = max_i |x_i - y_i| / |x_i|   (0/0 = 0, d/0 = inf),

where NaN against NaN and inf against an inf of the same sign count as equal and any other pair
with a non-finite value as an infinite difference (a run that diverged in one result only).
:func:`compare_stores` compares every run of a scratch store with the committed run of the same
id (the verify command, :mod:`warmup_lib.tools.verify`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from warmup_lib.config import RunConfig
from warmup_lib.runs import store
from warmup_lib.runs.train import RunResult

DIFFERENCE_COLUMNS = ("column", "rows", "differing", "max_abs", "max_rel", "first_step")

__all__ = ["FrameComparison", "RunComparison", "StoreComparison", "compare_frames", "compare_results",
           "compare_stores", "differences"]


def differences(stored: np.ndarray, recomputed: np.ndarray) -> np.ndarray:
    """|x - y| elementwise, 0 where both are NaN or the same infinity, inf where only one is finite.

    A NaN against a number, and inf against -inf, give inf as well (a run that diverged in one
    result only).

    Args:
        stored: x, the committed values (any array-like of numbers, cast to float).
        recomputed: y, the recomputed values, of the same shape as ``stored``.

    Returns:
        A float array of the elementwise differences, of the inputs' (broadcast) shape.
    """
    stored, recomputed = np.asarray(stored, dtype=float), np.asarray(recomputed, dtype=float)
    with np.errstate(invalid="ignore"):
        gap = np.abs(stored - recomputed)
    same = (stored == recomputed) | (np.isnan(stored) & np.isnan(recomputed))
    gap[same] = 0.0
    gap[np.isnan(gap)] = np.inf  # a NaN against a number
    return gap


def _relative(gap: np.ndarray, stored: np.ndarray) -> np.ndarray:
    scale = np.abs(np.asarray(stored, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(gap == 0, 0.0, gap / scale)
    return np.where(np.isnan(relative), np.inf, relative)


@dataclass(frozen=True)
class FrameComparison:
    """Two frames of one run compared: ``columns`` has one row per column of either frame
    (:data:`DIFFERENCE_COLUMNS`; a column missing from one frame has every row differing, with
    infinite differences); ``only_stored`` / ``only_recomputed`` count the steps one frame lacks."""

    columns: pd.DataFrame
    only_stored: int
    only_recomputed: int

    @property
    def equal(self) -> bool:
        """True when the frames hold the same steps and every value is equal."""
        return self.only_stored == 0 and self.only_recomputed == 0 and not self.columns["differing"].any()

    def differing(self) -> pd.DataFrame:
        """The rows of ``columns`` with a difference, largest relative difference first.

        Returns:
            The rows of ``columns`` whose ``differing`` count is > 0, sorted by ``max_rel``
            descending (empty when every common value is equal).
        """
        return self.columns[self.columns["differing"] > 0].sort_values("max_rel", ascending=False)


def compare_frames(stored: pd.DataFrame, recomputed: pd.DataFrame, key: str = "step") -> FrameComparison:
    """Compare two frames of one run on the ``key`` values (steps) both hold.

    Args:
        stored: the committed frame (relative differences are relative to its values).
        recomputed: the recomputed frame.
        key: the column that matches rows.

    Returns:
        A :class:`FrameComparison`.
    """
    common = np.intersect1d(stored[key].to_numpy(), recomputed[key].to_numpy())
    left = stored.set_index(key).loc[common]
    right = recomputed.set_index(key).loc[common]
    rows = []
    for column in [*left.columns, *(c for c in right.columns if c not in left.columns)]:
        if column not in left.columns or column not in right.columns:
            rows.append((column, len(common), len(common), np.inf, np.inf, int(common[0]) if len(common) else None))
            continue
        x, y = left[column].to_numpy(dtype=float), right[column].to_numpy(dtype=float)
        gap = differences(x, y)
        bad = np.nonzero(gap > 0)[0]
        rows.append((column, len(common), len(bad), float(gap.max(initial=0.0)),
                     float(_relative(gap, x).max(initial=0.0)), int(common[bad[0]]) if len(bad) else None))
    columns = pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS))
    return FrameComparison(columns, len(stored) - len(common), len(recomputed) - len(common))


@dataclass(frozen=True)
class RunComparison:
    """A committed run and its recomputation: records and evaluations compared, both outcomes, and
    the executor and threads each was made with (None: not recorded)."""

    experiment: str
    run_id: str
    records: FrameComparison
    evals: FrameComparison
    outcomes: tuple[str, str]
    made_with: tuple[tuple[Any, Any], tuple[Any, Any]]

    @property
    def identical(self) -> bool:
        """True when records and evaluations are equal (:attr:`FrameComparison.equal`) and the
        outcomes agree."""
        return self.records.equal and self.evals.equal and self.outcomes[0] == self.outcomes[1]

    @property
    def same_outcome(self) -> bool:
        """True when the stored and the recomputed run have the same outcome."""
        return self.outcomes[0] == self.outcomes[1]


def compare_results(stored: RunResult, recomputed: RunResult) -> tuple[FrameComparison, FrameComparison]:
    """(records, evaluations) of two results of one run compared (:func:`compare_frames`).

    Args:
        stored: the committed result (relative differences are relative to its values).
        recomputed: the recomputed result of the same run.

    Returns:
        (records comparison, evaluations comparison), each a :class:`FrameComparison` matched
        on ``step``.
    """
    return compare_frames(stored.records, recomputed.records), compare_frames(stored.evals, recomputed.evals)


def _stored_runs(root: Path) -> dict[tuple[str, str], Path]:
    """(experiment, run id) -> folder of every run folder of the store at ``root``."""
    folders = sorted(path.parent for path in Path(root).glob(f"*/*/{store.RUN_FILE}"))
    return {(folder.parent.name, folder.name): folder for folder in folders if not folder.name.startswith(".")}


def _load(root: Path, experiment: str, folder: Path) -> tuple[RunResult, dict[str, Any]]:
    record = json.loads((folder / store.RUN_FILE).read_text())
    return store.load_run(experiment, RunConfig.from_dict(record["config"]), root), record["environment"]


def _made_with(environment: dict[str, Any]) -> tuple[Any, Any]:
    return environment.get("executor"), environment.get("threads")


def _json_leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _json_leaves(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _json_leaves(item, f"{path}[{i}]").items()}
    return {path.lstrip("."): value}


# How a recomputation was made, not what it computed: left out of the side files' comparison.
VOLATILE_KEYS = ("executor", "wall_s", "wall_time_s")


def json_differences(stored: Any, recomputed: Any) -> list[tuple[str, Any, Any]]:
    """(dotted path, stored value, recomputed value) of every leaf of two JSON documents that
    differs (a leaf present in one only is paired with None), leaves under :data:`VOLATILE_KEYS` left out.

    Args:
        stored: the committed document (parsed JSON: dicts, lists and scalars).
        recomputed: the recomputed document.

    Returns:
        The differing leaves sorted by path; a path is dotted for dict keys and indexed for list
        items, e.g. ``"rates.pool.steps"`` or ``"eta_values[2]"``; empty when the documents agree.
    """
    left, right = _json_leaves(stored), _json_leaves(recomputed)
    return [(path, left.get(path), right.get(path)) for path in sorted({*left, *right})
            if left.get(path) != right.get(path) and not _volatile(path)]


def _volatile(path: str) -> bool:
    return any(part.split("[")[0] in VOLATILE_KEYS for part in path.split("."))


@dataclass(frozen=True)
class StoreComparison:
    """A scratch store against the committed one.

    ``runs``: every run of the scratch store that the committed store holds, compared;
    ``new``: (experiment, run id) of scratch runs the committed store lacks;
    ``not_recomputed``: committed runs of the experiments the scratch store touched that it lacks;
    ``side_files``: experiment/file -> the differing leaves of its JSON side files (lambda0.json,
    sweep.json, ...), for the files both stores hold."""

    runs: list[RunComparison]
    new: list[tuple[str, str]]
    not_recomputed: list[tuple[str, str]]
    side_files: dict[str, list[tuple[str, Any, Any]]]


def compare_stores(committed: str | Path, scratch: str | Path) -> StoreComparison:
    """Compare every run of the store at ``scratch`` with the run of the same experiment and id at
    ``committed`` (records, evaluations, outcome), and their experiments' JSON side files.

    Args:
        committed: the committed results store.
        scratch: the store a recomputation wrote.

    Returns:
        A :class:`StoreComparison`.
    """
    committed, scratch = Path(committed), Path(scratch)
    stored_runs, scratch_runs = _stored_runs(committed), _stored_runs(scratch)
    runs, new = [], []
    for (experiment, run), folder in scratch_runs.items():
        if (experiment, run) not in stored_runs:
            new.append((experiment, run))
            continue
        stored, stored_environment = _load(committed, experiment, stored_runs[experiment, run])
        recomputed, environment = _load(scratch, experiment, folder)
        records, evals = compare_results(stored, recomputed)
        runs.append(RunComparison(experiment, run, records, evals,
                                  (stored.summary["outcome"], recomputed.summary["outcome"]),
                                  (_made_with(stored_environment), _made_with(environment))))
    experiments = {experiment for experiment, _ in scratch_runs} | {p.name for p in scratch.iterdir() if p.is_dir()}
    not_recomputed = [key for key in stored_runs if key[0] in experiments and key not in scratch_runs]
    side_files = {}
    for path in sorted(scratch.glob("*/*.json")):
        stored_path = committed / path.parent.name / path.name
        if stored_path.is_file():
            found = json_differences(json.loads(stored_path.read_text()), json.loads(path.read_text()))
            if found:
                side_files[f"{path.parent.name}/{path.name}"] = found
    return StoreComparison(runs, new, not_recomputed, side_files)
