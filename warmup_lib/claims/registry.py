"""The claims registry: the paper's 15 checklist claims and every row of the book that tests them.

The paper's claims (:data:`PAPER_CLAIMS`) are the reproduction checklist of Kalra & Barkeshli
(2024), claims 1-15.  Each chapter's rows live in its own module (``warmup_lib.claims.chapter01``
... ``chapter08``, a tuple ``ROWS`` of :class:`~warmup_lib.claims.spec.ClaimSpec`), written before
the runs are read; :data:`REGISTRY` joins them.  A chapter computes one value per seed for each of
its rows and prints :func:`chapter_evidence`; the scorecard reads those tables back and groups
them by paper claim.  Textbook checks (the primer's) have ``paper_claim = 0`` and are never
counted as the paper's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType

from warmup_lib.claims import (chapter01, chapter02, chapter03, chapter04, chapter05, chapter06, chapter07,
                               chapter08)
from warmup_lib.claims.spec import ClaimSpec, Evidence, PaperClaim

PAPER_CLAIMS: tuple[PaperClaim, ...] = (
    PaperClaim(1, "GD + MSE: a muP FCN sharpens progressively; during warmup it rides "
                  "lambda_t ~ 2/eta_t (persistent catapults)", "Fig. 1 (top)"),
    PaperClaim(2, "SP FCN: sharpness reduction and separated catapults; a longer warmup makes them "
                  "later and smaller; T_wrm = 1 at 32/lambda_0 diverges", "Fig. 1 (bottom)"),
    PaperClaim(3, "the same mechanisms hold for SGD, momentum, cross-entropy, WRNs and Pre-LN LMs",
               "Figs. 8-18"),
    PaperClaim(4, "momentum: eta_c moves to (2 + 2 beta)/lambda; the loss oscillates even at small "
                  "eta; minibatches lower the late threshold", "Figs. 9-10"),
    PaperClaim(5, "Adam's stability is set by lambda^{P^-1 H} against 38/eta, not lambda^H; "
                  "lambda_0^{P^-1 H} ~ 1e5 (muP), 1e6 (SP)", "Fig. 2"),
    PaperClaim(6, "a longer warmup raises the largest trainable eta_trgt, most for SP and MSE", "Fig. 3"),
    PaperClaim(7, "away from the boundary, accuracy depends mostly on eta_trgt, not T_wrm", "Figs. 3, 19"),
    PaperClaim(8, "muP (flat) initialisations reach their best accuracy at T_wrm = 1; warmup only "
                  "widens the good-eta band", "Fig. 3b"),
    PaperClaim(9, "removing the final LayerNorm of a Pre-LN LM raises lambda_0 ~100x and makes warmup "
                  "necessary", "Figs. 17, 20"),
    PaperClaim(10, "Adam fails instead of diverging: v stays large after gradient spikes and layers "
                   "output zeros; accuracy degrades before the failure boundary", "Figs. 4a, 26"),
    PaperClaim(11, "momentum moves the divergence boundary left; cosine decay hurts at small eta and "
                   "helps at large eta", "Fig. 21"),
    PaperClaim(12, "eta_init = eta_c: T_reach = 1 when eta_trgt < eta_c, savings up to ~50 % "
                   "otherwise, at ~10 forward passes", "Figs. 5, 27-29"),
    PaperClaim(13, "GI-Adam lowers lambda_0^{P^-1 H}, removes the T_wrm = 1 spike and pushes the "
                   "failure boundary up on all datasets", "Figs. 4b, 6, 22-25, 30"),
    PaperClaim(14, "RI-Adam (random v_0 of the same norm) also helps", "Fig. 31"),
    PaperClaim(15, "persistent catapult warmup trains at high eta_trgt without choosing T_wrm", "Fig. 7"),
)

CHAPTER_MODULES: tuple[ModuleType, ...] = (chapter01, chapter02, chapter03, chapter04, chapter05, chapter06,
                                          chapter07, chapter08)


def _collect(modules: Sequence[ModuleType]) -> dict[str, ClaimSpec]:
    """The rows of ``modules`` keyed by id, in order; a repeated id is an error."""
    registry: dict[str, ClaimSpec] = {}
    for module in modules:
        for spec in module.ROWS:
            if spec.id in registry:
                raise ValueError(f"id: {spec.id!r} is used twice (in {module.__name__} and before it)")
            registry[spec.id] = spec
    return registry


REGISTRY: dict[str, ClaimSpec] = _collect(CHAPTER_MODULES)


def paper_claim(number: int) -> PaperClaim:
    """The paper's checklist claim ``number`` (1-15).

    Raises:
        ValueError: naming ``number`` when it is not 1-15.
    """
    for claim in PAPER_CLAIMS:
        if claim.number == number:
            return claim
    raise ValueError(f"number: got {number!r}; the paper's checklist has claims 1-{len(PAPER_CLAIMS)}")


def chapter_rows(chapter: str) -> list[ClaimSpec]:
    """The registry's rows tested by the notebook ``chapter`` (its file stem), in order.

    Raises:
        ValueError: naming ``chapter`` when no row belongs to it.
    """
    rows = [spec for spec in REGISTRY.values() if spec.chapter == chapter]
    if not rows:
        chapters = sorted({spec.chapter for spec in REGISTRY.values()})
        raise ValueError(f"chapter: no claims row belongs to {chapter!r}; chapters with rows: {', '.join(chapters)}")
    return rows


def chapter_evidence(chapter: str, values: Mapping[str, Sequence[float]],
                     seeds: Sequence[int] = ()) -> list[Evidence]:
    """The chapter's rows with their per-seed values, in the registry's order.

    Args:
        chapter: the notebook stem.
        values: one entry per row id of the chapter: the row's value for each seed.
        seeds: the seeds, in the order of every row's values (empty: not stated).  A row measured
            on fewer seeds than ``seeds`` (e.g. one measurement that no seed changes) states none.

    Returns:
        One :class:`~warmup_lib.claims.spec.Evidence` per row.

    Raises:
        ValueError: naming the row ids that ``values`` lacks or that are not the chapter's.
    """
    rows = chapter_rows(chapter)
    ids = [spec.id for spec in rows]
    missing = [row_id for row_id in ids if row_id not in values]
    unknown = [row_id for row_id in values if row_id not in ids]
    if missing or unknown:
        raise ValueError(f"values: {chapter} has rows {', '.join(ids)}; missing {missing}, not its rows {unknown}")
    return [Evidence.of(spec, values[spec.id], seeds if len(values[spec.id]) == len(seeds) else ())
            for spec in rows]
