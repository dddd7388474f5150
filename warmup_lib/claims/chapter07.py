"""Claims rows of chapter 7 (written before its runs are read)."""

from __future__ import annotations

from warmup_lib.claims.evidence import Criterion
from warmup_lib.claims.spec import ClaimSpec

ROWS: tuple[ClaimSpec, ...] = ()
