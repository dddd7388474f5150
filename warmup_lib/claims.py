"""The claims table that ends every chapter: claim, measured value, HOLDS / DOES NOT HOLD.

nbval compares this cell's text exactly, so the output is deterministic: measured numbers are printed
with a fixed number of decimals (negative zero printed as zero) and the layout never depends on
anything but the claims themselves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HOLDS = "HOLDS"
DOES_NOT_HOLD = "DOES NOT HOLD"


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


def parse_claims_table(text: str) -> list[dict[str, str]]:
    """Read back a table printed by :func:`claims_table`: one dict (label, claim, measured, verdict) per row.

    The dashed rule under the header gives each column's width, so claim texts may hold spaces.

    Args:
        text: the printed table (trailing newlines are ignored).

    Returns:
        One dict per row with the keys label (without its parentheses), claim, measured and verdict.

    Raises:
        ValueError: when ``text`` has no header, dashed rule and row.
    """
    lines = text.rstrip("\n").split("\n")
    if len(lines) < 3 or set(lines[1].replace(" ", "")) != {"-"}:
        raise ValueError("text: not a claims table (expected a header, a dashed rule and at least one row)")
    widths = [len(dashes) for dashes in lines[1].split("  ")]
    starts = [sum(widths[:i]) + 2 * i for i in range(len(widths))]
    rows = []
    for line in lines[2:]:
        cells = [line[start:start + width].strip() for start, width in zip(starts, widths)]
        rows.append({"label": cells[0].strip("()"), "claim": cells[1], "measured": cells[2], "verdict": cells[3]})
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
