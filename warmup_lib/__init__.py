from warmup_lib.curvature import (  # noqa: F401
    SharpnessTracker, adam_threshold, hvp, momentum_threshold, preconditioned_sharpness, sgd_threshold, sharpness,
)
from warmup_lib.optim import GIAdam  # noqa: F401
from warmup_lib.catapult import CriticalLR, critical_lr  # noqa: F401
from warmup_lib.catapult_warmup import (  # noqa: F401
    PersistentCatapultWarmup, Reestimate, WarmupSuggestion, suggest_warmup, t_reach, t_save,
)
from warmup_lib.data import Dataset, BatchStream, load_data  # noqa: F401
from warmup_lib.models import build_model, param_groups  # noqa: F401
from warmup_lib.losses import mse_loss, xent_loss, accuracy, get_loss  # noqa: F401
from warmup_lib.schedules import (  # noqa: F401
    Schedule, ScheduleLR, cosine_decay, learning_rate, polynomial_warmup, reach_step, warmup_from_init,
)
from warmup_lib.train import Callback, RunResult, run  # noqa: F401
from warmup_lib.store import list_runs, load_or_run, load_run, run_id  # noqa: F401
from warmup_lib.sweep import Sweep, SweepPoint, SweepResult, load_sweep, measure_lambda0, run_sweep, sweep_table  # noqa: F401
from warmup_lib.executors import EXECUTORS, make_executor  # noqa: F401
from warmup_lib.calibration import choose_executor  # noqa: F401
from warmup_lib.vectorised import train_stack  # noqa: F401
from warmup_lib.critical_runs import (  # noqa: F401
    critical_warmup_grid, from_critical_lr, load_or_search, measure_critical_lr, run_persistent_catapult,
)
from warmup_lib.adam_state import (  # noqa: F401
    AdamStateTracker, implicit_warmup_deficit, implicit_warmup_factor, initial_curvature, matching_linear_warmup,
)
from warmup_lib.dynamics import (  # noqa: F401
    Catapult, Collision, EarlyRegime, detect_catapults, early_regime, first_collision, loss_excursions,
)
