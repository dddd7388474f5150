"""GI-Adam and RI-Adam: Adam with a non-zero initial second moment v0 (paper section 6.2, App. I).

Adam (paper eqs. 3-5), with t counting updates from 1:

    m_t = beta1 m_{t-1} + (1 - beta1) g_t          v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    theta_{t+1} = theta_t - lr * (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps)

``v0="zero"`` is Adam itself (bit for bit equal to ``torch.optim.Adam(foreach=False)``);
``v0="grad"`` is GI-Adam, v0 = g0^2; ``v0="random"`` is RI-Adam, v0 = r^2 with r ~ N(0, I) over
all parameters flattened, rescaled so that ||r||_2 = ||g0||_2.  Both bias corrections are kept, as
in the paper and its code.

torch.optim.Adam's options behave as there, operation for operation: ``maximize`` (g -> -g),
``weight_decay`` w as L2 decay (g -> g + w theta before the moments) or, with
``decoupled_weight_decay=True``, as AdamW's decay (theta -> (1 - lr w) theta before the update), and
the single-tensor arithmetic (``foreach=False``).  The gradient v0 is built from is the one the
moments fold in, after those two changes (:func:`effective_gradient`).  What Adam offers and GIAdam
does not (AMSGrad, sparse gradients, complex parameters, the foreach, fused, capturable and
differentiable implementations) is refused with a ValueError naming it.

Implicit warmup.  With a stationary gradient g, GI-Adam has m_t / (1 - beta1^t) = g and v_t = g^2
for every t, so its step is  lr * g * sqrt(1 - beta2^t) / (|g| + eps sqrt(1 - beta2^t)),  while
bias-free RMSProp with momentum (v_t / (1 - beta2^t) replaced by v_t) steps  lr * g / (|g| + eps).
Their ratio is sqrt(1 - beta2^t) exactly when eps = 0: GI-Adam is that optimizer under the warmup
eta_t = lr sqrt(1 - beta2^t) (0.032 lr at t = 1, 0.31 lr at t = 100 for beta2 = 0.999).

Coordinates with g0 = 0 get v0 = 0 and then follow Adam's arithmetic exactly (no division by
zero: eps sits outside the square root).  State and group keys are torch.optim.Adam's
("step" as a float32 scalar tensor, "exp_avg", "exp_avg_sq"; "lr", "betas", "eps", "weight_decay",
"amsgrad", "maximize", ...), so code that reads an Adam state (e.g. the pre-conditioned sharpness)
reads this one too.  An optional per-group "lr_mult" key is carried untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

V0_CHOICES = ("zero", "grad", "random")
# torch.optim.Adam's options that GIAdam does not implement, with the only value it accepts
UNSUPPORTED = {"amsgrad": False, "capturable": False, "differentiable": False, "fused": None}
UNSUPPORTED_HINT = {"amsgrad": "use torch.optim.Adam(amsgrad=True) for AMSGrad",
                    "capturable": "GIAdam is not CUDA-graph capturable",
                    "differentiable": "GIAdam's step is not differentiable",
                    "fused": "GIAdam has no fused kernel"}


def check_options(options: dict[str, Any]) -> None:
    """Refuse, naming the key, a param group (or the defaults) that GIAdam would not honour.

    Args:
        options: a param group or the defaults dict, with at least "lr", "eps", "weight_decay",
            "betas" and "foreach".

    Raises:
        ValueError: lr, eps or weight_decay < 0, a beta outside [0, 1), foreach=True, or any of
            amsgrad, capturable, differentiable, fused set (:data:`UNSUPPORTED`).
    """
    for key in ("lr", "eps", "weight_decay"):
        if not options[key] >= 0.0:
            raise ValueError(f"{key}: got {options[key]!r}; must be >= 0")
    for index, beta in enumerate(options["betas"]):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"betas[{index}]: got {beta!r}; must be in [0, 1)")
    if options["foreach"]:
        raise ValueError("foreach: got True; GIAdam has only the single-tensor arithmetic (foreach=None or False)")
    for key, allowed in UNSUPPORTED.items():
        if options.get(key, allowed):
            raise ValueError(f"{key}: got {options[key]!r}; GIAdam supports only {key}={allowed!r} "
                             f"({UNSUPPORTED_HINT[key]})")


def effective_gradient(param: torch.Tensor, grad: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
    """The gradient g' that an SGD- or Adam-family update folds in, in torch's order of operations.

        g' = (-g if maximize else g) + w theta        (the L2 term only when the decay is not decoupled)

    ``torch.optim.SGD``, ``Adam``, ``AdamW``, ``RAdam`` and :class:`GIAdam` all start their update
    so; a missing group key means the option is off.  With neither option ``grad`` itself is
    returned.

    Args:
        param: theta.
        grad: g, the loss's gradient at theta.
        group: the param group holding ``param``.

    Returns:
        g', a new tensor unless it is ``grad`` itself.
    """
    grad = -grad if group.get("maximize", False) else grad
    weight_decay = group.get("weight_decay", 0.0)
    if weight_decay != 0 and not group.get("decoupled_weight_decay", False):
        grad = grad.add(param, alpha=weight_decay)
    return grad


class GIAdam(torch.optim.Optimizer):
    """Adam with a chosen initial second moment v0: Adam, GI-Adam or RI-Adam (paper section 6.2).

    Adam's update, with t counting updates from 1, m_0 = 0 and v_0 = v0::

        m_t = beta1 m_{t-1} + (1 - beta1) g_t
        v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
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
        weight_decay: w >= 0, L2 decay (g -> g + w theta) as in ``torch.optim.Adam``, or AdamW's
            decay with ``decoupled_weight_decay``.
        amsgrad: only False (AMSGrad is not implemented).
        v0: "zero" (Adam, bit for bit ``torch.optim.Adam(foreach=False)``), "grad" (GI-Adam) or
            "random" (RI-Adam).
        generator_seed: the seed of the CPU generator that draws r for "random".
        maximize: ascend the objective (g -> -g), as in ``torch.optim.Adam``.
        foreach: None or False (the single-tensor arithmetic; True is refused).
        capturable: only False.
        differentiable: only False.
        fused: only None or False.
        decoupled_weight_decay: theta -> (1 - lr w) theta before each update instead of L2 decay,
            as ``torch.optim.AdamW``.

    Raises:
        ValueError: if an argument is out of range or asks for an option GIAdam does not
            implement (also for a param group added later, and for complex parameters).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, v0: str = "zero",
                 generator_seed: int = 98, maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        if v0 not in V0_CHOICES:
            raise ValueError(f"v0: got {v0!r}; allowed values are {V0_CHOICES}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        check_options(defaults)
        super().__init__(params, defaults)
        self.v0 = v0
        self.generator_seed = generator_seed

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """``torch.optim.Optimizer.add_param_group``, refusing a group GIAdam would not honour.

        Args:
            param_group: the group, as for any torch optimizer (missing options take the defaults).

        Raises:
            ValueError: if the group sets an option :func:`check_options` refuses or holds a complex
                parameter; the group is then not added.
        """
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            check_options(group)
            for param in group["params"]:
                if param.is_complex():
                    raise ValueError(f"params: got a complex parameter ({param.dtype}); GIAdam supports "
                                     "real parameters only (torch.optim.Adam handles complex ones)")
        except ValueError:
            self.param_groups.pop()
            raise

    def __getstate__(self) -> dict[str, Any]:
        # torch.optim.Optimizer pickles only defaults/state/param_groups; keep v0 through copy and pickle
        return {**super().__getstate__(), "v0": self.v0, "generator_seed": self.generator_seed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # load_state_dict passes the saved groups through here: those saved before the torch options
        # existed get them switched off, and saved groups asking for an unsupported one are refused
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in dict(weight_decay=0.0, maximize=False, foreach=None, decoupled_weight_decay=False,
                                   **UNSUPPORTED).items():
                group.setdefault(key, value)
            check_options(group)

    @property
    def initialised(self) -> bool:
        """Whether some parameter holds a state: the optimizer has stepped, been initialised or
        loaded a checkpoint (empty entries, which merely reading ``state[p]`` creates, do not count)."""
        return any(self.state.values())

    def initial_exp_avg_sq(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The initial second moment v0 for parameters whose first gradients are ``grads``.

        "zero": 0; "grad": g0^2; "random": r^2 with r ~ N(0, I) drawn over the concatenation of
        all tensors (CPU generator seeded with ``generator_seed``) and rescaled to the Euclidean
        norm of g0 over all tensors.

        Args:
            grads: g0, one tensor per parameter (the gradients the moments fold in,
                :func:`effective_gradient`).

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

    def _params_with_grad(self) -> list[tuple[torch.Tensor, dict[str, Any]]]:
        """(param, group) for every parameter with a ``.grad``, in group order; refuses sparse ones
        before anything is updated."""
        pairs = [(p, group) for group in self.param_groups for p in group["params"] if p.grad is not None]
        for param, _ in pairs:
            if param.grad.is_sparse:
                raise ValueError("sparse gradients: GIAdam supports dense gradients only "
                                 "(torch.optim.SparseAdam handles sparse ones)")
        return pairs

    @torch.no_grad()
    def init_from_grad(self, force: bool = False) -> bool:
        """Set every parameter's state to step 0, m = 0 and v = v0 computed from its current ``.grad``.

        Call it after a backward pass on the batch that defines g0, before the first update.  v0 is
        built from the gradient the first update would fold in (:func:`effective_gradient`: negated
        under ``maximize``, plus w theta under L2 decay).  Parameters whose ``.grad`` is None are left
        uninitialised (they start from v = 0 later).  An optimizer that already holds a state (it has
        stepped, or loaded a checkpoint) is left exactly as it is unless ``force``: so a training
        framework's "train begins" hook that calls this method keeps the moments of a resumed run.

        Args:
            force: replace an existing state too.

        Returns:
            True if the state was (re)initialised, False if an existing state was kept.

        Raises:
            ValueError: if no parameter has a ``.grad``, or a gradient is sparse.
        """
        if self.initialised and not force:
            return False
        pairs = self._params_with_grad()
        if not pairs:
            raise ValueError("init_from_grad: no parameter has a .grad; run backward first")
        grads = [effective_gradient(param, param.grad, group) for param, group in pairs]
        for (param, _), exp_avg_sq in zip(pairs, self.initial_exp_avg_sq(grads)):
            self.state[param] = self._fresh_state(param, exp_avg_sq)
        return True

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One Adam update with ``torch.optim.Adam``'s single-tensor arithmetic, operation for operation.

        Args:
            closure: re-evaluates the model and returns the loss (optional, as for any torch
                optimizer).

        Returns:
            The closure's loss, or None without a closure.

        Raises:
            ValueError: if a gradient is sparse (nothing is updated then).
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        pairs = self._params_with_grad()
        if self.v0 != "zero" and not self.initialised and pairs:
            self.init_from_grad()
        for param, group in pairs:
            if not self.state.get(param):
                zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
                self.state[param] = self._fresh_state(param, zeros)
            self._update(param, self.state[param], group)
        return loss

    @staticmethod
    def _update(param: torch.Tensor, state: dict, group: dict[str, Any]) -> None:
        (beta1, beta2), lr, weight_decay = group["betas"], group["lr"], group["weight_decay"]
        grad, exp_avg, exp_avg_sq = effective_gradient(param, param.grad, group), state["exp_avg"], state["exp_avg_sq"]
        state["step"] += 1
        if weight_decay != 0 and group["decoupled_weight_decay"]:
            param.mul_(1 - lr * weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1, denominator = adam_step_terms(exp_avg_sq, state["step"].item(), beta1, beta2, group["eps"])
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
