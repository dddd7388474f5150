"""Warmup from the critical learning rate (paper sections 6.1 and 7): T_reach, T_save, a one-call
suggestion, and the persistent catapult warmup (Alg. 3) as a torch learning-rate scheduler.

Warmup from eta_init = eta_c uses :func:`warmup_lib.schedules.warmup_from_init`,
eta_t = min(eta_c + eta_trgt (t+1)/T_wrm, eta_trgt) for updates t = 0, 1, ..., whose slope is the
linear warmup's eta_trgt/T_wrm; it reaches eta_trgt after

    T_reach = T_wrm (1 - eta_c/eta_trgt)  updates (paper),  1 if eta_c >= eta_trgt,

instead of the linear warmup's T_wrm, at the price of T_fp extra forward passes (~ T_fp/2 steps):

    T_save = T_wrm eta_c/eta_trgt - T_fp/2.

Rounding: updates are whole, so :func:`t_reach` is the number of updates up to and including the
first one at eta_trgt, ceil(T_wrm (1 - eta_c/eta_trgt)) clipped to [1, T_wrm] (read off the
schedule itself, so it agrees with it to the last bit), and :func:`t_save` = (T_wrm - T_reach)
- T_fp/2 = floor(T_wrm eta_c/eta_trgt) - T_fp/2 for eta_c < eta_trgt, T_wrm - 1 - T_fp/2 above.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn

from warmup_lib.critical.search import CriticalLR, LossFn, critical_lr
from warmup_lib.schedules import ControlledLR, reach_step, set_lr_mult

NO_CATAPULT_FACTOR = 1000.0  # suggest_warmup: no loss rise up to this multiple of eta_trgt = no catapult
NO_CATAPULT_FALLBACK = 0.1  # the paper's heuristic eta_init = eta_trgt / 10 in that case
GRADIENT_PASS_COST = 2  # the search's one gradient costs about one training step = 2 forward passes


def t_reach(eta_c: float, eta_trgt: float, warmup_steps: int) -> int:
    """Updates until a warmup from eta_c first uses eta_trgt (paper section 6.1).

    The warmup eta_t = min(eta_c + eta_trgt (t+1)/T_wrm, eta_trgt), t = 0, 1, ..., has the slope
    of the linear warmup of T_wrm steps and reaches eta_trgt after::

        T_reach = ceil(T_wrm (1 - eta_c/eta_trgt)), clipped to [1, T_wrm]

    updates: the paper's T_reach = T_wrm (1 - eta_c/eta_trgt) in whole updates, 1 if
    eta_c >= eta_trgt.  It is read off the schedule itself, so it agrees with it to the last bit.

    Args:
        eta_c: the critical learning rate, where the warmup starts (>= 0).
        eta_trgt: the target learning rate, > 0.
        warmup_steps: T_wrm, the length of the linear warmup with the same slope, an int >= 1.

    Returns:
        T_reach, the number of updates up to and including the first one at eta_trgt.

    Raises:
        ValueError: if an argument is out of range.
    """
    return reach_step(eta_trgt, warmup_steps, min(eta_c, eta_trgt), warmup="from_init") + 1


def t_save(eta_c: float, eta_trgt: float, warmup_steps: int, forward_passes: int) -> float:
    """Steps saved by a warmup from eta_c against a linear warmup of T_wrm steps (paper section 6.1).

    The search for eta_c costs T_fp extra forward passes, counted as half a step each::

        T_save = T_wrm - T_reach - T_fp/2

    which is the paper's T_wrm eta_c/eta_trgt - T_fp/2 with T_wrm eta_c/eta_trgt rounded down to
    whole updates (T_wrm - 1 - T_fp/2 when eta_c >= eta_trgt).

    Args:
        eta_c: the critical learning rate, where the warmup starts (>= 0).
        eta_trgt: the target learning rate, > 0.
        warmup_steps: T_wrm, an int >= 1.
        forward_passes: T_fp, the forward passes spent on the search, >= 0.

    Returns:
        T_save in steps; negative when the search costs more than it saves.

    Raises:
        ValueError: if an argument is out of range.
    """
    if forward_passes < 0:
        raise ValueError(f"forward_passes: got {forward_passes!r}; must be >= 0")
    return warmup_steps - t_reach(eta_c, eta_trgt, warmup_steps) - forward_passes / 2


@dataclass(frozen=True)
class WarmupSuggestion:
    """Result of :func:`suggest_warmup`.  ``reason`` is one of "eta_c below eta_trgt" (start the
    warmup at eta_c), "no warmup needed" (the one-step loss still falls at eta_trgt, so eta_c >=
    eta_trgt and T_reach = 1), "no catapult" (the loss never rose, even at NO_CATAPULT_FACTOR x
    eta_trgt: the one-step test cannot see the instability, so fall back to eta_trgt/10)."""

    eta_c: float
    eta_init: float
    eta_trgt: float
    reason: str
    search: CriticalLR
    warmup_steps: int | None = None
    t_reach: int | None = None
    t_save: float | None = None


def suggest_warmup(model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor,
                   optimizer: torch.optim.Optimizer, eta_trgt: float, warmup_steps: int | None = None,
                   delta: float = 0.1, eta0: float | None = None, method: str = "model") -> WarmupSuggestion:
    """Where to start a warmup to eta_trgt: eta_init = min(eta_c, eta_trgt) (paper section 6.1).

    eta_c comes from :func:`~warmup_lib.critical_lr` at the current parameters on this batch, with
    the search capped at 1000 eta_trgt.  The suggestion's ``reason`` is one of

    - "eta_c below eta_trgt": start the warmup at eta_init = eta_c;
    - "no warmup needed": the one-step loss still falls at eta_trgt (eta_c >= eta_trgt), so
      eta_init = eta_trgt and T_reach = 1;
    - "no catapult": the loss never rose, even at 1000 eta_trgt, so the one-step test cannot see
      the instability; fall back to the paper's heuristic eta_init = eta_trgt/10.

    With ``warmup_steps``, it also gives T_reach and T_save (:func:`~warmup_lib.t_reach`,
    :func:`~warmup_lib.t_save`), where T_fp counts the trial forward passes plus 2 for the search's
    gradient.  Nothing is mutated.

    Args:
        model: the network, at its current parameters.
        loss_fn: ``loss_fn(model(inputs), targets)`` is the scalar loss.
        inputs: the batch's inputs.
        targets: the batch's targets.
        optimizer: the optimizer whose next update defines the search's direction.
        eta_trgt: the target learning rate, > 0.
        warmup_steps: T_wrm of the linear warmup to compare with (None: no T_reach and T_save).
        delta: the width of the search's acceptance band (:func:`~warmup_lib.critical_lr`).
        eta0: the search's first rate; None means eta_trgt/T_wrm as in the paper's Fig. 5, or
            min(1e-4, eta_trgt) without ``warmup_steps``.
        method: the search method, "model" (fewer forward passes) or "paper".

    Returns:
        A :class:`~warmup_lib.critical.warmup.WarmupSuggestion` with eta_c, eta_init, the reason,
        the search itself and, with ``warmup_steps``, T_reach and T_save.

    Raises:
        ValueError: if ``eta_trgt`` is not positive.

    Example:

    >>> import torch
    >>> from warmup_lib import GIAdam, suggest_warmup
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    >>> x = torch.randn(256, 8); y = x[:, :1] * x[:, 1:2]
    >>> sgd = torch.optim.SGD(model.parameters(), lr=0.0)
    >>> s = suggest_warmup(model, torch.nn.functional.mse_loss, x, y, sgd, eta_trgt=10.0, warmup_steps=1000)
    >>> s.reason, s.eta_init == s.eta_c, s.t_reach == 1000 - int(1000 * s.eta_c / 10.0)
    ('eta_c below eta_trgt', True, True)
    """
    if not eta_trgt > 0:
        raise ValueError(f"eta_trgt: got {eta_trgt!r}; must be > 0")
    if eta0 is None:
        eta0 = eta_trgt / warmup_steps if warmup_steps else min(1e-4, eta_trgt)
    search = critical_lr(model, loss_fn, inputs, targets, optimizer, eta0=eta0, delta=delta,
                         eta_max=NO_CATAPULT_FACTOR * eta_trgt, method=method)
    if search.capped:
        eta_init, reason = NO_CATAPULT_FALLBACK * eta_trgt, "no catapult"
    elif search.eta_c >= eta_trgt:
        eta_init, reason = eta_trgt, "no warmup needed"
    else:
        eta_init, reason = search.eta_c, "eta_c below eta_trgt"
    if warmup_steps is None:
        return WarmupSuggestion(search.eta_c, eta_init, eta_trgt, reason, search)
    forward_passes = search.forward_passes + GRADIENT_PASS_COST
    return WarmupSuggestion(search.eta_c, eta_init, eta_trgt, reason, search, warmup_steps,
                            t_reach(eta_init, eta_trgt, warmup_steps),
                            t_save(eta_init, eta_trgt, warmup_steps, forward_passes))


@dataclass(frozen=True)
class Reestimate:
    """One re-estimation of :class:`PersistentCatapultWarmup`: at update ``step`` the batch loss
    ``loss`` fell below ``reference_loss``; the search from ``eta_before`` gave the bracket
    [``eta_lower``, ``eta_c``] with ``forward_passes`` trials, and eta became ``eta_c``."""

    step: int
    loss: float
    reference_loss: float
    eta_before: float
    eta_c: float
    eta_lower: float
    forward_passes: int
    within_tolerance: bool


class PersistentCatapultWarmup(ControlledLR):
    """Persistent catapult warmup (paper Alg. 3) as a torch learning-rate scheduler.

    Before each update t, :meth:`observe` takes the batch loss L(theta_t) at the current
    parameters.  If L(theta_t) < L(theta*) (the loss at the last re-estimation; +inf at the
    first call) and eta < eta_trgt, it re-estimates eta_c at theta_t on that batch with
    :func:`critical_lr` (from the current eta, capped at eta_trgt, tolerance ``delta``), sets
    eta = eta_c, theta* = theta_t, and records a :class:`Reestimate`.  Re-estimation stops for good
    once eta = eta_trgt, or when ``max_forward_passes`` trial forwards have been spent
    (``budget_exhausted``; eta then stays where it is).

    Param group g trains at lr = eta lr_mult_g: its own ``lr_mult``, or else its base rate over
    eta_trgt (:func:`~warmup_lib.schedules.set_lr_mult`), so a group built with lr = eta_trgt
    follows eta and groups with other base rates keep their ratios.  The constructor sets each
    group to eta0 lr_mult_g, as every torch scheduler sets its first rate.

    In your own loop, one call before each update does both (observe, then count the update)::

        loss.backward()
        scheduler.step(loss, inputs, targets)
        optimizer.step()

    In a framework that calls ``scheduler.step()`` after each ``optimizer.step()`` (Hugging Face
    ``Trainer``, Lightning), call ``scheduler.observe(loss, inputs, targets)`` before the update
    (in the training step) and let the framework call ``step()``; ``get_last_lr()`` is then the
    rate of the update just made.

    Checkpoints: :meth:`state_dict` holds plain numbers only (eta, the reference loss, the forward
    passes spent, the records, the counter), so ``torch.load`` loads it with its defaults, and a
    restored run continues at the same rate, bit for bit.  A resume without that state does not
    silently search again: when the optimizer's rates were changed outside this scheduler (say,
    by ``optimizer.load_state_dict`` after the scheduler was built), or when it is built with
    ``last_epoch >= 0`` (torch's resume convention), it continues at the optimizer's rate, warns,
    and re-estimates only after :meth:`restart`.  The settings (eta_trgt, delta, the budget,
    the method) are the constructor's, not the checkpoint's.

    Args:
        optimizer: the optimizer whose param groups' ``lr`` this sets.
        model: the network it trains.
        loss_fn: ``loss_fn(model(inputs), targets)`` is the scalar loss.
        eta_trgt: the target learning rate, > 0.
        delta: the width of each search's acceptance band (:func:`~warmup_lib.critical_lr`).
        eta0: the rate before the first estimate, in (0, eta_trgt] (None: min(1e-4, eta_trgt)).
        max_forward_passes: the budget of trial forward passes over the whole warmup.
        method: the search method, "paper" or "model".
        last_epoch: -1 for a fresh warmup; the index of the last update made to resume without
            the scheduler's state (as in PyTorch).

    Raises:
        ValueError: if ``eta_trgt`` or ``eta0`` is out of range, or every param group has rate 0
            and no ``lr_mult``.
    """

    SETTINGS = ("model", "loss_fn", "eta_trgt", "delta", "method", "max_forward_passes")

    def __init__(self, optimizer: torch.optim.Optimizer, model: nn.Module, loss_fn: LossFn, eta_trgt: float,
                 delta: float = 0.1, eta0: float | None = None, max_forward_passes: int = 500,
                 method: str = "paper", last_epoch: int = -1) -> None:
        if not eta_trgt > 0:
            raise ValueError(f"eta_trgt: got {eta_trgt!r}; must be > 0")
        self.model, self.loss_fn = model, loss_fn
        self.eta_trgt, self.delta, self.method = eta_trgt, delta, method
        self.eta = min(1e-4, eta_trgt) if eta0 is None else eta0
        if not 0 < self.eta <= eta_trgt:
            raise ValueError(f"eta0: got {eta0!r}; must be > 0 and <= eta_trgt ({eta_trgt!r})")
        self.max_forward_passes = max_forward_passes
        self.forward_passes = 0
        self.reference_loss = math.inf
        self.records: list[Reestimate] = []
        multipliers = set_lr_mult(optimizer, eta_trgt)
        if last_epoch >= 0:
            self._continue_at(optimizer.param_groups, multipliers)
        super().__init__(optimizer, last_epoch)

    @property
    def reached_target(self) -> bool:
        """Whether eta has reached eta_trgt (re-estimation has stopped for good)."""
        return self.eta >= self.eta_trgt

    @property
    def budget_exhausted(self) -> bool:
        """Whether the trial forward passes spent have reached ``max_forward_passes``."""
        return self.forward_passes >= self.max_forward_passes

    def _continue_at(self, param_groups: list[dict], multipliers: list[float]) -> None:
        """Take eta from the optimizer's rates (of its first group with lr_mult != 0) and stop
        re-estimating until :meth:`restart`."""
        group, multiplier = next((g, m) for g, m in zip(param_groups, multipliers) if m)
        self.eta, self.reference_loss = float(group["lr"]) / multiplier, -math.inf
        warnings.warn(f"PersistentCatapultWarmup resumed without its state_dict: it continues at the optimizer's rate "
                      f"eta = {self.eta:.6g} and re-estimates eta_c only after restart()", stacklevel=3)

    def restart(self) -> None:
        """Forget the reference point theta*: the next :meth:`observe` re-estimates eta_c (unless
        eta = eta_trgt or the budget is spent)."""
        self.reference_loss = math.inf

    def observe(self, loss: float | torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        """Observe L(theta_t) on the batch before update t, re-estimate eta_c if due, and set the
        optimizer's rates for that update.

        Args:
            loss: the batch loss L(theta_t) at the current parameters (a float or a tensor).
            inputs: the batch's inputs, on which eta_c is re-estimated.
            targets: the batch's targets.

        Returns:
            eta, the learning rate of the coming update (each param group gets eta lr_mult).
        """
        if [group["lr"] for group in self.optimizer.param_groups] != self._last_lr:
            self._continue_at(self.optimizer.param_groups, [g["lr_mult"] for g in self.optimizer.param_groups])
        loss = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if loss < self.reference_loss and not self.reached_target and not self.budget_exhausted:
            search = critical_lr(self.model, self.loss_fn, inputs, targets, self.optimizer, eta0=self.eta,
                                 delta=self.delta, eta_max=self.eta_trgt, method=self.method,
                                 max_forward_passes=self.max_forward_passes - self.forward_passes)
            self.records.append(Reestimate(self.last_epoch, loss, self.reference_loss, self.eta, search.eta_c,
                                           search.eta_lower, search.forward_passes, search.within_tolerance))
            self.forward_passes += search.forward_passes
            self.eta, self.reference_loss = search.eta_c, loss
        self._apply()
        return self.eta

    def step(self, loss: float | torch.Tensor | None = None, inputs: torch.Tensor | None = None,
             targets: torch.Tensor | None = None) -> float:
        """Count an update; with a batch loss, first :meth:`observe` it.

        ``step(loss, inputs, targets)`` before ``optimizer.step()`` is the one call of your own
        loop; ``step()`` after it is torch's scheduler protocol (frameworks call it).

        Args:
            loss: the batch loss L(theta_t) before the update (None: only count the update).
            inputs: the batch's inputs (needed with ``loss``).
            targets: the batch's targets (needed with ``loss``).

        Returns:
            eta, the rate of the update being counted.
        """
        if loss is not None:
            self.observe(loss, inputs, targets)
        self._step_count += 1
        self.last_epoch += 1
        self._apply()
        return self.eta

    def state_dict(self) -> dict:
        """eta, the reference loss, the forward passes spent, the records (as dicts) and torch's
        counters: plain numbers only, so ``torch.load`` loads it with ``weights_only=True``.

        Returns:
            torch's ``LRScheduler.state_dict()`` less the settings (:attr:`SETTINGS`), with
            "records" as a list of dicts.
        """
        state = {key: value for key, value in super().state_dict().items() if key not in self.SETTINGS}
        return state | {"records": [asdict(record) for record in self.records]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict`; the settings stay the constructor's.

        Args:
            state_dict: a dict from :meth:`state_dict` (settings in it are ignored).
        """
        state = {key: value for key, value in state_dict.items() if key not in self.SETTINGS}
        records = [Reestimate(**record) for record in state.pop("records")]
        super().load_state_dict(state)
        self.records = records
