"""Execute the book's notebooks at a preset, skip the ones that are up to date, keep git quiet.

The notebooks in ``notebooks/`` are committed *with* the outputs of the ``book`` preset, so the
book builder never executes them.  This module is the only thing that does:

- :func:`input_hash` fingerprints what an execution depends on: the notebook's code cells, the
  preset's parameters and the sources of the library.  The executed notebook stores it under
  ``metadata["warmup_lib"]["input_hash"]``; a notebook whose stored hash still matches is skipped,
  so ``make book`` run twice executes nothing the second time.
- :func:`strip_volatile` removes what changes from one execution to the next although nothing
  changed (papermill's timings and paths, execution timestamps, the Python patch version), so an
  unchanged notebook re-executed is byte-identical and ``git status`` stays clean.
- :func:`execute_notebook` runs papermill and writes the result atomically (temporary file, then
  ``os.replace``), so an interrupted run never leaves a half-written notebook.

The ``book`` preset is executed in place and without injecting parameters: the parameters cell
already holds the book values as literals (checked here before executing), so the committed
notebook shows exactly the code that produced its outputs.  Other presets are injected by
papermill and written elsewhere (``_build/executed/<preset>/`` by default), never over the
committed notebook.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

from warmup_lib.config import notebook_parameters
from warmup_lib.atomic import atomic_write

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# Tooling does not change what a notebook computes; leaving it out of the package hash means that
# editing the command line does not re-execute the whole book.
TOOLING = ("__main__.py", "tools/")
METADATA_KEY = "warmup_lib"
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def list_notebooks(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The chapter notebooks ``NN_slug.ipynb`` in ``directory``, in book order."""
    return sorted(path for path in Path(directory).glob("[0-9][0-9]_*.ipynb") if path.is_file())


