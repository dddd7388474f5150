"""Adam's state during training: moment norms, the size of its steps, and GI-Adam's implicit warmup.

**Moment norms** (the authors' ``mu_norm_step`` / ``nu_norm_step``, paper App. G): ||m_t||_2 and
||v_t||_2 over all parameters flattened, read from the optimizer state before update t.  After a
large early gradient spike ||v|| stays large for about 1/(1 - beta2) steps, so every later step
eta m_hat / sqrt(v_hat) is tiny: the paper's picture of Adam's *training failures*, which
:class:`AdamStateTracker` can also follow in the gradient and in dead ReLU units.

**Step size** measured from the run: the RMS over parameters of the update theta_{t+1} - theta_t.
Adam's first update is eta_0 sign(g_0) in every coordinate with g_0 != 0 (m_hat_1 = g_0 and
v_hat_1 = g_0^2), so in units of eta_trgt the RMS step starts at about 1 without warmup, at 1/T_wrm
with a linear warmup and at sqrt(1 - beta2) with GI-Adam.

**Implicit warmup of GI-Adam** (paper section 6.2).  With v_0 = g_0^2 and both bias corrections kept,
a stationary gradient gives v_t = g^2 for every t, so v_hat_t = g^2 / (1 - beta2^t) and the update is
that of bias-free RMSProp with momentum under the learning rate

    eta_t = eta_trgt sqrt(1 - beta2^t),        t = 1, 2, ... counting updates

(:func:`implicit_warmup_factor`).  It loses, relative to eta_trgt,

    D = sum_{t >= 1} (1 - sqrt(1 - beta2^t))  ~  2 (1 - ln 2) / (1 - beta2)   (612.9 steps at 0.999; the approximation gives 613.7)

learning-rate-steps (:func:`implicit_warmup_deficit`).  A linear warmup of T_wrm steps loses
(T_wrm - 1)/2 of them, so the explicit warmup of *matching length* (equal lost area) is
T_wrm = 1 + 2 D (:func:`matching_linear_warmup`, 1227 steps at beta2 = 0.999).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch


__all__ = ["AdamStateTracker", "implicit_warmup_factor", "implicit_warmup_deficit", "matching_linear_warmup"]


def _check_beta2(beta2: float) -> None:
    if not (isinstance(beta2, (int, float)) and 0.0 <= beta2 < 1.0):
        raise ValueError(f"beta2: got {beta2!r}; must be a number in [0, 1)")


def implicit_warmup_factor(step: int | np.ndarray, beta2: float = 0.999) -> np.ndarray:
    """sqrt(1 - beta2^(t+1)) for the 0-based update index ``step`` t (update t is the (t+1)-th).

    GI-Adam at a constant eta_trgt steps like bias-free RMSProp with momentum at
    eta_trgt * implicit_warmup_factor(t) (module docstring); 0.032 at t = 0 for beta2 = 0.999.

    Args:
        step: t, an int or an array of ints >= 0.
        beta2: Adam's second-moment coefficient, in [0, 1) (0 gives factor 1).

    Returns:
        sqrt(1 - beta2^(t+1)), an array of the shape of ``step``.

    Raises:
        ValueError: if ``beta2`` is outside [0, 1) or a step is negative or not an integer.
    """
    _check_beta2(beta2)
    step = np.asarray(step, dtype=float)
    if np.any(step < 0) or np.any(step != np.round(step)):
        raise ValueError(f"step: got {step!r}; must be integers >= 0 (0-based update index)")
    return np.sqrt(-np.expm1((step + 1.0) * math.log(beta2))) if beta2 > 0 else np.ones_like(step)


def implicit_warmup_deficit(beta2: float = 0.999, rtol: float = 1e-12) -> float:
    """D = sum_{t >= 1} (1 - sqrt(1 - beta2^t)): the learning-rate-steps GI-Adam's warmup loses.

    Summed term by term until the remaining tail, about term / (1 - beta2) since the terms fall like
    beta2^t / 2, is below ``rtol`` of the sum.  D ~ 2 (1 - ln 2) / (1 - beta2); D = 612.9 at 0.999.

    Args:
        beta2: Adam's second-moment coefficient, in [0, 1) (0 gives D = 0).
        rtol: the relative accuracy of the sum.

    Returns:
        D in learning-rate-steps (units of eta_trgt x updates).

    Raises:
        ValueError: if ``beta2`` is outside [0, 1).
    """
    _check_beta2(beta2)
    total, t = 0.0, 1
    while True:
        term = 1.0 - math.sqrt(-math.expm1(t * math.log(beta2))) if beta2 > 0 else 0.0
        total += term
        if term <= rtol * (1.0 - beta2) * max(total, 1.0):
            return total
        t += 1


def matching_linear_warmup(beta2: float = 0.999) -> int:
    """The linear warmup length T_wrm that loses as much learning rate as GI-Adam's implicit warmup.

    A linear warmup eta_t = eta_trgt min(1, (t+1)/T_wrm) loses sum_t (1 - (t+1)/T_wrm) = (T_wrm - 1)/2
    learning-rate-steps; equating with :func:`implicit_warmup_deficit` gives T_wrm = 1 + 2 D, rounded.

    Args:
        beta2: Adam's second-moment coefficient, in [0, 1).

    Returns:
        T_wrm = round(1 + 2 D), at least 1 (1227 at beta2 = 0.999).

    Raises:
        ValueError: if ``beta2`` is outside [0, 1).
    """
    return max(1, round(1.0 + 2.0 * implicit_warmup_deficit(beta2)))


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).double() for t in tensors]) if tensors else torch.zeros(0, dtype=torch.float64)


class AdamStateTracker:
    r"""Trainer callback (:class:`warmup_lib.runs.train.Callback`) recording Adam's state every ``every`` steps.

    Columns of record row t, all measured before update t, in this order:

    * ``m_norm``, ``v_norm``: ||m||_2 and ||v||_2 of the optimizer's ``exp_avg`` / ``exp_avg_sq`` over
      all parameters (0 before the first update of Adam; ||g_0^2|| for GI-Adam);
    * with ``bias_corrected``: ``v_hat_norm`` = ||v / (1 - beta2^k)||_2, the bias-corrected second
      moment that divides the step, k = the updates made (no correction at k = 0);
    * with ``update_rms``: ``last_update_rms`` = sqrt(mean_i (theta_t - theta_{t-1})_i^2), the RMS of the
      update made at step t - 1 (NaN at t = 0, and when the previous step was not tracked).  Shift it
      by one row (``records["last_update_rms"].shift(-1)``) to align it with the update of row t;
    * with ``failure_signs``, what the paper's App. G blames for Adam's training failures, from this
      batch's gradient g (one extra backward pass, which leaves ``.grad`` dirty for the trainer to
      clear): ``grad_sq_norm`` = ||g o g||_2, the counterpart of ``v_hat_norm`` for the current
      gradient (v_hat_norm / grad_sq_norm >> 1: the step is divided by the memory of larger, earlier
      gradients); ``readout_bias_grad_share`` = ||grad_b L|| / ||grad L|| for the readout bias b;
      ``dead_units``, the fraction of hidden ReLU units whose output is zero on every example of the
      batch (an FCN's hidden layers' features, a WRN's residual blocks' output channels), and
      ``dead_units_last``, the same for the last hidden layer (block).

    It reads any optimizer with torch.optim.Adam's state keys (Adam, GIAdam) and never changes the
    optimizer or the parameters.  With ``every`` > 1 and ``update_rms`` it also copies the parameters
    one step before each tracked step, so that ``last_update_rms`` is measured on every tracked step.

    Args:
        every: record every ``every``-th step, an int >= 1.
        update_rms: record ``last_update_rms``.
        bias_corrected: record ``v_hat_norm``.
        failure_signs: record the gradient and dead-unit columns; the model needs ``hidden`` (FCN) or
            ``blocks`` (WRN) and a ``readout`` with a bias.

    Raises:
        ValueError: if ``every`` is not an int >= 1; when called, if ``failure_signs`` and the model
            lacks those layers.
    """

    def __init__(self, every: int = 1, update_rms: bool = True, bias_corrected: bool = False,
                 failure_signs: bool = False) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every: got {every!r}; must be an int >= 1")
        self.every = every
        self.update_rms, self.bias_corrected, self.failure_signs = update_rms, bias_corrected, failure_signs
        self._previous: tuple[int, torch.Tensor] | None = None

    def __call__(self, step: int, model: torch.nn.Module, loss_fn: Callable, inputs: torch.Tensor,
                 targets: torch.Tensor, optimizer: torch.optim.Optimizer) -> dict[str, float] | None:
        """Record the columns (class docstring) at the steps divisible by ``every``, before update t.

        Args:
            step: t, the index of the coming update.
            model: the network, at theta_t.
            loss_fn: ``loss_fn(model(inputs), targets)`` is the loss (used with ``failure_signs``).
            inputs: the step's batch.
            targets: the matching targets.
            optimizer: the Adam-type optimizer, before update t (only read).

        Returns:
            None between records; else {column: value} for row t.

        Raises:
            ValueError: with ``failure_signs``, if the model lacks ``hidden``/``blocks`` or a
                ``readout`` with a bias.
        """
        needs_parameters = self.update_rms and (step % self.every == 0 or (step + 1) % self.every == 0)
        parameters = _flat([p for p in model.parameters() if p.requires_grad]) if needs_parameters else None
        record = None
        if step % self.every == 0:
            record = self._moment_norms(optimizer)
            if self.update_rms:
                update_rms = math.nan
                if self._previous is not None and self._previous[0] == step - 1:
                    update_rms = float((parameters - self._previous[1]).square().mean().sqrt())
                record["last_update_rms"] = update_rms
            if self.failure_signs:
                record.update(_failure_signs(model, loss_fn, inputs, targets))
        self._previous = (step, parameters) if parameters is not None else None
        return record

    def _moment_norms(self, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        pairs = [(group, optimizer.state.get(p, {})) for group in optimizer.param_groups for p in group["params"]]
        m = _flat([state["exp_avg"] for _, state in pairs if "exp_avg" in state])
        v = _flat([state["exp_avg_sq"] for _, state in pairs if "exp_avg_sq" in state])
        norms = {"m_norm": float(m.norm()), "v_norm": float(v.norm())}
        if self.bias_corrected:
            v_hat = _flat([_bias_corrected(group, state) for group, state in pairs if "exp_avg_sq" in state])
            norms["v_hat_norm"] = float(v_hat.norm())
        return norms


def _bias_corrected(group: dict, state: dict) -> torch.Tensor:
    """v / (1 - beta2^k) in float64 after k = state["step"] updates (v itself before the first)."""
    value = state["exp_avg_sq"].double()
    updates = int(state["step"]) if "step" in state else 0
    return value / (1 - group["betas"][1] ** updates) if updates > 0 else value


def _failure_signs(model: torch.nn.Module, loss_fn: Callable, inputs: torch.Tensor,
                   targets: torch.Tensor) -> dict[str, float]:
    """The gradient and dead-unit columns of :class:`AdamStateTracker` (``failure_signs``)."""
    layers = getattr(model, "hidden", None) or getattr(model, "blocks", None)
    readout = getattr(model, "readout", None)
    if layers is None or readout is None or readout.bias is None:
        raise ValueError("model: failure_signs needs an FCN (hidden, readout) or a WRN (blocks, readout) "
                         "with a readout bias")
    dead: list[torch.Tensor] = []

    def record_dead(_module, _inputs, output: torch.Tensor) -> None:
        # a unit (feature, or channel of a conv map) is dead when ReLU zeroes it on the whole batch
        dead.append((output <= 0).transpose(0, 1).flatten(1).all(dim=1).double().mean())

    handles = [layer.register_forward_hook(record_dead) for layer in layers]
    try:
        model.zero_grad(set_to_none=True)
        loss_fn(model(inputs), targets).backward()
    finally:
        for handle in handles:
            handle.remove()
    grads = [p.grad.double() for p in model.parameters() if p.grad is not None]
    grad_norm = torch.stack([g.pow(2).sum() for g in grads]).sum().sqrt()
    grad_sq_norm = torch.stack([g.pow(4).sum() for g in grads]).sum().sqrt()
    bias_share = readout.bias.grad.double().norm() / grad_norm if grad_norm > 0 else torch.tensor(math.nan)
    return {"grad_sq_norm": float(grad_sq_norm), "readout_bias_grad_share": float(bias_share),
            "dead_units": float(torch.stack(dead).mean()), "dead_units_last": float(dead[-1])}
