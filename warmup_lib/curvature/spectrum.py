"""Sharpness and pre-conditioned sharpness: the top of the (pre-conditioned) Hessian's spectrum.

- Sharpness: lambda^H = lambda_max(H), H the Hessian of the training loss on the given batch(es).
- Pre-conditioned sharpness: lambda^{P^-1 H} = lambda_max(P^-1/2 H P^-1/2) (same spectrum as the
  non-symmetric P^-1 H), with the Adam preconditioner *of the upcoming update*, exactly as the
  authors' code builds it (code digest section 5):

      v_{t+1} = beta2 v_t + (1 - beta2) g^2          g = dL/dtheta on this batch, now
      P       = (1 - beta1^(t+1)) (sqrt(v_{t+1} / (1 - beta2^(t+1))) + eps)

  where t is the optimizer's step count so far (0 and v_t = 0 before the first step, unless the
  optimizer already holds an ``exp_avg_sq``, as GI-Adam does).  If a param group carries
  ``"lr_mult"`` (per-layer learning rates, e.g. muP), the effective preconditioner of its
  parameters is P / lr_mult, so that eta * lambda_max is compared with the same threshold.

Neither measurement changes the model's parameters, buffers, ``.grad`` fields or modes, nor the
optimizer's state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from warmup_lib.curvature.eigensolvers import EigenResult, top_eigenpairs
from warmup_lib.curvature.hessian import HVPOperator, LossFn, trainable_parameters

__all__ = ["sharpness", "preconditioned_sharpness", "adam_preconditioner"]

Batches = torch.Tensor | Sequence[torch.Tensor]


def _solve(
    operator, k: int, tol: float, v0: torch.Tensor | None, solver: str, max_hvps: int
) -> EigenResult:
    theta = operator.theta
    return top_eigenpairs(
        operator, operator.n, k=k, tol=tol, v0=v0, solver=solver, max_hvps=max_hvps,
        dtype=theta.dtype, device=theta.device,
    )


def sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: Batches,
    targets: Batches,
    *,
    k: int = 1,
    tol: float = 1e-3,
    dtype: torch.dtype | None = None,
    v0: torch.Tensor | None = None,
    mode: str = "train",
    return_info: bool = False,
    method: str = "double_backward",
    solver: str = "lanczos",
    max_hvps: int = 1000,
) -> float | EigenResult:
    """The sharpness lambda^H = lambda_max(H), the top eigenvalue of the loss's Hessian.

    H = d^2 L / d theta^2 over the flat trainable parameters theta, with L the batch-size-weighted
    mean of the losses on the batch(es).  H is never formed: a matrix-free eigensolver applies
    Hessian-vector products (:func:`~warmup_lib.hvp`) until the top ``k`` eigenpairs (lambda, y)
    meet the relative residual norm(H y - lambda y) / abs(lambda) <= ``tol``.  Gradient descent at
    learning rate eta is stable while lambda^H < 2/eta (:func:`~warmup_lib.sgd_threshold`).  The
    model's parameters, buffers, ``.grad`` fields and modes are left untouched.

    Args:
        model: the network, at the parameters where H is measured.
        loss_fn: ``loss_fn(model(x), y)`` is the mean loss on one batch.
        inputs: one batch, or a sequence of batches.
        targets: the matching targets.
        k: the number of top eigenpairs.
        tol: the relative residual at which the solver stops.
        dtype: measure in a copy of this dtype (``torch.float64`` for reference values); None
            keeps the model's.
        v0: a warm start, (n,) or (n, m), over the flat trainable parameters.
        mode: "train" or "eval", the mode of normalisation and dropout layers while measuring.
        return_info: return the whole eigensolver result instead of the top eigenvalue.
        method: how H v is computed, "double_backward" or "forward_over_reverse".
        solver: "lanczos" (warm-startable) or "eigsh" (ARPACK).
        max_hvps: the budget of Hessian-vector products, >= 1; a solve that spends it before its
            residual meets ``tol`` warns (:class:`~warmup_lib.curvature.eigensolvers.ConvergenceWarning`).

    Returns:
        lambda_max(H) as a float, or with ``return_info`` an
        :class:`~warmup_lib.curvature.eigensolvers.EigenResult` (top-k eigenvalues, eigenvectors
        over the flat trainable parameters, relative residuals, products used).

    Raises:
        ValueError: if ``max_hvps`` < 1 (or another solver argument is out of range).
    """
    operator = HVPOperator(model, loss_fn, inputs, targets, method=method, dtype=dtype, mode=mode)
    result = _solve(operator, k, tol, v0, solver, max_hvps)
    return result if return_info else result.value


def adam_preconditioner(
    model: nn.Module, optimizer: torch.optim.Optimizer, gradient: torch.Tensor
) -> torch.Tensor:
    """The flat diagonal P of Adam's upcoming update (module docstring), divided by any lr_mult.

    ``gradient`` is the flat current-batch gradient over the model's trainable parameters.
    Reads torch.optim.Adam / GI-Adam state ("step", "exp_avg_sq", group "betas", "eps").  AMSGrad,
    ``maximize`` and L2 weight decay are refused; decoupled (AdamW) decay leaves P as it is::

        P = (1 - beta1^(t+1)) (sqrt(v_{t+1} / (1 - beta2^(t+1))) + eps) / lr_mult,
        v_{t+1} = beta2 v_t + (1 - beta2) g^2

    Args:
        model: the network whose trainable parameters P covers.
        optimizer: the Adam-type optimizer holding them (its state is only read).
        gradient: g, the flat current-batch gradient over the trainable parameters.

    Returns:
        P, flat over the trainable parameters in ``model.named_parameters()`` order.

    Raises:
        ValueError: if a parameter is not in the optimizer, a group lacks "betas"/"eps", or uses
            amsgrad, maximize or L2 weight decay.
    """
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    pieces = []
    offset = 0
    for name, param in trainable_parameters(model).items():
        if id(param) not in group_of:
            raise ValueError(f"parameter {name!r} is not in the optimizer's param_groups")
        group = group_of[id(param)]
        if "betas" not in group or "eps" not in group:
            raise ValueError("optimizer: param groups need Adam's 'betas' and 'eps' (torch.optim.Adam or GIAdam)")
        for option, allowed in (("amsgrad", False), ("maximize", False)):
            if group.get(option, allowed) != allowed:
                raise ValueError(f"optimizer {option}=True is not supported; allowed: {option}={allowed}")
        if group.get("weight_decay", 0.0) and not group.get("decoupled_weight_decay", False):
            raise ValueError("optimizer weight_decay with L2 decay is not supported (it changes the gradient "
                             "Adam folds in and the Hessian); allowed: weight_decay=0 or decoupled_weight_decay=True")
        beta1, beta2 = group["betas"]
        grad = gradient[offset : offset + param.numel()]
        offset += param.numel()
        state = optimizer.state.get(param, {})
        step = float(state["step"]) if "step" in state else 0.0
        v_prev = state["exp_avg_sq"].reshape(-1).to(grad) if "exp_avg_sq" in state else torch.zeros_like(grad)
        v_next = beta2 * v_prev + (1.0 - beta2) * grad**2
        bias1, bias2 = 1.0 - beta1 ** (step + 1.0), 1.0 - beta2 ** (step + 1.0)
        pieces.append(bias1 * (torch.sqrt(v_next / bias2) + group["eps"]) / group.get("lr_mult", 1.0))
    return torch.cat(pieces)


class _Preconditioned:
    """v -> P^-1/2 H P^-1/2 v, symmetric with the spectrum of P^-1 H."""

    def __init__(self, operator: HVPOperator, preconditioner: torch.Tensor) -> None:
        self.operator, self.scale = operator, preconditioner.rsqrt()
        self.theta, self.n = operator.theta, operator.n

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        return self.scale * self.operator(self.scale * vector.to(self.theta))


def preconditioned_sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: Batches,
    targets: Batches,
    optimizer: torch.optim.Optimizer,
    *,
    k: int = 1,
    tol: float = 1e-3,
    dtype: torch.dtype | None = None,
    v0: torch.Tensor | None = None,
    mode: str = "train",
    return_info: bool = False,
    method: str = "double_backward",
    solver: str = "lanczos",
    max_hvps: int = 1000,
) -> float | EigenResult:
    """Adam's pre-conditioned sharpness lambda^{P^-1 H} = lambda_max(P^-1/2 H P^-1/2).

    P is the diagonal preconditioner of the optimizer's upcoming update, built from its state (step
    count t, second moment v_t; v_t = 0 before the first step unless the optimizer holds one, as
    GI-Adam does) and the gradient g of the same loss on the same batch(es)::

        v_{t+1} = beta2 v_t + (1 - beta2) g^2
        P       = (1 - beta1^(t+1)) (sqrt(v_{t+1} / (1 - beta2^(t+1))) + eps) / lr_mult

    Adam at learning rate eta is stable while eta lambda^{P^-1 H} < (2 + 2 beta1) / (1 - beta1),
    38 at beta1 = 0.9 (:func:`~warmup_lib.adam_threshold`).  P^-1/2 H P^-1/2 is symmetric with the
    spectrum of P^-1 H; the eigensolver of :func:`~warmup_lib.sharpness` runs on it.  Neither the
    model nor the optimizer's state is changed.

    Args:
        model: the network, at the parameters where H is measured.
        loss_fn: ``loss_fn(model(x), y)`` is the mean loss on one batch.
        inputs: one batch, or a sequence of batches.
        targets: the matching targets.
        optimizer: a ``torch.optim.Adam`` (without amsgrad) or :class:`~warmup_lib.GIAdam` holding
            the model's parameters.
        k: the number of top eigenpairs.
        tol: the relative residual at which the solver stops.
        dtype: measure in a copy of this dtype; None keeps the model's.
        v0: a warm start, (n,) or (n, m), over the flat trainable parameters.
        mode: "train" or "eval", the mode of normalisation and dropout layers while measuring.
        return_info: return the whole eigensolver result instead of the top eigenvalue.
        method: how H v is computed, "double_backward" or "forward_over_reverse".
        solver: "lanczos" (warm-startable) or "eigsh" (ARPACK).
        max_hvps: the budget of Hessian-vector products, >= 1; a solve that spends it before its
            residual meets ``tol`` warns (:class:`~warmup_lib.curvature.eigensolvers.ConvergenceWarning`).

    Returns:
        lambda_max(P^-1 H) as a float, or with ``return_info`` an
        :class:`~warmup_lib.curvature.eigensolvers.EigenResult` whose eigenvectors are those of the
        symmetric operator (P^1/2 times the eigenvectors of P^-1 H).

    Raises:
        ValueError: if the optimizer is not Adam-type, uses an option :func:`adam_preconditioner`
            refuses or does not hold every trainable parameter; if ``max_hvps`` < 1.
    """
    operator = HVPOperator(model, loss_fn, inputs, targets, method=method, dtype=dtype, mode=mode)
    preconditioner = adam_preconditioner(model, optimizer, operator.gradient())
    result = _solve(_Preconditioned(operator, preconditioner), k, tol, v0, solver, max_hvps)
    return result if return_info else result.value
