"""The scorecard chapter (notebooks/09_scorecard.ipynb): every claims row of the book, by paper claim.

Each chapter prints its rows of the claims registry (:mod:`warmup_lib.claims.registry`) with our
values and verdicts.  The scorecard reads those printed tables back from the executed notebooks
(:func:`warmup_lib.claims.notebook_claims`), never types them in, and joins them with the registry
(the paper's value, the scale, the kind), so it cannot disagree with a chapter.  Only rows of
kind 'paper' count as evidence; rows true by construction ('definition'), beyond the paper
('beyond') and the primer's textbook checks ('textbook') are listed apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from warmup_lib.claims import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, notebook_claims
from warmup_lib.claims.registry import PAPER_CLAIMS, REGISTRY
from warmup_lib.claims.spec import ClaimSpec, PaperClaim
from warmup_lib.claims.table import fixed_width_table

NOT_TESTED = "not tested"
ROW_COLUMNS = ["chapter", "id", "paper_claim", "kind", "statement", "metric", "paper", "ours", "criterion",
               "scale", "section", "verdict"]


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


def base_verdict(printed: str) -> str:
    """The verdict of a printed row without its kind marker ('HOLDS [definition]' -> 'HOLDS')."""
    return printed.split(" [", 1)[0]


def gather_rows(paths: Sequence[str | Path], registry: Mapping[str, ClaimSpec] = REGISTRY) -> pd.DataFrame:
    """Every row printed by the claims cells of the notebooks at ``paths``, joined with the registry.

    Args:
        paths: executed chapter notebooks, each with a cell tagged 'claims' printing registry rows.
        registry: the rows by id.

    Returns:
        One row per printed row, in order, with the columns of :data:`ROW_COLUMNS`: the chapter
        (notebook stem), what the registry says of the row, and ``ours`` and ``verdict`` as printed
        (the verdict without its kind marker).

    Raises:
        ValueError: naming a printed id that the registry lacks, or one printed by another chapter
            than the registry's.
    """
    rows = []
    for path in paths:
        stem = Path(path).stem
        for printed in notebook_claims(path):
            spec = registry.get(printed["label"])
            if spec is None:
                raise ValueError(f"paths: {stem} prints row {printed['label']!r}, which the claims registry lacks")
            if spec.chapter != stem:
                raise ValueError(f"paths: {stem} prints row {spec.id!r}, which the registry gives to {spec.chapter}")
            rows.append({"chapter": stem, "id": spec.id, "paper_claim": spec.paper_claim, "kind": spec.kind,
                         "statement": spec.statement, "metric": spec.metric, "paper": spec.paper_value,
                         "ours": printed["ours"], "criterion": spec.criterion.text, "scale": spec.scale,
                         "section": spec.section, "verdict": base_verdict(printed["verdict"])})
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


def claim_status(verdicts: Sequence[str]) -> str:
    """One paper claim's status from the verdicts of its counted rows.

    Args:
        verdicts: the verdicts of the claim's rows of kind 'paper'.

    Returns:
        'not tested' (no row), 'HOLDS' or 'DOES NOT HOLD' (every row agrees), 'INCONCLUSIVE'
        (every row is), else 'partly' (the rows disagree).
    """
    if len(verdicts) == 0:
        return NOT_TESTED
    kinds = set(verdicts)
    return kinds.pop() if len(kinds) == 1 else "partly"


def claims_summary(rows: pd.DataFrame, paper_claims: Sequence[PaperClaim] = PAPER_CLAIMS) -> pd.DataFrame:
    """One line per paper claim: its statement, figures, counted rows by verdict, and status.

    Args:
        rows: a table of :func:`gather_rows`.
        paper_claims: the paper's checklist.

    Returns:
        Columns claim, statement, figures, rows, hold, 'do not hold', inconclusive, status.
    """
    counted = rows[rows["kind"] == "paper"]
    lines = []
    for claim in paper_claims:
        verdicts = list(counted.loc[counted["paper_claim"] == claim.number, "verdict"])
        lines.append({"claim": claim.number, "statement": claim.statement, "figures": claim.figures,
                      "rows": len(verdicts), "hold": verdicts.count(HOLDS),
                      "do not hold": verdicts.count(DOES_NOT_HOLD), "inconclusive": verdicts.count(INCONCLUSIVE),
                      "status": claim_status(verdicts)})
    return pd.DataFrame(lines)


def scorecard_numbers(rows: pd.DataFrame, paper_claims: Sequence[PaperClaim] = PAPER_CLAIMS) -> dict[str, int]:
    """The numbers the prose cites (keys: glue names).

    Returns:
        n_rows (counted rows), n_hold, n_not, n_inconclusive, n_claims (the paper's checklist),
        n_tested (claims with a counted row), n_claims_hold (claims whose rows all hold),
        n_definition, n_beyond, n_textbook (rows not counted), n_chapters.
    """
    counted = rows[rows["kind"] == "paper"]
    summary = claims_summary(rows, paper_claims)
    kinds = rows["kind"].value_counts()
    return {"n_rows": len(counted), "n_hold": int(counted["verdict"].eq(HOLDS).sum()),
            "n_not": int(counted["verdict"].eq(DOES_NOT_HOLD).sum()),
            "n_inconclusive": int(counted["verdict"].eq(INCONCLUSIVE).sum()),
            "n_claims": len(paper_claims), "n_tested": int(summary["rows"].gt(0).sum()),
            "n_claims_hold": int(summary["status"].eq(HOLDS).sum()),
            "n_definition": int(kinds.get("definition", 0)), "n_beyond": int(kinds.get("beyond", 0)),
            "n_textbook": int(kinds.get("textbook", 0)), "n_chapters": rows["chapter"].nunique()}


def section_link(chapter: str, section: str) -> str:
    """A MyST reference to the target ``(section)=`` of ``chapter``, shown as 'ch. NN'.

    The scorecard's markdown outputs are parsed as MyST (``nb_render_markdown_format: myst`` in
    ``_config.yml``), so the role resolves across documents and the build warns when a target is
    missing.
    """
    return f"{{ref}}`ch. {chapter[:2]} <{section}>`"


def _cell(text: object) -> str:
    """A markdown table cell: pipes escaped, no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: pd.DataFrame) -> str:
    """``table`` as a GitHub-flavoured markdown table (header, rule, one line per row)."""
    lines = ["| " + " | ".join(_cell(name) for name in table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def scorecard_markdown(rows: pd.DataFrame, paper_claims: Sequence[PaperClaim] = PAPER_CLAIMS,
                       kinds: Sequence[str] = ("paper",)) -> str:
    """The scorecard as a markdown table grouped by paper claim, with a link to each row's section.

    Every paper claim appears, in order; one without a row of the given kinds shows 'not tested'.
    Columns: claim (number, on its first row), row, what we test (statement and metric), paper,
    ours (mean (min..max, n=seeds)), scale, verdict (bold), shown in (:func:`section_link`).

    Args:
        rows: a table of :func:`gather_rows`.
        paper_claims: the paper's checklist.
        kinds: the kinds of rows listed (the scorecard proper lists 'paper').

    Returns:
        The markdown text.
    """
    chosen = rows[rows["kind"].isin(kinds)]
    def line(claim: str, row) -> dict[str, str]:
        return {"claim": claim, "row": row.id, "what we test": f"{row.statement} ({row.metric})",
                "paper": row.paper, "ours": row.ours, "scale": row.scale, "verdict": f"**{row.verdict}**",
                "shown in": section_link(row.chapter, row.section)}

    lines = []
    for claim in paper_claims:
        mine = chosen[chosen["paper_claim"] == claim.number]
        if mine.empty and "paper" in kinds:
            lines.append({"claim": f"{claim.number}", "row": "", "what we test": claim.statement, "paper": "",
                          "ours": "", "scale": "", "verdict": NOT_TESTED, "shown in": ""})
        lines += [line(f"{claim.number}" if position == 0 else "", row)
                  for position, row in enumerate(mine.itertuples())]
    if "textbook" in kinds:
        lines += [line("-", row) for row in chosen[chosen["paper_claim"] == 0].itertuples()]
    columns = ["claim", "row", "what we test", "paper", "ours", "scale", "verdict", "shown in"]
    return markdown_table(pd.DataFrame(lines, columns=columns))


def verdicts_text(rows: pd.DataFrame) -> str:
    """The scorecard's claims cell: one fixed-width line per counted row (id, claim, ours, verdict).

    Args:
        rows: a table of :func:`gather_rows`.

    Returns:
        The table, rows of kind 'paper' sorted by paper claim (stable within a claim).
    """
    counted = rows[rows["kind"] == "paper"].sort_values("paper_claim", kind="stable")
    lines = [("id", "claim", "ours", "verdict")]
    lines += [(row.id, str(row.paper_claim), row.ours, row.verdict) for row in counted.itertuples()]
    return fixed_width_table(lines)
