"""A sharpness tracker for any training loop: lambda^H and/or lambda^{P^-1 H} every few steps.

Each measurement is warm-started from the previous top eigenvector, which cuts the Hessian-vector
products per measurement about 2.5x during training (7.0 instead of 17.5 on average, measured with
benchmarks/sharpness.py in an earlier session; its JSON output is not committed).
"""

from __future__ import annotations

import torch
from torch import nn

from warmup_lib.curvature.eigensolvers import EigenResult
from warmup_lib.curvature.hessian import LossFn
from warmup_lib.curvature.spectrum import Batches, preconditioned_sharpness, sharpness

__all__ = ["SharpnessTracker"]


class SharpnessTracker:
    """Measures sharpness and/or pre-conditioned sharpness every ``every`` steps, warm-started.

    The sharpness lambda^H = lambda_max(H) (:func:`~warmup_lib.sharpness`) and Adam's
    pre-conditioned sharpness lambda^{P^-1 H} = lambda_max(P^-1/2 H P^-1/2)
    (:func:`~warmup_lib.preconditioned_sharpness`) are measured at the steps divisible by
    ``every``, each from the previous measurement's top eigenvector, which cuts the Hessian-vector
    products about 2.5x during training.  Use it as a trainer callback or in your own loop, before
    the update, with that step's batch::

        tracker = SharpnessTracker(every=5, preconditioned=True)
        for step, (x, y) in enumerate(batches):
            tracker(step, model, loss_fn, x, y, optimizer)   # dict or None
            ...
        tracker.history   # [{"step": 0, "sharpness": ..., "sharpness_hvps": ..., ...}, ...]

    Save ``tracker.state_dict()`` with a checkpoint and restore it with :meth:`load_state_dict`:
    the resumed measurements equal an uninterrupted run's.

    Args:
        every: measure at the steps divisible by ``every``, a positive int.
        hessian: measure lambda^H.
        preconditioned: measure lambda^{P^-1 H} (each call then needs the Adam-type optimizer).
        tol: the eigensolver's relative residual.
        dtype: measure in a copy of this dtype (None: the model's).
        mode: "train" or "eval", the mode of normalisation and dropout layers while measuring.

    Raises:
        ValueError: if ``every`` is not a positive int, or neither measurement is asked for.
    """

    def __init__(
        self,
        every: int,
        hessian: bool = True,
        preconditioned: bool = False,
        tol: float = 1e-3,
        dtype: torch.dtype | None = None,
        mode: str = "train",
    ) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if not (hessian or preconditioned):
            raise ValueError("at least one of hessian, preconditioned must be True")
        self.every, self.hessian, self.preconditioned = every, hessian, preconditioned
        self.tol, self.dtype, self.mode = tol, dtype, mode
        self.history: list[dict[str, float]] = []
        self._vectors: dict[str, torch.Tensor] = {}

    def __call__(
        self,
        step: int,
        model: nn.Module,
        loss_fn: LossFn,
        inputs: Batches,
        targets: Batches,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> dict[str, float] | None:
        """Measure at the steps divisible by ``every``, before that step's update.

        Args:
            step: the index t of the coming update.
            model: the network, at theta_t.
            loss_fn: ``loss_fn(model(inputs), targets)`` is the loss.
            inputs: the step's batch, or a sequence of batches.
            targets: the matching targets.
            optimizer: the Adam-type optimizer, before update t (needed with ``preconditioned``).

        Returns:
            None between measurements; else the record with "sharpness" and "sharpness_hvps"
            and/or "pre_sharpness" and "pre_sharpness_hvps" (values and Hessian-vector products
            used), also appended to ``history`` with its "step".

        Raises:
            ValueError: if ``preconditioned`` is set and no optimizer is given.
        """
        if step % self.every != 0:
            return None
        record: dict[str, float] = {}
        options = dict(tol=self.tol, dtype=self.dtype, mode=self.mode, return_info=True)
        if self.hessian:
            result = sharpness(model, loss_fn, inputs, targets, v0=self._vectors.get("sharpness"), **options)
            record |= self._keep("sharpness", result)
        if self.preconditioned:
            if optimizer is None:
                raise ValueError("optimizer is required when preconditioned=True")
            result = preconditioned_sharpness(
                model, loss_fn, inputs, targets, optimizer, v0=self._vectors.get("pre_sharpness"), **options
            )
            record |= self._keep("pre_sharpness", result)
        self.history.append({"step": step, **record})
        return record

    def state_dict(self) -> dict:
        """The measurements so far and the warm-start eigenvectors: plain numbers and tensors only,
        so ``torch.load`` loads a checkpoint with its default ``weights_only=True``.

        Returns:
            {"history": a copy of ``history``, "vectors": {"sharpness" and/or "pre_sharpness":
            the last top eigenvector}}.
        """
        return {"history": [dict(record) for record in self.history], "vectors": dict(self._vectors)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict`: a resumed tracker warm-starts from the saved eigenvectors, so
        its measurements equal an uninterrupted run's.  The settings stay the constructor's.

        Args:
            state_dict: a dict from :meth:`state_dict`.
        """
        self.history = [dict(record) for record in state_dict["history"]]
        self._vectors = dict(state_dict["vectors"])

    def _keep(self, key: str, result: EigenResult) -> dict[str, float]:
        if bool(torch.isfinite(result.eigenvectors).all()):  # never warm-start from a diverged measurement
            self._vectors[key] = result.eigenvectors
        return {key: result.value, f"{key}_hvps": result.hvps}
