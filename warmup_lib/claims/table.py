"""The claims table that ends every chapter, and reading it back from an executed notebook.

A chapter prints :func:`evidence_table` of its rows of the registry: id, claim, the paper's value,
ours (mean and spread over seeds), the criterion and the verdict.  nbval compares this cell's text
exactly, so the output is deterministic: numbers are printed with a fixed number of decimals
(negative zero printed as zero) and the layout depends on nothing but the rows themselves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from warmup_lib.claims.spec import Evidence

EVIDENCE_COLUMNS = ("id", "claim", "paper", "ours", "criterion", "verdict")


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
    """Read back a table printed by :func:`evidence_table` : one dict per row.

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
