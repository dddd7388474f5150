"""The notebook runner (warmup_lib.tools.notebooks, the ``notebook`` command) and the committed notebooks.

Runner tests use a tiny notebook written to a temporary folder, with its presets registered for
the test only.  The committed notebooks are checked three ways: their parameters cell holds the
book preset, each one runs end to end at the smoke preset (into a temporary folder, never over the
committed file), and nbval re-executes them as committed and compares their claims cells.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from warmup_lib import config
from warmup_lib.tools import notebooks
from warmup_lib.tools.cli import main

COMMITTED = notebooks.list_notebooks()
TINY = "00_tiny"
CLAIMS_TAG = "claims"  # compared exactly by nbval through tests/nbval_claims_plugin.py
TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A two-cell notebook whose output depends on its parameter, with book and smoke presets."""
    monkeypatch.setitem(config.PRESETS["book"], TINY, {"steps": 3})
    monkeypatch.setitem(config.PRESETS["smoke"], TINY, {"steps": 1})
    notebook = new_notebook(cells=[
        new_markdown_cell("# Tiny"),
        new_code_cell('preset = "book"\nsteps = 3', metadata={"tags": ["parameters"]}),
        new_code_cell('print(f"{preset}: {sum(range(steps))}")'),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / f"{TINY}.ipynb"
    nbformat.write(notebook, path)
    return path


def _printed(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs)


def test_input_hash_follows_code_parameters_and_library_but_not_prose(tiny: Path) -> None:
    notebook = nbformat.read(tiny, as_version=4)
    base = notebooks.input_hash(notebook, {"steps": 3}, library_hash="lib")
    assert notebooks.input_hash(notebook, {"steps": 3}, library_hash="lib") == base
    assert notebooks.input_hash(notebook, {"steps": 4}, library_hash="lib") != base
    assert notebooks.input_hash(notebook, {"steps": 3}, library_hash="lib2") != base
    notebook.cells[0].source = "# Tiny, reworded"
    assert notebooks.input_hash(notebook, {"steps": 3}, library_hash="lib") == base
    notebook.cells[2].source += "\nprint('more')"
    assert notebooks.input_hash(notebook, {"steps": 3}, library_hash="lib") != base


def test_package_hash_ignores_tooling_and_follows_library_sources(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "science.py").write_text("x = 1\n")
    (tmp_path / "tools" / "cli.py").write_text("y = 1\n")
    (tmp_path / "__main__.py").write_text("z = 1\n")
    base = notebooks.package_hash(tmp_path)
    (tmp_path / "tools" / "cli.py").write_text("y = 2\n")
    (tmp_path / "__main__.py").write_text("z = 2\n")
    assert notebooks.package_hash(tmp_path) == base
    (tmp_path / "science.py").write_text("x = 2\n")
    assert notebooks.package_hash(tmp_path) != base


def test_parameters_cell_must_hold_literal_assignments(tiny: Path) -> None:
    notebook = nbformat.read(tiny, as_version=4)
    assert notebooks.parameters_cell_values(notebook) == {"preset": "book", "steps": 3}
    notebook.cells[1].source = "steps = 1 + 2"
    with pytest.raises(ValueError, match="steps must be a literal"):
        notebooks.parameters_cell_values(notebook)
    notebook.cells[1].source = "import os"
    with pytest.raises(ValueError, match="only 'name = literal'"):
        notebooks.parameters_cell_values(notebook)
    notebook.cells[1].metadata["tags"] = []
    with pytest.raises(ValueError, match="exactly one cell tagged 'parameters', found 0"):
        notebooks.parameters_cell_values(notebook)


def test_strip_volatile_drops_timings_and_keeps_outputs() -> None:
    kept = new_code_cell("1", metadata={"papermill": {"duration": 0.1}, "execution": {"iopub.status.busy": "t"},
                                        "tags": ["keep"]})
    kept.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    untagged = new_code_cell("2", metadata={"tags": []})
    notebook = new_notebook(cells=[kept, untagged], metadata={"papermill": {"start_time": "t"},
                                                              "language_info": {"name": "python", "version": "3.11.7"}})
    stripped = notebooks.strip_volatile(notebook)
    assert "papermill" not in stripped.metadata and stripped.metadata.language_info == {"name": "python"}
    assert stripped.cells[0].metadata == {"tags": ["keep"]} and stripped.cells[1].metadata == {}
    assert stripped.cells[0].outputs[0].text == "1\n"


def test_old_format_notebooks_get_stable_cell_ids(tiny: Path) -> None:
    notebook = nbformat.read(tiny, as_version=4)
    notebook.nbformat_minor = 4
    for cell in notebook.cells:
        del cell["id"]
    upgraded = notebooks.with_stable_ids(notebook)
    assert upgraded.nbformat_minor == 5 and [cell.id for cell in upgraded.cells] == ["cell-0", "cell-1", "cell-2"]


def test_book_preset_runs_in_place_once_then_skips_without_churn(tiny: Path) -> None:
    assert notebooks.execute_notebook(tiny, "book") is True
    first = tiny.read_bytes()
    assert _printed(tiny) == "book: 3\n"
    stored = nbformat.read(tiny, as_version=4)
    assert stored.metadata.warmup_lib == {"input_hash": notebooks.input_hash(stored, {"preset": "book", "steps": 3}),
                                          "preset": "book"}
    assert "papermill" not in stored.metadata
    assert tiny.stat().st_mode & 0o777 == 0o644  # the atomic write keeps a readable mode
    assert notebooks.is_up_to_date(tiny, "book") and not notebooks.is_up_to_date(tiny, "smoke")
    assert notebooks.execute_notebook(tiny, "book") is False
    assert tiny.read_bytes() == first
    # Forcing a re-execution of unchanged inputs reproduces the file byte for byte: nothing for git.
    assert notebooks.execute_notebook(tiny, "book", force=True) is True
    assert tiny.read_bytes() == first


def test_book_preset_refuses_a_parameters_cell_that_disagrees_with_the_preset(tiny: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(config.PRESETS["book"], TINY, {"steps": 5})
    before = tiny.read_bytes()
    with pytest.raises(ValueError, match="make them agree"):
        notebooks.execute_notebook(tiny, "book")
    assert tiny.read_bytes() == before


def test_cli_smoke_preset_injects_parameters_and_leaves_the_source_alone(tiny: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    before = tiny.read_bytes()
    out_dir = tmp_path / "out"
    assert main(["notebook", str(tiny), "--preset", "smoke", "--output", str(out_dir)]) == 0
    assert "00_tiny.ipynb [smoke]: executed" in capsys.readouterr().out
    assert tiny.read_bytes() == before
    assert _printed(out_dir / tiny.name) == "smoke: 0\n"
    assert main(["notebook", str(tiny), "--preset", "smoke", "--output", str(out_dir)]) == 0
    assert "up to date, skipped" in capsys.readouterr().out


def test_output_elsewhere_stores_runs_in_a_scratch_store_beside_it(tiny: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture) -> None:
    notebook = nbformat.read(tiny, as_version=4)
    notebook.cells.append(new_code_cell('import os\nprint("store:", os.environ.get("WARMUP_RESULTS"))'))
    nbformat.write(notebook, tiny)
    monkeypatch.delenv("WARMUP_RESULTS", raising=False)
    out_dir = tmp_path / "out"
    assert main(["notebook", str(tiny), "--preset", "smoke", "--output", str(out_dir)]) == 0
    scratch = (out_dir / "results").resolve()
    assert f"runs are stored in the scratch store {scratch}" in capsys.readouterr().out
    assert _printed(out_dir / tiny.name) == f"smoke: 0\nstore: {scratch}\n"  # what the kernel saw
    assert "WARMUP_RESULTS" not in os.environ  # restored after the command
    chosen = tmp_path / "chosen"
    monkeypatch.setenv("WARMUP_RESULTS", str(chosen))  # a store the user set is kept
    assert main(["notebook", str(tiny), "--preset", "smoke", "--output", str(out_dir), "--force"]) == 0
    assert "scratch store" not in capsys.readouterr().out
    assert _printed(out_dir / tiny.name) == f"smoke: 0\nstore: {chosen}\n"


def test_a_failing_cell_raises_and_writes_nothing(tiny: Path) -> None:
    notebook = nbformat.read(tiny, as_version=4)
    notebook.cells.append(new_code_cell("raise RuntimeError('boom')"))
    nbformat.write(notebook, tiny)
    before = tiny.read_bytes()
    with pytest.raises(Exception, match="boom"):
        notebooks.execute_notebook(tiny, "book")
    assert tiny.read_bytes() == before
    assert [path.name for path in tiny.parent.iterdir()] == [tiny.name]  # no temporary file left


@pytest.mark.parametrize("path", COMMITTED, ids=[path.stem for path in COMMITTED])
def test_parameters_cell_holds_the_book_preset(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    assert notebooks.parameters_cell_values(notebook) == config.notebook_parameters(path.stem, "book")


@pytest.mark.parametrize("path", COMMITTED, ids=[path.stem for path in COMMITTED])
def test_notebook_is_thin_and_says_how_to_re_execute_it(path: Path) -> None:
    """No function or class in a notebook (its logic lives in warmup_lib.chapters, under tests), no
    rendered code line cut off at the page's edge, and a box with the command that re-executes it."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert not [source for source in code if re.search(r"^\s*(def|class) |(?<![\w.])lambda\b[\w\s,*=]*:", source, re.M)]
    assert max(len(line) for source in code for line in source.split("\n")) <= 90
    prose = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "Re-execute this chapter" in prose
    assert f"python -m warmup_lib notebook notebooks/{path.name} --preset" in prose


@pytest.mark.parametrize("path", COMMITTED, ids=[path.stem for path in COMMITTED])
def test_glued_text_holds_no_tex(path: Path) -> None:
    """A glued value is inserted into the prose as plain text: TeX in it would show as '$r$'."""
    notebook = nbformat.read(path, as_version=4)
    glued = {output.metadata["scrapbook"]["name"]: value for cell in notebook.cells if cell.cell_type == "code"
             for output in cell.outputs if "scrapbook" in output.get("metadata", {})
             for key, value in output.get("data", {}).items() if key.endswith("text/plain")}
    assert not {name: value for name, value in glued.items() if "$" in value}


@pytest.mark.parametrize("path", COMMITTED, ids=[path.stem for path in COMMITTED])
def test_committed_notebook_holds_book_outputs_and_a_claims_cell(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.get("warmup_lib", {}).get("preset") == "book", \
        "execute it with: python -m warmup_lib notebook all --preset book"
    claims = [cell for cell in notebook.cells if CLAIMS_TAG in cell.metadata.get("tags", [])]
    assert claims, f"no claims cell: tag the final claims cell {CLAIMS_TAG!r} so that nbval compares it"
    printed = "".join(output.get("text", "") for cell in claims for output in cell.outputs)
    assert re.search(r"\bHOLDS\b|\bDOES NOT HOLD\b", printed), \
        "the claims cell must print each claim with HOLDS / DOES NOT HOLD"


@pytest.mark.parametrize("path", COMMITTED, ids=[path.stem for path in COMMITTED])
def test_notebook_runs_at_the_smoke_preset(path: Path, tmp_path: Path, isolated_results: Path, repo_root: Path) -> None:
    committed_results = sorted((repo_root / "results").rglob("*"))
    before = path.read_bytes()
    assert notebooks.execute_notebook(path, "smoke", output=tmp_path / path.name, force=True)
    assert path.read_bytes() == before
    assert sorted((repo_root / "results").rglob("*")) == committed_results, \
        "a smoke run wrote into results/: the notebook must use the store root given by $WARMUP_RESULTS"


def _nbval(paths: list[Path], results_root: Path) -> subprocess.CompletedProcess:
    """nbval in lax mode on ``paths``: every cell is executed (any error fails) and the outputs of
    cells tagged ``claims`` are compared exactly, after tests/nbval_sanitize.cfg.  The results
    store is ``results_root`` (through $WARMUP_RESULTS)."""
    environment = {**os.environ, "WARMUP_RESULTS": str(results_root),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "nbval_claims_plugin",
               "--nbval-sanitize-with", str(TESTS_DIR / "nbval_sanitize.cfg"), "-p", "no:cacheprovider",
               "-q", "--rootdir", str(paths[0].parent), *map(str, paths)]
    return subprocess.run(command, cwd=paths[0].parent, env=environment, capture_output=True, text=True,
                          timeout=800)


def test_nbval_compares_claims_cells_exactly(tiny: Path, isolated_results: Path) -> None:
    notebooks.execute_notebook(tiny, "book")
    notebook = nbformat.read(tiny, as_version=4)
    notebook.cells[2].metadata["tags"] = [CLAIMS_TAG]
    nbformat.write(notebook, tiny)
    assert _nbval([tiny], isolated_results).returncode == 0
    notebook.cells[2].outputs[0].text = "book: 4\n"  # a claims output that re-execution does not give
    nbformat.write(notebook, tiny)
    result = _nbval([tiny], isolated_results)
    assert result.returncode == 1 and "book: 4" in result.stdout


@pytest.mark.skipif(not COMMITTED, reason="no notebooks committed yet")
def test_nbval_reproduces_the_committed_claims(repo_root: Path, tmp_path: Path) -> None:
    """The committed notebooks re-execute without error and print the committed claims.  Runs load
    from a copy of results/, so the committed store is never written."""
    results_copy = tmp_path / "results"
    if (repo_root / "results").is_dir():  # absent from a fresh clone until a chapter commits runs
        shutil.copytree(repo_root / "results", results_copy)
    else:
        results_copy.mkdir()
    result = _nbval(COMMITTED, results_copy)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