def package_hash(package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over the library's Python sources (relative path and bytes), tooling excluded."""
    digest = hashlib.sha256()
    for path in sorted(Path(package_dir).rglob("*.py")):
        relative = path.relative_to(package_dir).as_posix()
        if relative.startswith(TOOLING):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _code_sources(notebook: nbformat.NotebookNode) -> list[str]:
    """Sources of the code cells that the author wrote (papermill's injected cell excluded)."""
    return [cell.source for cell in notebook.cells
            if cell.cell_type == "code" and INJECTED_TAG not in cell.metadata.get("tags", [])]


def input_hash(notebook: nbformat.NotebookNode, parameters: dict[str, Any], library_hash: str | None = None) -> str:
    """Fingerprint of everything an execution depends on.

    sha256 of the JSON of (code-cell sources, parameters with sorted keys, :func:`package_hash`).
    Markdown is left out on purpose: the committed notebook is its own source, so a prose edit is
    already in the file and needs no re-execution.
    """
    payload = {
        "code": _code_sources(notebook),
        "parameters": parameters,
        "package": library_hash if library_hash is not None else package_hash(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def stored_hash(notebook: nbformat.NotebookNode) -> str | None:
    """The input hash recorded by the last execution, or None for a never-executed notebook."""
    return notebook.metadata.get(METADATA_KEY, {}).get("input_hash")


def parameters_cell_values(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """The literals assigned in the cell tagged ``parameters`` (``name = literal`` lines only).

    Raises ValueError when there is not exactly one such cell or it holds anything but literal
    assignments: papermill, nbval and the book all rely on it being plain data.
    """
    cells = [cell for cell in notebook.cells if PARAMETERS_TAG in cell.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"parameters: expected exactly one cell tagged {PARAMETERS_TAG!r}, found {len(cells)}")
    values: dict[str, Any] = {}
    for statement in ast.parse(cells[0].source).body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            raise ValueError(f"parameters: only 'name = literal' lines are allowed, got {ast.unparse(statement)!r}")
        try:
            values[statement.targets[0].id] = ast.literal_eval(statement.value)
        except ValueError as error:
            raise ValueError(f"parameters: {statement.targets[0].id} must be a literal, got "
                             f"{ast.unparse(statement.value)!r}") from error
    return values


def is_up_to_date(path: Path, preset: str) -> bool:
    """True when ``path`` was last executed at ``preset`` with the current code and library."""
    notebook = nbformat.read(path, as_version=4)
    expected = input_hash(notebook, notebook_parameters(Path(path).stem, preset))
    return stored_hash(notebook) == expected


def strip_volatile(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove metadata that changes on every execution; outputs are kept.

    Dropped: papermill's notebook and cell records (start/end times, durations, exception flags,
    input/output paths), the kernel's execution timestamps (``cell.metadata.execution``), the
    empty tag lists papermill adds, and the Python patch version in ``language_info``.
    """
    notebook.metadata.pop("papermill", None)
    notebook.metadata.get("language_info", {}).pop("version", None)
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
    return notebook


def with_stable_ids(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Give a notebook of format 4.4 or older (no cell ids) the ids ``cell-<index>``.

    papermill upgrades such notebooks to 4.5 with *random* ids, which would change the committed
    file on every execution; fixed ids make the first execution the only change.
    """
    if notebook.nbformat_minor < 5:
        notebook.nbformat_minor = 5
        for index, cell in enumerate(notebook.cells):
            cell.setdefault("id", f"cell-{index}")
    return notebook


def default_output(path: Path, preset: str) -> Path:
    """Where an execution at ``preset`` goes: in place for 'book', else ``_build/executed/<preset>/``."""
    path = Path(path)
    return path if preset == "book" else REPO_ROOT / "_build" / "executed" / preset / path.name


def _write_atomically(notebook: nbformat.NotebookNode, output: Path) -> None:
    atomic_write(output, lambda stream: nbformat.write(notebook, stream))


def execute_notebook(path: Path, preset: str, output: Path | None = None, force: bool = False,
                     timeout: int | None = None) -> bool:
    """Execute ``path`` with papermill at ``preset``, unless its output is already up to date.

    The kernel runs in the notebook's own folder.  For 'book' the parameters cell must already hold
    ``notebook_parameters(stem, 'book')`` (ValueError otherwise) and nothing is injected; other
    presets are injected by papermill.  The result carries ``metadata.warmup_lib.input_hash`` and
    ``preset``, volatile metadata stripped, written atomically to ``output``
    (default: :func:`default_output`).  A failing cell raises papermill's
    ``PapermillExecutionError`` and leaves ``output`` untouched.

    Returns True when the notebook was executed, False when it was skipped as up to date.
    """
    import papermill  # imported here: the library itself never needs the notebook stack

    path = Path(path).resolve()
    output = Path(output).resolve() if output is not None else default_output(path, preset)
    parameters = notebook_parameters(path.stem, preset)
    source = with_stable_ids(nbformat.read(path, as_version=4))
    expected = input_hash(source, parameters)
    if not force and output.exists() and stored_hash(nbformat.read(output, as_version=4)) == expected:
        return False
    if preset == "book":
        literals = parameters_cell_values(source)
        if literals != parameters:
            raise ValueError(f"parameters: the parameters cell of {path.name} holds {literals}, but "
                             f"notebook_parameters({path.stem!r}, 'book') is {parameters}; make them agree")
    executed = papermill.execute_notebook(
        source, None, parameters=None if preset == "book" else parameters, cwd=str(path.parent),
        kernel_name=source.metadata.get("kernelspec", {}).get("name", "python3"), progress_bar=False,
        execution_timeout=timeout)
    executed.metadata[METADATA_KEY] = {"input_hash": expected, "preset": preset}
    _write_atomically(strip_volatile(executed), output)
    return True


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set the variables ``values`` in this process (whose children, e.g. a notebook's kernel,
    inherit them) and restore the previous ones afterwards.

    Args:
        values: variable name -> value.
    """
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
