"""Claims rows of chapter 7 (written before its book-preset runs were read): claim 9 and the
Transformer parts of claims 3, 5 and 12.

One value per seed of the initialisation (and batch order); the data are the same for every seed.
The criteria were fixed from the paper's statements and a seed-0 probe at the book's size (which
showed lambda_0 with / without the final LN of about 8 / 80 and runs that train at c ~ 8 /
diverge at c ~ 16 with or without a warmup of half the run), before any of the chapter's
three-seed runs existed.

* 9a: the paper's "~100x" at its strength: the ratio lambda_0(no final LN) / lambda_0(final LN) must
  lie within a factor of about 3 of 100, in [30, 300].
* 9b: the direction only: removing the LN raises lambda_0 at least three-fold.
* 9c: "makes warmup necessary": without the final LN, the longest warmup must at least double the
  largest trainable eta_trgt (one column of the doubling grid) over no warmup.
* 9d: ... and more so than with the final LN: the gain without it at least twice the gain with it.
* 3ta / 3tb (Fig. 17): with SGD the Pre-LN LM sharpens progressively (late sharpness >= 1.5 x
  lambda_0), the LM without the final LN reduces its sharpness (late sharpness <= 0.5 x lambda_0).
* 5ta (Fig. 18): Adam's pre-conditioned sharpness "drops early despite the flat start": by the
  end of the warmup it is at most half its first measured value.  5tb, the same without the final
  LN, is not something the paper states (``beyond``).
* 5tc: Adam's stability is governed by eta lambda^{P^-1 H} vs 38: after the first steps, the
  trained runs keep eta_t lambda^{P^-1 H}_t <= 1.5 x 38 (the margin of a self-stabilising
  oscillation around the threshold; a run far above it would contradict the claim).
* 12t: the eta_c search costs ~10 forward passes on the LM too (at most 20, as 12c).
* 13t (added after the rows above and the runs of the other sections, before any Adam or GI-Adam
  phase-diagram run existed): GI-Adam pushes Adam's trainability boundary up on the LM too ("all
  datasets"): without warmup, the largest trainable eta_trgt of GI-Adam is at least one column of
  the grid (a factor of 4) above Adam's.  The paper's released WRN data give 0.082 vs 0.020 (4x).
"""

from __future__ import annotations

from warmup_lib.claims.evidence import Criterion
from warmup_lib.claims.spec import ClaimSpec

_CHAPTER = "07_transformers"
_MODEL = "LM-2-64 Pre-LN, chars 65k, ctx 32, B=32"
_LAMBDA = f"{_MODEL}, at init"
_SGD = f"{_MODEL}, SGD, 128 steps"
_ADAM = f"{_MODEL}, Adam, 128 steps"
_GI = f"{_MODEL}, Adam / GI-Adam, T_wrm=1"

ROWS: tuple[ClaimSpec, ...] = (
    ClaimSpec("9a", 9, "no final LN raises lambda_0 ~100x", "~100x", _CHAPTER, "tf-lambda0", "Fig. 17",
              "lambda_0 no LN / with LN", Criterion("in", (30.0, 300.0)), _LAMBDA, digits=1),
    ClaimSpec("9b", 9, "no final LN raises lambda_0 (>= 3x)", "~100x", _CHAPTER, "tf-lambda0", "Fig. 17",
              "lambda_0 no LN / with LN", Criterion(">=", 3.0), _LAMBDA, digits=1),
    ClaimSpec("9c", 9, "no final LN: warmup becomes necessary", "needs warmup", _CHAPTER, "tf-phase",
              "Fig. 20b", "c_max(longest T_wrm) / c_max(T_wrm=1)", Criterion(">=", 2.0), _SGD),
    ClaimSpec("9d", 9, "warmup matters more without the final LN", "(a) vs (b)", _CHAPTER, "tf-phase",
              "Fig. 20", "gain no LN / gain with LN", Criterion(">=", 2.0), _SGD),
    ClaimSpec("3ta", 3, "Pre-LN LM sharpens progressively (SGD)", "sharpens", _CHAPTER, "tf-sharpness",
              "Fig. 17", "late lambda^H / lambda^H at step 0", Criterion(">=", 1.5), _SGD),
    ClaimSpec("3tb", 3, "LM without final LN reduces sharpness", "reduces", _CHAPTER, "tf-sharpness",
              "Fig. 17", "late lambda^H / lambda^H at step 0", Criterion("<=", 0.5), _SGD),
    ClaimSpec("5ta", 5, "Adam: lambda^{P^-1 H} drops early (final LN)", "drops early", _CHAPTER, "tf-adam",
              "Fig. 18", "lambda^{P^-1H} end of warmup / first", Criterion("<=", 0.5), _ADAM, digits=3),
    ClaimSpec("5tb", 5, "Adam: lambda^{P^-1 H} drops early (no LN)", "-", _CHAPTER, "tf-adam",
              "Fig. 18", "lambda^{P^-1H} end of warmup / first", Criterion("<=", 0.5), _ADAM, kind="beyond",
              digits=3),
    ClaimSpec("5tc", 5, "Adam stays at eta lambda^{P^-1 H} <~ 38", "<= 38", _CHAPTER, "tf-adam", "Fig. 18",
              "max eta_t lambda^{P^-1H}_t / 38 (t>=8)", Criterion("<=", 1.5), _ADAM),
    ClaimSpec("12t", 12, "the eta_c search costs ~10 passes (LM)", "~10", _CHAPTER, "tf-critical", "Fig. 5",
              "trial forward passes (both variants)", Criterion("<=", 20.0), _LAMBDA, digits=1),
    ClaimSpec("13t", 13, "GI-Adam raises the trainable eta_trgt (LM)", "4x (WRN data)", _CHAPTER, "tf-giadam",
              "Figs. 4b, 25", "eta_max GI-Adam / Adam at T_wrm = 1", Criterion(">=", 4.0), _GI, digits=1),
)
