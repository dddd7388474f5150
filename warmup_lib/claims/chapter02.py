"""Claims rows of chapter 2 (written before its runs are read).

Claims 1-4 of the paper's checklist on an FCN (GD / SGD / momentum, MSE / cross-entropy), one value
per seed from :func:`warmup_lib.chapters.sgd_warmup_mechanisms.claim_values`.  The thresholds and why:

* 1a / 2a: the regime classifier's own bounds (r >= 1 + tol, r <= 1 / (1 + tol), tol = 0.2),
  read on the longest warmup, where the network evolves freely the longest.
* 1b: "during warmup lambda_t ~ 2/eta_t": the median eta_t lambda_t over the warmup steps after a
  head-on crossing, pooled over the warmups whose crossing falls inside the warmup, within
  [1.6, 2.4] (2 +- 20 %); NaN (fails) when no warmup meets the threshold before it ends.
* 2c / 2d: "a longer warmup makes catapults later and smaller" at the paper's strength: every pair
  of adjacent warmups ordered as claimed (a warmup without a catapult fails its pairs).
* 3a-c: "the same mechanisms" = all seven checks of
  :data:`~warmup_lib.chapters.sgd_warmup_mechanisms.MECHANISM_CHECKS` pass (muP sharpens, meets
  2/eta head-on and rides it; SP flattens, meets 2/eta from behind and catapults; no run diverges
  whose full-batch GD counterpart converges).
* 4a: the late eta lambda of momentum closer to 2 + 2 beta = 3.8 than to GD's 2 (>= 2.9) and at
  most 5 % above 3.8.
* 4b: "the loss oscillates even at small eta": momentum's share of rising steps at eta lambda < 1
  at least ten times GD's, GD's counted as at least one rise (an order of magnitude, not "> 0").
* 4c: "minibatches lower the late threshold ... well below, even below 2/eta": SGD with momentum
  settles below eta lambda = 2.
"""

from __future__ import annotations

from warmup_lib.claims.evidence import Criterion
from warmup_lib.claims.spec import ClaimSpec

CHAPTER = "02_sgd_warmup_mechanisms"
GD_SCALE = "FCN-4-128 muP/SP, MNIST-1D 1024 ex., GD, MSE, 512 steps"
VARIANT_SCALE = "FCN-4-128 muP/SP, MNIST-1D 1024 ex., 256 steps"
SHARPENING_MIN = 1.2  # r >= 1 + regime_tol
REDUCTION_MAX = 1 / 1.2  # r <= 1 / (1 + regime_tol)


def _row(id: str, claim: int, statement: str, paper_value: str, section: str, figure: str, metric: str,
         criterion: Criterion, scale: str = GD_SCALE, kind: str = "paper", digits: int = 2) -> ClaimSpec:
    return ClaimSpec(id, claim, statement, paper_value, CHAPTER, section, figure, metric, criterion, scale,
                     kind, digits)


ROWS: tuple[ClaimSpec, ...] = (
    _row("1a", 1, "muP: progressive sharpening", "sharpens", "mech-mup", "Fig. 1b",
         "r = lambda_end / lambda_0, longest warmup", Criterion(">=", SHARPENING_MIN)),
    _row("1b", 1, "muP rides lambda_t ~ 2/eta_t during warmup", "eta_t lambda_t ~ 2", "mech-mup",
         "Fig. 1b", "median eta_t lambda_t, crossing..T_wrm", Criterion("in", (1.6, 2.4))),
    _row("2a", 2, "SP: sharpness reduction", "flattens", "mech-sp", "Fig. 1d",
         "r, longest warmup", Criterion("<=", REDUCTION_MAX), digits=2),
    _row("2b", 2, "SP, 32/lambda_0, T_wrm = 1 diverges", "diverges", "mech-sp", "Fig. 1c",
         "1 = diverged, 0 = not", Criterion(">=", 1), digits=0),
    _row("2c", 2, "SP: longer warmup, later first catapult", "later", "mech-sp", "Fig. 1c",
         "share of adjacent T_wrm pairs ordered", Criterion(">=", 1)),
    _row("2d", 2, "SP: longer warmup, smaller first catapult", "smaller", "mech-sp", "Fig. 1c",
         "share of adjacent T_wrm pairs ordered", Criterion(">=", 1)),
    _row("2e", 2, "SP: longer warmup, less sharpness removed", "-", "mech-sp", "Fig. 1d",
         "share of adjacent T_wrm pairs ordered", Criterion(">=", 1), kind="beyond"),
    _row("3a", 3, "SGD (batch 128): the same mechanisms", "same", "mech-variants", "Fig. 8",
         "share of 7 mechanism checks passed", Criterion(">=", 1), VARIANT_SCALE),
    _row("3b", 3, "GD + momentum: the same mechanisms", "same", "mech-variants", "Fig. 9",
         "share of 7 mechanism checks passed", Criterion(">=", 1), VARIANT_SCALE),
    _row("3c", 3, "cross-entropy: the same mechanisms", "same", "mech-variants", "Figs. 11-12",
         "share of 7 mechanism checks passed", Criterion(">=", 1), VARIANT_SCALE),
    _row("4a", 4, "momentum: late threshold (2 + 2 beta)/eta", "eta lambda ~ 3.8", "mech-momentum",
         "Fig. 9", "late median eta lambda, muP, T_wrm = 1", Criterion("in", (2.9, 3.99)), VARIANT_SCALE),
    _row("4b", 4, "momentum: loss rises at eta lambda < 1", "non-monotone", "mech-momentum", "Fig. 9",
         "rise share / GD's (floored at 1 rise)", Criterion(">=", 10), VARIANT_SCALE, digits=1),
    _row("4c", 4, "minibatches lower the late threshold", "below 2/eta", "mech-momentum", "Fig. 10",
         "late eta lambda, SGD-M batch 128, muP", Criterion("<", 2), VARIANT_SCALE),
)
