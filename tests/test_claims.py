"""The claims table: fixed rounding, verdict words, deterministic layout."""

from pathlib import Path

import pytest

from warmup_lib.claims import (
    DOES_NOT_HOLD, HOLDS, Claim, claims_table, format_value, notebook_claims, parse_claims_table, print_claims,
)


@pytest.mark.parametrize("value, digits, text", [
    (3.14159, 2, "3.14"), (2.5, 0, "2"), (3.5, 0, "4"), (-0.001, 2, "0.00"), (-0.02, 2, "-0.02"),
    (7, 2, "7"), ("40/40", 2, "40/40"), (float("nan"), 2, "nan"), (1234.5678, 1, "1234.6"),
])
def test_format_value(value, digits, text):
    assert format_value(value, digits) == text


@pytest.mark.parametrize("value", [True, None, [1.0]])
def test_format_value_rejects_other_types(value):
    with pytest.raises(ValueError, match="value"):
        format_value(value)


def test_claim_verdict_and_measured_text():
    assert Claim("a", "x", 1.234, True).verdict == HOLDS
    assert Claim("a", "x", 1.234, False, digits=1).verdict == DOES_NOT_HOLD
    assert Claim("a", "x", 1.234, False, digits=1).measured_text == "1.2"


def test_claims_table_layout_is_exact():
    table = claims_table([Claim("a", "short claim", 0.5, True), Claim("b", "a longer claim", 12.345, False, digits=1)])
    assert table == (
        "     claim           measured  verdict\n"
        "---  --------------  --------  -------------\n"
        "(a)  short claim     0.50      HOLDS\n"
        "(b)  a longer claim  12.3      DOES NOT HOLD"
    )


def test_print_claims_prints_the_table(capsys):
    claims = [Claim("c", "a claim", 2.0, True)]
    print_claims(claims)
    assert capsys.readouterr().out == claims_table(claims) + "\n"


def test_empty_claims_rejected():
    with pytest.raises(ValueError, match="claims"):
        claims_table([])


def test_parse_claims_table_reads_back_what_claims_table_printed() -> None:
    claims = [Claim("1a", "muP sharpens  progressively", 2.284, True),
              Claim("13", "GI-Adam lowers lambda_0", "30x", False, digits=1)]
    rows = parse_claims_table(claims_table(claims))
    assert rows == [
        {"label": "1a", "claim": "muP sharpens  progressively", "measured": "2.28", "verdict": "HOLDS"},
        {"label": "13", "claim": "GI-Adam lowers lambda_0", "measured": "30x", "verdict": "DOES NOT HOLD"},
    ]


def test_parse_claims_table_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="not a claims table"):
        parse_claims_table("book: 4\n")


def test_notebook_claims_reads_every_committed_chapter() -> None:
    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0[1-6]_*.ipynb"))
    for path in notebooks:
        rows = notebook_claims(path)
        assert rows and all(row["verdict"] in ("HOLDS", "DOES NOT HOLD") for row in rows), path.name
