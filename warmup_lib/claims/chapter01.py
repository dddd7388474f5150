"""Claims rows of chapter 1 (written before its runs are read).

The primer checks textbook facts about a quadratic and the uv model of Lewkowycz et al. (2020),
the background the paper builds on, not the paper's claims: every row is ``kind="textbook"`` with
``paper_claim = 0`` and is never counted.  One value per seed of the uv model's initialisation
(and of the teacher data); the quadratic (T1a) has no seed.
"""

from __future__ import annotations

from warmup_lib.claims.evidence import Criterion
from warmup_lib.claims.spec import ClaimSpec

_CHAPTER = "01_catapult_primer"
_UV = "uv model m=512, 1 example, GD, 300 steps, float64"
_MAPS = "uv m=512 (1 ex.) / m=32, d=4 (8 ex.), T_wrm <= 256, +500 steps"


def _row(id: str, statement: str, paper_value: str, section: str, metric: str, criterion: Criterion,
         scale: str, digits: int = 2) -> ClaimSpec:
    """A textbook row of the primer."""
    return ClaimSpec(id=id, paper_claim=0, statement=statement, paper_value=paper_value, chapter=_CHAPTER,
                     section=section, figure="-", metric=metric, criterion=criterion, scale=scale,
                     kind="textbook", digits=digits)


ROWS: tuple[ClaimSpec, ...] = (
    _row("T1a", "quadratic: GD diverges iff eta > 2/lambda", "exact", "primer-quadratic",
         "fraction of rates agreeing", Criterion(">=", 1.0),
         "diagonal quadratic (0.5, 1, 2), 40 rates, 200 steps"),
    _row("T1b", "uv, eta < 2/lambda_0: sharpness stays put", "O(1/m)", "primer-uv",
         "max |lambda_t/lambda_0 - 1|", Criterion("<", 0.01), _UV, digits=5),
    _row("T1c1", "uv, 2 < eta lambda_0 < 4: the loss catapults", "O(m) rise", "primer-uv",
         "peak loss / L_0 at eta lambda_0 = 3", Criterion(">", 10.0), _UV, digits=0),
    _row("T1c2", "uv catapult: sharpness ends below 2/eta", "< 2", "primer-uv",
         "final eta * sharpness", Criterion("<", 2.0), _UV),
    _row("T1d", "uv: eta_max = 4/lambda_0", "4", "primer-uv",
         "largest converged eta*lambda_0, step 0.1", Criterion("in", (3.9, 4.1)), _UV),
    _row("T1e1", "warmup raises the largest trainable eta (teacher)", "-", "primer-warmup",
         "gain over T_wrm = 1, grid ratio", Criterion(">", 1.2), _MAPS),
    _row("T1e2", "warmup raises the largest trainable eta (1 ex.)", "-", "primer-warmup",
         "gain over T_wrm = 1, grid ratio", Criterion(">", 1.2), _MAPS),
)
