"""The direction d of an optimizer's next update, read from its state without changing it.

Every optimizer below makes its next update, for a parameter in a group with multiplier
``lr_mult`` (1 if the group has none) and learning rate eta, as

    theta  <-  theta - eta * lr_mult * d(g),

where g is the gradient about to be folded in.  :func:`next_update_direction` returns d per
parameter, so a trial step theta - eta * lr_mult * d is exactly the step the optimizer would take
with lr = eta * lr_mult (this is what the critical-rate search in :mod:`warmup_lib.critical.search` needs):

* SGD (torch.optim.SGD, dampening tau, weight decay w):  g' = g + w theta;  without momentum d = g';
  with momentum beta, buf' = g' if the state has no buffer yet (torch's first step) else
  beta buf + (1 - tau) g';  d = buf' (heavy ball) or g' + beta buf' (Nesterov).
* Adam / AdamW / GIAdam, t = (steps taken) + 1:  m' = beta1 m + (1-beta1) g,
  v' = beta2 v + (1-beta2) g^2 with v = v0 for a GIAdam that has not started
  (:meth:`GIAdam.initial_exp_avg_sq`);  d = (m'/(1-beta1^t)) / (sqrt(v'/(1-beta2^t)) + eps),
  plus w theta for decoupled weight decay (AdamW), or g' = g + w theta for L2 decay.
* RAdam: m', v' as Adam; rho_inf = 2/(1-beta2) - 1, rho_t = rho_inf - 2 t beta2^t/(1-beta2^t);
  d = m_hat * r_t sqrt(1-beta2^t)/(sqrt(v') + eps) if rho_t > 5 else m_hat, with
  r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)).
"""

from __future__ import annotations

import math

import torch

from warmup_lib.optim.giadam import GIAdam, adam_step_terms

SUPPORTED = ("SGD", "Adam", "AdamW", "RAdam", "GIAdam")


def _unsupported(optimizer: torch.optim.Optimizer, group: dict) -> None:
    if not isinstance(optimizer, (torch.optim.SGD, torch.optim.Adam, torch.optim.RAdam, GIAdam)):
        raise ValueError(f"optimizer: got {type(optimizer).__name__}; supported optimizers are {SUPPORTED}")
    for flag in ("maximize", "amsgrad"):
        if group.get(flag, False):
            raise ValueError(f"optimizer: param group option {flag}=True is not supported")


def _sgd(group: dict, state: dict, param: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    grad = grad + group["weight_decay"] * param if group["weight_decay"] else grad
    momentum = group["momentum"]
    if momentum == 0:
        return grad
    buffer = state.get("momentum_buffer")
    buffer = grad if buffer is None else momentum * buffer + (1 - group["dampening"]) * grad
    return grad + momentum * buffer if group["nesterov"] else buffer


def _adam_moments(group: dict, state: dict, grad: torch.Tensor, exp_avg_sq0: torch.Tensor | None):
    """(t, m', v') of the next Adam-family update.  Out of place and written as the weighted sums
    of the module docstring, which round differently from the optimizers' in-place ``lerp_`` and
    ``addcmul_`` (equal to rounding, the tests' tolerance): kept so, the directions, and the critical
    learning rates searched along them, stay bit for bit what they were."""
    beta1, beta2 = group["betas"]
    step = float(state["step"]) + 1 if "step" in state else 1.0
    exp_avg = state["exp_avg"] if "exp_avg" in state else torch.zeros_like(grad)
    exp_avg_sq = state["exp_avg_sq"] if "exp_avg_sq" in state else exp_avg_sq0
    exp_avg_sq = torch.zeros_like(grad) if exp_avg_sq is None else exp_avg_sq
    m_new = beta1 * exp_avg + (1 - beta1) * grad
    v_new = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
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
    weight_decay = group.get("weight_decay", 0.0)
    decoupled = group.get("decoupled_weight_decay", False)  # True for AdamW
    if weight_decay and not decoupled:
        grad = grad + weight_decay * param
    step, m_new, v_new = _adam_moments(group, state, grad, exp_avg_sq0)
    if isinstance(optimizer, torch.optim.RAdam):
        direction = _radam(group, step, m_new, v_new)
    else:
        bias_correction1, denominator = adam_step_terms(v_new, step, *group["betas"], group["eps"])
        direction = m_new / bias_correction1 / denominator
    return direction + weight_decay * param if weight_decay and decoupled else direction


@torch.no_grad()
def next_update_direction(optimizer: torch.optim.Optimizer,
                          grads: dict[torch.Tensor, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """(param, d, lr_mult) for every optimizer parameter that has an entry in ``grads``.

    ``grads`` maps a parameter tensor to the gradient g to fold in (the optimizer's own ``.grad``
    fields are not read).  Parameters are visited in param-group order, the order GIAdam uses to
    draw its random v0.  The optimizer and its state are only read.
    """
    params = [p for group in optimizer.param_groups for p in group["params"] if p in grads]
    exp_avg_sq0 = {}
    if isinstance(optimizer, GIAdam) and len(optimizer.state) == 0:
        exp_avg_sq0 = dict(zip(params, optimizer.initial_exp_avg_sq([grads[p] for p in params])))
    directions = []
    for group in optimizer.param_groups:
        _unsupported(optimizer, group)
        for param in group["params"]:
            if param not in grads:
                continue
            state = optimizer.state.get(param, {})
            if isinstance(optimizer, torch.optim.SGD):
                direction = _sgd(group, state, param, grads[param])
            else:
                direction = _adam_family(optimizer, group, state, param, grads[param], exp_avg_sq0.get(param))
            directions.append((param, direction, float(group.get("lr_mult", 1.0))))
    return directions
