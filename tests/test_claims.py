"""The claims table: fixed rounding, verdict words, deterministic layout."""

import pytest

from warmup_lib.claims import DOES_NOT_HOLD, HOLDS, Claim, claims_table, format_value, print_claims


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
