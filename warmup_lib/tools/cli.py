"""Command line of the project: ``python -m warmup_lib <command> ...``.

Each command is a function ``add_<name>_command(subparsers)`` that registers a subparser and sets
``handler`` to the function that runs it; to add a command, write one such function and append it
to ``COMMANDS``.

``notebook``: execute chapter notebooks at a preset (see :mod:`warmup_lib.tools.notebooks`)::

    python -m warmup_lib notebook all --preset book           # in place, skips up-to-date ones
    python -m warmup_lib notebook notebooks/01_catapult_primer.ipynb --preset smoke
    python -m warmup_lib notebook all --preset paper --output _build/paper

With ``--output DIR`` the runs go to a scratch store ``DIR/results`` unless ``$WARMUP_RESULTS``
names one, so an execution written elsewhere never adds runs to the repository's ``results/``.

``verify``: recompute a chapter into a scratch store and compare runs and claims with the committed
ones (see :mod:`warmup_lib.tools.verify`)::

    python -m warmup_lib verify notebooks/01_catapult_primer.ipynb --executor sequential --threads 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

from warmup_lib.config import PRESET_NAMES


def _scratch_store(output: str | None) -> dict[str, str]:
    """``$WARMUP_RESULTS`` (which the notebooks' kernels inherit) set to ``<output>/results`` while
    notebooks are executed into ``output``, unless the variable is set (then it is kept)."""
    from warmup_lib.runs.store import RESULTS_ENV

    if output is None or os.environ.get(RESULTS_ENV):
        return {}
    scratch = (Path(output) / "results").resolve()
    print(f"runs are stored in the scratch store {scratch} (set ${RESULTS_ENV} to use another, e.g. "
          f"{RESULTS_ENV}=results to load the committed runs)", flush=True)
    return {RESULTS_ENV: str(scratch)}


def _run_notebooks(args: argparse.Namespace) -> int:
    from warmup_lib.tools import notebooks  # imports papermill only when the command is used

    paths = notebooks.list_notebooks() if args.target == "all" else [Path(args.target)]
    if not paths:
        print(f"no notebooks in {notebooks.NOTEBOOK_DIR}: nothing to execute")
    for path in paths:
        if not path.is_file():
            print(f"notebook: no such file {path}", file=sys.stderr)
            return 1
    with notebooks.environment(_scratch_store(args.output)):
        for path in paths:
            output = Path(args.output) / path.name if args.output else None
            start = time.perf_counter()
            executed = notebooks.execute_notebook(path, args.preset, output=output, force=args.force,
                                                  timeout=args.timeout)
            status = f"executed in {time.perf_counter() - start:.1f} s" if executed else "up to date, skipped"
            print(f"{path.name} [{args.preset}]: {status}", flush=True)
    return 0


def add_notebook_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "notebook", help="execute chapter notebooks with papermill at a preset",
        description="Execute notebooks with papermill. 'book' runs in place (the committed outputs); "
                    "'smoke' and 'paper' go to _build/executed/<preset>/ unless --output is given. "
                    "A notebook whose stored input hash matches is skipped.")
    parser.add_argument("target", help="a notebook path, or 'all' for every notebooks/NN_*.ipynb")
    parser.add_argument("--preset", choices=PRESET_NAMES, default="book", help="cost preset (default: book)")
    parser.add_argument("--force", action="store_true", help="execute even when up to date")
    parser.add_argument("--output", help="folder for the executed notebooks (default depends on the preset); "
                                         "their runs go to OUTPUT/results unless $WARMUP_RESULTS is set")
    parser.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: none)")
    parser.set_defaults(handler=_run_notebooks)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_notebook_command]

from warmup_lib.tools.grids import add_sweep_command  # noqa: E402  (``sweep``: phase-diagram sweeps)

COMMANDS.append(add_sweep_command)

from warmup_lib.tools.verify import add_verify_command  # noqa: E402  (``verify``: recompute and compare)

COMMANDS.append(add_verify_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m warmup_lib", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the chosen command; returns the exit code."""
    args = build_parser().parse_args(argv)
    return args.handler(args)
