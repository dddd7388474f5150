"""What the registry holds: the paper's claims and the rows that test them.

* :class:`PaperClaim`: one item of the paper's claims checklist (claims 1-15 of
  ``shared/reference/paper_digest.md``): its number, statement and figures.
* :class:`ClaimSpec`: one row of a chapter's claims table, written before the runs are read: the
  statement it tests, the paper's own number, the chapter and section that show it, the metric
  one seed yields, the :class:`~warmup_lib.claims.evidence.Criterion`, and the setting's scale.
  Its ``kind`` says whether it counts as evidence for the paper:

  - ``paper``: a test of the paper's statement that could have come out either way (counted);
  - ``beyond``: a test of something the paper does not claim (shown, not counted);
  - ``definition``: true by construction of the method or a derived bound (shown, not counted:
    it cannot fail on any data);
  - ``textbook``: a known fact the primer checks (shown, never counted as the paper's).

* :class:`Evidence`: a row and its per-seed values; its verdict comes from the criterion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from warmup_lib.claims.evidence import Criterion, spread_text, verdict

KINDS = ("paper", "beyond", "definition", "textbook")


@dataclass(frozen=True)
class PaperClaim:
    """One item of the paper's reproduction checklist.

    Args:
        number: 1-15.
        statement: the paper's statement, paraphrased.
        figures: the paper's figures that show it.
    """

    number: int
    statement: str
    figures: str


@dataclass(frozen=True)
class ClaimSpec:
    """One claims row, fixed before the runs are read.

    Args:
        id: the row's label, unique over the book (e.g. '2c'; textbook rows 'T1a').
        paper_claim: the number of the :class:`PaperClaim` it tests (0 for textbook rows).
        statement: what is tested, one line.
        paper_value: the paper's own number or observation, as text ('-' when it gives none).
        chapter: the notebook stem that tests it (e.g. '02_sgd_warmup_mechanisms').
        section: the chapter's section label that shows it (a MyST target, e.g. 'sgd-sp-catapults').
        figure: the paper's figure it reproduces ('-' when none).
        metric: the one number each seed yields.
        criterion: the per-seed test.
        scale: the model, data and run length at the book preset.
        kind: one of :data:`KINDS`.
        digits: decimals of the printed values.

    Raises:
        ValueError: naming ``kind`` when it is not one of :data:`KINDS`, or ``id`` when empty.
    """

    id: str
    paper_claim: int
    statement: str
    paper_value: str
    chapter: str
    section: str
    figure: str
    metric: str
    criterion: Criterion
    scale: str
    kind: str = "paper"
    digits: int = 2

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: got {self.kind!r}; must be one of {', '.join(KINDS)}")
        if not self.id or " " in self.id:
            raise ValueError(f"id: got {self.id!r}; must be a non-empty label without spaces")

    @property
    def counted(self) -> bool:
        """Whether the row counts as evidence for or against the paper (kind 'paper')."""
        return self.kind == "paper"


@dataclass(frozen=True)
class Evidence:
    """A row of the registry with its measured values, one per seed.

    Args:
        spec: the row.
        values: one number per seed (NaN where a seed could not be measured).
        seeds: the seeds, in the order of ``values`` (empty when not known).
    """

    spec: ClaimSpec
    values: tuple[float, ...]
    seeds: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.values) == 0:
            raise ValueError(f"values: row {self.spec.id} got no seed's value")
        if self.seeds and len(self.seeds) != len(self.values):
            raise ValueError(f"seeds: row {self.spec.id} has {len(self.values)} values but "
                             f"{len(self.seeds)} seeds")

    @classmethod
    def of(cls, spec: ClaimSpec, values: Sequence[float], seeds: Sequence[int] = ()) -> Evidence:
        """The evidence for ``spec`` from per-seed ``values`` (converted to floats)."""
        return cls(spec, tuple(float(value) for value in values), tuple(int(seed) for seed in seeds))

    @property
    def verdict(self) -> str:
        """HOLDS / DOES NOT HOLD / INCONCLUSIVE over the seeds (:func:`~warmup_lib.claims.evidence.verdict`)."""
        return verdict(self.values, self.spec.criterion)

    @property
    def ours(self) -> str:
        """The measured values as printed: mean (min..max, n=seeds)."""
        return spread_text(self.values, self.spec.digits)

    @property
    def verdict_text(self) -> str:
        """The verdict, with the kind in brackets for rows that are not counted."""
        return self.verdict if self.spec.counted else f"{self.verdict} [{self.spec.kind}]"
