"""Results store: one folder per finished run, keyed by a hash of its configuration.

Layout: ``<root>/<experiment>/<run-id>/`` holding three files

* ``records.csv.gz`` and ``evals.csv.gz``  the per-step records and evaluations (gzip, fixed
  mtime, so identical results give identical bytes),
* ``run.json``  the run's record: ``config`` (:meth:`~warmup_lib.config.RunConfig.to_dict`),
  ``summary`` (see :func:`warmup_lib.runs.train.run`; a loaded summary carries the config again
  under ``"config"``, as a fresh one does), ``environment`` (warmup_lib, torch and Python versions,
  device, torch threads, the executor that trained it, None for the runs stored before it was
  recorded; no host name), ``files`` (the sha256 of each data file) and ``sha256``, the checksum
  of the record itself (of the canonical JSON of the other four entries).

run-id = the first 16 hex digits of sha256(RunConfig.to_json()).  A run is written into a fresh
temporary folder ``.tmp-<run-id>-pid<writer's pid>-...`` next to its final place and then renamed
into place in one ``os.rename``: a run folder exists only when it is complete, so a process killed
at any moment leaves at most an orphaned ``.tmp-*`` folder, which nothing loads and the next write
to the experiment removes (:func:`clean_temporaries`).

Damage (a file missing, truncated, edited or garbage; a folder whose config does not hash to its
name) is found by the checksums on every read.  A damaged run is never loaded: :func:`is_done`
says it is not stored (with a :class:`DamagedRunWarning` naming it), :func:`load_run` raises
:class:`DamagedRunError`, :func:`list_runs` leaves it out, and the next :func:`save_run` of its
config (e.g. by :func:`load_or_run` or a sweep) moves it aside to
``<root>/<experiment>/.damaged/<run-id>-<n>/`` and stores the recomputed run in its place.

Experiment names are single folder names (letters, digits, '-', '_', '.', no leading '.'), so
nothing is ever written outside ``<root>`` (:func:`experiment_dir`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import platform
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from warmup_lib.atomic import atomic_write
from warmup_lib.config import RunConfig
from warmup_lib.runs.train import Callback, RunResult, run

RUN_FILE = "run.json"
RECORDS_FILE = "records.csv.gz"
EVALS_FILE = "evals.csv.gz"
DATA_FILES = (RECORDS_FILE, EVALS_FILE)
FILES = (RUN_FILE, *DATA_FILES)
RECORD_KEYS = ("config", "summary", "environment", "files")
DAMAGED_DIR = ".damaged"
TEMPORARY_PREFIX = ".tmp-"
# A staging folder lives for the seconds its run's files take to write: one a day old has no writer.
ORPHAN_AGE_S = 24 * 3600.0
RESULTS_ENV = "WARMUP_RESULTS"
_GZIP = {"method": "gzip", "mtime": 0}
# pandas >= 3 parses floats exactly (round trip) by default and deprecates the option
_EXACT_FLOATS = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
_EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")
_WRITER_PID = re.compile(r"-pid(\d+)-")


class DamagedRunError(RuntimeError):
    """A stored run whose files are missing, truncated or do not match their checksums."""


class DamagedRunWarning(UserWarning):
    """A damaged stored run was found (it is not loaded, and recomputed when next needed)."""


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
    """First 16 hex digits of sha256 of the canonical config JSON: stable across processes and machines.

    run-id = sha256(``cfg.to_json()``)[:16] (hex).

    Args:
        cfg: the run's config.

    Returns:
        The run id, 16 lowercase hex digits (the run's folder name in the store).
    """
    return hashlib.sha256(cfg.to_json().encode()).hexdigest()[:16]


def validate_experiment(experiment: Any) -> str:
    """``experiment`` if it names one folder inside the store, else ValueError.

    Args:
        experiment: the experiment's name.

    Returns:
        The name: letters, digits, '-', '_' and '.', not starting with '.' (so not '..', an absolute
        path, 'a/b' or a hidden folder of the store such as ``.damaged``).

    Raises:
        ValueError: naming the experiment and the rule.
    """
    if not isinstance(experiment, str) or not _EXPERIMENT_NAME.fullmatch(experiment):
        raise ValueError(f"experiment: got {experiment!r}; must be one folder name of letters, digits, '-', '_' "
                         "or '.', not starting with '.'")
    return experiment


def experiment_dir(experiment: str, root: str | Path = "results") -> Path:
    """The folder of ``experiment`` in the store at ``root`` (:func:`validate_experiment` first).

    Args:
        experiment: the experiment's name.
        root: the results store's folder.

    Returns:
        ``<root>/<experiment>``, always inside ``root``.
    """
    return Path(root) / validate_experiment(experiment)


def run_dir(experiment: str, cfg: RunConfig, root: str | Path = "results") -> Path:
    """Where the run of ``cfg`` lives (whether or not it exists yet).

    Args:
        experiment: the experiment's name (:func:`validate_experiment`).
        cfg: the run's config.
        root: the results store's folder.

    Returns:
        ``<root>/<experiment>/<run id>`` (:func:`run_id`).

    Raises:
        ValueError: when ``experiment`` is not a valid experiment name.
    """
    return experiment_dir(experiment, root) / run_id(cfg)


def _environment(cfg: RunConfig, executor: str | None, threads: int | None) -> dict[str, Any]:
    on_gpu = cfg.device == "cuda" and torch.cuda.is_available()
    return {
        "warmup_lib": importlib.metadata.version("warmup_lib"), "torch": torch.__version__, "python": platform.python_version(),
        "device": torch.cuda.get_device_name() if on_gpu else f"cpu ({platform.machine()})",
        "threads": torch.get_num_threads() if threads is None else threads, "executor": executor,
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record_checksum(record: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of the record's entries but its own."""
    return _sha256(json.dumps({key: record[key] for key in RECORD_KEYS}, sort_keys=True, separators=(",", ":"))
                   .encode())


def _write_json(path: Path, value: Any) -> None:
    atomic_write(path, lambda stream: stream.write(json.dumps(value, indent=1, sort_keys=True) + "\n"))


def _write_record(folder: Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` (atomically) with the record's checksum added."""
    _write_json(folder / RUN_FILE, {**{key: record[key] for key in RECORD_KEYS}, "sha256": _record_checksum(record)})


def _write_frame(path: Path, frame: pd.DataFrame) -> str:
    """Write ``frame`` as gzip-compressed CSV with a fixed mtime (equal frames give equal bytes);
    returns the file's sha256."""
    frame.to_csv(path, index=False, compression=_GZIP)
    return _sha256(path.read_bytes())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clean_temporaries(experiment: str, root: str | Path = "results", max_age_s: float = ORPHAN_AGE_S) -> list[Path]:
    """Remove the orphaned staging folders (``.tmp-*``) of ``experiment``: those of killed writers.

    A staging folder is an orphan when the process named in it (``-pid<N>-``) is gone, or when it
    is older than ``max_age_s`` (a folder without a pid, or a pid since reused).  The staging
    folder of a live writer, e.g. a pool worker of a running sweep, is never touched.

    Args:
        experiment: the experiment's name.
        root: the results store's folder.
        max_age_s: the age (since its last change) beyond which any staging folder is an orphan.

    Returns:
        The folders removed.
    """
    folder = experiment_dir(experiment, root)
    removed = []
    for path in sorted(folder.glob(f"{TEMPORARY_PREFIX}*")):
        writer = _WRITER_PID.search(path.name)
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:  # its writer just renamed it into place
            continue
        if (writer is not None and not _pid_alive(int(writer.group(1)))) or age > max_age_s:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _staging(folder: Path, run: str) -> Path:
    """A fresh staging folder in ``folder`` for run ``run``, named with this process's pid (see
    :func:`clean_temporaries`)."""
    return Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{run}-pid{os.getpid()}-", dir=folder))


def _quarantine(folder: Path, reason: str) -> Path:
    """Move the damaged run ``folder`` to ``.damaged/<run-id>-<n>/`` beside it (first free n)."""
    damaged = folder.parent / DAMAGED_DIR
    damaged.mkdir(exist_ok=True)
    for n in range(1, 10_000):
        target = damaged / f"{folder.name}-{n}"
        if target.exists():
            continue
        os.rename(folder, target)
        warnings.warn(f"damaged run {folder} ({reason}) moved to {target}; it is recomputed", DamagedRunWarning,
                      stacklevel=3)
        return target
    raise OSError(f"{damaged} holds 9999 copies of {folder.name}; clear it")


def save_run(experiment: str, cfg: RunConfig, result: RunResult, root: str | Path = "results",
             executor: str | None = None, threads: int | None = None) -> Path:
    """Store ``result`` atomically under ``run_dir(experiment, cfg, root)`` and return that folder.

    If another process finished the same run first, its folder is kept and ours discarded; a
    damaged run in the way is moved aside to ``.damaged/`` (with a warning).  Orphaned staging
    folders of the experiment are removed first (:func:`clean_temporaries`).

    Args:
        experiment: the experiment's folder name under ``root``.
        cfg: the run's config.
        result: the run's records, evaluations and summary.
        root: the results store's folder.
        executor: the executor that trained it (recorded in the environment; None: not known).
        threads: the torch threads it was trained with (None: this process's).

    Returns:
        The run's folder.
    """
    final = run_dir(experiment, cfg, root)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_temporaries(experiment, root)
    staging = _staging(final.parent, final.name)
    try:
        files = {name: _write_frame(staging / name, frame)
                 for name, frame in zip(DATA_FILES, (result.records, result.evals))}
        summary = {key: value for key, value in result.summary.items() if key != "config"}
        _write_record(staging, {"config": cfg.to_dict(), "summary": summary,
                                "environment": _environment(cfg, executor, threads), "files": files})
        if final.exists():
            reason = _damage(final)
            if reason is None:
                return final  # stored by another process meanwhile
            _quarantine(final, reason)
        os.rename(staging, final)  # atomic; fails if the folder already exists
    except OSError:
        if not final.is_dir() or _damage(final) is not None:
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _read_record(folder: Path) -> dict[str, Any]:
    """The checked ``run.json`` of ``folder``; DamagedRunError saying what is wrong."""
    try:
        record = json.loads((folder / RUN_FILE).read_text())
    except FileNotFoundError:
        raise DamagedRunError(f"{folder}: {RUN_FILE} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DamagedRunError(f"{folder}: {RUN_FILE} is not valid JSON ({error})") from None
    if not isinstance(record, dict) or set(record) != {*RECORD_KEYS, "sha256"}:
        raise DamagedRunError(f"{folder}: {RUN_FILE} does not hold the entries {sorted({*RECORD_KEYS, 'sha256'})}")
    if record["sha256"] != _record_checksum(record):
        raise DamagedRunError(f"{folder}: {RUN_FILE} does not match its sha256 (edited or damaged)")
    try:
        stored_id = run_id(RunConfig.from_dict(record["config"]))
    except (TypeError, ValueError) as error:
        raise DamagedRunError(f"{folder}: its config is not a valid RunConfig ({error})") from None
    if stored_id != folder.name:
        raise DamagedRunError(f"{folder}: its config hashes to run id {stored_id}, not to the folder's name")
    if not isinstance(record["files"], dict) or set(record["files"]) != set(DATA_FILES):
        raise DamagedRunError(f"{folder}: {RUN_FILE} does not list the checksums of {list(DATA_FILES)}")
    return record


def _read_data(folder: Path, record: dict[str, Any], name: str) -> bytes:
    """The bytes of data file ``name`` of ``folder``, checked against the record's sha256."""
    try:
        data = (folder / name).read_bytes()
    except FileNotFoundError:
        raise DamagedRunError(f"{folder}: {name} is missing") from None
    if _sha256(data) != record["files"][name]:
        raise DamagedRunError(f"{folder}: {name} does not match its sha256 (truncated, edited or damaged)")
    return data


def _check(folder: Path) -> dict[str, Any]:
    """The record of the run ``folder`` once every file has passed its checksum."""
    record = _read_record(folder)
    for name in DATA_FILES:
        _read_data(folder, record, name)
    return record


def _damage(folder: Path) -> str | None:
    """What is wrong with the stored run ``folder``, None when it is intact."""
    try:
        _check(folder)
    except DamagedRunError as error:
        return str(error)
    return None


def _warn_damaged(error: DamagedRunError) -> None:
    warnings.warn(f"damaged run {error}; it is not loaded and is recomputed when next needed", DamagedRunWarning,
                  stacklevel=3)


def is_done(experiment: str, cfg: RunConfig, root: str | Path = "results") -> bool:
    """True when the run of ``cfg`` is stored and intact (every checksum matches).

    A damaged run counts as not done (a :class:`DamagedRunWarning` names it), so that it is
    recomputed; nothing is moved or written here.

    Args:
        experiment: the experiment's name.
        cfg: the run's config.
        root: the results store's folder.

    Returns:
        True when the run folder exists and passes every checksum, False otherwise.
    """
    folder = run_dir(experiment, cfg, root)
    if not folder.is_dir():
        return False
    try:
        _check(folder)
    except DamagedRunError as error:
        _warn_damaged(error)
        return False
    return True


def _read_frame(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), compression="gzip", **_EXACT_FLOATS)


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    """The summary as :func:`~warmup_lib.runs.train.run` returned it (with its config), keys sorted."""
    return dict(sorted({**record["summary"], "config": record["config"]}.items()))


def _load_folder(folder: Path) -> RunResult:
    record = _read_record(folder)
    records, evals = (_read_frame(_read_data(folder, record, name)) for name in DATA_FILES)
    return RunResult(records, evals, _summary(record))


def load_run(experiment: str, cfg: RunConfig, root: str | Path = "results") -> RunResult:
    """The stored result of ``cfg``.

    Args:
        experiment: the experiment's name.
        cfg: the run's config.
        root: the results store's folder.

    Returns:
        The :class:`~warmup_lib.runs.train.RunResult`: records and evaluations read back exactly
        (round-trip floats) and the summary with the config under ``"config"``, keys sorted.

    Raises:
        FileNotFoundError: when it has not been run (to completion).
        DamagedRunError: when its files are damaged (it is never loaded; :func:`load_or_run` or a
            sweep moves it aside and recomputes it).
    """
    folder = run_dir(experiment, cfg, root)
    if not folder.is_dir():
        raise FileNotFoundError(f"no finished run {folder.name} in {folder.parent}")
    try:
        return _load_folder(folder)
    except DamagedRunError as error:
        raise DamagedRunError(f"damaged run {error}; it is not loaded: load_or_run (or the sweep that made it) "
                              "moves it aside and recomputes it") from None


def load_or_run(experiment: str, cfg: RunConfig, root: str | Path = "results", callbacks: Sequence[Callback] = (),
                **run_kwargs: Any) -> RunResult:
    """Load the stored run of ``cfg`` or, when there is none (or it is damaged), run it with
    :func:`warmup_lib.runs.train.run`, store it and return it.

    The store is keyed by the config alone, run id = the first 16 hex digits of
    sha256(``cfg.to_json()``), in ``<root>/<experiment>/<run id>/``.  So ``callbacks`` must only add
    measurements (a loaded run has the columns of the run that was stored), and
    ``optimizer_factory`` is refused: an optimizer the config does not describe would be stored
    under a config that does not describe it.  A run is written to a temporary folder and renamed
    into place, so a run folder exists only when it is complete; a damaged one is moved aside to
    ``.damaged/`` (with a :class:`DamagedRunWarning`) and recomputed.

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
    folder = run_dir(experiment, cfg, root)
    if folder.is_dir():
        try:
            return _load_folder(folder)
        except DamagedRunError as error:
            _warn_damaged(error)
    result = run(cfg, callbacks=callbacks, **run_kwargs)
    save_run(experiment, cfg, result, root, executor="sequential")
    return result


def _run_folders(experiment: str, root: str | Path) -> list[Path]:
    folder = experiment_dir(experiment, root)
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")) \
        if folder.is_dir() else []


def damaged_runs(experiment: str, root: str | Path = "results") -> dict[str, str]:
    """The damaged stored runs of ``experiment``, nothing moved or written.

    Args:
        experiment: the experiment's name.
        root: the results store's folder.

    Returns:
        run id (the folder's name) -> what is wrong with it, for every damaged run folder.
    """
    found = {folder.name: _damage(folder) for folder in _run_folders(experiment, root)}
    return {name: reason for name, reason in found.items() if reason is not None}


def list_runs(experiment: str, root: str | Path = "results") -> pd.DataFrame:
    """One row per finished, intact run of ``experiment``: run_id, the summary fields and the
    config fields (dotted names such as ``schedule.eta_trgt``), sorted by run_id.  A damaged run
    is left out with a :class:`DamagedRunWarning` naming it.

    Args:
        experiment: the experiment's name.
        root: the results store's folder.

    Returns:
        The table; an empty DataFrame (no columns) when the experiment holds no intact run.
    """
    rows = []
    for folder in _run_folders(experiment, root):
        try:
            record = _check(folder)
        except DamagedRunError as error:
            _warn_damaged(error)
            continue
        config = pd.json_normalize(record["config"]).iloc[0].to_dict()
        rows.append({"run_id": folder.name, **record["summary"], **config})
    return pd.DataFrame(rows)


def thin_records(experiment: str, root: str | Path = "results", every: int = 20) -> int:
    """Keep every ``every``-th per-step record (and each run's last one, e.g. the non-finite loss
    of a diverged run) of every stored run of ``experiment``; returns the number of runs rewritten.

    A phase diagram reads only the runs' summaries and evaluations, so the committed store of a
    sweep needs its per-step curves only as a sketch: this cuts its size ~``every``-fold.  Rows
    are dropped, never changed, and a run already thin is left untouched (no write), so calling
    this again is a no-op.  The records file and then ``run.json`` (its new checksum) are each
    replaced atomically; a process killed between the two leaves a run that is found damaged
    and recomputed.  Damaged runs are skipped (with a warning).

    Args:
        experiment: the experiment's name.
        root: the results store's folder.
        every: the step spacing of the records kept.

    Returns:
        The number of runs whose records were thinned.

    Raises:
        ValueError: when ``every`` is not an int >= 1.
    """
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"every: got {every!r}; must be an int >= 1")
    rewritten = 0
    for folder in _run_folders(experiment, root):
        try:
            record = _read_record(folder)
            records = _read_frame(_read_data(folder, record, RECORDS_FILE))
        except DamagedRunError as error:
            _warn_damaged(error)
            continue
        keep = (records["step"] % every == 0) | (records.index == len(records) - 1)
        if keep.all():
            continue
        staging = _staging(folder.parent, folder.name)
        try:  # written under its own name first, so that its gzip header is that of a fresh run's file
            record["files"][RECORDS_FILE] = _write_frame(staging / RECORDS_FILE, records[keep])
            os.replace(staging / RECORDS_FILE, folder / RECORDS_FILE)
            _write_record(folder, record)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        rewritten += 1
    return rewritten
