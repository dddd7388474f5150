"""A curvature-adaptive learning rate in the spirit of CDAT (Roulet et al., arXiv 2407.06183,
"Stepping on the edge: curvature aware learning rate tuners"): a warmup with no schedule.

The optimizer's next update is theta <- theta - eta u with u = lr_mult d, d its update direction
(:func:`~warmup_lib.optim.direction.next_update_direction`: SGD, momentum, Adam, GI-Adam, RAdam).
Along u the loss is, to second order,

    L(theta - eta u)  ~  L(theta) - eta a + eta^2 b / 2,     a = g . u,   b = u^T H u,

g and H the gradient and Hessian of the batch loss.  If b > 0 the greedy step is a/b, and the
model's loss stops falling at 2 a/b: its edge of stability.  CDAT sets

    eta = min(eta_trgt, scale * a_ema / b_ema),

with scale = 2 "on the edge" (1 is the greedy step), and a_ema, b_ema bias-corrected exponential
moving averages (factor ``beta``; 0: no smoothing) of max(a, 0) and b, as in the paper.  Where
b_ema <= 0 the quadratic model has no edge and eta = eta_trgt (the paper divides by |b| + eps
instead).  Early in training the curvature along the update is large, so eta starts small and
rises by itself as the curvature falls: a warmup without a schedule.  For SGD without momentum
u = g, so eta = scale / (g^T H g / g^T g): scale over the curvature along the gradient, which is
what :func:`~warmup_lib.curvature.directional.batch_sharpness` measures.

Cost: one Hessian-vector product per measurement (every ``every`` updates), on the update's own
batch, besides the training step's gradient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from warmup_lib.curvature.directional import flat_direction
from warmup_lib.curvature.hessian import HVPOperator, LossFn, trainable_parameters
from warmup_lib.optim.direction import next_update_direction
from warmup_lib.schedules import ControlledLR, set_lr_mult

__all__ = ["CurvatureAdaptiveCallback", "CurvatureAdaptiveLR"]


def _check_settings(eta_trgt: float, scale: float, beta: float, every: int) -> None:
    if not eta_trgt > 0:
        raise ValueError(f"eta_trgt: got {eta_trgt!r}; must be > 0")
    if not scale > 0:
        raise ValueError(f"scale: got {scale!r}; must be > 0 (2 is the edge of stability, 1 the greedy step)")
    if not 0 <= beta < 1:
        raise ValueError(f"beta: got {beta!r}; must be in [0, 1) (0: no smoothing)")
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every: got {every!r}; must be an int >= 1")


class CurvatureAdaptiveLR(ControlledLR):
    """CDAT's rate eta = min(eta_trgt, scale a_ema / b_ema) (module docstring) as a torch scheduler.

    At the updates t divisible by ``every`` it measures, on that update's batch, the slope
    a = g . u and the curvature b = u^T H u along the optimizer's next update u = lr_mult d, with g
    read from the parameters' ``.grad`` (one Hessian-vector product), folds them into the averages
    and sets eta; between measurements eta stays.  Param group k trains at lr = eta lr_mult_k: its
    own ``lr_mult``, or else its base rate over eta_trgt (:func:`~warmup_lib.schedules.set_lr_mult`;
    build the optimizer with lr = eta_trgt).

    In your own loop, one call after the backward pass and before the update::

        loss.backward()
        scheduler.step(inputs, targets)   # measures (if due) and sets the rates of this update
        optimizer.step()

    In a framework that calls ``scheduler.step()`` after each ``optimizer.step()``, call
    ``scheduler.observe(inputs, targets)`` after the backward pass instead and let it call
    ``step()``.  Before the first measurement eta = 0 (the constructor's rates are 0): the first
    measurement comes before the first update, so every update uses a measured rate, and a loop
    that never measures trains nothing rather than starting at eta_trgt.

    ``history`` holds one dict per measurement: "step" (t), "eta" (the rate set), "a", "b" (as
    measured, before clipping and averaging) and "u_norm_sq" (u^T u, so b / u_norm_sq is the
    curvature along u, between lambda_min and lambda_max of H); ``hvps`` counts the products.

    Checkpoints: :meth:`state_dict` holds plain numbers only (eta, the averages, the counters, the
    history), so ``torch.load`` loads it with ``weights_only=True``, and a restored run continues
    bit for bit.  The settings are the constructor's, not the checkpoint's.

    Args:
        optimizer: an SGD, Adam, AdamW, RAdam or GIAdam optimizer (not maximising) over the model.
        model: the network it trains.
        loss_fn: ``loss_fn(model(inputs), targets)`` is the scalar loss.
        eta_trgt: the largest rate, > 0.
        scale: the multiple of the greedy step a/b, > 0 (2: the edge of stability).
        beta: the averages' factor, in [0, 1).
        every: measure at the updates divisible by ``every``, an int >= 1.

    Raises:
        ValueError: naming the argument, if one is out of range, the optimizer maximises, or every
            param group has rate 0 and no ``lr_mult``.
    """

    SETTINGS = ("model", "loss_fn", "eta_trgt", "scale", "beta", "every")

    def __init__(self, optimizer: torch.optim.Optimizer, model: nn.Module, loss_fn: LossFn, eta_trgt: float,
                 scale: float = 2.0, beta: float = 0.9, every: int = 1) -> None:
        _check_settings(eta_trgt, scale, beta, every)
        if any(group.get("maximize", False) for group in optimizer.param_groups):
            raise ValueError("optimizer: maximize=True is not supported (the rate is set for minimising the loss)")
        self.model, self.loss_fn = model, loss_fn
        self.eta_trgt, self.scale, self.beta, self.every = eta_trgt, scale, beta, every
        self.eta = 0.0
        self.slope_average = self.curvature_average = 0.0  # not bias-corrected
        self.measurements = self.hvps = 0
        self.history: list[dict[str, float]] = []
        set_lr_mult(optimizer, eta_trgt)
        super().__init__(optimizer)

    @property
    def due(self) -> bool:
        """Whether the coming update t = ``last_epoch`` is a measuring one (t divisible by ``every``)."""
        return self.last_epoch % self.every == 0

    def observe(self, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        """Measure a and b if the coming update is due, and set the optimizer's rates for it.

        Call after the backward pass (``.grad`` holds g) and before ``optimizer.step()``.

        Args:
            inputs: the batch's inputs, on which H is taken.
            targets: the batch's targets.

        Returns:
            eta, the learning rate of the coming update (each param group gets eta lr_mult).

        Raises:
            ValueError: if the update is due and no trainable parameter has a ``.grad``.
        """
        if self.due:
            self._measure(inputs, targets)
        self._apply()
        return self.eta

    def _measure(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        params = trainable_parameters(self.model)
        grads = {name: p.grad for name, p in params.items() if p.grad is not None}
        if not grads:
            raise ValueError("step: the model's parameters have no .grad; call loss.backward() before "
                             "step(inputs, targets)")
        by_param = {params[name]: grad for name, grad in grads.items()}
        updates = {id(p): lr_mult * d for p, d, lr_mult in next_update_direction(self.optimizer, by_param)}
        update = flat_direction(self.model, {name: updates[id(p)] for name, p in params.items() if id(p) in updates})
        slope = float(torch.dot(flat_direction(self.model, grads), update))
        operator = HVPOperator(self.model, self.loss_fn, inputs, targets)
        curvature = float(torch.dot(update.to(operator.theta), operator(update)))
        self.hvps += operator.hvps
        self.measurements += 1
        self.slope_average = self.beta * self.slope_average + (1 - self.beta) * max(slope, 0.0)
        self.curvature_average = self.beta * self.curvature_average + (1 - self.beta) * curvature
        correction = 1 - self.beta**self.measurements  # the same for both averages: it cancels in eta
        slope_ema, curvature_ema = self.slope_average / correction, self.curvature_average / correction
        self.eta = min(self.eta_trgt, self.scale * slope_ema / curvature_ema) if curvature_ema > 0 else self.eta_trgt
        self.history.append({"step": self.last_epoch, "eta": self.eta, "a": slope, "b": curvature,
                             "u_norm_sq": float(torch.dot(update, update))})

    def step(self, inputs: torch.Tensor | None = None, targets: torch.Tensor | None = None) -> float:
        """Count an update; with a batch, first :meth:`observe` it.

        ``step(inputs, targets)`` after the backward pass and before ``optimizer.step()`` is the one
        call of your own loop; ``step()`` after it is torch's scheduler protocol (frameworks call it).

        Args:
            inputs: the batch's inputs (None: only count the update).
            targets: the batch's targets.

        Returns:
            eta, the rate of the update being counted.
        """
        if inputs is not None:
            self.observe(inputs, targets)
        self._step_count += 1
        self.last_epoch += 1
        self._apply()
        return self.eta

    def state_dict(self) -> dict:
        """eta, the averages, the counters and the history: plain numbers only (``torch.load`` with
        ``weights_only=True`` loads it).

        Returns:
            torch's ``LRScheduler.state_dict()`` less the settings (:attr:`SETTINGS`).
        """
        state = {key: value for key, value in super().state_dict().items() if key not in self.SETTINGS}
        return state | {"history": [dict(record) for record in self.history]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict` and set the optimizer's rates to the restored eta; the settings
        stay the constructor's.

        Args:
            state_dict: a dict from :meth:`state_dict` (settings in it are ignored).
        """
        state = {key: value for key, value in state_dict.items() if key not in self.SETTINGS}
        super().load_state_dict(state | {"history": [dict(record) for record in state["history"]]})
        self._apply()


def _leave_gradient(model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor) -> None:
    """Put into ``.grad`` the gradient the trainer's coming forward and backward will compute: the
    random state is restored afterwards (its forward draws the same dropout masks) and the forward
    runs on copies of the buffers (batch-norm statistics move once per step, as without it)."""
    params = trainable_parameters(model)
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    devices = sorted({p.device.index or 0 for p in params.values() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        loss = loss_fn(functional_call(model, {**params, **buffers}, (inputs,)), targets)
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    for param, grad in zip(params.values(), grads):
        param.grad = grad


class CurvatureAdaptiveCallback:
    """A :class:`~warmup_lib.runs.train.Callback` that runs :class:`CurvatureAdaptiveLR` inside
    :func:`warmup_lib.runs.train.run`, overriding the config's schedule.

    Callbacks run before the trainer's backward pass, but their columns land in the row of the
    coming update, so at a measuring update t it computes the gradient the trainer is about to
    compute (same batch, same parameters, same dropout masks; one extra forward and backward pass)
    into ``.grad`` and calls the scheduler's ``step(inputs, targets)`` there; a step pre-hook on
    the optimizer then sets every group's lr = eta lr_mult just before ``optimizer.step()``.  The
    records' ``lr`` column is the config's schedule, not the rate used: read ``cdat_eta``.

    Columns of record t: ``cdat_eta``, the rate of update t (every update); ``cdat_curvature``, at
    measuring updates, b / u^T u = u^T H u / u^T u, the curvature along the update direction u
    (between lambda_min and lambda_max of H; for SGD without momentum and beta = 0,
    cdat_eta = min(eta_trgt, scale / cdat_curvature)).  Cost per measurement: one Hessian-vector
    product and one gradient.

    Args:
        eta_trgt: the largest rate, > 0.
        scale: the multiple of the greedy step, > 0.
        beta: the averages' factor, in [0, 1).
        every: measure at the updates divisible by ``every``, an int >= 1.

    Raises:
        ValueError: naming the argument, if one is out of range.
    """

    def __init__(self, eta_trgt: float, scale: float = 2.0, beta: float = 0.9, every: int = 1) -> None:
        _check_settings(eta_trgt, scale, beta, every)
        self.settings = dict(eta_trgt=eta_trgt, scale=scale, beta=beta, every=every)
        self.scheduler: CurvatureAdaptiveLR | None = None

    def _set_rates(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.scheduler._apply()

    def __call__(self, step: int, model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor,
                 optimizer: torch.optim.Optimizer) -> Mapping[str, float]:
        if self.scheduler is None:
            self.scheduler = CurvatureAdaptiveLR(optimizer, model, loss_fn, **self.settings)
            optimizer.register_step_pre_hook(self._set_rates)
        scheduler = self.scheduler
        if not scheduler.due:
            return {"cdat_eta": scheduler.step()}
        _leave_gradient(model, loss_fn, inputs, targets)
        eta = scheduler.step(inputs, targets)
        record = scheduler.history[-1]
        curvature = record["b"] / record["u_norm_sq"] if record["u_norm_sq"] else math.nan
        return {"cdat_eta": eta, "cdat_curvature": curvature}
