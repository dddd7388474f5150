"""warmup_lib: why warm up the learning rate, as PyTorch parts.

The tools of Kalra & Barkeshli, *Why Warmup the Learning Rate?* (NeurIPS 2024) for an ordinary
training loop: GI-Adam, the forward-pass search for the critical learning rate eta_c and the warmups
built on it, sharpness lambda_max(H) and Adam's pre-conditioned sharpness lambda_max(P^-1 H) with
their stability thresholds, learning-rate schedules, readers of catapults and regimes, and the
config-driven runs and sweeps behind the book.

Everything else is reachable through its own subpackage: ``warmup_lib.curvature`` (HVPs,
eigensolvers), ``warmup_lib.optim`` (optimizer factory, next-update direction, Adam's state),
``warmup_lib.critical``, ``warmup_lib.analysis``, ``warmup_lib.runs`` (store, executors,
calibration), ``warmup_lib.data``, ``warmup_lib.models``, ``warmup_lib.losses``; the book's
chapter helpers live in ``warmup_lib.chapters`` and the command line in ``warmup_lib.tools``.
"""

__version__ = "0.1.0"

# Optimizers
from warmup_lib.optim.adopt import ADOPT
from warmup_lib.optim.giadam import GIAdam

# Warmup tools: the critical learning rate and the warmups built on it
from warmup_lib.critical.search import critical_lr
from warmup_lib.critical.warmup import PersistentCatapultWarmup, suggest_warmup, t_reach, t_save
from warmup_lib.critical.cdat import CurvatureAdaptiveLR

# Curvature: sharpness, pre-conditioned sharpness, their thresholds
from warmup_lib.curvature.hessian import hvp
from warmup_lib.curvature.spectrum import preconditioned_sharpness, sharpness
from warmup_lib.curvature.thresholds import adam_threshold, momentum_threshold, sgd_threshold
from warmup_lib.curvature.tracker import SharpnessTracker

# Schedules
from warmup_lib.schedules import Schedule, ScheduleLR, learning_rate

# Reading runs: catapults, regimes, collisions with 2/eta
from warmup_lib.analysis.trajectory import detect_catapults, early_regime, first_collision

# Experiments: configs, runs through the results store, phase-diagram sweeps
from warmup_lib.config import RunConfig
from warmup_lib.runs.store import load_or_run
from warmup_lib.runs.sweep import Sweep, load_sweep, run_sweep
from warmup_lib.runs.train import run

__all__ = [
    # optimizers
    "GIAdam", "ADOPT",
    # warmup tools
    "critical_lr", "suggest_warmup", "t_reach", "t_save", "PersistentCatapultWarmup", "CurvatureAdaptiveLR",
    # curvature
    "hvp", "sharpness", "preconditioned_sharpness", "SharpnessTracker",
    "sgd_threshold", "momentum_threshold", "adam_threshold",
    # schedules
    "Schedule", "ScheduleLR", "learning_rate",
    # reading runs
    "detect_catapults", "early_regime", "first_collision",
    # experiments
    "RunConfig", "run", "load_or_run", "Sweep", "run_sweep", "load_sweep",
]
