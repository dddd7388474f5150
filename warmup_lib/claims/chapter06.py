"""Claims rows of chapter 6 (written before its runs are read): claims 12 and 15.

One value per seed of the network's initialisation (the data are the same for every seed).

* 12a (T_reach = 1 below eta_c) holds by construction of the schedule eta_t = min(eta_c + ...,
  eta_trgt), and 12b (a saving of up to ~1/2) is arithmetic on the grid: the search doubles from
  eta_trgt/T_wrm, so on a grid of doublings eta_c is a power of two times 1/lambda_0 and the cell
  just above it has eta_c/eta_trgt = 1/2 exactly; both are shown as definitions, not counted.
* 12f (eta_c >= 2/lambda_0) is the Rayleigh-quotient bound of the quadratic model: a definition.
* 12e (starting at eta_c loses no more converging cells than it rescues) is not a claim of the
  paper: ``beyond``.  Single cells at the divergence boundary flip either way on recomputation
  (rounding differences grow chaotically), so the row counts cells lost net of cells gained.
* 15a-15c: per target, on every seed the constant rate must diverge (else the target is not high
  for that seed and the seed counts as failing), the persistent catapult warmup must converge, and
  its best test accuracy must come within 5 points of the linear warmup's (a linear warmup that did
  not converge counts as accuracy 0).
"""

from __future__ import annotations

from warmup_lib.claims.evidence import Criterion
from warmup_lib.claims.spec import ClaimSpec

_CHAPTER = "06_critical_lr_warmup"
_GRID = "FCN-4-128 SP, MNIST-1D 4000 ex., SGD B=512, xent, 768 steps"
_PCW = "FCN-4-128 SP, MNIST-1D 4000 ex., SGD B=512, 768 steps"

# the accuracy (points) that starting at eta_c may lose (12d) and that persistent catapult warmup may
# trail the linear warmup by (15)
ACCURACY_MARGIN = 1.0
PCW_MARGIN = 5.0

ROWS: tuple[ClaimSpec, ...] = (
    ClaimSpec("12a", 12, "eta_trgt <= eta_c: T_reach = 1", "T_reach = 1", _CHAPTER, "crit-grid", "Fig. 5",
              "fraction of such cells with T_reach = 1", Criterion(">=", 1.0), _GRID, kind="definition"),
    ClaimSpec("12b", 12, "eta_trgt > eta_c: saving up to ~1/2 of T_wrm", "up to ~50 %", _CHAPTER, "crit-grid",
              "Fig. 5", "largest T_save/T_wrm above eta_c", Criterion(">=", 0.4), _GRID, kind="definition"),
    ClaimSpec("12c", 12, "the eta_c search costs ~10 forward passes", "~10", _CHAPTER, "crit-grid", "Fig. 5",
              "largest T_fp over the grid", Criterion("<=", 20.0), _GRID, digits=1),
    ClaimSpec("12d", 12, "warmup from eta_c costs no accuracy", "no cost", _CHAPTER, "crit-grid", "Figs. 5, 27",
              "mean best-acc. diff. vs from 0 (points)", Criterion(">=", -ACCURACY_MARGIN), _GRID),
    ClaimSpec("12e", 12, "eta_c start loses no more cells than it rescues", "-", _CHAPTER, "crit-grid", "-",
              "converging cells lost - gained", Criterion("<=", 0.0), _GRID, kind="beyond", digits=1),
    ClaimSpec("12f", 12, "one-step eta_c >= 2/lambda_0 at init", "-", _CHAPTER, "crit-search", "-",
              "eta_c / (2/lambda_0)", Criterion(">=", 1.0), _GRID, kind="definition"),
    ClaimSpec("15a", 15, "PCW trains where constant diverges, xent 48", "trains (Fig. 7)", _CHAPTER, "crit-pcw",
              "Fig. 7", "PCW - linear best acc. (points)", Criterion(">=", -PCW_MARGIN), _PCW, digits=1),
    ClaimSpec("15b", 15, "PCW trains where constant diverges, xent 64", "trains (Fig. 7)", _CHAPTER, "crit-pcw",
              "Fig. 7", "PCW - linear best acc. (points)", Criterion(">=", -PCW_MARGIN), _PCW, digits=1),
    ClaimSpec("15c", 15, "PCW trains where constant diverges, MSE 32", "trains (Fig. 7)", _CHAPTER, "crit-pcw",
              "Fig. 7", "PCW - linear best acc. (points)", Criterion(">=", -PCW_MARGIN), _PCW, digits=1),
)
