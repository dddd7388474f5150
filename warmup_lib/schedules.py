"""Learning-rate schedules in the paper's conventions: pure functions of the update index.

Step convention (the authors' code, kept everywhere in this library): ``step`` t is the 0-based
index of an update, the one that maps theta_t to theta_{t+1}; a run of T steps makes the updates
t = 0, ..., T-1.  With T_wrm = ``warmup_steps``:

* polynomial warmup, t < T_wrm:  eta_t = eta_init + (eta_trgt - eta_init) ((t+1)/T_wrm)^k.
  The first update uses eta_init + (eta_trgt - eta_init)/T_wrm (eta_trgt/T_wrm for eta_init = 0),
  the last warmup update t = T_wrm-1 uses eta_trgt, and T_wrm = 1 is a constant rate.
* warmup from eta_init (paper section 6.1, eta_init = eta_c), t < T_wrm:
  eta_t = min(eta_init + eta_trgt (t+1)/T_wrm, eta_trgt).  Same (t+1) convention as the linear
  warmup, so eta_init = 0 gives the linear warmup exactly; the slope is eta_trgt/T_wrm, not
  (eta_trgt - eta_init)/T_wrm, so eta_trgt is reached early, at :func:`reach_step`.
* exponential warmup (Ma & Yarats 2021, arXiv 1910.04209), for EVERY t:
  eta_t = eta_init + (eta_trgt - eta_init)(1 - exp(-(t+1)/T_wrm)).  T_wrm is a time constant, not
  a length: the rate approaches eta_trgt for ever (63% of the way at t = T_wrm - 1, 99% at
  :func:`reach_step`, t = ceil(T_wrm ln 100) - 1), there is no post-warmup branch and the decay must
  be 'constant'.  :func:`untuned_exponential_time_constant` and :func:`untuned_linear_warmup_steps`
  are Ma & Yarats' rules of thumb for Adam, T_wrm from beta2.
* after warmup, t >= T_wrm: 'constant' eta_trgt, or 'cosine'
  eta_t = eta_min + (eta_trgt - eta_min) (1 + cos(pi s/N))/2 with s = t - T_wrm + 2,
  N = T - T_wrm + 1 and eta_min = eta_trgt/10, which is reached exactly at the last update t = T-1
  (the code digest's formula; the paper's printed eq. 8 would start at eta_min).

Every function takes Python numbers or tensors (broadcast together) and computes in float64; with
tensors in, a tensor comes out, so one call evaluates the schedules of a whole sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import torch

from warmup_lib.config import DECAYS, WARMUPS, ScheduleConfig

Value = float | torch.Tensor
ETA_MIN_FRACTION = 0.1  # cosine decay ends at eta_trgt / 10, as in the authors' code
EXPONENTIAL_REACH_FRACTION = 0.99  # the exponential warmup 'reaches' eta_trgt 99% of the way from eta_init


def _f64(value: Value) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float64)


def _require(ok: bool | torch.Tensor, name: str, message: str) -> None:
    if not bool(torch.as_tensor(ok).all()):
        raise ValueError(f"{name}: {message}")


def _check(eta_trgt: Value, warmup_steps: Value, total_steps: Value, eta_init: Value, exponent: float,
           warmup: str, decay: str) -> None:
    """Raise ValueError naming the first invalid argument."""
    _require(_f64(eta_trgt) > 0, "eta_trgt", f"got {eta_trgt!r}; must be > 0")
    steps = _f64(warmup_steps)
    _require((steps >= 1) & (steps == steps.round()), "warmup_steps", f"got {warmup_steps!r}; must be an int >= 1")
    total = _f64(total_steps)
    _require((total >= steps) & (total == total.round()), "total_steps",
             f"got {total_steps!r}; must be an int >= warmup_steps ({warmup_steps!r})")
    _require(_f64(eta_init) >= 0, "eta_init", f"got {eta_init!r}; must be >= 0")
    _require(isinstance(exponent, (int, float)) and exponent > 0, "exponent", f"got {exponent!r}; must be a number > 0")
    _require(warmup in WARMUPS, "warmup", f"got {warmup!r}; allowed values are {', '.join(map(repr, WARMUPS))}")
    _require(decay in DECAYS, "decay", f"got {decay!r}; allowed values are {', '.join(map(repr, DECAYS))}")
    _require(warmup != "exponential" or decay == "constant", "decay",
             f"got {decay!r}; the exponential warmup approaches eta_trgt at every step, so decay must be 'constant'")
    _require(warmup == "from_init" or bool((_f64(eta_init) <= _f64(eta_trgt)).all()), "eta_init",
             f"got {eta_init!r}; a {warmup} warmup needs eta_init <= eta_trgt")
    _require(warmup == "polynomial" or exponent == 1.0, "exponent",
             f"got {exponent!r}; only the polynomial warmup has an exponent (warmup {warmup!r} needs 1.0)")


def polynomial_warmup(step: Value, eta_trgt: Value, warmup_steps: Value, eta_init: Value = 0.0,
                      exponent: float = 1.0) -> torch.Tensor:
    r"""Polynomial warmup, valid for 0 <= t < T_wrm:
    :math:`\eta_t = \eta_{init} + (\eta_{trgt} - \eta_{init})\,((t+1)/T_{wrm})^k`,
    capped at eta_trgt as in the authors' code.  Arguments are not checked (see :func:`learning_rate`).

    Args:
        step: the update index t (numbers or tensors, broadcast together).
        eta_trgt: the target learning rate.
        warmup_steps: T_wrm.
        eta_init: the rate the warmup starts from (0: the warmup starts at eta_trgt/T_wrm^k).
        exponent: k, the polynomial's degree (1: linear warmup).

    Returns:
        eta_t as a float64 tensor.
    """
    eta_trgt, eta_init = _f64(eta_trgt), _f64(eta_init)
    fraction = (_f64(step) + 1) / _f64(warmup_steps)
    return torch.minimum(eta_init + (eta_trgt - eta_init) * fraction**exponent, eta_trgt)


def warmup_from_init(step: Value, eta_trgt: Value, warmup_steps: Value, eta_init: Value) -> torch.Tensor:
    r"""Warmup from eta_init with slope eta_trgt/T_wrm (paper section 6.1), for t >= 0:
    :math:`\eta_t = \min(\eta_{init} + \eta_{trgt}(t+1)/T_{wrm},\ \eta_{trgt})`.
    Arguments are not checked (see :func:`learning_rate`).

    Args:
        step: the update index t (numbers or tensors, broadcast together).
        eta_trgt: the target learning rate.
        warmup_steps: T_wrm, which sets the slope eta_trgt/T_wrm.
        eta_init: the rate the warmup starts from (eta_c in the paper).

    Returns:
        eta_t as a float64 tensor.
    """
    eta_trgt = _f64(eta_trgt)
    fraction = (_f64(step) + 1) / _f64(warmup_steps)  # the same rounding as polynomial_warmup
    return torch.minimum(_f64(eta_init) + eta_trgt * fraction, eta_trgt)


def exponential_warmup(step: Value, eta_trgt: Value, warmup_steps: Value, eta_init: Value = 0.0) -> torch.Tensor:
    r"""Exponential warmup (Ma & Yarats 2021), for every t >= 0:
    :math:`\eta_t = \eta_{init} + (\eta_{trgt} - \eta_{init})\,(1 - e^{-(t+1)/T_{wrm}})`.
    Arguments are not checked (see :func:`learning_rate`).

    Args:
        step: the update index t (numbers or tensors, broadcast together).
        eta_trgt: the rate approached as t grows.
        warmup_steps: T_wrm, the time constant.
        eta_init: the rate the warmup starts from (0: the first update uses
            eta_trgt (1 - e^{-1/T_wrm})).

    Returns:
        eta_t as a float64 tensor.
    """
    eta_trgt, eta_init = _f64(eta_trgt), _f64(eta_init)
    # -expm1(-x) is 1 - exp(-x) without the cancellation at small x (long time constants)
    fraction = -torch.expm1(-(_f64(step) + 1) / _f64(warmup_steps))
    return eta_init + (eta_trgt - eta_init) * fraction


def cosine_decay(step: Value, eta_trgt: Value, warmup_steps: Value, total_steps: Value) -> torch.Tensor:
    r"""Cosine decay after warmup, valid for T_wrm <= t < T:
    :math:`\eta_t = \eta_{min} + (\eta_{trgt} - \eta_{min})\,\tfrac12(1 + \cos(\pi s / N))` with
    s = t - T_wrm + 2, N = T - T_wrm + 1, eta_min = eta_trgt/10 (reached at t = T-1).
    Arguments are not checked (see :func:`learning_rate`).

    Args:
        step: the update index t (numbers or tensors, broadcast together).
        eta_trgt: the target learning rate, the rate the decay starts from.
        warmup_steps: T_wrm.
        total_steps: T, the run's number of updates.

    Returns:
        eta_t as a float64 tensor.
    """
    eta_trgt, warmup_steps = _f64(eta_trgt), _f64(warmup_steps)
    eta_min = ETA_MIN_FRACTION * eta_trgt
    s = _f64(step) - warmup_steps + 2
    n = _f64(total_steps) - warmup_steps + 1
    return eta_min + (eta_trgt - eta_min) * (0.5 * (1 + torch.cos(math.pi * s / n)))


def learning_rate(step: Value, eta_trgt: Value, warmup_steps: Value, total_steps: Value, eta_init: Value = 0.0,
                  exponent: float = 1.0, warmup: str = "polynomial", decay: str = "constant") -> Value:
    """The learning rate eta_t of update t: a warmup for t < T_wrm, then a constant or cosine rate.

    Update t = 0, ..., T-1 maps theta_t to theta_{t+1}; with T_wrm = ``warmup_steps``, T =
    ``total_steps`` and k = ``exponent``::

        t < T_wrm,  'polynomial':  eta_t = eta_init + (eta_trgt - eta_init) ((t+1)/T_wrm)^k
        t < T_wrm,  'from_init':   eta_t = min(eta_init + eta_trgt (t+1)/T_wrm, eta_trgt)
        every t,    'exponential': eta_t = eta_init + (eta_trgt - eta_init) (1 - exp(-(t+1)/T_wrm))
        t >= T_wrm, 'constant':    eta_t = eta_trgt
        t >= T_wrm, 'cosine':      eta_t = eta_min + (eta_trgt - eta_min) (1 + cos(pi s/N)) / 2
                                   with s = t - T_wrm + 2, N = T - T_wrm + 1, eta_min = eta_trgt/10

    So the linear warmup (k = 1, eta_init = 0) uses eta_trgt/T_wrm at its first update and
    eta_trgt at its last, t = T_wrm - 1; T_wrm = 1 is no warmup.  'from_init' (paper section 6.1,
    eta_init = eta_c) has the linear warmup's slope and reaches eta_trgt early; the cosine decay
    reaches eta_min at the last update.  'exponential' (Ma & Yarats 2021) has the time constant
    T_wrm, never switches to the post-warmup rate and needs decay 'constant'.

    Args:
        step: the update index t, in [0, T).
        eta_trgt: the target learning rate, > 0.
        warmup_steps: T_wrm, an int >= 1.
        total_steps: T, an int >= T_wrm.
        eta_init: where the warmup starts, >= 0 (at most eta_trgt unless 'from_init').
        exponent: k of the polynomial warmup, > 0 (1 for the others).
        warmup: 'polynomial', 'from_init' or 'exponential'.
        decay: 'constant' or 'cosine' ('constant' only for 'exponential').

    Returns:
        eta_t as a float when no argument is a tensor, else as a float64 tensor; the arguments
        broadcast, so one call evaluates the schedules of a whole sweep.

    Raises:
        ValueError: naming the first invalid argument, including t outside [0, T).
    """
    _check(eta_trgt, warmup_steps, total_steps, eta_init, exponent, warmup, decay)
    t = _f64(step)
    _require((t >= 0) & (t < _f64(total_steps)) & (t == t.round()), "step",
             f"got {step!r}; must be an int in [0, total_steps = {total_steps!r})")
    if warmup == "exponential":
        lr = exponential_warmup(t, eta_trgt, warmup_steps, eta_init)
        lr = lr.expand(torch.broadcast_shapes(lr.shape, _f64(total_steps).shape))  # T broadcasts as in the others
    else:
        if warmup == "polynomial":
            warm = polynomial_warmup(t, eta_trgt, warmup_steps, eta_init, exponent)
        else:
            warm = warmup_from_init(t, eta_trgt, warmup_steps, eta_init)
        after = cosine_decay(t, eta_trgt, warmup_steps, total_steps) if decay == "cosine" else _f64(eta_trgt)
        lr = torch.where(t < _f64(warmup_steps), warm, after)
    any_tensor = any(isinstance(v, torch.Tensor) for v in (step, eta_trgt, warmup_steps, total_steps, eta_init))
    return lr if any_tensor else float(lr)


def reach_step(eta_trgt: float, warmup_steps: int, eta_init: float = 0.0, warmup: str = "polynomial") -> int:
    """First update index t at which the warmup gives eta_t = eta_trgt (the exponential warmup: 99%
    of the way there).

    Polynomial warmup: T_wrm - 1.  Warmup from eta_init: the smallest t >= 0 with
    eta_init + eta_trgt (t+1)/T_wrm >= eta_trgt, i.e. t = ceil(T_wrm (1 - eta_init/eta_trgt)) - 1
    clipped to [0, T_wrm - 1]; the paper's T_reach = T_wrm (1 - eta_c/eta_trgt) counts the same
    thing as t + 1 updates.  Exponential warmup, which never equals eta_trgt: the smallest t with
    eta_t >= eta_init + 0.99 (eta_trgt - eta_init), i.e. 1 - exp(-(t+1)/T_wrm) >= 0.99,
    t = ceil(T_wrm ln 100) - 1 (about 4.6 T_wrm; 0 when eta_init = eta_trgt).  Each closed form is
    corrected against the float64 formula itself, so it agrees with :func:`warmup_from_init` and
    :func:`exponential_warmup` to the last bit.

    Args:
        eta_trgt: the target learning rate, > 0.
        warmup_steps: T_wrm, an int >= 1.
        eta_init: where the warmup starts, >= 0 (at most eta_trgt unless 'from_init').
        warmup: 'polynomial', 'from_init' or 'exponential'.

    Returns:
        The 0-based update index t, in [0, T_wrm - 1] ('exponential': >= 0, possibly beyond the run).

    Raises:
        ValueError: naming the first invalid argument.
    """
    _check(eta_trgt, warmup_steps, warmup_steps, eta_init, 1.0, warmup, "constant")
    if warmup == "polynomial":
        return int(warmup_steps) - 1
    if warmup == "exponential":
        if eta_init == eta_trgt:  # a flat warmup is at its target from the first update
            return 0
        threshold = eta_init + EXPONENTIAL_REACH_FRACTION * (eta_trgt - eta_init)
        return _first_reached(lambda t: float(exponential_warmup(t, eta_trgt, warmup_steps, eta_init)) >= threshold,
                              math.ceil(-warmup_steps * math.log1p(-EXPONENTIAL_REACH_FRACTION)) - 1)
    return _first_reached(lambda t: eta_init + eta_trgt * ((t + 1) / warmup_steps) >= eta_trgt,
                          min(max(math.ceil(warmup_steps * (1 - eta_init / eta_trgt)) - 1, 0), warmup_steps - 1))


def _first_reached(reached: Callable[[int], bool], guess: int) -> int:
    """The smallest t >= 0 with ``reached(t)`` (non-decreasing in t), searched from a closed form's
    ``guess``, which rounding can put a step or so off."""
    t = max(guess, 0)
    while t > 0 and reached(t - 1):
        t -= 1
    while not reached(t):
        t += 1
    return t


@dataclass(frozen=True)
class Schedule:
    """A run's learning-rate schedule: ``schedule(t)`` is eta_t for the updates t = 0, ..., T-1.

    eta_t is :func:`~warmup_lib.learning_rate` with these settings: a warmup for t < T_wrm (from
    eta_init to eta_trgt, polynomial of degree k or linear from eta_init), then eta_trgt or a
    cosine decay to eta_trgt/10; or, for 'exponential', eta_init + (eta_trgt - eta_init)
    (1 - exp(-(t+1)/T_wrm)) at every t.  Build it from a config with :meth:`from_config`;
    :meth:`values` gives all T rates at once.

    Args:
        eta_trgt: the target learning rate, > 0.
        warmup_steps: T_wrm, an int >= 1 (1 is no warmup; the time constant of 'exponential').
        total_steps: T, the run's number of updates, an int >= T_wrm.
        eta_init: where the warmup starts, >= 0.
        warmup_exponent: k of the polynomial warmup, > 0 (1 is linear).
        warmup: 'polynomial', 'from_init' or 'exponential'.
        decay: 'constant' or 'cosine' ('constant' only for 'exponential').

    Raises:
        ValueError: naming the first invalid argument.
    """

    eta_trgt: float
    warmup_steps: int
    total_steps: int
    eta_init: float = 0.0
    warmup_exponent: float = 1.0
    warmup: str = "polynomial"
    decay: str = "constant"

    def __post_init__(self) -> None:
        _check(self.eta_trgt, self.warmup_steps, self.total_steps, self.eta_init, self.warmup_exponent,
               self.warmup, self.decay)

    @classmethod
    def from_config(cls, cfg: ScheduleConfig, total_steps: int) -> "Schedule":
        """The schedule of a config's settings for a run of ``total_steps`` updates.

        Args:
            cfg: the schedule's part of a run's config (``RunConfig.schedule``).
            total_steps: T, the run's number of updates (``RunConfig.steps``).

        Returns:
            The :class:`Schedule`.
        """
        return cls(cfg.eta_trgt, cfg.warmup_steps, total_steps, cfg.eta_init, cfg.warmup_exponent, cfg.warmup, cfg.decay)

    def __call__(self, step: Value) -> Value:
        """eta_t of the update index ``step`` (:func:`learning_rate` with this schedule's settings).

        Args:
            step: the update index t in [0, T), a number or a tensor of indices.

        Returns:
            eta_t, a float for a number, a float64 tensor for a tensor.

        Raises:
            ValueError: if ``step`` is outside [0, T) or not an integer.
        """
        return learning_rate(step, self.eta_trgt, self.warmup_steps, self.total_steps, self.eta_init,
                             self.warmup_exponent, self.warmup, self.decay)

    def values(self) -> torch.Tensor:
        """eta_t for t = 0, ..., T-1.

        Returns:
            The T rates as a float64 tensor.
        """
        return self(torch.arange(self.total_steps, dtype=torch.float64))

    @property
    def reach_step(self) -> int:
        """First update index with eta_t = eta_trgt, 99% of the way for 'exponential' (see :func:`reach_step`)."""
        return reach_step(self.eta_trgt, self.warmup_steps, self.eta_init, self.warmup)


def _memory(beta2: float) -> Fraction:
    """1 / (1 - beta2), exact for beta2 read as the decimal it prints as (0.999 as 999/1000): in binary,
    1 - 0.9999 is 1.1e-13 relatively off, enough to push 2 / (1 - beta2) past 20000 and its ceiling to 20001."""
    _require(isinstance(beta2, (int, float)) and not isinstance(beta2, bool) and 0.0 < beta2 < 1.0, "beta2",
             f"got {beta2!r}; must be a number in (0, 1)")
    return 1 / (1 - Fraction(repr(float(beta2))))


def untuned_linear_warmup_steps(beta2: float) -> int:
    """Ma & Yarats' (2021, arXiv 1910.04209) untuned linear warmup for Adam: T_wrm = 2 / (1 - beta2).

    Adam's second moment averages over about 1/(1 - beta2) steps; a linear warmup twice that long
    does as well as RAdam's rectification in their experiments (2000 steps for beta2 = 0.999).

    Args:
        beta2: Adam's second-moment decay, in (0, 1).

    Returns:
        2 / (1 - beta2) rounded up, for ``warmup_steps`` with the linear ('polynomial', k = 1) warmup.

    Raises:
        ValueError: naming ``beta2`` outside (0, 1).
    """
    return math.ceil(2 * _memory(beta2))


def untuned_exponential_time_constant(beta2: float) -> int:
    """Ma & Yarats' (2021) untuned exponential warmup for Adam: time constant T_wrm = 1 / (1 - beta2),
    so eta_t = eta_trgt (1 - exp(-(1 - beta2)(t+1))) (1000 steps for beta2 = 0.999).

    Args:
        beta2: Adam's second-moment decay, in (0, 1).

    Returns:
        1 / (1 - beta2) rounded to the nearest int (halves up; >= 1), for ``warmup_steps`` with the
        'exponential' warmup.

    Raises:
        ValueError: naming ``beta2`` outside (0, 1).
    """
    return math.floor(_memory(beta2) + Fraction(1, 2))


def set_lr_mult(optimizer: torch.optim.Optimizer, eta_trgt: float) -> list[float]:
    """Give every param group of ``optimizer`` its multiplier lr_mult, so that its rate is eta lr_mult.

    A group that has an ``lr_mult`` (this library's per-layer multipliers,
    :func:`warmup_lib.models.param_groups`) keeps it.  Any other group gets
    lr_mult = base_lr / eta_trgt, its base rate (torch's ``initial_lr``, else its ``lr``) over the
    target: it reaches its own base rate when eta reaches eta_trgt, and the groups keep the ratios
    of their base rates, as with torch's schedulers (``base_lrs``).  A group built with
    lr = eta_trgt gets exactly 1.  The key is written into the group because the critical-rate
    search (:func:`~warmup_lib.critical_lr`) reads it to predict the optimizer's step.

    Args:
        optimizer: any torch optimizer.
        eta_trgt: the target rate eta_trgt, > 0.

    Returns:
        The groups' lr_mult, in order.

    Raises:
        ValueError: if every group's multiplier is 0 (the optimizer would train nothing: build it
            with lr = eta_trgt).
    """
    for group in optimizer.param_groups:
        if "lr_mult" not in group:
            group["lr_mult"] = float(group.get("initial_lr", group["lr"])) / eta_trgt
    multipliers = [group["lr_mult"] for group in optimizer.param_groups]
    if not any(multipliers):
        raise ValueError(f"every param group has rate 0 and no lr_mult, so the scheduler would train nothing: build the "
                         f"optimizer with lr = eta_trgt ({eta_trgt!r}); each group's rate is then scaled by "
                         f"eta_t / eta_trgt")
    return multipliers


class ControlledLR(torch.optim.lr_scheduler.LRScheduler):
    """Base of the schedulers whose rate eta is set by a controller as the run goes (persistent
    catapult warmup, the curvature-adaptive rate): before each update, param group g gets
    lr = eta lr_mult_g (lr_mult from :func:`set_lr_mult`).  Subclasses keep ``self.eta`` and call
    :meth:`_apply` when it changes."""

    eta: float

    def get_lr(self) -> list[float]:
        """The rates of the coming update: eta lr_mult_g for each param group g.

        Returns:
            One rate per param group, in order.
        """
        return [self.eta * group["lr_mult"] for group in self.optimizer.param_groups]

    def _apply(self) -> None:
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr


class ScheduleLR(torch.optim.lr_scheduler.LRScheduler):
    """Drive any torch optimizer with a :class:`Schedule`: before update t, param group g gets
    lr = eta_t lr_mult_g.

    lr_mult_g is the group's own ``lr_mult`` (:func:`warmup_lib.models.param_groups`) or else its
    base rate over eta_trgt (:func:`set_lr_mult`): build the optimizer with lr = eta_trgt and the
    rates follow the schedule exactly; groups with other base rates keep their ratios, as with
    torch's schedulers (``base_lrs``).

    Call ``scheduler.step()`` after each ``optimizer.step()``, as usual in PyTorch; the counter
    ``last_epoch`` is then the index t of the next update.  Past the last update (t >= T) the rate
    stays at eta_{T-1}, so the customary trailing ``scheduler.step()`` is harmless.

    Checkpoints: :meth:`state_dict` holds plain numbers only (the counter and the rates, not the
    schedule), so ``torch.load`` loads it with its default ``weights_only=True``.  After
    :meth:`load_state_dict` (called after the optimizer's) the schedule given to the constructor
    is used: resume with a longer ``Schedule`` (say ``total_steps`` doubled) and the run continues
    on the new schedule from the saved update index.

    Args:
        optimizer: any torch optimizer.
        schedule: the rates eta_t.
        last_epoch: the index of the last update made, -1 for a fresh run (as in PyTorch).

    Raises:
        ValueError: if every param group has rate 0 and no ``lr_mult`` (see :func:`set_lr_mult`).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule, last_epoch: int = -1) -> None:
        self.schedule = schedule
        set_lr_mult(optimizer, schedule.eta_trgt)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The rates of update t = ``last_epoch``: eta_t lr_mult_g for each param group g.

        Past the last update the rate stays at eta_{T-1}.

        Returns:
            One rate per param group, in order.
        """
        eta = self.schedule(min(self.last_epoch, self.schedule.total_steps - 1))
        return [eta * group["lr_mult"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """The scheduler's state without its schedule: plain numbers (``torch.load`` safe).

        Returns:
            torch's ``LRScheduler.state_dict()`` less its "schedule" entry.
        """
        return {key: value for key, value in super().state_dict().items() if key != "schedule"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the counter of :meth:`state_dict` and set the optimizer's rates from the
        constructor's schedule at that update (load it after the optimizer's state, as the
        frameworks do); a ``"schedule"`` entry of an older checkpoint is ignored.

        Args:
            state_dict: a dict from :meth:`state_dict`.
        """
        super().load_state_dict({key: value for key, value in state_dict.items() if key != "schedule"})
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr
