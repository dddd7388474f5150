"""Recompute a chapter from an empty results store and compare it with what is committed.

:func:`verify_notebook` executes a chapter notebook at the book preset with papermill into a
scratch folder, its kernel's ``$WARMUP_RESULTS`` pointing at an empty scratch store, so every run
the chapter needs is trained again.  The recomputation can be made with a chosen executor and
thread count, both set in the kernel's environment, which every run call of a chapter inherits:

* ``$WARMUP_EXECUTOR`` (:data:`warmup_lib.runs.executors.EXECUTOR_ENV`) replaces the executor
  of every :func:`~warmup_lib.runs.executors.make_executor` call: the chapters' ``run_missing``,
  their sweeps (``run_sweep``, which then skips its calibration) and chapter 06's grid.  Runs a
  chapter trains one by one through :func:`~warmup_lib.runs.store.load_or_run` are trained in the
  kernel itself, as always;
* ``$OMP_NUM_THREADS`` sets the torch threads of the kernel (so of every run trained in it); pool
  and Ray workers always train with one thread.

Then it compares (a) every run of the scratch store with the committed run of the same id
(:func:`warmup_lib.runs.compare.compare_stores`: records and evaluations column by column, the
outcome, the experiments' JSON side files) and (b) the claims cell of the recomputed notebook
with the committed one, row by row.  Numbers may move; a verdict must not: :func:`main` of the
``verify`` command exits 1 when a verdict differs (or the claims rows do not match).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from warmup_lib.claims import notebook_claims
from warmup_lib.claims.evidence import parse_spread
from warmup_lib.runs.compare import RunComparison, StoreComparison, compare_stores
from warmup_lib.runs.executors import EXECUTOR_ENV, EXECUTORS
from warmup_lib.runs.store import RESULTS_ENV, results_root
from warmup_lib.tools import notebooks

DEFAULT_SCRATCH = notebooks.REPO_ROOT / "_build" / "verify"
SHOWN_COLUMNS = 3  # the columns of a differing run that a report lists (largest relative difference first)


@dataclass(frozen=True)
class ClaimDifference:
    """One claims row that differs: its label, and (ours, verdict) committed and recomputed
    (None where the row is missing from one table).  ``ours`` is the printed mean and spread
    over seeds (the 'measured' column of tables printed before the registry)."""

    label: str
    committed: tuple[str, str] | None
    recomputed: tuple[str, str] | None

    @property
    def verdict_differs(self) -> bool:
        return self.committed is None or self.recomputed is None or self.committed[1] != self.recomputed[1]

    @property
    def within_spread(self) -> bool | None:
        """Whether the recomputed mean lies within the committed seeds' range (None: not both a spread)."""
        if self.committed is None or self.recomputed is None:
            return None
        old, new = parse_spread(self.committed[0]), parse_spread(self.recomputed[0])
        if old is None or new is None:
            return None
        return old[1] <= new[0] <= old[2]


