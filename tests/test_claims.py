"""Reading claims tables back: from printed text and from the committed chapters' claims cells."""

from pathlib import Path

import pytest

from warmup_lib.claims import VERDICTS, ClaimSpec, Criterion, Evidence, evidence_table, notebook_claims, parse_claims_table
from warmup_lib.claims.evidence import parse_spread


def test_print_evidence_prints_the_table(capsys):
    from warmup_lib.claims import print_evidence

    spec = ClaimSpec("c", 1, "a claim", "-", "x", "sec", "-", "value", Criterion(">", 0), "tiny")
    rows = [Evidence.of(spec, [2.0, 3.0])]
    print_evidence(rows)
    assert capsys.readouterr().out == evidence_table(rows) + "\n"


def test_parse_claims_table_keeps_spaces_inside_cells() -> None:
    text = ("id  claim                         verdict\n"
            "--  ----------------------------  -------------\n"
            "1a  muP sharpens  progressively   HOLDS\n"
            "13  GI-Adam lowers lambda_0       DOES NOT HOLD")
    assert parse_claims_table(text) == [
        {"label": "1a", "claim": "muP sharpens  progressively", "verdict": "HOLDS"},
        {"label": "13", "claim": "GI-Adam lowers lambda_0", "verdict": "DOES NOT HOLD"},
    ]


def test_parse_claims_table_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="not a claims table"):
        parse_claims_table("book: 4\n")


def test_notebook_claims_reads_every_committed_chapter() -> None:
    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0[1-7]_*.ipynb"))
    assert len(notebooks) == 7
    for path in notebooks:
        rows = notebook_claims(path)
        assert rows, path.name
        for row in rows:
            assert row["verdict"].split(" [", 1)[0] in VERDICTS, (path.name, row)
            assert parse_spread(row["ours"]) is not None, (path.name, row)
