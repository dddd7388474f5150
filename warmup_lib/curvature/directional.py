"""Curvature along one direction, and batch sharpness (the edge of stochastic stability).

- Directional curvature: for a direction u over the trainable parameters, the Rayleigh quotient

      c(u) = u^T H u / u^T u,      lambda_min(H) <= c(u) <= lambda_max(H),

  the second derivative of the loss along the unit vector u / |u|; one Hessian-vector product.
- Batch sharpness (Andreyev & Beneventano, arXiv 2412.20553): over minibatches B, with g_B and H_B
  the gradient and Hessian of the loss on B at the current parameters,

      batch_sharpness = mean_B  g_B^T H_B g_B / g_B^T g_B,

  the curvature of each minibatch's loss along its own gradient, i.e. along the step SGD takes on
  that batch.  SGD at rate eta trains at the "edge of stochastic stability", where this quantity
  hovers at 2/eta, while lambda_max of the full-batch Hessian stays below 2/eta.  It costs one
  gradient and one Hessian-vector product per batch.

Neither changes the model's parameters, buffers, ``.grad`` fields or modes, nor the global random
state (:class:`~warmup_lib.curvature.hessian.HVPOperator`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from warmup_lib.curvature.hessian import HVPOperator, LossFn, trainable_parameters

__all__ = ["BatchSharpness", "batch_sharpness", "directional_curvature", "flat_direction"]

Direction = torch.Tensor | Mapping[str, torch.Tensor] | Sequence[torch.Tensor]


def flat_direction(model: nn.Module, direction: Direction) -> torch.Tensor:
    """A direction over the trainable parameters as one flat vector, in the order of theta.

    theta is the trainable parameters flattened in ``model.named_parameters()`` order (the order of
    :class:`~warmup_lib.curvature.hessian.HVPOperator`).

    Args:
        model: the network whose trainable parameters the direction covers.
        direction: one of
            - a flat tensor of length n (already in the order of theta),
            - a dict {parameter name: tensor shaped like it}; a trainable parameter it does not
              name gets 0 (say, one the optimizer does not hold),
            - a list or tuple with one tensor per trainable parameter, in their order.

    Returns:
        The flat vector u (the dtype and device of the given tensors).

    Raises:
        ValueError: if ``direction`` has the wrong length, names a parameter that is not trainable,
            or holds a tensor of the wrong shape.
    """
    params = trainable_parameters(model)
    if isinstance(direction, torch.Tensor):
        n = sum(p.numel() for p in params.values())
        if direction.shape != (n,):
            raise ValueError(f"direction: a flat tensor must have shape ({n},), got {tuple(direction.shape)}")
        return direction
    if isinstance(direction, Mapping):
        unknown = sorted(set(direction) - set(params))
        if unknown:
            raise ValueError(f"direction: {unknown} are not trainable parameters of the model; "
                             f"allowed names: {list(params)}")
        pieces = [direction.get(name, torch.zeros_like(p)) for name, p in params.items()]
    else:
        if len(direction) != len(params):
            raise ValueError(f"direction: got {len(direction)} tensors for {len(params)} trainable parameters")
        pieces = list(direction)
    for (name, param), piece in zip(params.items(), pieces):
        if piece.shape != param.shape:
            raise ValueError(f"direction: the tensor for {name!r} has shape {tuple(piece.shape)}, "
                             f"the parameter {tuple(param.shape)}")
    return torch.cat([piece.reshape(-1) for piece in pieces])


def _rayleigh_quotient(operator: HVPOperator, vector: torch.Tensor) -> float:
    """v^T H v / v^T v with one product of ``operator`` (v cast to its dtype and device)."""
    vector = vector.to(operator.theta)
    return float(torch.dot(vector, operator(vector)) / torch.dot(vector, vector))


def directional_curvature(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    targets: torch.Tensor | Sequence[torch.Tensor],
    direction: Direction,
    *,
    dtype: torch.dtype | None = None,
    mode: str = "train",
    method: str = "double_backward",
) -> float:
    """The curvature of the loss along u: u^T H u / u^T u, with one Hessian-vector product.

    H is the Hessian of the loss on the batch(es) over the flat trainable parameters
    (:func:`~warmup_lib.hvp`).  The value is the Rayleigh quotient of H at u, so
    lambda_min(H) <= value <= lambda_max(H), with equality at the extreme eigenvectors; it is the
    second derivative of eta -> L(theta + eta u/|u|) at eta = 0.

    Args:
        model: the network, at the parameters where H is taken.
        loss_fn: ``loss_fn(model(x), y)`` is the mean loss on one batch.
        inputs: one batch, or a sequence of batches.
        targets: the matching targets.
        direction: u, per parameter (a dict name -> tensor or a list in parameter order) or flat
            (:func:`flat_direction`).
        dtype: compute in a copy of this dtype (None: the model's).
        mode: "train" or "eval", the mode of normalisation and dropout layers.
        method: how H u is computed, "double_backward" or "forward_over_reverse".

    Returns:
        u^T H u / u^T u as a float.

    Raises:
        ValueError: if ``direction`` does not match the trainable parameters (:func:`flat_direction`),
            is zero or not finite; or for a bad ``method`` / ``mode`` / batch pairing.
    """
    vector = flat_direction(model, direction)
    if not bool(torch.isfinite(vector).all()) or not bool((vector != 0).any()):
        raise ValueError("direction: must be finite and not zero (the curvature along it is u^T H u / u^T u)")
    operator = HVPOperator(model, loss_fn, inputs, targets, method=method, dtype=dtype, mode=mode)
    return _rayleigh_quotient(operator, vector)


@dataclass(frozen=True)
class BatchSharpness:
    """Result of :func:`batch_sharpness`: ``value`` = the mean of ``per_batch``, the quotients
    g_B^T H_B g_B / g_B^T g_B of each batch in order; its cost, ``hvps`` Hessian-vector products and
    ``gradients`` gradient evaluations (one of each per batch)."""

    value: float
    per_batch: list[float]
    hvps: int
    gradients: int


def batch_sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    dtype: torch.dtype | None = None,
    mode: str = "train",
    method: str = "double_backward",
    return_info: bool = False,
) -> float | BatchSharpness:
    """Batch sharpness, mean over minibatches B of g_B^T H_B g_B / g_B^T g_B (module docstring).

    g_B and H_B are the gradient and Hessian of the mean loss on batch B at the model's current
    parameters; each quotient lies in [lambda_min(H_B), lambda_max(H_B)].  The mean is unweighted:
    the batches stand for draws of the random minibatch.  Cost: per batch one gradient and one
    Hessian-vector product along it (with "double_backward" the product first builds the gradient's
    graph, one forward and backward, then runs one reverse pass through it).

    Args:
        model: the network, at the parameters where the curvature is taken.
        loss_fn: ``loss_fn(model(x), y)`` is the mean loss on one batch.
        batches: [(inputs, targets), ...], at least one.
        dtype: compute in a copy of this dtype (None: the model's).
        mode: "train" or "eval", the mode of normalisation and dropout layers.
        method: how H_B g_B is computed, "double_backward" or "forward_over_reverse".
        return_info: return a :class:`BatchSharpness` (per-batch values and the cost) instead.

    Returns:
        The batch sharpness as a float, or with ``return_info`` a :class:`BatchSharpness`.

    Raises:
        ValueError: if ``batches`` is empty or not a sequence of (inputs, targets) pairs, or the
            gradient on a batch is zero or not finite (the quotient is undefined).
    """
    if len(batches) == 0 or not all(isinstance(batch, (tuple, list)) and len(batch) == 2 for batch in batches):
        raise ValueError("batches: must be a non-empty sequence of (inputs, targets) pairs")
    per_batch, hvps = [], 0
    for index, (inputs, targets) in enumerate(batches):
        operator = HVPOperator(model, loss_fn, inputs, targets, method=method, dtype=dtype, mode=mode)
        gradient = operator.gradient()
        if not bool(torch.isfinite(gradient).all()) or not bool((gradient != 0).any()):
            raise ValueError(f"batches: the gradient on batch {index} is zero or not finite, "
                             "so g^T H g / g^T g is undefined there")
        per_batch.append(_rayleigh_quotient(operator, gradient))
        hvps += operator.hvps
    result = BatchSharpness(sum(per_batch) / len(per_batch), per_batch, hvps, len(per_batch))
    return result if return_info else result.value
