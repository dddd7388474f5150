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
from warmup_lib.curvature.hessian import HVPOperator, LossFn, hvp, trainable_parameters

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
    """lambda_max(H) of the loss on the batch(es), to relative residual ``tol``.

    ``inputs``/``targets``: one batch, or sequences of batches (the loss is their batch-size-weighted
    mean).  ``dtype=torch.float64`` measures in a float64 copy.  ``v0`` ((n,) or (n, m)) warm-starts
    the solver.  ``mode`` is the train/eval mode of normalisation and dropout layers during the
    measurement.  Returns a float, or with ``return_info`` the ``EigenResult`` (top-k eigenvalues,
    eigenvectors over the flat trainable parameters, relative residuals, products used).
    """
    operator = HVPOperator(model, loss_fn, inputs, targets, method=method, dtype=dtype, mode=mode)
    result = _solve(operator, k, tol, v0, solver, max_hvps)
    return result if return_info else result.value


def adam_preconditioner(
    model: nn.Module, optimizer: torch.optim.Optimizer, gradient: torch.Tensor
) -> torch.Tensor:
    """The flat diagonal P of Adam's upcoming update (module docstring), divided by any lr_mult.

    ``gradient`` is the flat current-batch gradient over the model's trainable parameters.
    Reads torch.optim.Adam / GI-Adam state ("step", "exp_avg_sq", group "betas", "eps").
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
        if group.get("amsgrad", False):
            raise ValueError("optimizer amsgrad=True is not supported; allowed: amsgrad=False")
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
    """lambda_max(P^-1/2 H P^-1/2) with P the Adam preconditioner of the upcoming update.

    P is built by ``adam_preconditioner`` from the optimizer's state and the gradient of the same
    loss on the same batch(es); Adam is stable while eta * lambda < ``adam_threshold`` * eta = 38
    (beta1 = 0.9).  Arguments and return value as in ``sharpness``; the returned eigenvectors are
    those of the symmetric operator (P^1/2 times the eigenvectors of P^-1 H).
    """
    operator = HVPOperator(model, loss_fn, inputs, targets, method=method, dtype=dtype, mode=mode)
    preconditioner = adam_preconditioner(model, optimizer, operator.gradient())
    result = _solve(_Preconditioned(operator, preconditioner), k, tol, v0, solver, max_hvps)
    return result if return_info else result.value
