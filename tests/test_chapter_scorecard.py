"""warmup_lib.chapters.scorecard: claims gathered from executed notebooks, counted and reprinted.

Oracle: fabricated chapter notebooks whose claims cells print tables made by claims.claims_table from
known claims; the scorecard must give those claims back, with the counts done by hand.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from warmup_lib.chapters import scorecard
from warmup_lib.claims import Claim, claims_table

CHAPTER_1 = [Claim("a", "first claim", "40/40", True), Claim("b", "second claim, with spaces", 0.123, False)]
CHAPTER_2 = [Claim("12e", "cells lost / gained", "1 / 1", False), Claim("15c", "x", "converged / diverged", True),
             Claim("7", "shares", "0.94 / 1.00", True)]


def _chapter(folder: Path, stem: str, claims: list[Claim], title: str | None) -> Path:
    """A notebook with an optional '# title' cell and a claims cell that printed ``claims``."""
    cells = [new_markdown_cell("Some prose.\n\n# not the first line")] if title is None else \
        [new_markdown_cell(f"# {title}\n\nIntroduction.")]
    claims_cell = new_code_cell("print_claims(...)", metadata={"tags": ["claims"]})
    claims_cell.outputs = [new_output("stream", text=claims_table(claims) + "\n")]
    path = folder / f"{stem}.ipynb"
    nbformat.write(new_notebook(cells=[*cells, new_code_cell("x = 1"), claims_cell]), path)
    return path


def _folder(tmp_path: Path) -> Path:
    _chapter(tmp_path, "02_second", CHAPTER_2, title=None)
    _chapter(tmp_path, "01_first", CHAPTER_1, title="The first chapter")
    _chapter(tmp_path, "07_scorecard", CHAPTER_1, title="Scorecard")
    (tmp_path / "notes.ipynb").write_text("{}")  # not a chapter: no NN_ prefix
    return tmp_path


def test_chapter_paths_and_titles(tmp_path: Path) -> None:
    paths = scorecard.chapter_paths(_folder(tmp_path), exclude="07_scorecard")
    assert [path.name for path in paths] == ["01_first.ipynb", "02_second.ipynb"]
    assert scorecard.chapter_title(paths[0]) == "The first chapter"
    assert scorecard.chapter_title(paths[1]) == "02_second"  # no markdown cell starts with '# '


def test_gathered_claims_are_the_printed_ones(tmp_path: Path) -> None:
    claims = scorecard.gather_claims(scorecard.chapter_paths(_folder(tmp_path), exclude="07_scorecard"))
    assert list(claims["chapter"]) == ["01"] * 2 + ["02"] * 3
    assert list(claims["label"]) == ["a", "b", "12e", "15c", "7"]
    assert list(claims["claim"]) == [claim.text for claim in CHAPTER_1 + CHAPTER_2]
    assert list(claims["measured"]) == ["40/40", "0.12", "1 / 1", "converged / diverged", "0.94 / 1.00"]
    assert list(claims["verdict"]) == [claim.verdict for claim in CHAPTER_1 + CHAPTER_2]


def test_summary_and_numbers_count_by_chapter(tmp_path: Path) -> None:
    claims = scorecard.gather_claims(scorecard.chapter_paths(_folder(tmp_path), exclude="07_scorecard"))
    summary = scorecard.summary_by_chapter(claims)
    assert summary.to_dict("records") == [
        {"chapter": "01", "title": "The first chapter", "claims": 2, "hold": 1, "do not hold": 1},
        {"chapter": "02", "title": "02_second", "claims": 3, "hold": 2, "do not hold": 1}]
    assert scorecard.scorecard_numbers(claims) == {"n_claims": 5, "n_hold": 3, "n_chapters": 2}


def test_scorecard_claims_keep_each_verdict_both_ways(tmp_path: Path) -> None:
    claims = scorecard.gather_claims(scorecard.chapter_paths(_folder(tmp_path), exclude="07_scorecard"))
    rows = scorecard.scorecard_claims(claims)
    assert [(c.label, c.measured_text, c.verdict) for c in rows] == [
        ("01.a", "40/40", "HOLDS"), ("01.b", "0.12", "DOES NOT HOLD"), ("02.12e", "1 / 1", "DOES NOT HOLD"),
        ("02.15c", "converged / diverged", "HOLDS"), ("02.7", "0.94 / 1.00", "HOLDS")]
