"""The scorecard chapter (notebooks/07_scorecard.ipynb): every chapter's claims cell in one table.

The claims are read back from the executed notebooks (:func:`warmup_lib.claims.notebook_claims`),
never typed in, so the scorecard cannot disagree with a chapter.  A chapter is a notebook
``NN_slug.ipynb`` of the notebooks folder; its title is its first ``# `` heading.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from warmup_lib.claims import HOLDS, Claim, notebook_claims

def chapter_paths(folder: str | Path, exclude: str) -> list[Path]:
    """The chapters' notebooks in ``folder`` (``NN_*.ipynb``), in order, without the one named ``exclude``.

    Args:
        folder: the notebooks folder.
        exclude: a notebook stem to leave out (the scorecard itself).

    Returns:
        The paths, sorted by name (so by chapter number).
    """
    return sorted(path for path in Path(folder).glob("[0-9][0-9]_*.ipynb") if path.stem != exclude)


def chapter_title(path: str | Path) -> str:
    """The text of the first markdown line starting with ``# `` in the notebook at ``path``.

    Args:
        path: a notebook (.ipynb).

    Returns:
        The title, or the file's stem when no markdown cell starts with a level-1 heading.
    """
    path = Path(path)
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            first = "".join(cell["source"]).lstrip().split("\n", 1)[0]
            if first.startswith("# "):
                return first[2:].strip()
    return path.stem


def gather_claims(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Every claim printed by the claims cells of the notebooks at ``paths``, in order.

    Args:
        paths: executed chapter notebooks, each with a cell tagged 'claims'.

    Returns:
        One row per claim: chapter (the stem's two-digit number), title, label, claim, measured
        and verdict (the printed texts).
    """
    rows = [{"chapter": Path(path).stem[:2], "title": chapter_title(path), **row}
            for path in paths for row in notebook_claims(path)]
    return pd.DataFrame(rows, columns=["chapter", "title", "label", "claim", "measured", "verdict"])


def summary_by_chapter(scorecard: pd.DataFrame) -> pd.DataFrame:
    """Claims per chapter: how many were tested, how many hold and how many do not.

    Args:
        scorecard: a table of :func:`gather_claims`.

    Returns:
        One row per chapter (sorted): chapter, title, claims, hold, 'do not hold'.
    """
    holds = scorecard.assign(holds=scorecard["verdict"].eq(HOLDS))
    summary = (holds.groupby(["chapter", "title"], sort=True)["holds"]
               .agg(claims="size", hold="sum").reset_index())
    summary["do not hold"] = summary["claims"] - summary["hold"]
    return summary


def scorecard_numbers(scorecard: pd.DataFrame) -> dict[str, int]:
    """The numbers the prose cites (keys: glue names): claims tested, claims that hold, chapters."""
    return {"n_claims": len(scorecard), "n_hold": int(scorecard["verdict"].eq(HOLDS).sum()),
            "n_chapters": scorecard["chapter"].nunique()}


def scorecard_claims(scorecard: pd.DataFrame) -> list[Claim]:
    """The scorecard as claims: label 'chapter.label', the chapter's text, measured value and verdict.

    Args:
        scorecard: a table of :func:`gather_claims`.

    Returns:
        One :class:`~warmup_lib.claims.Claim` per row, holding exactly where the chapter printed HOLDS.
    """
    return [Claim(f"{row.chapter}.{row.label}", row.claim, row.measured, row.verdict == HOLDS)
            for row in scorecard.itertuples()]
