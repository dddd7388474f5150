"""The claims table that ends every chapter, and reading it back from an executed notebook.

A chapter prints :func:`evidence_table` of its rows of the registry: id, claim, the paper's value,
ours (mean and spread over seeds), the criterion and the verdict.  nbval compares this cell's text
exactly, so the output is deterministic: numbers are printed with a fixed number of decimals
(negative zero printed as zero) and the layout depends on nothing but the rows themselves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from warmup_lib.claims.evidence import DOES_NOT_HOLD, HOLDS
from warmup_lib.claims.spec import Evidence

EVIDENCE_COLUMNS = ("id", "claim", "paper", "ours", "criterion", "verdict")


def format_value(value: float | int | str, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals (ints as ints, strings as they are, -0.00 as 0.00, NaN as 'nan').

    Args:
        value: the measured value: a float, an int or a str (bool is refused).
        digits: the decimals of a float.

    Returns:
        The text.

    Raises:
        ValueError: when ``value`` is not a float, an int or a str (or is a bool).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"value: got {value!r}; must be a float, an int or a str")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


@dataclass(frozen=True)
class Claim:
    """One claim tested in a chapter: its text, the measured value, and whether the claim holds."""

    label: str
    text: str
    measured: float | int | str
    holds: bool
    digits: int = 2

    @property
    def verdict(self) -> str:
        """'HOLDS' when the claim holds, else 'DOES NOT HOLD'."""
        return HOLDS if self.holds else DOES_NOT_HOLD

    @property
    def measured_text(self) -> str:
        """The measured value as printed in the table (:func:`format_value` with ``digits``)."""
        return format_value(self.measured, self.digits)


def claims_table(claims: Sequence[Claim]) -> str:
    """A fixed-width text table with columns claim, measured, verdict (one row per claim, in order).

    Args:
        claims: the chapter's claims, at least one.

    Returns:
        The table: a header, a dashed rule, then one row per claim ("(label)", text, measured,
        verdict), columns left-aligned and two spaces apart, trailing spaces stripped.

    Raises:
        ValueError: when ``claims`` is empty.
    """
    if not claims:
        raise ValueError("claims: got an empty list; a chapter tests at least one claim")
    rows = [("", "claim", "measured", "verdict")]
    rows += [(f"({c.label})", c.text, c.measured_text, c.verdict) for c in claims]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def print_claims(claims: Sequence[Claim]) -> None:
    """Print :func:`claims_table` (the claims cell's only output).

    Args:
        claims: the chapter's claims, at least one.

    Raises:
        ValueError: when ``claims`` is empty.
    """
    print(claims_table(claims))


def fixed_width_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of text cells as a fixed-width table: the first row is the header, a dashed rule under it.

    Args:
        rows: the header then the body rows, all of the same length.

    Returns:
        The table, columns left-aligned and two spaces apart, trailing spaces stripped.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def evidence_table(evidence: Sequence[Evidence]) -> str:
    """The claims table of a chapter: one row per :class:`~warmup_lib.claims.spec.Evidence`, in order.

    Columns: id, claim (the row's statement and metric), paper (the paper's value), ours (mean
    (min..max, n=seeds)), criterion (per seed) and verdict (rows not counted as the paper's carry
    their kind in brackets).

    Args:
        evidence: the chapter's rows with their values, at least one.

    Returns:
        The table (:func:`fixed_width_table`).

    Raises:
        ValueError: when ``evidence`` is empty.
    """
    if not evidence:
        raise ValueError("evidence: got an empty list; a chapter tests at least one claim")
    rows = [EVIDENCE_COLUMNS]
    rows += [(row.spec.id, f"{row.spec.statement} ({row.spec.metric})", row.spec.paper_value, row.ours,
              row.spec.criterion.text, row.verdict_text) for row in evidence]
    return fixed_width_table(rows)


def print_evidence(evidence: Sequence[Evidence]) -> None:
    """Print :func:`evidence_table` (the claims cell's only output).

    Args:
        evidence: the chapter's rows with their values, at least one.

    Raises:
        ValueError: when ``evidence`` is empty.
    """
    print(evidence_table(evidence))


def parse_claims_table(text: str) -> list[dict[str, str]]:
    """Read back a table printed by :func:`evidence_table` (or :func:`claims_table`): one dict per row.

    The dashed rule under the header gives each column's width, so cells may hold spaces.  The
    keys are the header's words; the first column is always ``label`` (its text without
    parentheses), whatever its header.

    Args:
        text: the printed table (trailing newlines are ignored).

    Returns:
        One dict per row, keyed by column.

    Raises:
        ValueError: when ``text`` has no header, dashed rule and row.
    """
    lines = text.rstrip("\n").split("\n")
    if len(lines) < 3 or set(lines[1].replace(" ", "")) != {"-"}:
        raise ValueError("text: not a claims table (expected a header, a dashed rule and at least one row)")
    widths = [len(dashes) for dashes in lines[1].split("  ")]
    starts = [sum(widths[:i]) + 2 * i for i in range(len(widths))]

    def cells(line: str) -> list[str]:
        return [line[start:start + width].strip() for start, width in zip(starts, widths)]

    names = ["label", *cells(lines[0])[1:]]
    rows = []
    for line in lines[2:]:
        row = dict(zip(names, cells(line)))
        row["label"] = row["label"].strip("()")
        rows.append(row)
    return rows


def notebook_claims(path: str | Path) -> list[dict[str, str]]:
    """The claims printed by the cell tagged 'claims' of the executed notebook at ``path``.

    Args:
        path: an executed .ipynb file; the last cell tagged 'claims' is read.

    Returns:
        The rows of its printed table (:func:`parse_claims_table`).

    Raises:
        ValueError: when no cell is tagged 'claims' or its output is not a claims table.
    """
    notebook = json.loads(Path(path).read_text())
    cells = [cell for cell in notebook["cells"] if "claims" in cell.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"path: {path} has no cell tagged 'claims'")
    text = "".join("".join(output.get("text", "")) for output in cells[-1].get("outputs", []))
    return parse_claims_table(text)
