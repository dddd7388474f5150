"""Results store: one folder per finished run, keyed by a hash of its configuration.

Layout: ``<root>/<experiment>/<run-id>/`` holding

* ``config.json``  the full :class:`~warmup_lib.config.RunConfig` (``RunConfig.to_json()``),
* ``records.csv.gz`` and ``evals.csv.gz``  the per-step records and evaluations (gzip, fixed
  mtime, so identical results give identical bytes),
* ``summary.json``  the run's summary (see :func:`warmup_lib.runs.train.run`),
* ``env.json``  warmup_lib, torch and Python versions, device, threads and wall time (no host name).

run-id = the first 16 hex digits of sha256(RunConfig.to_json()).  A run is written into a fresh
temporary folder ``.tmp-<run-id>-...`` next to its final place and then renamed into place in one
``os.rename``: a run folder exists only when it is complete, so a process killed at any moment
leaves at most an orphaned ``.tmp-*`` folder, which nothing ever loads (delete it at leisure).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from warmup_lib.config import RunConfig
from warmup_lib.runs.train import Callback, RunResult, run

FILES = ("config.json", "records.csv.gz", "evals.csv.gz", "summary.json", "env.json")
_GZIP = {"method": "gzip", "mtime": 0}
# pandas >= 3 parses floats exactly (round trip) by default and deprecates the option
_EXACT_FLOATS = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


RESULTS_ENV = "WARMUP_RESULTS"


def results_root(default: str | Path = "results") -> Path:
    """The results store's root: the folder named by ``$WARMUP_RESULTS`` if set, else ``default``.

    Every notebook and command reads the root here, so one variable points them all at another
    store (the tests point them at a scratch copy).

    Args:
        default: the root when the variable is unset (notebooks run in ``notebooks/`` and pass
            ``"../results"``).

    Returns:
        The root as a Path.
    """
    return Path(os.environ.get(RESULTS_ENV) or default)


def run_id(cfg: RunConfig) -> str:
    """First 16 hex digits of sha256 of the canonical config JSON: stable across processes and machines."""
    return hashlib.sha256(cfg.to_json().encode()).hexdigest()[:16]


def _experiment_dir(experiment: str, root: str | Path) -> Path:
    if not experiment or experiment.startswith(".") or "/" in experiment or "\\" in experiment:
        raise ValueError(f"experiment: got {experiment!r}; must be a non-empty folder name without '/' or a leading '.'")
    return Path(root) / experiment


def run_dir(experiment: str, cfg: RunConfig, root: str | Path = "results") -> Path:
    """Where the run of ``cfg`` lives (whether or not it exists yet)."""
    return _experiment_dir(experiment, root) / run_id(cfg)


def _environment(cfg: RunConfig, summary: dict[str, Any]) -> dict[str, Any]:
    on_gpu = cfg.device == "cuda" and torch.cuda.is_available()
    return {
        "warmup_lib": importlib.metadata.version("warmup_lib"), "torch": torch.__version__, "python": platform.python_version(),
        "device": torch.cuda.get_device_name() if on_gpu else f"cpu ({platform.machine()})",
        "threads": torch.get_num_threads(), "wall_time_s": summary["wall_time_s"],
    }


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")


def save_run(experiment: str, cfg: RunConfig, result: RunResult, root: str | Path = "results") -> Path:
    """Store ``result`` atomically under ``run_dir(experiment, cfg, root)`` and return that folder.

    If another process finished the same run first, its folder is kept and ours discarded.
    """
    final = run_dir(experiment, cfg, root)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        (staging / "config.json").write_text(cfg.to_json() + "\n")
        result.records.to_csv(staging / "records.csv.gz", index=False, compression=_GZIP)
        result.evals.to_csv(staging / "evals.csv.gz", index=False, compression=_GZIP)
        _write_json(staging / "summary.json", result.summary)
        _write_json(staging / "env.json", _environment(cfg, result.summary))
        os.rename(staging, final)  # atomic; fails if the folder already exists
    except OSError:
        if not is_done(experiment, cfg, root):
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def is_done(experiment: str, cfg: RunConfig, root: str | Path = "results") -> bool:
    """True when the run of ``cfg`` is stored (its folder exists only once it is complete)."""
    return run_dir(experiment, cfg, root).is_dir()


def _read_frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, **_EXACT_FLOATS)


def _load_folder(folder: Path) -> RunResult:
    summary = json.loads((folder / "summary.json").read_text())
    return RunResult(_read_frame(folder / "records.csv.gz"), _read_frame(folder / "evals.csv.gz"), summary)


def load_run(experiment: str, cfg: RunConfig, root: str | Path = "results") -> RunResult:
    """The stored result of ``cfg``; FileNotFoundError when it has not been run (to completion)."""
    folder = run_dir(experiment, cfg, root)
    if not folder.is_dir():
        raise FileNotFoundError(f"no finished run {folder.name} in {folder.parent}")
    return _load_folder(folder)


def load_or_run(experiment: str, cfg: RunConfig, root: str | Path = "results", callbacks: Sequence[Callback] = (),
                **run_kwargs: Any) -> RunResult:
    """Load the stored run of ``cfg`` or, when there is none, run it with :func:`warmup_lib.runs.train.run`,
    store it and return it.

    The store is keyed by the config alone, run id = the first 16 hex digits of
    sha256(``cfg.to_json()``), in ``<root>/<experiment>/<run id>/``.  So ``callbacks`` must only add
    measurements (a loaded run has the columns of the run that was stored), and
    ``optimizer_factory`` is refused: an optimizer the config does not describe would be stored
    under a config that does not describe it.  A run is written to a temporary folder and renamed
    into place, so a run folder exists only when it is complete.

    Args:
        experiment: the experiment's folder name under ``root``.
        cfg: the run.
        root: the results store's folder.
        callbacks: per-step measurements for a run that is trained (ignored when it is loaded).
        **run_kwargs: further arguments of :func:`~warmup_lib.run` (``progress``).

    Returns:
        The :class:`~warmup_lib.runs.train.RunResult`, loaded or freshly run and stored.

    Raises:
        ValueError: if an ``optimizer_factory`` is given.
    """
    if run_kwargs.get("optimizer_factory") is not None:
        raise ValueError("optimizer_factory: a stored run must be described by its config; call train.run directly")
    if is_done(experiment, cfg, root):
        return load_run(experiment, cfg, root)
    result = run(cfg, callbacks=callbacks, **run_kwargs)
    save_run(experiment, cfg, result, root)
    return result


def list_runs(experiment: str, root: str | Path = "results") -> pd.DataFrame:
    """One row per finished run of ``experiment``: run_id, the summary fields and the config fields
    (dotted names such as ``schedule.eta_trgt``), sorted by run_id."""
    folder = _experiment_dir(experiment, root)
    rows = []
    for run_folder in sorted(folder.iterdir()) if folder.is_dir() else []:
        if run_folder.name.startswith(".") or not run_folder.is_dir():
            continue
        summary = json.loads((run_folder / "summary.json").read_text())
        config = json.loads((run_folder / "config.json").read_text())
        summary.pop("config", None)
        rows.append({"run_id": run_folder.name, **summary, **pd.json_normalize(config).iloc[0].to_dict()})
    return pd.DataFrame(rows)
