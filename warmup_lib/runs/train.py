"""One training run: per-step records, periodic evaluation, and the run's outcome.

Indexing follows the authors' code (digest section 7).  Per-step record t (t = 0..T-1) describes
update t, which maps theta_t to theta_{t+1}: its ``lr`` is eta_t (before the per-group lr_mult),
and ``loss``, ``accuracy`` and ``grad_norm`` = ||grad L_B(theta_t)||_2 are measured on that step's
batch B at theta_t, *before* the update; callback measurements in the same row are also at theta_t
on that batch.  Evaluation row s describes theta_s, the parameters after s updates, so record t
and evaluation s = t describe the same parameters.  Evaluations run at s = 0, every
``eval_every`` updates, and after the last update: test loss and accuracy on the whole test set,
train loss and accuracy on the first ``TRAIN_EVAL_MAX`` training examples (all of them for the
book's small data sets), without augmentation.

Outcomes (paper section 5 and digest section 9, :func:`outcome`): 'diverged' when a training loss
is not finite (the run stops there; that record row is kept and no update is made from it);
otherwise 'failed' when the final train accuracy is below ``failure_factor`` / K (K classes:
``failure_factor`` x chance) or when the run stalled (:func:`stalled`: its gradient collapsed to a
tiny fraction of its peak far from a fit, as an Adam run whose step is divided by the memory of an
early gradient spike); otherwise 'converged'.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from warmup_lib.config import ADAM_STATE_COLUMNS, RunConfig
from warmup_lib.curvature.hessian import LossFn
from warmup_lib.data import BatchStream, Dataset, load_data
from warmup_lib.losses import accuracy, get_loss
from warmup_lib.models import build_model, param_groups
from warmup_lib.optim.adam_state import AdamStateTracker
from warmup_lib.optim.factory import GRADIENT_INIT_V0, build_optimizer, initialise_second_moment
from warmup_lib.schedules import Schedule

TRAIN_EVAL_MAX = 10_000  # train metrics use at most this many (the first) training examples
EVAL_CHUNK = 1024  # examples per forward pass during evaluation



class Callback(Protocol):
    """A per-step measurement, called every step *before* the update, with that step's batch.

    ``callback(step, model, loss_fn, inputs, targets, optimizer)`` sees theta_t (``model``), the
    batch that update t trains on, and the optimizer state before update t (for Adam: m_t-1, v_t-1,
    step count t).  It keeps its own cadence and returns a mapping of column name -> float when it
    measures, None otherwise; the values land in record row t (NaN on steps it skips).  It must not
    change the parameters, the optimizer state or the data stream; it may leave ``.grad`` dirty
    (the trainer clears gradients after the callbacks).  Measurements that change what a stored run
    means belong in :class:`~warmup_lib.config.RunConfig` (``sharpness_every``, ``adam_state_every``), not in ad-hoc
    callbacks, so that the results store's hash covers them.
    """

    def __call__(self, step: int, model: torch.nn.Module, loss_fn: LossFn, inputs: torch.Tensor,
                 targets: torch.Tensor, optimizer: torch.optim.Optimizer) -> Mapping[str, float] | None:
        """Measure at step ``step`` (before update t = ``step``), or skip this step.

        Args:
            step: t, the index of the update about to be made.
            model: the model at theta_t (in train mode).
            loss_fn: the run's loss, ``loss_fn(outputs, targets)``.
            inputs: the batch update t trains on (on the run's device).
            targets: its targets.
            optimizer: the optimizer, its state before update t.

        Returns:
            Column name -> value for the record row t, or None on a step it skips.
        """
        ...


@dataclass
class RunResult:
    """``records``: one row per update (step, lr, loss, accuracy, grad_norm, callback columns);
    ``evals``: one row per evaluation (step, train_loss, train_accuracy, test_loss, test_accuracy);
    ``summary``: outcome and headline numbers (see :func:`run`)."""

    records: pd.DataFrame
    evals: pd.DataFrame
    summary: dict[str, Any]


def _config_callbacks(cfg: RunConfig) -> list[Callback]:
    """The measurements requested by the config, in this order: sharpness trackers, then Adam's
    state (part of the run's identity, unlike ad-hoc callbacks)."""
    trackers: list[Callback] = []
    if cfg.sharpness_every > 0 or cfg.pre_sharpness_every > 0:
        from warmup_lib.curvature.tracker import SharpnessTracker  # lazy: only runs that measure curvature need it

        if cfg.sharpness_every > 0:
            trackers.append(SharpnessTracker(every=cfg.sharpness_every, preconditioned=False))
        if cfg.pre_sharpness_every > 0:
            trackers.append(SharpnessTracker(every=cfg.pre_sharpness_every, hessian=False, preconditioned=True))
    if cfg.adam_state_every > 0:
        trackers.append(AdamStateTracker(every=cfg.adam_state_every, **ADAM_STATE_COLUMNS[cfg.adam_state_columns]))
    return trackers


def prepare_data(dataset: Dataset, dtype: torch.dtype, device: torch.device, augment: bool) -> Dataset:
    """Cast float tensors to the run's dtype once; move everything to the device unless the batches
    are augmented (augmentation draws from a CPU generator, so those batches move per step).

    Args:
        dataset: the data set as loaded (:func:`warmup_lib.data.load_data`).
        dtype: the run's floating dtype; integer tensors (labels, token ids) keep theirs.
        device: where the run trains.
        augment: whether batches are augmented (training tensors then stay on the CPU).

    Returns:
        The converted data set.
    """
    def convert(x: torch.Tensor, move: bool) -> torch.Tensor:
        x = x.to(dtype) if x.is_floating_point() else x
        return x.to(device) if move else x

    return Dataset(convert(dataset.x_train, not augment), convert(dataset.y_train, not augment),
                   convert(dataset.x_test, True), convert(dataset.y_test, True),
                   dataset.num_classes, dataset.input_shape, dataset.name)


def run_device(cfg: RunConfig) -> torch.device:
    """The device ``cfg`` trains on, refusing 'cuda' clearly on a machine without a CUDA device.

    Args:
        cfg: the run's config (its ``device``, 'cpu' or 'cuda').

    Returns:
        ``torch.device(cfg.device)``.

    Raises:
        ValueError: naming the field, when ``cfg.device`` is 'cuda' and torch sees no GPU.
    """
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: got 'cuda' but torch sees no CUDA device on this machine; "
                         "set device='cpu' (the smoke and book presets do) or run on a machine with a GPU")
    return torch.device(cfg.device)


@dataclass
class RunSetup:
    """What a run of a config starts from (see :func:`init_run`).  ``optimizer`` is None when the
    set-up was built without one; ``next_batch()`` draws the next training batch on the device."""

    data: Dataset
    model: torch.nn.Module
    loss_fn: LossFn
    optimizer: torch.optim.Optimizer | None
    stream: BatchStream
    device: torch.device

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw the next training batch of ``stream`` and move it to ``device``.

        Returns:
            (inputs, targets) on the run's device (moved with ``non_blocking=True``).
        """
        inputs, targets = self.stream.next()
        return inputs.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)


def init_run(cfg: RunConfig, lr: float | None = None, with_optimizer: bool = True,
             optimizer_factory: Callable[[list[dict]], torch.optim.Optimizer] | None = None) -> RunSetup:
    """The data, model, loss, optimizer and batch stream of ``cfg``'s run, exactly as :func:`run`
    builds them: anything measured on this set-up (lambda_0, eta_c, lambda_0^{P^-1 H}) is a
    measurement of the run's own initialisation.

    The model is built right after ``torch.manual_seed(cfg.seed)`` and put in train mode; the batches
    come from ``BatchStream(seed=cfg.seed)``.  For GI-/RI-Adam the stream's first batch defines g0 and
    v0 (:func:`~warmup_lib.optim.factory.initialise_second_moment`) and is never trained on, so
    ``next_batch()`` then returns the batch of update 0.

    Args:
        cfg: the run's config.
        lr: the learning rate the param groups are created with (before their ``lr_mult``); None
            means the schedule's rate at step 0.
        with_optimizer: False builds no optimizer (and draws no g0 batch): for measurements of the
            loss alone, such as lambda_0.
        optimizer_factory: builds the optimizer from the param groups instead of ``cfg.optim``.

    Returns:
        A :class:`RunSetup`.
    """
    device, dtype = run_device(cfg), getattr(torch, cfg.dtype)
    data = prepare_data(load_data(cfg.data), dtype, device, cfg.data.augment)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes).to(device=device, dtype=dtype)
    model.train()
    loss_fn = get_loss(cfg.loss)
    stream = BatchStream(data, cfg.batch_size, seed=cfg.seed, augment=cfg.data.augment)
    setup = RunSetup(data, model, loss_fn, None, stream, device)
    if not with_optimizer:
        return setup
    if lr is None:
        lr = float(Schedule.from_config(cfg.schedule, cfg.steps)(0))
    groups = param_groups(model, cfg.model, cfg.optim.name, lr)
    setup.optimizer = optimizer_factory(groups) if optimizer_factory is not None else build_optimizer(cfg.optim, groups)
    if cfg.optim.name in GRADIENT_INIT_V0:
        initialise_second_moment(setup.optimizer, model, loss_fn, *setup.next_batch())
    return setup


@torch.no_grad()
def _evaluate(model: torch.nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy over all examples, in chunks of EVAL_CHUNK (chunk means weighted by size)."""
    total_loss = inputs.new_zeros((), dtype=torch.float64)
    total_correct = inputs.new_zeros((), dtype=torch.float64)
    for start in range(0, inputs.shape[0], EVAL_CHUNK):
        x, y = inputs[start:start + EVAL_CHUNK], targets[start:start + EVAL_CHUNK]
        outputs = model(x)
        total_loss += loss_fn(outputs, y).double() * x.shape[0]
        total_correct += torch.as_tensor(accuracy(outputs, y)).double() * x.shape[0]
    return total_loss / inputs.shape[0], total_correct / inputs.shape[0]


def _evaluation_row(step: int, model: torch.nn.Module, loss_fn: LossFn, data: Dataset, device: torch.device) -> dict[str, float]:
    model.eval()
    x_train, y_train = data.x_train[:TRAIN_EVAL_MAX].to(device), data.y_train[:TRAIN_EVAL_MAX].to(device)
    values = torch.stack([*_evaluate(model, loss_fn, x_train, y_train), *_evaluate(model, loss_fn, data.x_test, data.y_test)])
    model.train()
    train_loss, train_accuracy, test_loss, test_accuracy = values.tolist()  # one device sync per evaluation
    return dict(step=step, train_loss=train_loss, train_accuracy=train_accuracy, test_loss=test_loss, test_accuracy=test_accuracy)


def _records_frame(columns: dict[str, list], extras: dict[str, dict[int, float]]) -> pd.DataFrame:
    records = pd.DataFrame(columns)
    for name, by_step in extras.items():
        records[name] = pd.Series(by_step, dtype="float64").reindex(records["step"]).to_numpy()
    return records


def stalled(records: pd.DataFrame, train_accuracy: float, cfg: RunConfig) -> bool:
    """Whether a run stopped making progress: its gradient collapsed far from a fit.

    With g_t = ``records["grad_norm"]`` at step t of T = ``cfg.steps``: every g_t of the last quarter
    (t >= floor(3T/4)) is below ``cfg.stall_grad_ratio`` x max_t g_t, and the final train accuracy
    is below ``cfg.stall_accuracy``.  Once the gradient is that small the loss cannot move under
    SGD, and under Adam the step eta m_hat/sqrt(v_hat) is divided by the memory of the peak; the
    accuracy condition keeps a fit whose gradient vanished because its loss did.  The thresholds
    sit orders of magnitude from every stored run's value (1e-6: stalled runs reach 3e-9, the
    smallest ratio of any other run is 4e-5), so the verdict does not hang on float rounding.

    Args:
        records: the run's per-step records (``step``, ``grad_norm``; every step, or a thinned
            subset of them for a stored run).
        train_accuracy: the final train accuracy.
        cfg: the run's config (steps and the thresholds).

    Returns:
        True when the run stalled (a non-finite gradient norm is never a stall).
    """
    grad_norms = records["grad_norm"].to_numpy(dtype=float)
    late = grad_norms[records["step"].to_numpy() >= (3 * cfg.steps) // 4]
    if len(late) == 0 or not np.all(np.isfinite(grad_norms)) or not train_accuracy < cfg.stall_accuracy:
        return False
    return bool(late.max() < cfg.stall_grad_ratio * grad_norms.max())


def outcome(cfg: RunConfig, records: pd.DataFrame, final: Mapping[str, float], num_classes: int, diverged: bool) -> str:
    """The run's outcome: 'diverged' (``diverged``: a training loss was not finite), else 'failed'
    when the final train accuracy is below ``cfg.failure_factor`` / ``num_classes`` or the run
    :func:`stalled`, else 'converged'.  One rule for every trainer (sequential and vectorised).

    Args:
        cfg: the run's config.
        records: the per-step records (``step``, ``grad_norm``).
        final: the last evaluation row (``train_accuracy``).
        num_classes: K, the number of classes.
        diverged: whether a training loss was not finite.

    Returns:
        'converged', 'diverged' or 'failed'.
    """
    if diverged:
        return "diverged"
    accuracy = final["train_accuracy"]
    if not accuracy >= cfg.failure_factor / num_classes or stalled(records, accuracy, cfg):  # NaN accuracy fails
        return "failed"
    return "converged"


def _summary(cfg: RunConfig, evals: pd.DataFrame, outcome: str, steps_run: int, schedule: Schedule,
             num_params: int, wall_time: float) -> dict[str, Any]:
    final = evals.iloc[-1]
    return dict(
        outcome=outcome, steps_run=steps_run, diverged_step=steps_run if outcome == "diverged" else None,
        final_test_accuracy=float(final["test_accuracy"]), final_test_loss=float(final["test_loss"]),
        best_test_accuracy=float(evals["test_accuracy"].max()), best_test_loss=float(evals["test_loss"].min()),
        final_train_accuracy=float(final["train_accuracy"]), final_train_loss=float(final["train_loss"]),
        lr_reach_step=schedule.reach_step, num_params=num_params, wall_time_s=wall_time, config=cfg.to_dict(),
    )


def run(cfg: RunConfig, callbacks: Sequence[Callback] = (), optimizer_factory: Callable[[list[dict]], torch.optim.Optimizer] | None = None,
        progress: bool = False) -> RunResult:
    """Train the model of ``cfg`` for ``cfg.steps`` updates and return its records, evaluations and summary.

    Before update t every param group gets lr = lr_mult * eta_t with eta_t = Schedule(cfg.schedule)(t).
    ``optimizer_factory(param_groups)`` replaces the optimizer built from ``cfg.optim`` (the groups
    come from :func:`warmup_lib.models.param_groups`; a run built this way is not described by its
    config alone).  For 'gi_adam' / 'ri_adam' one extra training batch defines g0 and v0, and
    training starts on the next batch.  Config trackers (``sharpness_every``,
    ``pre_sharpness_every``, ``adam_state_every``) run before ``callbacks``.  The model is initialised after
    ``torch.manual_seed(cfg.seed)`` and the batches come from ``BatchStream(seed=cfg.seed)``, so a
    CPU run is bit-reproducible.

    Record t describes update t, from theta_t to theta_{t+1}: its ``lr`` is eta_t, and its loss,
    accuracy and gradient norm are measured on that step's batch at theta_t, before the update.
    The outcome is 'diverged' when a training loss is not finite (the run stops there), else
    'failed' when the final train accuracy is below ``cfg.failure_factor`` / K (K classes) or the
    run stalled, else 'converged' (:func:`outcome`).

    Args:
        cfg: the run.
        callbacks: per-step measurements, called before each update with that step's batch
            (:class:`~warmup_lib.runs.train.Callback`); their values become record columns.
        optimizer_factory: builds the optimizer from the param groups instead of ``cfg.optim``.
        progress: show a progress bar.

    Returns:
        A :class:`~warmup_lib.runs.train.RunResult` with the per-step records, the evaluations and
        the summary: outcome ('converged', 'diverged' or 'failed'), steps_run (updates made),
        diverged_step, final and best test accuracy and loss, final train accuracy and loss,
        lr_reach_step (the first t with eta_t = eta_trgt), num_params, wall_time_s and the config
        as a plain dict.

    Raises:
        ValueError: when a callback returns a column that already exists (a record column or
            one another callback measured at the same step).
    """
    start_time = time.perf_counter()
    schedule = Schedule.from_config(cfg.schedule, cfg.steps)
    learning_rates = schedule.values().tolist()
    setup = init_run(cfg, lr=learning_rates[0], optimizer_factory=optimizer_factory)
    data, model, loss_fn, optimizer = setup.data, setup.model, setup.loss_fn, setup.optimizer
    device, next_batch = setup.device, setup.next_batch
    parameters = [p for group in optimizer.param_groups for p in group["params"]]

    all_callbacks = [*_config_callbacks(cfg), *callbacks]
    columns: dict[str, list] = {"step": [], "lr": [], "loss": [], "accuracy": [], "grad_norm": []}
    extras: dict[str, dict[int, float]] = {}
    evals = [_evaluation_row(0, model, loss_fn, data, device)] if cfg.eval_every > 0 else []
    diverged, steps_run = False, 0
    for step in tqdm(range(cfg.steps), disable=not progress, desc="train", mininterval=1.0):
        inputs, targets = next_batch()
        for callback in all_callbacks:
            for name, value in (callback(step, model, loss_fn, inputs, targets, optimizer) or {}).items():
                column = extras.setdefault(name, {})
                if name in columns or step in column:
                    raise ValueError(f"callbacks: column {name!r} at step {step} is measured twice")
                column[step] = float(value)
        optimizer.zero_grad(set_to_none=True)
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
        loss.backward()
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
        # the one device sync per step; float32 values become Python floats exactly
        measured = torch.stack([loss.detach(), accuracy(outputs.detach(), targets), grad_norm]).tolist()
        for name, value in zip(("step", "lr", "loss", "accuracy", "grad_norm"), (step, learning_rates[step], *measured)):
            columns[name].append(value)
        if not math.isfinite(measured[0]):
            diverged = True
            break
        for group in optimizer.param_groups:
            group["lr"] = group.get("lr_mult", 1.0) * learning_rates[step]
        optimizer.step()
        steps_run = step + 1
        if cfg.eval_every > 0 and steps_run % cfg.eval_every == 0 and steps_run < cfg.steps:
            evals.append(_evaluation_row(steps_run, model, loss_fn, data, device))
    if not evals or evals[-1]["step"] != steps_run:  # a run diverging at step 0 was evaluated already
        evals.append(_evaluation_row(steps_run, model, loss_fn, data, device))
    evals_frame, records = pd.DataFrame(evals), _records_frame(columns, extras)
    verdict = outcome(cfg, records, evals[-1], data.num_classes, diverged)
    num_params = sum(p.numel() for p in model.parameters())
    summary = _summary(cfg, evals_frame, verdict, steps_run, schedule, num_params, time.perf_counter() - start_time)
    return RunResult(records, evals_frame, summary)
