"""The warmup signals side by side, measured during a run at the same parameters on the same batch.

A warmup can be steered by any of four measurements of the current point theta_t; each says when a
rate eta is too large, and each has its own cost:

- "sharpness": lambda_max(H), stable for SGD while eta < 2/lambda_max
  (:func:`~warmup_lib.curvature.spectrum.sharpness`); a Lanczos solve, warm-started from the last
  top eigenvector as in :class:`~warmup_lib.curvature.tracker.SharpnessTracker`.
- "pre_sharpness": lambda_max(P^-1 H), Adam's pre-conditioned sharpness, stable while
  eta < 38/lambda (:func:`~warmup_lib.curvature.spectrum.preconditioned_sharpness`); measured only
  with an Adam-type optimizer (torch's Adam / AdamW, GIAdam), warm-started likewise.
- "eta_c": the critical rate at which one step of the optimizer's own update direction stops
  lowering the batch loss (:func:`~warmup_lib.critical.search.critical_lr`), by forward passes only.
- "batch_sharpness": g_B^T H_B g_B / g_B^T g_B, the curvature along the batch gradient
  (:func:`~warmup_lib.curvature.directional.batch_sharpness`), which SGD holds near 2/eta at the
  edge of stochastic stability.

Every signal is measured on the step's own batch B.  Batch sharpness is an average over random
minibatches; a callback must not draw from the run's data stream, so each measurement is one draw
(the step's batch) and the average is taken over measurements (steps), by whoever reads the records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from warmup_lib.critical.search import critical_lr
from warmup_lib.curvature.directional import batch_sharpness
from warmup_lib.curvature.hessian import LossFn
from warmup_lib.curvature.tracker import SharpnessTracker
from warmup_lib.optim.giadam import GIAdam

__all__ = ["CurvatureSignals", "SIGNALS"]

SIGNALS = ("sharpness", "pre_sharpness", "eta_c", "batch_sharpness")
ADAM_TYPES = (torch.optim.Adam, torch.optim.AdamW, GIAdam)  # those adam_preconditioner reads


class CurvatureSignals:
    """A :class:`~warmup_lib.runs.train.Callback` measuring the warmup signals (module docstring)
    every ``every`` steps, before the update, on that update's batch.

    Columns of record t (t divisible by ``every``; NaN elsewhere), each signal with its cost:

    - ``sharpness``, ``sharpness_hvps`` (Hessian-vector products of the eigensolver);
    - ``pre_sharpness``, ``pre_sharpness_hvps`` (Adam-type optimizers only);
    - ``eta_c``, ``eta_c_passes`` (the search's trial forward passes);
    - ``batch_sharpness``, ``batch_sharpness_hvps`` (1 with the step's batch).

    Each signal also takes one gradient of the batch loss (one forward and one backward pass) on
    top of the counts in its cost column; with the default "double_backward" products the
    Hessian's signals build it with its graph.  The counts are deterministic on a CPU run.  Nothing
    of the run changes: parameters, buffers, optimizer state and the random state (hence the data
    stream and dropout masks) are as without it; only ``.grad`` may be left dirty, which the trainer
    clears.

    Args:
        every: measure at the steps divisible by ``every``, a positive int.
        eta0: the critical-rate search's first rate, > 0.
        delta: the search's acceptance band, > 0 (:func:`~warmup_lib.critical_lr`).
        signals: which of :data:`SIGNALS` to measure (pre_sharpness is skipped for an optimizer
            that is not Adam-type).
        method: the search method, "paper" (the paper's doubling, as the book) or "model".
        max_forward_passes: the search's budget of trial forward passes.
        tol: the eigensolver's relative residual for the two sharpnesses.
        dtype: measure the Hessian's signals in a copy of this dtype (None: the model's).
        mode: "train" or "eval", the mode of normalisation and dropout layers for the Hessian's
            signals (the search runs the model as the trainer hands it over, in train mode).

    Raises:
        ValueError: if ``every`` is not a positive int, ``signals`` is empty or names an unknown
            signal, or ``eta0`` / ``delta`` is not positive.
    """

    def __init__(self, every: int, eta0: float = 1e-4, delta: float = 0.1, *, signals: Sequence[str] = SIGNALS,
                 method: str = "paper", max_forward_passes: int = 64, tol: float = 1e-3,
                 dtype: torch.dtype | None = None, mode: str = "train") -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every: got {every!r}; must be a positive int")
        unknown = sorted(set(signals) - set(SIGNALS))
        if unknown or not signals:
            raise ValueError(f"signals: got {list(signals)!r}; choose one or more of {SIGNALS}")
        for name, value in (("eta0", eta0), ("delta", delta)):
            if not value > 0:
                raise ValueError(f"{name}: got {value!r}; must be > 0")
        self.every, self.signals = every, tuple(signals)
        self.search = dict(eta0=eta0, delta=delta, method=method, max_forward_passes=max_forward_passes)
        self.tol, self.dtype, self.mode = tol, dtype, mode
        self.tracker: SharpnessTracker | None = None

    def _sharpness_tracker(self, optimizer: torch.optim.Optimizer) -> SharpnessTracker | None:
        """The warm-started tracker of the asked sharpnesses, built at the first measurement (when
        the optimizer's type is known); None if neither applies."""
        if self.tracker is None:
            hessian = "sharpness" in self.signals
            preconditioned = "pre_sharpness" in self.signals and isinstance(optimizer, ADAM_TYPES)
            if hessian or preconditioned:
                self.tracker = SharpnessTracker(every=1, hessian=hessian, preconditioned=preconditioned, tol=self.tol,
                                                dtype=self.dtype, mode=self.mode)
        return self.tracker

    def __call__(self, step: int, model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor,
                 optimizer: torch.optim.Optimizer) -> Mapping[str, float] | None:
        """Measure the signals at the steps divisible by ``every``, before that step's update.

        Args:
            step: t, the index of the coming update.
            model: the network at theta_t.
            loss_fn: ``loss_fn(model(inputs), targets)`` is the batch loss.
            inputs: the batch update t trains on.
            targets: its targets.
            optimizer: the optimizer, its state before update t.

        Returns:
            None between measurements; else column -> value (class docstring).
        """
        if step % self.every != 0:
            return None
        record: dict[str, float] = {}
        tracker = self._sharpness_tracker(optimizer)
        if tracker is not None:
            record |= tracker(step, model, loss_fn, inputs, targets, optimizer)
        if "eta_c" in self.signals:
            search = critical_lr(model, loss_fn, inputs, targets, optimizer, **self.search)
            record |= {"eta_c": search.eta_c, "eta_c_passes": search.forward_passes}
        if "batch_sharpness" in self.signals:
            result = batch_sharpness(model, loss_fn, [(inputs, targets)], dtype=self.dtype, mode=self.mode,
                                     return_info=True)
            record |= {"batch_sharpness": result.value, "batch_sharpness_hvps": result.hvps}
        return record
