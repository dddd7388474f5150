"""Criteria, verdicts over seeds, the printed spread and the evidence table."""

import math

import pytest

from warmup_lib.claims import (
    DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, ClaimSpec, Criterion, Evidence, evidence_table, parse_claims_table, verdict,
)
from warmup_lib.claims.evidence import parse_spread, spread_text


@pytest.mark.parametrize("op, threshold, value, passes", [
    (">=", 2, 2.0, True), (">=", 2, 1.99, False), (">", 2, 2.0, False), (">", 2, 2.01, True),
    ("<=", 1, 1.0, True), ("<", 1, 1.0, False), ("in", (19, 45), 19.0, True), ("in", (19, 45), 45.5, False),
    (">=", 2, math.inf, True), ("<", 1, -math.inf, True), (">=", 2, math.nan, False), ("in", (0, 1), math.nan, False),
])
def test_criterion_passes(op, threshold, value, passes):
    assert Criterion(op, threshold).passes(value) is passes


@pytest.mark.parametrize("op, threshold, text", [
    (">=", 2, ">= 2"), ("<", 0.5, "< 0.5"), ("in", (19, 45), "in [19, 45]"), (">", 1e-3, "> 0.001"),
])
def test_criterion_text(op, threshold, text):
    assert Criterion(op, threshold).text == text


@pytest.mark.parametrize("op, threshold, field", [
    ("==", 1, "op"), ("in", 1, "threshold"), ("in", (2, 1), "threshold"), (">=", (1, 2), "threshold"),
    (">=", math.nan, "threshold"), (">=", True, "threshold"), ("in", (0, math.inf), "threshold"),
])
def test_criterion_rejects_bad_input(op, threshold, field):
    with pytest.raises(ValueError, match=field):
        Criterion(op, threshold)


@pytest.mark.parametrize("values, expected", [
    ([3, 4, 5], HOLDS), ([0, 1, 1.5], DOES_NOT_HOLD), ([1, 3, 4], INCONCLUSIVE), ([2.5], HOLDS),
    ([3, math.nan, 4], INCONCLUSIVE), ([math.nan], DOES_NOT_HOLD),
])
def test_verdict_over_seeds(values, expected):
    assert verdict(values, Criterion(">=", 2)) == expected


def test_verdict_needs_a_value():
    with pytest.raises(ValueError, match="values"):
        verdict([], Criterion(">=", 2))


@pytest.mark.parametrize("values, digits, text", [
    ([2.21, 2.35, 2.28], 2, "2.28 (2.21..2.35, n=3)"), ([1.0], 2, "1.00 (n=1)"), ([7.0], 0, "7 (n=1)"),
    ([-0.001, 0.001], 2, "0.00 (0.00..0.00, n=2)"), ([1.0, math.nan, 3.0], 1, "2.0 (1.0..3.0, n=3)"),
    ([math.nan, math.nan], 2, "nan (n=2)"), ([1.0, math.inf], 2, "inf (1.00..inf, n=2)"),
])
def test_spread_text(values, digits, text):
    assert spread_text(values, digits) == text


@pytest.mark.parametrize("values", [[2.21, 2.35, 2.28], [1.5], [0.0, 4.0]])
def test_parse_spread_reads_spread_text_back(values):
    mean, low, high, n = parse_spread(spread_text(values, 3))
    assert (low, high, n) == (round(min(values), 3), round(max(values), 3), len(values))
    assert mean == pytest.approx(sum(values) / len(values), abs=1e-3)


def test_parse_spread_refuses_other_text():
    assert parse_spread("diverged") is None and parse_spread("4, 16, 59") is None


def _spec(row_id="2c", kind="paper", op=">=", threshold=1.0):
    return ClaimSpec(row_id, 2, "longer warmup, later catapult", "later", "02_sgd_warmup_mechanisms", "sgd-sp",
                     "Fig. 1", "peak step ratio", Criterion(op, threshold), "FCN-4-128", kind=kind)


def test_spec_rejects_unknown_kind_and_bad_id():
    with pytest.raises(ValueError, match="kind"):
        _spec(kind="claim")
    with pytest.raises(ValueError, match="id"):
        _spec(row_id="2 c")


def test_evidence_verdict_and_kind_marker():
    assert Evidence.of(_spec(), [1.5, 2.0, 3.0]).verdict_text == HOLDS
    assert Evidence.of(_spec(kind="definition"), [1.5, 2.0, 3.0]).verdict_text == "HOLDS [definition]"
    assert Evidence.of(_spec(), [0.5, 2.0, 3.0]).verdict == INCONCLUSIVE
    with pytest.raises(ValueError, match="seeds"):
        Evidence.of(_spec(), [1.0, 2.0], seeds=[0])
    with pytest.raises(ValueError, match="values"):
        Evidence.of(_spec(), [])


def test_evidence_table_is_exact_and_parses_back():
    rows = [Evidence.of(_spec(), [1.5, 2.5, 2.0]), Evidence.of(_spec("2d", op="<", threshold=0.5), [0.25])]
    table = evidence_table(rows)
    assert table == (
        "id  claim                                            paper  ours                    criterion  verdict\n"
        "--  -----------------------------------------------  -----  ----------------------  ---------  -------\n"
        "2c  longer warmup, later catapult (peak step ratio)  later  2.00 (1.50..2.50, n=3)  >= 1       HOLDS\n"
        "2d  longer warmup, later catapult (peak step ratio)  later  0.25 (n=1)              < 0.5      HOLDS"
    )
    parsed = parse_claims_table(table)
    assert [row["label"] for row in parsed] == ["2c", "2d"]
    assert parsed[0]["ours"] == "2.00 (1.50..2.50, n=3)" and parsed[1]["verdict"] == HOLDS


def test_evidence_table_refuses_no_rows():
    with pytest.raises(ValueError, match="evidence"):
        evidence_table([])
