"""Training runs from configs, the results store, sweeps and the executors that run them.

- :mod:`~warmup_lib.runs.train`: :func:`run` trains one :class:`~warmup_lib.config.RunConfig`.
- :mod:`~warmup_lib.runs.store`: runs keyed by a hash of their config, written atomically,
  loaded instead of retrained.
- :mod:`~warmup_lib.runs.sweep`: eta_trgt x T_wrm x seed x variant grids through the store.
- :mod:`~warmup_lib.runs.executors`, :mod:`~warmup_lib.runs.calibration`,
  :mod:`~warmup_lib.runs.vectorised`: how a sweep's runs are executed (in process, vmap-stacked,
  a process pool or Ray) and how the fastest one is chosen.
"""

from warmup_lib.runs.store import list_runs, load_or_run, load_run, run_id
from warmup_lib.runs.sweep import Sweep, SweepResult, load_sweep, measure_lambda0, run_sweep, sweep_table
from warmup_lib.runs.train import Callback, RunResult, run

__all__ = [
    "Callback", "RunResult", "Sweep", "SweepResult", "list_runs", "load_or_run", "load_run",
    "load_sweep", "measure_lambda0", "run", "run_id", "run_sweep", "sweep_table",
]
