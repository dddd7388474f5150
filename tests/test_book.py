"""The book: table of contents, a warnings-as-errors build, figures in pages, MathJax served locally,
an API page for every public name.

The book is built once per test session (about a minute) into a temporary folder, from the
committed notebooks and their outputs: the builder executes nothing (``execute_notebooks: off``).
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

import warmup_lib
from warmup_lib.tools.notebooks import list_notebooks

MATHJAX_LOCAL = "_static/mathjax/tex-mml-chtml.js"
# Any remote address in a src or href that the browser fetches while rendering (not plain links).
REMOTE_ASSET = re.compile(r"<(?:script|img|iframe)[^>]*\bsrc=\"(?:https?:)?//|<link[^>]*\bhref=\"(?:https?:)?//")


def _toc_files(repo_root: Path) -> list[str]:
    toc = yaml.safe_load((repo_root / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        assert part.get("chapters"), f"part {part.get('caption')!r} has no chapter (jupyter-book errors on empty parts)"
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def _source_of(repo_root: Path, entry: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        if (repo_root / f"{entry}{suffix}").is_file():
            return repo_root / f"{entry}{suffix}"
    return None


def _page(html_dir: Path, entry: str) -> str:
    return (html_dir / f"{entry}.html").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def built_book(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """One build of the whole book, shared by every HTML check: (the build's result, html folder)."""
    output = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(repo_root), "--path-output", str(output),
                             "--warningiserror", "--keep-going"], capture_output=True, text=True, timeout=600)
    return result, output / "_build" / "html"


def test_toc_lists_existing_files_and_every_chapter(repo_root: Path) -> None:
    entries = _toc_files(repo_root)
    missing = [entry for entry in entries if _source_of(repo_root, entry) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"
    chapters = {f"notebooks/{path.stem}" for path in list_notebooks(repo_root / "notebooks")}
    chapters |= {f"book/{path.stem}" for path in (repo_root / "book").glob("*.md")}
    unlisted = sorted(chapters - set(entries))
    assert not unlisted, f"chapters missing from _toc.yml: {unlisted}"


def test_book_builds_without_warnings(built_book: tuple[subprocess.CompletedProcess, Path]) -> None:
    result, html_dir = built_book
    log = result.stdout + result.stderr
    problems = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0, "\n".join(problems) or log[-4000:]
    assert (html_dir / "index.html").is_file()


def test_every_notebook_figure_is_in_its_page(repo_root: Path, built_book: tuple[subprocess.CompletedProcess, Path]) -> None:
    """Each PNG output of a committed notebook is an image file of the build shown by its page."""
    _, html_dir = built_book
    built_images = {hashlib.sha256(path.read_bytes()).hexdigest(): path.name
                    for path in (html_dir / "_images").glob("*.png")}
    for path in list_notebooks(repo_root / "notebooks"):
        page = _page(html_dir, f"notebooks/{path.stem}")
        shown = set(re.findall(r"<img[^>]*src=\"\.\./_images/([^\"]+)\"", page))
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                if png is None:
                    continue
                digest = hashlib.sha256(base64.b64decode(png)).hexdigest()
                assert digest in built_images, f"a figure of {path.name} is missing from the build"
                assert built_images[digest] in shown, f"a figure of {path.name} is not shown on its page"


def test_mathjax_is_served_from_the_build(built_book: tuple[subprocess.CompletedProcess, Path]) -> None:
    _, html_dir = built_book
    page = (html_dir / "book" / "intro.html").read_text(encoding="utf-8")
    assert f'src="../{MATHJAX_LOCAL}"' in page
    assert "cdn.jsdelivr.net" not in page and "mathjax@3" not in page
    assert (html_dir / MATHJAX_LOCAL).is_file()
    assert (html_dir / "_static/mathjax/output/chtml/fonts/woff-v2").is_dir(), "MathJax fonts are missing"


def test_code_cells_are_set_to_fit_90_characters(built_book: tuple[subprocess.CompletedProcess, Path]) -> None:
    """The book's stylesheet (book/_static/code.css) is served and linked from every chapter."""
    _, html_dir = built_book
    assert "font-size" in (html_dir / "_static" / "code.css").read_text()
    for page in sorted((html_dir / "notebooks").glob("*.html")):
        assert "_static/code.css" in page.read_text(encoding="utf-8"), page.name


def test_pages_fetch_nothing_from_the_internet(built_book: tuple[subprocess.CompletedProcess, Path]) -> None:
    _, html_dir = built_book
    remote = [str(page.relative_to(html_dir)) for page in html_dir.rglob("*.html")
              if REMOTE_ASSET.search(page.read_text(encoding="utf-8"))]
    assert not remote, f"pages that load scripts, styles or images from the internet: {remote}"


def test_api_page_documents_every_public_name(built_book: tuple[subprocess.CompletedProcess, Path]) -> None:
    """book/api.md lists exactly warmup_lib.__all__, and napoleon turned Args:/Returns: into fields."""
    _, html_dir = built_book
    page = _page(html_dir, "book/api")
    entries = re.split(r'<dt class="sig sig-object py" id="', page)[1:]
    by_id = {entry.split('"', 1)[0]: entry for entry in entries}
    public = {name.removeprefix("warmup_lib.") for name in by_id if name.count(".") == 1}
    assert public == set(warmup_lib.__all__)
    critical_lr = re.sub(r"<[^>]+>", "", by_id["warmup_lib.critical_lr"])
    assert "Parameters:" in critical_lr and "Returns:" in critical_lr and "Args:" not in critical_lr
