"""Executors: how the runs of a sweep are spread over processes, stacks and machines.

Every executor takes a list of run configs and makes sure each is in the results store, loading
what is already there.  A *job* is one config (trained by :func:`warmup_lib.runs.train.run`) or a stack
of configs of one architecture (trained together by :func:`warmup_lib.runs.vectorised.train_stack`,
each member equal to its own sequential run):

* ``sequential``: jobs of one config, one after the other in this process (the plain loop);
* ``vectorised``: stacks in this process;
* ``sequential-1thread`` / ``vectorised-1thread``: the same with this process held to one torch
  thread while it runs (two OpenMP threads slow 5-30x when other processes take a core);
* ``pool`` / ``pool-vectorised``: single configs / stacks in a pool of single-threaded worker
  processes (spawn context); each worker writes its runs to the store itself, atomically;
* ``ray``: single configs as Ray tasks (one CPU each) on a local Ray or a cluster
  (``address``); workers send the results back and this process writes them to its store, so a
  task whose worker dies is simply run again (:data:`RAY_TASK_RETRIES`).

On a 2-core CPU one FCN already runs near the matmul peak, so which executor wins depends on the
model, batch, grid and load (DESIGN.md section 7): :func:`warmup_lib.runs.calibration.choose_executor`
measures instead of guessing.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from warmup_lib.runs import store
from warmup_lib.config import RunConfig

EXECUTORS = ("sequential", "sequential-1thread", "vectorised", "vectorised-1thread", "pool", "pool-vectorised", "ray")
MAX_MEMBERS = 32  # members per stack: beyond this a bigger stack no longer speeds up a CPU step
# Reruns of a Ray task whose worker died (killed, out of memory, node lost).  Safe: a task writes
# nothing, and this process stores the one result that comes back.
RAY_TASK_RETRIES = 3
# Names the executor of every executor made here, whatever a caller asks for: the verify command
# recomputes a chapter with a chosen executor by setting it for the notebook's kernel.
EXECUTOR_ENV = "WARMUP_EXECUTOR"

__all__ = ["EXECUTORS", "EXECUTOR_ENV", "Executor", "make_executor", "make_jobs", "run_job", "run_missing"]


def make_jobs(configs: Sequence[RunConfig], vectorised: bool, max_members: int = MAX_MEMBERS,
              min_jobs: int = 1) -> list[list[RunConfig]]:
    """Split ``configs`` into jobs: singles, or (``vectorised``) stacks of configs that share a
    :func:`warmup_lib.runs.vectorised.stack_key`, of at most ``max_members`` each and cut so that there
    are at least ``min_jobs`` jobs where the configs allow it (to keep every pool worker busy).

    A stack holds at most min(max_members, ceil(N / min_jobs)) configs (N = len(configs), at least 1).

    Args:
        configs: the runs to split.
        vectorised: False gives one job per config; True stacks configs of equal stack key.
        max_members: the most configs per stack (default :data:`MAX_MEMBERS`).
        min_jobs: the fewest jobs wanted (the pool's workers); values < 1 count as 1.

    Returns:
        The jobs, each a list of configs: the stacks first (in the order their keys first
        appear), then the configs that cannot be stacked, one per job.
    """
    if not vectorised:
        return [[cfg] for cfg in configs]
    from warmup_lib.runs.vectorised import stack_key

    groups: dict[Any, list[RunConfig]] = {}
    singles = []
    for cfg in configs:
        key = stack_key(cfg)
        if key is None:
            singles.append([cfg])
        else:
            groups.setdefault(key, []).append(cfg)
    per_job = max(1, min(max_members, math.ceil(len(configs) / max(min_jobs, 1))))
    stacks = [group[i : i + per_job] for group in groups.values() for i in range(0, len(group), per_job)]
    return stacks + singles


def run_job(experiment: str, job: Sequence[RunConfig], root: str | Path, write: bool = True,
            executor: str | None = None) -> list[Any]:
    """Train one job and store its runs (``write``, recording ``executor``, the name of the executor
    that runs the job, in each run's environment); returns the RunResults.

    With ``write`` the configs already stored are skipped; one config left is trained by
    :func:`warmup_lib.runs.train.run`, several by :func:`warmup_lib.runs.vectorised.train_stack`.

    Args:
        experiment: the store's experiment folder.
        job: the configs of the job (one, or a stack of one stack key).
        root: the results store's folder.
        write: store the trained runs (False: train every config and store nothing, as calibration does).
        executor: the executor's name, recorded in each stored run's environment (None: not known).

    Returns:
        The RunResults of the configs trained now, in order (the stored ones are skipped, not
        loaded: empty when every config was stored).
    """
    todo = [cfg for cfg in job if not store.is_done(experiment, cfg, root)] if write else list(job)
    if len(todo) == 1:
        from warmup_lib.runs import train

        results = [train.run(todo[0])]
    elif todo:
        from warmup_lib.runs.vectorised import train_stack

        results = train_stack(todo)
    else:
        results = []
    if write:
        for cfg, result in zip(todo, results):
            store.save_run(experiment, cfg, result, root=root, executor=executor)
    return results


def _single_threaded() -> None:
    """Ray worker setup: one intra-op thread, so that workers never fight over cores."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def _exit_with_parent(parent: int) -> None:
    """Leave as soon as the sweep process that started this worker is gone (e.g. SIGKILLed): an
    orphaned worker would otherwise wait on its task queue for ever.  A run it was training is
    simply not stored; the resumed sweep trains it again."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _pool_worker_setup(parent: int) -> None:
    """Pool worker setup: one intra-op thread, and a watchdog on the parent process."""
    _single_threaded()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _warm_worker(_: int) -> int:
    import warmup_lib.runs.train  # noqa: F401  (the import is the warm-up)

    time.sleep(0.2)  # hold this worker so that the next task starts another one
    return os.getpid()


def _pool_job(experiment: str, job: list[RunConfig], root: str, write: bool, executor: str) -> list[Any]:
    results = run_job(experiment, job, root, write, executor)
    return [] if write else results


class Executor:
    """Base: ``run`` stores every config of a list; ``close`` frees workers.  Subclasses set
    ``name``, ``vectorised`` and ``_map`` (run jobs, yield each finished job)."""

    name = "sequential"
    vectorised = False
    workers = 1

    def jobs(self, configs: Sequence[RunConfig]) -> list[list[RunConfig]]:
        """The jobs this executor splits ``configs`` into (:func:`make_jobs`, at least ``workers`` jobs).

        Args:
            configs: the runs to execute.

        Returns:
            The jobs, each a list of configs (stacks when ``vectorised``).
        """
        return make_jobs(configs, self.vectorised, min_jobs=self.workers)

    def _map(self, experiment: str, jobs: list[list[RunConfig]], root: str, write: bool) -> Iterator[tuple[list, list]]:
        for job in jobs:
            yield job, run_job(experiment, job, root, write, self.name)

    def run(self, experiment: str, configs: Sequence[RunConfig], root: str | Path = "results",
            progress: bool = True, write: bool = True) -> list[Any]:
        """Store every config of ``configs`` (a tqdm bar over runs shows progress and ETA).
        With ``write`` False nothing is stored and the RunResults are returned (calibration).

        Args:
            experiment: the store's experiment folder.
            configs: the runs; those already stored are not trained again.
            root: the results store's folder.
            progress: show the progress bar.
            write: store the runs (False: train every config, store nothing).

        Returns:
            With ``write`` False the RunResults of all configs, in the order the jobs finish;
            with ``write`` True those the sequential executors trained in this process (the
            pool and Ray executors return none), never the ones loaded from the store.
        """
        results: list[Any] = []
        if not configs:
            return results
        with tqdm(total=len(configs), desc=f"{experiment} [{self.name}]", unit="run", disable=not progress) as bar:
            for job, job_results in self._map(experiment, self.jobs(configs), str(root), write):
                results += job_results
                bar.update(len(job))
        return results

    def close(self) -> None:
        """Release workers (nothing to release in this process)."""


class SequentialExecutor(Executor):
    """Jobs one after the other in this process: the plain loop, or stacks (``vectorised``);
    ``single_thread`` holds torch to one intra-op thread while it runs (else threads are left as they are)."""

    def __init__(self, vectorised: bool = False, single_thread: bool = False) -> None:
        self.vectorised = vectorised
        self.single_thread = single_thread
        self.name = ("vectorised" if vectorised else "sequential") + ("-1thread" if single_thread else "")

    def run(self, experiment: str, configs: Sequence[RunConfig], root: str | Path = "results",
            progress: bool = True, write: bool = True) -> list[Any]:
        """:meth:`Executor.run` (same arguments and return value), with torch held to one
        intra-op thread while it runs when ``single_thread`` (the thread count is restored
        afterwards, also on an error)."""
        previous = torch.get_num_threads()
        if self.single_thread:
            torch.set_num_threads(1)
        try:
            return super().run(experiment, configs, root, progress, write)
        finally:
            torch.set_num_threads(previous)


class PoolExecutor(Executor):
    """A pool of ``workers`` single-threaded spawn processes; each stores the runs it trains.

    Args:
        workers: the worker processes (None: every CPU this process may use).
        vectorised: send stacks of configs (name 'pool-vectorised') instead of single configs ('pool').
    """

    def __init__(self, workers: int | None = None, vectorised: bool = False) -> None:
        self.workers = workers or len(os.sched_getaffinity(0))
        self.vectorised = vectorised
        self.name = "pool-vectorised" if vectorised else "pool"
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_pool_worker_setup, initargs=(os.getpid(),))

    def warm_up(self) -> float:
        """Start every worker and import the trainer in it; returns the seconds it took.

        Returns:
            The wall-clock seconds until every one of the ``workers`` processes had answered.
        """
        start = time.perf_counter()
        list(self._pool.map(_warm_worker, range(self.workers)))
        return time.perf_counter() - start

    def _map(self, experiment: str, jobs: list[list[RunConfig]], root: str, write: bool) -> Iterator[tuple[list, list]]:
        pending = {self._pool.submit(_pool_job, experiment, job, root, write, self.name): job for job in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()

    def close(self) -> None:
        """Shut the pool down: pending jobs are cancelled, running ones finish, workers exit."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _ray_job(job: list[RunConfig]) -> list[Any]:
    _single_threaded()
    return run_job("", job, "", write=False)


class RayExecutor(Executor):
    """Single configs as Ray tasks of one CPU each.  ``address`` None starts a local Ray with ``num_cpus``
    CPUs (default: all); otherwise joins that cluster ('auto', 'host:port' or 'ray://host:port').  Results
    come back to this process, which writes them to its store, so workers need no shared file system;
    a task whose worker dies is rerun up to :data:`RAY_TASK_RETRIES` times."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError as error:  # an optional extra
            raise ImportError("the Ray executor needs ray: pip install 'warmup_lib[distributed]'") from error
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": num_cpus}
            ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.name = "ray"
        self._task = ray.remote(num_cpus=1, max_retries=RAY_TASK_RETRIES)(_ray_job)

    def _map(self, experiment: str, jobs: list[list[RunConfig]], root: str, write: bool) -> Iterator[tuple[list, list]]:
        pending = {}
        for job in jobs:
            todo = [cfg for cfg in job if not write or not store.is_done(experiment, cfg, root)]
            if todo:
                pending[self._task.remote(todo)] = todo
        while pending:
            done, _ = self._ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            results = self._ray.get(done[0])
            if write:
                for cfg, result in zip(job, results):
                    store.save_run(experiment, cfg, result, root=root, executor=self.name, threads=1)  # see _ray_job
            yield job, ([] if write else results)

    def close(self) -> None:
        """Shut Ray down if this executor started it (a Ray started elsewhere is left running)."""
        if self._started_here:
            self._ray.shutdown()


def make_executor(name: str, workers: int | None = None, ray_address: str | None = None) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`), with ``workers`` processes for the
    pool and Ray executors (None: every CPU); ValueError for an unknown name or a ``workers`` < 1.
    ``$WARMUP_EXECUTOR`` (:data:`EXECUTOR_ENV`), when set, replaces ``name``.

    Args:
        name: one of :data:`EXECUTORS` ('sequential', 'sequential-1thread', 'vectorised',
            'vectorised-1thread', 'pool', 'pool-vectorised', 'ray').
        workers: processes of the pool executors, CPUs of a local Ray (None: every CPU); an int >= 1.
        ray_address: the Ray cluster to join ('auto', 'host:port' or 'ray://host:port'; None
            starts a local Ray).

    Returns:
        A new :class:`SequentialExecutor`, :class:`PoolExecutor` or
        :class:`RayExecutor`.

    Raises:
        ValueError: naming ``workers`` when it is not an int >= 1 (or None), or naming the
            allowed executors when ``name`` is unknown.
        ImportError: for 'ray' when ray is not installed.
    """
    name = os.environ.get(EXECUTOR_ENV) or name
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers: got {workers!r}; must be an int >= 1 (or None: every CPU)")
    if name in ("sequential", "sequential-1thread", "vectorised", "vectorised-1thread"):
        return SequentialExecutor(vectorised=name.startswith("vectorised"), single_thread=name.endswith("1thread"))
    if name in ("pool", "pool-vectorised"):
        return PoolExecutor(workers, vectorised=name == "pool-vectorised")
    if name == "ray":
        return RayExecutor(ray_address, num_cpus=workers)
    raise ValueError(f"executor: got {name!r}; allowed values are 'auto', {', '.join(map(repr, EXECUTORS))}")


def run_missing(experiment: str, configs: Iterable[RunConfig], root: str | Path, workers: int | None = 1,
                executor: str | None = None) -> int:
    """Train and store every config the store does not hold yet: by the executor named
    ``executor``, or by default in this process when ``workers`` is 1, else by a pool of
    ``workers`` single-threaded processes.

    A chapter calls this before loading its runs, so a re-execution from a full store trains nothing.

    Args:
        experiment: the store's experiment folder.
        configs: the runs.
        root: the results store's folder.
        workers: number of worker processes (>= 1; None: every CPU, with a named ``executor``).
        executor: one of :data:`EXECUTORS`, or None for the default above.

    Returns:
        How many runs were trained now.
    """
    todo = [cfg for cfg in configs if not store.is_done(experiment, cfg, root)]
    if todo:
        runner = make_executor(executor or ("pool" if workers > 1 else "sequential"), workers=workers)
        try:
            runner.run(experiment, todo, root=root, progress=False)
        finally:
            runner.close()
    return len(todo)
