"""Training runs from configs, the results store, sweeps and the executors that run them.

- :mod:`~warmup_lib.runs.train`: :func:`run` trains one :class:`~warmup_lib.config.RunConfig`;
  :func:`init_run` builds its data, model, optimizer and batch stream.
- :mod:`~warmup_lib.runs.measure`: lambda_0, eta_c and lambda_0^{P^-1 H} at a run's
  initialisation, measured once and recorded in the store.
- :mod:`~warmup_lib.runs.store`: runs keyed by a hash of their config, written atomically,
  loaded instead of retrained.
- :mod:`~warmup_lib.runs.sweep`: eta_trgt x T_wrm x seed x variant grids through the store.
- :mod:`~warmup_lib.runs.executors`, :mod:`~warmup_lib.runs.calibration`,
  :mod:`~warmup_lib.runs.vectorised`: how a sweep's runs are executed (in process, vmap-stacked,
  a process pool or Ray) and how the fastest one is chosen.
"""

from warmup_lib.runs.store import list_runs, load_or_run, load_run, run_id
from warmup_lib.runs.measure import load_or_measure, measure_critical_lr, measure_initial_curvature, measure_lambda0
from warmup_lib.runs.sweep import Sweep, SweepResult, load_sweep, run_sweep, sweep_table
from warmup_lib.runs.train import Callback, RunResult, RunSetup, init_run, run

__all__ = [
    "Callback", "RunResult", "RunSetup", "Sweep", "SweepResult", "init_run", "list_runs", "load_or_measure",
    "load_or_run", "load_run", "load_sweep", "measure_critical_lr", "measure_initial_curvature",
    "measure_lambda0", "run", "run_id", "run_sweep", "sweep_table",
]
