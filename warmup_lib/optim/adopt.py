r"""ADOPT: Adam whose normaliser leaves out the current gradient (Taniguchi et al., NeurIPS 2024,
arXiv 2411.02853, Algorithm 2 with its clipping; Algorithm 1 without).

With m_0 = 0 and v_0 = g_0^2 from the first gradient, every later update t = 1, 2, ... makes::

    n_t     = clip(g_t / max(sqrt(v_{t-1}), eps), -c_t, c_t)      c_t = t^p  (p = clip_exponent)
    m_t     = beta1 m_{t-1} + (1 - beta1) n_t
    theta_t = theta_{t-1} - lr m_t
    v_t     = beta2 v_{t-1} + (1 - beta2) g_t^2

Two changes to Adam make it converge for any beta2: g_t is normalised by v_{t-1}, which does not
contain g_t, and the normalisation comes before the momentum.  There is no bias correction.  The
clip c_t = t^{1/4} (the authors' default, added in the paper's second version) keeps the first
updates finite where v_0 is near 0 (a coordinate whose first gradient vanishes) and still grows
fast enough for the convergence proof; ``clip_exponent=None`` is the unclipped Algorithm 1.

Warmup.  The first call of :meth:`ADOPT.step` only stores v_0 = g_0^2 and the parameters do not
move: in a trainer, update 0 spends its batch on the second moment, as GI-Adam spends an extra batch
on g0.  With the clip, m_t is an average of n_s with |n_s| <= s^p, so no coordinate moves by more than
lr t^p at update t: a built-in limit on the first updates that opens slowly (p = 1/4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch


def check_group(group: dict[str, Any]) -> None:
    """Refuse, naming the key, a param group (or the defaults) ADOPT cannot run with.

    Args:
        group: a dict with "lr", "betas", "eps" and "clip_exponent".

    Raises:
        ValueError: lr < 0, a beta outside [0, 1), eps <= 0 (max(sqrt(v), eps) must be positive:
            a coordinate whose first gradient is 0 has v = 0), or a clip_exponent that is neither None
            nor a finite number >= 0.
    """
    if not group["lr"] >= 0.0:
        raise ValueError(f"lr: got {group['lr']!r}; must be >= 0")
    betas = group["betas"]
    if len(betas) != 2:
        raise ValueError(f"betas: got {betas!r}; must be a pair (beta1, beta2)")
    for index, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"betas[{index}]: got {beta!r}; must be in [0, 1)")
    if not group["eps"] > 0.0:
        raise ValueError(f"eps: got {group['eps']!r}; must be > 0 (ADOPT divides by max(sqrt(v), eps))")
    exponent = group["clip_exponent"]
    if exponent is not None and not (isinstance(exponent, (int, float)) and not isinstance(exponent, bool)
                                     and math.isfinite(exponent) and exponent >= 0):
        raise ValueError(f"clip_exponent: got {exponent!r}; must be None (no clipping) or a number >= 0")


class ADOPT(torch.optim.Optimizer):
    r"""ADOPT (arXiv 2411.02853, Algorithm 2): m_0 = 0, v_0 = g_0^2, then for t = 1, 2, ...

    .. math::

        n_t = \mathrm{clip}\big(g_t / \max(\sqrt{v_{t-1}}, \epsilon),\ -t^p,\ t^p\big),\quad
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) n_t,\quad
        \theta_t = \theta_{t-1} - \mathrm{lr}\, m_t,\quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2

    with p = ``clip_exponent`` (no clip for None: Algorithm 1).  The first :meth:`step` of a
    parameter stores v_0 = g_0^2 and leaves it where it is; its state's "step" is then the number
    of calls so far, so the update it makes next has t = "step" (the first has t = 1, c_1 = 1).

    State per parameter: "step" (a CPU float scalar tensor, float64 under a float64 default dtype,
    else float32, as in ``torch.optim.Adam``), "exp_avg" (m) and "exp_avg_sq" (v); a checkpoint
    resumes bit for bit.  A param group's optional "lr_mult" key is carried untouched.

    Args:
        params: the parameters or param groups, as for any torch optimizer.
        lr: the learning rate, >= 0.
        betas: (beta1, beta2), each in [0, 1) (the authors' default beta2 is 0.9999).
        eps: the floor of the normaliser sqrt(v), > 0.
        clip_exponent: p of the clip c_t = t^p, >= 0, or None for no clipping.

    Raises:
        ValueError: naming the argument, for a value :func:`check_group` refuses (also for a param
            group added later) or a complex parameter.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.9999),
                 eps: float = 1e-6, clip_exponent: float | None = 0.25) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, clip_exponent=clip_exponent)
        check_group(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """``torch.optim.Optimizer.add_param_group``, refusing a group ADOPT cannot run with.

        Args:
            param_group: the group (missing options take the defaults).

        Raises:
            ValueError: for an option :func:`check_group` refuses or a complex parameter; the group
                is then not added.
        """
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            check_group(group)
            if any(param.is_complex() for param in group["params"]):
                raise ValueError("params: got a complex parameter; ADOPT's clip needs real parameters")
        except ValueError:
            self.param_groups.pop()
            raise

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Store v_0 = g_0^2 for parameters seen for the first time, update all the others.

        Args:
            closure: re-evaluates the model and returns the loss (optional, as for any torch
                optimizer).

        Returns:
            The closure's loss, or None without a closure.

        Raises:
            ValueError: if a gradient is sparse (checked before anything changes).
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        pairs = [(p, group) for group in self.param_groups for p in group["params"] if p.grad is not None]
        if any(param.grad.is_sparse for param, _ in pairs):
            raise ValueError("sparse gradients: ADOPT supports dense gradients only")
        for param, group in pairs:
            state = self.state[param]
            if not state:
                state.update(_initial_state(param, param.grad))
            else:
                _update(param, state, group)
            state["step"] += 1
        return loss


def _initial_state(param: torch.Tensor, grad: torch.Tensor) -> dict[str, torch.Tensor]:
    """step 0, m_0 = 0 and v_0 = g_0^2; "step" lives on the CPU in the default float dtype, as Adam's."""
    step_dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    return {"step": torch.tensor(0.0, dtype=step_dtype),
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_avg_sq": grad.square()}


def _update(param: torch.Tensor, state: dict[str, torch.Tensor], group: dict[str, Any]) -> None:
    """Update t = state["step"] (>= 1): n_t, m_t, theta_t, then v_t (the order of Algorithm 2)."""
    (beta1, beta2), grad = group["betas"], param.grad
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    normalised = grad / exp_avg_sq.sqrt().clamp(min=group["eps"])
    if group["clip_exponent"] is not None:
        clip = state["step"].item() ** group["clip_exponent"]
        normalised.clamp_(-clip, clip)
    exp_avg.mul_(beta1).add_(normalised, alpha=1 - beta1)
    param.add_(exp_avg, alpha=-group["lr"])
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
