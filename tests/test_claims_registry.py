"""The claims registry: well-formed rows, and the committed chapters print exactly its rows.

Oracle for the second part: the executed notebooks on main (their claims cells are what the book shows);
every row they print must be the registry's, with the registry's text, paper value and criterion, and
every row counted as the paper's must rest on at least three seeds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warmup_lib.claims import KINDS, notebook_claims, registry
from warmup_lib.claims.evidence import parse_spread

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTERS = sorted({spec.chapter for spec in registry.REGISTRY.values()})
MIN_SEEDS = 3


def test_paper_claims_are_the_checklist_1_to_15():
    assert [claim.number for claim in registry.PAPER_CLAIMS] == list(range(1, 16))
    assert registry.paper_claim(9).figures == "Figs. 17, 20"
    with pytest.raises(ValueError, match="number"):
        registry.paper_claim(16)


@pytest.mark.parametrize("spec", registry.REGISTRY.values(), ids=list(registry.REGISTRY))
def test_row_is_well_formed(spec):
    assert spec.kind in KINDS
    # textbook rows have claim 0; rows beyond the paper may too (claims of later work); evidence has 1-15
    assert spec.kind != "textbook" or spec.paper_claim == 0, "a textbook row tests no claim of the paper"
    assert spec.paper_claim != 0 or spec.kind in ("textbook", "beyond"), "a claim-0 row is textbook or beyond"
    assert 0 <= spec.paper_claim <= 15
    assert (NOTEBOOKS / f"{spec.chapter}.ipynb").is_file(), f"{spec.id}: no notebook {spec.chapter}"
    assert spec.statement and spec.metric and spec.paper_value and spec.scale and spec.section
    assert len(spec.statement) + len(spec.metric) <= 110, f"{spec.id}: claim text too long for the table"


def test_duplicate_ids_are_refused():
    class Module:
        __name__ = "fake"
        ROWS = (next(iter(registry.REGISTRY.values())),) * 2 if registry.REGISTRY else ()

    if not Module.ROWS:
        pytest.skip("empty registry")
    with pytest.raises(ValueError, match="twice"):
        registry._collect([Module])


def test_chapter_evidence_checks_the_ids():
    chapter = CHAPTERS[0]
    ids = [spec.id for spec in registry.chapter_rows(chapter)]
    with pytest.raises(ValueError, match="missing"):
        registry.chapter_evidence(chapter, {})
    with pytest.raises(ValueError, match="not its rows"):
        registry.chapter_evidence(chapter, {**{i: [1.0] for i in ids}, "no-such-row": [1.0]})
    evidence = registry.chapter_evidence(chapter, {i: [1.0, 2.0] for i in ids}, seeds=[0, 1])
    assert [row.spec.id for row in evidence] == ids and evidence[0].seeds == (0, 1)
    with pytest.raises(ValueError, match="chapter"):
        registry.chapter_rows("99_nothing")


def _section_labels(chapter: str) -> set[str]:
    cells = json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text())["cells"]
    text = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    return {line.strip()[1:-2] for line in text.split("\n") if line.strip().startswith("(") and line.strip().endswith(")=")}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_committed_chapter_prints_exactly_its_registry_rows(chapter):
    printed = notebook_claims(NOTEBOOKS / f"{chapter}.ipynb")
    rows = registry.chapter_rows(chapter)
    assert [row["label"] for row in printed] == [spec.id for spec in rows], "re-execute the chapter"
    labels = _section_labels(chapter)
    for row, spec in zip(printed, rows):
        assert row["claim"] == f"{spec.statement} ({spec.metric})", f"{spec.id}: stale claim text"
        assert row["paper"] == spec.paper_value and row["criterion"] == spec.criterion.text, spec.id
        assert spec.section in labels, f"{spec.id}: no target ({spec.section})= in {chapter}"
        spread = parse_spread(row["ours"])
        assert spread is not None, f"{spec.id}: 'ours' is not a mean and spread: {row['ours']!r}"
        if spec.counted:
            assert spread[3] >= MIN_SEEDS, f"{spec.id}: a verdict on {spread[3]} seeds (at least {MIN_SEEDS})"
