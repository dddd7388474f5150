"""GI-Adam and RI-Adam: Adam with a non-zero initial second moment v0 (paper section 6.2, App. I).

Adam (paper eqs. 3-5), with t counting updates from 1:

    m_t = beta1 m_{t-1} + (1 - beta1) g_t          v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    theta_{t+1} = theta_t - lr * (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps)

``v0="zero"`` is Adam itself (bit for bit equal to ``torch.optim.Adam(foreach=False)``);
``v0="grad"`` is GI-Adam, v0 = g0^2; ``v0="random"`` is RI-Adam, v0 = r^2 with r ~ N(0, I) over
all parameters flattened, rescaled so that ||r||_2 = ||g0||_2.  Both bias corrections are kept, as
in the paper and its code.

Implicit warmup.  With a stationary gradient g, GI-Adam has m_t / (1 - beta1^t) = g and v_t = g^2
for every t, so its step is  lr * g * sqrt(1 - beta2^t) / (|g| + eps sqrt(1 - beta2^t)),  while
bias-free RMSProp with momentum (v_t / (1 - beta2^t) replaced by v_t) steps  lr * g / (|g| + eps).
Their ratio is sqrt(1 - beta2^t) exactly when eps = 0: GI-Adam is that optimizer under the warmup
eta_t = lr sqrt(1 - beta2^t) (0.032 lr at t = 1, 0.31 lr at t = 100 for beta2 = 0.999).

Coordinates with g0 = 0 get v0 = 0 and then follow Adam's arithmetic exactly (no division by
zero: eps sits outside the square root).  State and group keys are torch.optim.Adam's
("step" as a float32 scalar tensor, "exp_avg", "exp_avg_sq"; "lr", "betas", "eps"), so code that
reads an Adam state (e.g. the pre-conditioned sharpness) reads this one too.  An optional per-group
"lr_mult" key is carried untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

V0_CHOICES = ("zero", "grad", "random")


class GIAdam(torch.optim.Optimizer):
    """Adam with a chosen initial second moment v0: Adam, GI-Adam or RI-Adam (paper section 6.2).

    Adam's update, with t counting updates from 1, m_0 = 0 and v_0 = v0::

        m_t = beta1 m_{t-1} + (1 - beta1) g_t          v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
        theta_{t+1} = theta_t - lr (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps)

    v0 = 0 is Adam; GI-Adam takes v0 = g0^2, the square of a first gradient, and RI-Adam v0 = r^2
    with r ~ N(0, I) rescaled to the Euclidean norm of g0.  GI-Adam lowers the initial
    pre-conditioned sharpness by about sqrt(1 - beta2) and, for a stationary gradient, is RMSProp
    with momentum under the built-in warmup eta_t = lr sqrt(1 - beta2^t) (module docstring).

    For "grad" and "random", call :meth:`init_from_grad` after a backward pass on the batch that
    defines g0 (the paper draws one extra batch and then skips it).  If it was never called, the
    first :meth:`step` initialises v0 from that step's own gradient.  State and group keys are
    those of ``torch.optim.Adam``, so code that reads an Adam state reads this one too.

    Args:
        params: the parameters or param groups, as for any torch optimizer (a group's optional
            ``lr_mult`` key is carried untouched).
        lr: the learning rate, >= 0.
        betas: (beta1, beta2), each in [0, 1).
        eps: added to the root of the bias-corrected second moment, >= 0.
        v0: "zero" (Adam, bit for bit ``torch.optim.Adam(foreach=False)``), "grad" (GI-Adam) or
            "random" (RI-Adam).
        generator_seed: the seed of the CPU generator that draws r for "random".

    Raises:
        ValueError: if an argument is out of range.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 v0: str = "zero", generator_seed: int = 98) -> None:
        if not lr >= 0.0:
            raise ValueError(f"lr: got {lr!r}; must be >= 0")
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"betas[{index}]: got {beta!r}; must be in [0, 1)")
        if not eps >= 0.0:
            raise ValueError(f"eps: got {eps!r}; must be >= 0")
        if v0 not in V0_CHOICES:
            raise ValueError(f"v0: got {v0!r}; allowed values are {V0_CHOICES}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps))
        self.v0 = v0
        self.generator_seed = generator_seed

    def __getstate__(self) -> dict[str, Any]:
        # torch.optim.Optimizer pickles only defaults/state/param_groups; keep v0 through copy and pickle
        return {**super().__getstate__(), "v0": self.v0, "generator_seed": self.generator_seed}

    def initial_exp_avg_sq(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The initial second moment v0 for parameters whose first gradients are ``grads``.

        "zero": 0; "grad": g0^2; "random": r^2 with r ~ N(0, I) drawn over the concatenation of
        all tensors (CPU generator seeded with ``generator_seed``) and rescaled to the Euclidean
        norm of g0 over all tensors.

        Args:
            grads: g0, one tensor per parameter.

        Returns:
            v0, one tensor per parameter, in the order and shapes of ``grads``.
        """
        if self.v0 == "zero":
            return [torch.zeros_like(grad) for grad in grads]
        if self.v0 == "grad":
            return [grad.detach().square() for grad in grads]
        grad_norm = torch.linalg.vector_norm(torch.cat([g.detach().reshape(-1).double() for g in grads]))
        generator = torch.Generator().manual_seed(self.generator_seed)
        noise = torch.randn(sum(g.numel() for g in grads), generator=generator, dtype=torch.float64)
        noise *= grad_norm / torch.linalg.vector_norm(noise)
        chunks = torch.split(noise, [g.numel() for g in grads])
        return [chunk.reshape(g.shape).to(g).square() for chunk, g in zip(chunks, grads)]

    @staticmethod
    def _fresh_state(param: torch.Tensor, exp_avg_sq: torch.Tensor) -> dict[str, torch.Tensor]:
        # "step" lives on the CPU as a scalar of the default float dtype, exactly as in torch.optim.Adam
        step_dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        return {"step": torch.tensor(0.0, dtype=step_dtype),
                "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                "exp_avg_sq": exp_avg_sq}

    def _params_with_grad(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"] if p.grad is not None]

    @torch.no_grad()
    def init_from_grad(self) -> None:
        """Set every parameter's state to step 0, m = 0 and v = v0 computed from its current ``.grad``.

        Call it after a backward pass on the batch that defines g0, before the first update.
        Parameters whose ``.grad`` is None are left uninitialised (they start from v = 0 later).

        Raises:
            ValueError: if no parameter has a ``.grad``.
        """
        params = self._params_with_grad()
        if not params:
            raise ValueError("init_from_grad: no parameter has a .grad; run backward first")
        for param, exp_avg_sq in zip(params, self.initial_exp_avg_sq([p.grad for p in params])):
            self.state[param] = self._fresh_state(param, exp_avg_sq)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One Adam update with ``torch.optim.Adam``'s single-tensor arithmetic, operation for operation.

        Args:
            closure: re-evaluates the model and returns the loss (optional, as for any torch
                optimizer).

        Returns:
            The closure's loss, or None without a closure.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.v0 != "zero" and len(self.state) == 0:
            self.init_from_grad()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param not in self.state:
                    zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
                    self.state[param] = self._fresh_state(param, zeros)
                self._update(param, self.state[param], group["lr"], beta1, beta2, group["eps"])
        return loss

    @staticmethod
    def _update(param: torch.Tensor, state: dict, lr: float, beta1: float, beta2: float, eps: float) -> None:
        grad, exp_avg, exp_avg_sq = param.grad, state["exp_avg"], state["exp_avg_sq"]
        state["step"] += 1
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1, denominator = adam_step_terms(exp_avg_sq, state["step"].item(), beta1, beta2, eps)
        param.addcdiv_(exp_avg, denominator, value=-(lr / bias_correction1))


def adam_step_terms(exp_avg_sq: torch.Tensor, step: float, beta1: float, beta2: float,
                    eps: float) -> tuple[float, torch.Tensor]:
    r"""The two divisors of Adam's update t, computed from its second moment v_t.

    Adam steps theta_{t+1} = theta_t - lr (m_t / b_1) / d with

        b_1 = 1 - beta1^t,        d = sqrt(v_t) / sqrt(1 - beta2^t) + eps,

    in ``torch.optim.Adam``'s order of operations (the root of v_t, then the division by the root of
    the bias correction), so that :class:`GIAdam` and the next-update direction
    (:func:`warmup_lib.optim.direction.next_update_direction`) round as torch does.  The moment
    updates stay with their callers: the optimizer updates m and v in place (``lerp_``,
    ``addcmul_``), the direction computes m' and v' out of place, which rounds differently.

    Args:
        exp_avg_sq: v_t, the second moment after folding in update t's gradient.
        step: t, the updates made including this one (>= 1).
        beta1: the first moment's decay.
        beta2: the second moment's decay.
        eps: added to the denominator.

    Returns:
        (b_1, d): a float and a tensor shaped like ``exp_avg_sq``.
    """
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    return bias_correction1, exp_avg_sq.sqrt() / bias_correction2**0.5 + eps
