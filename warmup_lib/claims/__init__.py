"""The claims registry and the claims table every chapter ends with.

* :mod:`~warmup_lib.claims.evidence`: criteria (per seed) and the verdict of several seeds;
* :mod:`~warmup_lib.claims.spec`: the paper's claims, the rows that test them, their evidence;
* :mod:`~warmup_lib.claims.registry`: every row of the book, by chapter (``chapter01`` ...);
* :mod:`~warmup_lib.claims.table`: printing a chapter's table and reading it back.
"""

from warmup_lib.claims.evidence import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, VERDICTS, Criterion, verdict
from warmup_lib.claims.spec import KINDS, ClaimSpec, Evidence, PaperClaim
from warmup_lib.claims.table import evidence_table, notebook_claims, parse_claims_table, print_evidence

__all__ = [
    "DOES_NOT_HOLD", "HOLDS", "INCONCLUSIVE", "VERDICTS", "Criterion", "verdict", "KINDS", "ClaimSpec",
    "Evidence", "PaperClaim", "evidence_table", "notebook_claims", "parse_claims_table", "print_evidence",
]
