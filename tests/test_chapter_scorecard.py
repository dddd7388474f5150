"""warmup_lib.chapters.scorecard: rows read back from executed notebooks, joined with the registry, grouped
by paper claim.

Oracle: fabricated chapter notebooks whose claims cells print tables made by claims.evidence_table from a
fabricated registry with known per-seed values; the scorecard must give those rows back, with the verdicts
and counts done by hand.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from warmup_lib.chapters import scorecard
from warmup_lib.claims import ClaimSpec, Criterion, Evidence, PaperClaim, evidence_table


def _spec(row_id, claim, chapter, kind="paper", op=">=", threshold=2.0):
    return ClaimSpec(row_id, claim, f"statement {row_id}", "~2", chapter, f"sec-{row_id}", "Fig. 1",
                     "ratio", Criterion(op, threshold), "FCN", kind=kind)


REGISTRY = {spec.id: spec for spec in [
    _spec("T1", 0, "01_first", kind="textbook"), _spec("1a", 1, "01_first"),
    _spec("2a", 2, "02_second"), _spec("1b", 1, "02_second"), _spec("2b", 2, "02_second", kind="definition"),
]}
PAPER = (PaperClaim(1, "claim one", "Fig. 1"), PaperClaim(2, "claim two", "Fig. 2"),
         PaperClaim(3, "claim three", "Fig. 3"))
VALUES = {"T1": [3, 3, 3], "1a": [2.5, 3.0, 3.5], "2a": [1.0, 2.5, 3.0], "1b": [0.5, 1.0, 1.5], "2b": [5, 5, 5]}
# by hand: 1a HOLDS, 2a INCONCLUSIVE, 1b DOES NOT HOLD, 2b HOLDS [definition], T1 HOLDS [textbook]


def _chapter(folder: Path, stem: str, ids: list[str], title: str | None) -> Path:
    """A notebook with an optional '# title' cell and a claims cell that printed the rows ``ids``."""
    cells = [new_markdown_cell("Some prose.\n\n# not the first line")] if title is None else \
        [new_markdown_cell(f"# {title}\n\nIntroduction.")]
    claims_cell = new_code_cell("print_evidence(...)", metadata={"tags": ["claims"]})
    text = evidence_table([Evidence.of(REGISTRY[row_id], VALUES[row_id]) for row_id in ids])
    claims_cell.outputs = [new_output("stream", text=text + "\n")]
    path = folder / f"{stem}.ipynb"
    nbformat.write(new_notebook(cells=[*cells, new_code_cell("x = 1"), claims_cell]), path)
    return path


def _rows(tmp_path: Path):
    _chapter(tmp_path, "01_first", ["T1", "1a"], title="The first chapter")
    _chapter(tmp_path, "02_second", ["2a", "1b", "2b"], title=None)
    _chapter(tmp_path, "09_scorecard", ["1a"], title="Scorecard")
    (tmp_path / "notes.ipynb").write_text("{}")  # not a chapter: no NN_ prefix
    return scorecard.gather_rows(scorecard.chapter_paths(tmp_path, exclude="09_scorecard"), REGISTRY)


def test_chapter_paths_and_titles(tmp_path: Path) -> None:
    _rows(tmp_path)
    paths = scorecard.chapter_paths(tmp_path, exclude="09_scorecard")
    assert [path.name for path in paths] == ["01_first.ipynb", "02_second.ipynb"]
    assert scorecard.chapter_title(paths[0]) == "The first chapter"
    assert scorecard.chapter_title(paths[1]) == "02_second"  # no markdown cell starts with '# '


def test_gathered_rows_are_the_printed_ones_joined_with_the_registry(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    assert list(rows["id"]) == ["T1", "1a", "2a", "1b", "2b"]
    assert list(rows["verdict"]) == ["HOLDS", "HOLDS", "INCONCLUSIVE", "DOES NOT HOLD", "HOLDS"]
    assert list(rows["kind"]) == ["textbook", "paper", "paper", "paper", "definition"]
    assert rows.loc[1, "ours"] == "3.00 (2.50..3.50, n=3)" and rows.loc[1, "paper"] == "~2"
    assert rows.loc[1, "criterion"] == ">= 2"


def test_a_row_missing_from_the_registry_or_in_the_wrong_chapter_is_refused(tmp_path: Path) -> None:
    _chapter(tmp_path, "01_first", ["1a"], title="x")
    with pytest.raises(ValueError, match="lacks"):
        scorecard.gather_rows([tmp_path / "01_first.ipynb"], {})
    moved = {**REGISTRY, "1a": _spec("1a", 1, "02_second")}
    with pytest.raises(ValueError, match="gives"):
        scorecard.gather_rows([tmp_path / "01_first.ipynb"], moved)


@pytest.mark.parametrize("verdicts, status", [
    ([], "not tested"), (["HOLDS", "HOLDS"], "HOLDS"), (["DOES NOT HOLD"], "DOES NOT HOLD"),
    (["INCONCLUSIVE"], "INCONCLUSIVE"), (["HOLDS", "INCONCLUSIVE"], "partly"),
])
def test_claim_status(verdicts, status):
    assert scorecard.claim_status(verdicts) == status


def test_summary_and_numbers_count_only_paper_rows(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    summary = scorecard.claims_summary(rows, PAPER)
    assert list(summary["rows"]) == [2, 1, 0]
    assert list(summary["status"]) == ["partly", "INCONCLUSIVE", "not tested"]
    assert scorecard.scorecard_numbers(rows, PAPER) == {
        "n_rows": 3, "n_hold": 1, "n_not": 1, "n_inconclusive": 1, "n_claims": 3, "n_tested": 2,
        "n_claims_hold": 0, "n_definition": 1, "n_beyond": 0, "n_textbook": 1, "n_chapters": 2}


def test_markdown_groups_by_claim_links_sections_and_lists_untested_claims(tmp_path: Path) -> None:
    text = scorecard.scorecard_markdown(_rows(tmp_path), PAPER)
    lines = text.split("\n")
    assert lines[0] == "| claim | row | what we test | paper | ours | scale | verdict | shown in |"
    assert [line.split(" | ")[1] for line in lines[2:]] == ["1a", "1b", "2a", ""]
    assert lines[2].startswith("| 1 | 1a |") and lines[3].startswith("|  | 1b |")
    assert "{ref}`ch. 01 <sec-1a>`" in lines[2] and "**DOES NOT HOLD**" in lines[3]
    assert lines[5] == "| 3 |  | claim three |  |  |  | not tested |  |"
    textbook = scorecard.scorecard_markdown(_rows(tmp_path), PAPER, kinds=("textbook", "definition"))
    assert [line.split(" | ")[1] for line in textbook.split("\n")[2:]] == ["2b", "T1"]


def test_verdicts_text_lists_counted_rows_by_claim(tmp_path: Path) -> None:
    assert scorecard.verdicts_text(_rows(tmp_path)).split("\n") == [
        "id  claim  ours                    verdict",
        "--  -----  ----------------------  -------------",
        "1a  1      3.00 (2.50..3.50, n=3)  HOLDS",
        "1b  1      1.00 (0.50..1.50, n=3)  DOES NOT HOLD",
        "2a  2      2.17 (1.00..3.00, n=3)  INCONCLUSIVE"]
