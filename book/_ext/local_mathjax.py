"""Sphinx extension: serve MathJax 3 from the book itself, so pages typeset math with no internet.

Sphinx's mathjax extension points at a CDN by default.  This extension copies MathJax's ``es5``
folder (from the PyPI package ``django-static-mathjax``, which ships MathJax 3.2.2) into the
build's ``_static/mathjax/`` and sets ``mathjax_path`` to it; a relative ``mathjax_path`` is
resolved against ``_static/`` by Sphinx.  Nothing is committed: the files come with the install.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mathjax  # the package django-static-mathjax installs; holds static/mathjax/es5
from sphinx.application import Sphinx

MATHJAX_ES5 = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
MATHJAX_ENTRY = "tex-mml-chtml.js"
STATIC_SUBDIR = "mathjax"


def _point_to_local_copy(app: Sphinx) -> None:
    if not (MATHJAX_ES5 / MATHJAX_ENTRY).is_file():
        raise FileNotFoundError(f"MathJax entry point missing: {MATHJAX_ES5 / MATHJAX_ENTRY}")
    app.config.mathjax_path = f"{STATIC_SUBDIR}/{MATHJAX_ENTRY}"


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        # The whole es5 folder: the entry point loads fonts and TeX extensions from beside itself.
        shutil.copytree(MATHJAX_ES5, Path(app.outdir) / "_static" / STATIC_SUBDIR, dirs_exist_ok=True)


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("builder-inited", _point_to_local_copy)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
