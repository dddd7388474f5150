"""The direction d of an optimizer's next update, read from its state without changing it.

Every optimizer below makes its next update, for a parameter in a group with multiplier
``lr_mult`` (1 if the group has none) and learning rate eta, as

    theta  <-  theta - eta * lr_mult * d(g),

where g is the gradient about to be folded in.  :func:`next_update_direction` returns d per
parameter, so a trial step theta - eta * lr_mult * d is exactly the step the optimizer would take
with lr = eta * lr_mult (this is what the critical-rate search in :mod:`warmup_lib.critical.search` needs):

Every optimizer first turns g into g' = (-g if maximize else g) + w theta, the L2 term only when its
weight decay w is not decoupled (:func:`~warmup_lib.optim.giadam.effective_gradient`); then:

* SGD (torch.optim.SGD, dampening tau):  without momentum d = g';  with momentum beta,
  buf' = g' if the state has no buffer yet (torch's first step) else beta buf + (1 - tau) g';
  d = buf' (heavy ball) or g' + beta buf' (Nesterov).
* Adam / AdamW / GIAdam, t = (steps taken) + 1:  m' = beta1 m + (1-beta1) g',
  v' = beta2 v + (1-beta2) g'^2 with v = v0 for a GIAdam that has not started
  (:meth:`GIAdam.initial_exp_avg_sq`);  with AMSGrad (torch.optim.Adam only) v' is replaced by
  max(v_max, v');  d = (m'/(1-beta1^t)) / (sqrt(v'/(1-beta2^t)) + eps), plus w theta for decoupled
  weight decay (AdamW, or ``decoupled_weight_decay=True``): theta - eta (d + w theta) is torch's
  (1 - eta w) theta - eta d.
* RAdam: m', v' as Adam; rho_inf = 2/(1-beta2) - 1, rho_t = rho_inf - 2 t beta2^t/(1-beta2^t);
  d = m_hat * r_t sqrt(1-beta2^t)/(sqrt(v') + eps) if rho_t > 5 else m_hat, with
  r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)); decay as Adam.

The options that only choose an implementation (foreach, fused, capturable, differentiable) do not
change d.  Any other optimizer class is refused.
"""

from __future__ import annotations

import math

import torch

from warmup_lib.optim.giadam import GIAdam, adam_step_terms, effective_gradient

SUPPORTED = ("SGD", "Adam", "AdamW", "RAdam", "GIAdam")


def _check_supported(optimizer: torch.optim.Optimizer) -> None:
    if not isinstance(optimizer, (torch.optim.SGD, torch.optim.Adam, torch.optim.RAdam, GIAdam)):
        raise ValueError(f"optimizer: got {type(optimizer).__name__}; supported optimizers are {SUPPORTED}")


def _sgd(group: dict, state: dict, grad: torch.Tensor) -> torch.Tensor:
    momentum = group["momentum"]
    if momentum == 0:
        return grad
    buffer = state.get("momentum_buffer")
    buffer = grad if buffer is None else momentum * buffer + (1 - group["dampening"]) * grad
    return grad + momentum * buffer if group["nesterov"] else buffer


def _adam_moments(group: dict, state: dict, grad: torch.Tensor, exp_avg_sq0: torch.Tensor | None):
    """(t, m', v') of the next Adam-family update, v' under AMSGrad the running maximum.  Out of
    place and written as the weighted sums of the module docstring, which round differently from the
    optimizers' in-place ``lerp_`` and ``addcmul_`` (equal to rounding, the tests' tolerance): kept
    so, the directions, and the critical learning rates searched along them, stay bit for bit what
    they were."""
    beta1, beta2 = group["betas"]
    step = float(state["step"]) + 1 if "step" in state else 1.0
    exp_avg = state["exp_avg"] if "exp_avg" in state else torch.zeros_like(grad)
    exp_avg_sq = state["exp_avg_sq"] if "exp_avg_sq" in state else exp_avg_sq0
    exp_avg_sq = torch.zeros_like(grad) if exp_avg_sq is None else exp_avg_sq
    m_new = beta1 * exp_avg + (1 - beta1) * grad
    v_new = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
    if group.get("amsgrad", False) and "max_exp_avg_sq" in state:
        v_new = torch.maximum(state["max_exp_avg_sq"], v_new)
    return step, m_new, v_new


def _radam(group: dict, step: float, m_new: torch.Tensor, v_new: torch.Tensor) -> torch.Tensor:
    """RAdam's rectified direction (module docstring)."""
    (beta1, beta2), eps = group["betas"], group["eps"]
    m_hat = m_new / (1 - beta1**step)
    bias_correction2 = 1 - beta2**step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2**step / bias_correction2
    if rho_t > 5.0:
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return m_hat * rect * bias_correction2**0.5 / (v_new.sqrt() + eps)
    return m_hat


def _adam_family(optimizer, group: dict, state: dict, param, grad, exp_avg_sq0) -> torch.Tensor:
    step, m_new, v_new = _adam_moments(group, state, grad, exp_avg_sq0)
    if isinstance(optimizer, torch.optim.RAdam):
        direction = _radam(group, step, m_new, v_new)
    else:
        bias_correction1, denominator = adam_step_terms(v_new, step, *group["betas"], group["eps"])
        direction = m_new / bias_correction1 / denominator
    weight_decay = group.get("weight_decay", 0.0)
    decoupled = group.get("decoupled_weight_decay", False)  # True for AdamW
    return direction + weight_decay * param if weight_decay and decoupled else direction


@torch.no_grad()
def next_update_direction(optimizer: torch.optim.Optimizer,
                          grads: dict[torch.Tensor, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """(param, d, lr_mult) for every optimizer parameter that has an entry in ``grads``.

    ``grads`` maps a parameter tensor to the gradient g of the loss (as ``backward`` would leave in
    ``.grad``; the optimizer's own ``.grad`` fields are not read).  Parameters are visited in
    param-group order, the order GIAdam uses to draw its random v0.  The optimizer and its state are
    only read.  theta - eta lr_mult d is the optimizer's next update at lr = eta lr_mult (module
    docstring).

    Args:
        optimizer: an SGD, Adam, AdamW, RAdam or GIAdam optimizer.
        grads: {parameter: g}, the gradients of the loss at the current parameters.

    Returns:
        [(param, d, lr_mult), ...] in param-group order, d shaped like param.

    Raises:
        ValueError: if the optimizer is not one of :data:`SUPPORTED`.
    """
    _check_supported(optimizer)
    pairs = [(p, group) for group in optimizer.param_groups for p in group["params"] if p in grads]
    effective = [effective_gradient(p, grads[p], group) for p, group in pairs]
    exp_avg_sq0 = [None] * len(pairs)
    if isinstance(optimizer, GIAdam) and not optimizer.initialised:
        exp_avg_sq0 = optimizer.initial_exp_avg_sq(effective)
    directions = []
    for (param, group), grad, v0 in zip(pairs, effective, exp_avg_sq0):
        state = optimizer.state.get(param, {})
        if isinstance(optimizer, torch.optim.SGD):
            direction = _sgd(group, state, grad)
        else:
            direction = _adam_family(optimizer, group, state, param, grad, v0)
        directions.append((param, direction, float(group.get("lr_mult", 1.0))))
    return directions
