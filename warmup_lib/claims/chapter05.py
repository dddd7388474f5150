"""Claims rows of chapter 5, phase diagrams (written before its runs are read).

Values come from :func:`warmup_lib.chapters.phase_diagrams.claim_values`, one per seed (rows over
several settings: one per setting and seed).  Learning-rate ratios are on a grid of doublings, so a
ratio >= 2 means "at least one grid step"; rows over several settings (6a, 7, 8a, 8b) have one
value per setting and seed, so that a claim true in some settings and false in others is
INCONCLUSIVE whatever the seeds do near the threshold; "trained out" means the run's full-training-set loss fell
by less than 5 % over its last fifth (:func:`~warmup_lib.chapters.phase_diagrams.loss_improvement`).
"""

from __future__ import annotations

from warmup_lib.claims.evidence import Criterion
from warmup_lib.claims.spec import ClaimSpec

CHAPTER = "05_phase_diagrams"
SGD = "FCN-4-64 SP/muP, MNIST-1D 4000 ex., SGD B=128, 1000 steps"
ADAM = "FCN-4-64 SP, MNIST-1D 4000 ex., Adam B=128, 1000 steps"


def _row(id: str, claim: int, statement: str, paper_value: str, section: str, figure: str, metric: str,
         criterion: Criterion, scale: str = SGD, kind: str = "paper", digits: int = 2) -> ClaimSpec:
    return ClaimSpec(id, claim, statement, paper_value, CHAPTER, section, figure, metric, criterion, scale,
                     kind, digits)


ROWS: tuple[ClaimSpec, ...] = (
    _row("6a", 6, "warmup raises eta_max >= 2x in all 4 SGD settings", "yes (Fig. 3)", "phase-sgd-boundary",
         "Fig. 3", "eta_max(256)/eta_max(1), per setting and seed", Criterion(">=", 2.0)),
    _row("6b", 6, "the gain is largest for SP with MSE", "SP, MSE strongest", "phase-sgd-boundary", "Fig. 3",
         "SP-MSE gain / largest other gain", Criterion(">=", 1.0)),
    _row("6c", 6, "linear warmup raises Adam's eta_max >= 2x", "4x (released WRN)", "phase-adam", "Fig. 4",
         "Adam eta_max(256) / eta_max(1)", Criterion(">=", 2.0), scale=ADAM),
    _row("7", 7, "accuracy follows eta, trained-out interior", "yes (Fig. 3, 19)", "phase-accuracy",
         "Fig. 3, 19", "eta's variance share, per setting and seed", Criterion(">", 0.5)),
    _row("8a", 8, "muP: best accuracy without warmup (<= 1 pt)", "yes (Fig. 3b)", "phase-accuracy", "Fig. 3b",
         "best - best at T_wrm=1, per setting and seed", Criterion("<=", 0.01), digits=3),
    _row("8b", 8, "SP needs warmup for its best accuracy", "yes (Fig. 3a)", "phase-accuracy", "Fig. 3a",
         "best - best at T_wrm=1, per setting and seed", Criterion(">", 0.01), digits=3),
    _row("10a", 10, "Adam fails rather than diverges", "fails (Fig. 4a)", "phase-adam", "Fig. 4a",
         "failed / non-converged Adam runs", Criterion(">=", 0.9), scale=ADAM),
    _row("10b", 10, "a failed run keeps a larger v_hat than GI-Adam", "v stays large", "phase-adam-failure",
         "Fig. 26", "late ||v_hat||, failed Adam / GI-Adam", Criterion(">=", 1.0), scale=ADAM),
    _row("10e", 10, "the failed run's gradient collapses >= 100x", "-", "phase-adam-failure", "Fig. 26",
         "peak ||g|| / late median ||g||", Criterion(">=", 100.0), scale=ADAM, kind="beyond", digits=0),
    _row("10c", 10, "its last hidden layer outputs zeros", "some layers dead", "phase-adam-failure", "Fig. 26",
         "late dead-unit fraction, last layer", Criterion(">=", 0.5), scale=ADAM),
    _row("10d", 10, "Adam's accuracy peaks >= 1 doubling inside", "degrades before", "phase-adam", "Fig. 4a",
         "mean log2(eta_max / eta_best), Adam", Criterion(">=", 1.0), scale=ADAM),
    _row("10f", 10, "SGD's accuracy peaks <= 1 doubling inside", "best near boundary", "phase-adam", "Fig. 3",
         "mean log2(eta_max / eta_best), SGD SP-xent", Criterion("<=", 1.0)),
    _row("11a", 11, "momentum moves the boundary left", "left (Fig. 21)", "phase-extras", "Fig. 21",
         "c_max momentum / SGD, T_wrm = 1", Criterion("<", 1.0)),
    _row("11b", 11, "cosine decay hurts at the smallest eta", "hurts (Fig. 21)", "phase-extras", "Fig. 21",
         "accuracy change at the smallest c", Criterion("<", 0.0), digits=3),
    _row("11c", 11, "cosine decay helps at the largest eta", "helps (Fig. 21)", "phase-extras", "Fig. 21",
         "accuracy change at each row's largest c", Criterion(">", 0.0), digits=3),
    _row("13", 13, "GI-Adam pushes Adam's failure boundary up", "4x (released WRN)", "phase-adam", "Fig. 4b",
         "eta_max GI-Adam / Adam, T_wrm = 1", Criterion(">=", 2.0), scale=ADAM),
    _row("13w", 13, "... beyond Adam with the matched warmup", "-", "phase-gi-controls", "-",
         "eta_max GI-Adam / Adam + 1227-step warmup", Criterion(">=", 2.0), scale=ADAM, kind="beyond"),
    _row("13r", 13, "... beyond Adam at GI-Adam's mean rate", "-", "phase-gi-controls", "-",
         "eta_max GI-Adam / Adam at 0.58 eta", Criterion(">=", 2.0), scale=ADAM, kind="beyond"),
    _row("13i", 13, "GI-Adam improves accuracy at every eta_trgt", "consistently", "phase-gi-controls",
         "Fig. 4b", "min over eta of GI - Adam accuracy", Criterion(">", 0.0), scale=ADAM, digits=3),
)