def compare_claims(committed: list[dict[str, str]], recomputed: list[dict[str, str]]) -> list[ClaimDifference]:
    """The rows of two claims tables (:func:`warmup_lib.claims.parse_claims_table`) that differ,
    matched by label, in the committed table's order (rows only in the recomputed one last)."""
    old = {row["label"]: (row.get("ours", row.get("measured", "")), row["verdict"]) for row in committed}
    new = {row["label"]: (row.get("ours", row.get("measured", "")), row["verdict"]) for row in recomputed}
    labels = [*old, *(label for label in new if label not in old)]
    return [ClaimDifference(label, old.get(label), new.get(label)) for label in labels if old.get(label) != new.get(label)]


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_notebook` found for one chapter."""

    notebook: str
    seconds: float
    store: StoreComparison
    claims: list[ClaimDifference]
    claims_rows: int

    @property
    def verdicts_agree(self) -> bool:
        return not any(difference.verdict_differs for difference in self.claims)


def kernel_environment(scratch_store: Path, executor: str | None, threads: int | None) -> dict[str, str]:
    """The variables a recomputation's kernel gets: the scratch store, and the executor and
    torch threads when chosen."""
    values = {RESULTS_ENV: str(Path(scratch_store).resolve())}
    if executor is not None:
        values[EXECUTOR_ENV] = executor
    if threads is not None:
        values["OMP_NUM_THREADS"] = str(threads)
    return values


def verify_notebook(path: str | Path, committed_store: str | Path, scratch: str | Path,
                    executor: str | None = None, threads: int | None = None, timeout: int | None = None) -> Verification:
    """Recompute the chapter ``path`` into ``<scratch>/<stem>/`` and compare it with the committed one.

    Args:
        path: the committed (executed) chapter notebook.
        committed_store: the committed results store.
        scratch: the folder of recomputations; ``<scratch>/<stem>/`` must not exist yet (so the
            store is empty and nothing of an earlier recomputation is loaded).
        executor: the executor of every run the chapter trains through an executor (None: the
            chapter's own choice).
        threads: the kernel's torch threads (None: inherited).
        timeout: per-cell timeout in seconds (None: none).

    Returns:
        A :class:`Verification`.

    Raises:
        FileExistsError: when ``<scratch>/<stem>/`` exists.
    """
    path = Path(path)
    folder = Path(scratch) / path.stem
    if folder.exists():
        raise FileExistsError(f"scratch: {folder} exists; remove it or give another --scratch, so that the chapter "
                              "is recomputed from an empty store")
    scratch_store = folder / "results"
    scratch_store.mkdir(parents=True)
    start = time.perf_counter()
    with notebooks.environment(kernel_environment(scratch_store, executor, threads)):
        notebooks.execute_notebook(path, "book", output=folder / path.name, force=True, timeout=timeout)
    seconds = time.perf_counter() - start
    committed_claims, recomputed_claims = notebook_claims(path), notebook_claims(folder / path.name)
    return Verification(path.stem, seconds, compare_stores(committed_store, scratch_store),
                        compare_claims(committed_claims, recomputed_claims), len(committed_claims))


def _number(value: float) -> str:
    return f"{value:.2g}"


def _run_line(run: RunComparison) -> str:
    outcome = run.outcomes[0] if run.same_outcome else f"{run.outcomes[0]} -> {run.outcomes[1]} (OUTCOME DIFFERS)"
    parts = []
    for name, frame in (("records", run.records), ("evals", run.evals)):
        shown = [f"{row.column} {_number(row.max_abs)}/{_number(row.max_rel)} from step {row.first_step}"
                 for row in frame.differing().head(SHOWN_COLUMNS).itertuples()]
        if frame.only_stored or frame.only_recomputed:
            shown.append(f"steps only committed {frame.only_stored}, only recomputed {frame.only_recomputed}")
        if shown:
            parts.append(f"{name}: " + ", ".join(shown))
    made = f"made with {run.made_with[0][0]}/{run.made_with[0][1]} -> {run.made_with[1][0]}/{run.made_with[1][1]}"
    return f"  {run.experiment}/{run.run_id} {outcome}; {'; '.join(parts)} [{made}]"


def report(verification: Verification) -> str:
    """A compact text report: runs identical / differing (the largest differences, max abs / max
    rel), outcomes, side files, and every claims row that differs."""
    found = verification.store
    differing = [run for run in found.runs if not run.identical]
    lines = [f"{verification.notebook}: recomputed in {verification.seconds:.1f} s",
             f"runs: {len(found.runs)} recomputed, {len(found.runs) - len(differing)} identical, {len(differing)} differ "
             f"(max abs/max rel), {sum(not run.same_outcome for run in found.runs)} outcomes differ; "
             f"{len(found.new)} not in the committed store, {len(found.not_recomputed)} committed runs not recomputed"]
    lines += [_run_line(run) for run in differing]
    lines += [f"  not in the committed store: {experiment}/{run}" for experiment, run in found.new]
    for name, leaves in found.side_files.items():
        lines.append(f"  {name}: " + ", ".join(f"{leaf} {old!r} -> {new!r}" for leaf, old, new in leaves[:SHOWN_COLUMNS])
                     + (f" (+{len(leaves) - SHOWN_COLUMNS} more)" if len(leaves) > SHOWN_COLUMNS else ""))
    verdicts = sum(difference.verdict_differs for difference in verification.claims)
    lines.append(f"claims: {verification.claims_rows} rows, {len(verification.claims)} differ, {verdicts} verdicts differ")
    for difference in verification.claims:
        old, new = (" / ".join(row) if row else "(missing)" for row in (difference.committed, difference.recomputed))
        flag = "  VERDICT DIFFERS" if difference.verdict_differs else \
            {True: "  (mean within the committed spread)", False: "  (mean OUTSIDE the committed spread)",
             None: ""}[difference.within_spread]
        lines.append(f"  ({difference.label}) {old} -> {new}{flag}")
    lines.append("verdicts agree" if verification.verdicts_agree else "VERDICTS DIFFER")
    return "\n".join(lines)


def _run_verify(args: argparse.Namespace) -> int:
    paths = notebooks.list_notebooks() if args.target == "all" else [Path(args.target)]
    missing = [path for path in paths if not path.is_file()]
    if missing or not paths:
        print(f"verify: no such notebook {missing[0] if missing else args.target}", file=sys.stderr)
        return 1
    agree = True
    for path in paths:
        verification = verify_notebook(path, args.results or results_root(), args.scratch, args.executor, args.threads, args.timeout)
        print(report(verification), flush=True)
        agree = agree and verification.verdicts_agree
    return 0 if agree else 1


def add_verify_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify", help="recompute a chapter's runs into a scratch store and compare them and its claims "
                       "with the committed ones",
        description="Execute a chapter at the book preset into SCRATCH/<chapter>/ with an empty results store, "
                    "then compare every recomputed run with the committed run of the same id and every claims "
                    "row with the committed one. Exits 1 when a verdict differs.")
    parser.add_argument("target", help="a notebook path, or 'all' for every notebooks/NN_*.ipynb")
    parser.add_argument("--executor", choices=EXECUTORS, default=None,
                        help=f"executor of every executor-run call (sets ${EXECUTOR_ENV}; default: the chapter's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the notebook's kernel (sets $OMP_NUM_THREADS; default: inherited)")
    parser.add_argument("--scratch", default=str(DEFAULT_SCRATCH),
                        help="folder of the recomputations (default: _build/verify); SCRATCH/<chapter> must not exist")
    parser.add_argument("--results", default=None,
                        help="the committed results store (default: $WARMUP_RESULTS if set, else results)")
    parser.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: none)")
    parser.set_defaults(handler=_run_verify)
