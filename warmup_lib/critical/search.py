"""The critical learning rate eta_c by forward passes only (paper section 6.1, Alg. 1-2).

At the current parameters theta and one batch, with L0 = L(theta) and the direction d of the
optimizer's next update (:mod:`warmup_lib.optim.direction`), the one-step loss is

    ell(eta) = L(theta - eta * lr_mult * d).

eta_c is a learning rate whose one-step loss does not fall but rises by at most a factor 1 + delta:
L0 <= ell(eta_c) <= (1 + delta) L0 (for a positive loss).  An optimizer with ``maximize=True``
minimises -L: the search then runs on -L (L0 and ell are of -L, the band is L0 + delta |L0|).
Method "paper" (Alg. 1-2): from eta0,
double eta while ell(eta) < L0 (the exponential search; capped at eta_max), then bisect the last
bracket [eta/2, eta], keeping ell(lower) < L0 <= ell(upper), until ell(upper) <= (1 + delta) L0;
return eta_c = upper.  If ell(eta0) >= L0 already, eta_c = eta0.

On a quadratic L = (theta - theta*)^T A (theta - theta*) / 2 with SGD (d = g),
ell(eta) - L0 = eta (eta g.A.g / 2 - g.g), so the loss rises exactly for eta >= eta* = 2 g.g / g.A.g
(= 2/lambda_max when g is a top eigenvector), and the tolerance bounds eta_c from above:
eta* <= eta_c <= eta_delta = eta*/2 + sqrt(eta*^2/4 + 2 delta L0 / g.A.g).

Method "model" keeps that output contract (the same bracket invariants and acceptance test) but
chooses the trial rates from a quadratic model of the one-step loss that costs no extra pass:
ell(eta) ~ L0 - s eta + c eta^2/2, with the exact slope s = sum lr_mult g.d from the gradient
already computed and the curvature c = 2 (ell(eta_j) - L0 + s eta_j) / eta_j^2 fitted through the
trial nearest the target.  It aims at the middle of the acceptance band, ell = (1 + delta/2) L0,
grows by at most ``MODEL_MAX_GROWTH`` per trial (``COLD_GROWTH`` while the curvature term is still
below 1% of the linear one, i.e. lost in rounding) and by at least 1.25, 2.5, 5, ... after 0, 1,
2, ... model-chosen trials at which the loss still fell (the one-step loss of a network is not
quadratic far from theta), then interpolates quadratically inside the bracket and bisects (in log space across wide
brackets) whenever the model's proposal is not well inside the bracket.  It is the default: on
benchmarks/critical_lr.py it needs at most 9 trial passes from a cold start and 5 from a warm one,
where the paper's doubling needs up to 20 and 9.  The book uses "paper", as the paper does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call

from warmup_lib.curvature.hessian import DROPOUT_SEED, LossFn, trainable_parameters
from warmup_lib.optim.direction import next_update_direction

METHODS = ("paper", "model")
DEFAULT_METHOD = "model"
COLD_GROWTH = 16.0  # model method: growth per trial while the model cannot be trusted yet
MIN_GROWTH = 1.25  # model method: smallest growth per trial, so the search always advances
MODEL_MAX_GROWTH = 64.0  # model method: largest jump the quadratic model may take per trial
TRUSTED_CURVATURE = 0.01  # curvature term / linear term above which the fitted c is not rounding noise


@dataclass(frozen=True)
class CriticalLR:
    """Result of :func:`critical_lr`.

    ``eta_c`` = ``eta_upper``; ``eta_lower`` is the largest tried rate whose loss fell (0.0 if the
    loss already rose at eta0).  ``capped``: the loss still fell at the largest rate tried (eta_max,
    or where the forward-pass budget ran out); then eta_lower = eta_upper = eta_c = that rate.
    ``within_tolerance``: ell(eta_c) <= (1 + delta) L0 (False when capped, when the budget ran out
    during bisection, or when the loss already rose beyond the band at eta0, which the paper
    still returns as eta_c = eta0).  ``loss0`` and ``losses`` are of the objective the optimizer
    minimises: L, or -L under ``maximize``.  ``forward_passes`` counts the trial forwards only; the
    gradient at theta costs one more forward and one backward.  ``slope`` = sum lr_mult g.d, so
    ell'(0) = -slope (the directional derivative the "model" method uses).
    """

    eta_c: float
    eta_lower: float
    eta_upper: float
    loss0: float
    forward_passes: int
    losses: list[tuple[float, float]] = field(repr=False)
    capped: bool
    within_tolerance: bool
    slope: float = field(repr=False)


def _falls(loss: float, loss0: float) -> bool:
    return math.isfinite(loss) and loss < loss0  # a NaN/inf one-step loss counts as a rise


def _band_ceiling(loss0: float, delta: float) -> float:
    return loss0 + delta * abs(loss0)


class _OneStepLoss:
    """ell(eta) by functional forward passes on fresh copies of the buffers; records every trial."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, inputs, targets, optimizer, devices: list[int]) -> None:
        self.model, self.loss_fn, self.inputs, self.targets = model, loss_fn, inputs, targets
        self.devices = devices
        self.params = trainable_parameters(model)
        self.sign = _objective_sign(optimizer, self.params)
        self.buffers = dict(model.named_buffers())
        self.trials: list[tuple[float, float]] = []
        self.loss0, grads = self._gradient()
        if not math.isfinite(self.loss0):
            raise ValueError(f"loss: got {self.loss0!r} at the start point; the search needs a finite loss")
        by_tensor = dict(zip(self.params.values(), grads))
        directions = {id(p): (d, mult) for p, d, mult in next_update_direction(optimizer, by_tensor)}
        self.steps = {name: directions.get(id(p)) for name, p in self.params.items()}
        self.slope = 0.0  # d ell / d eta at eta = 0 is -slope
        for g, p in zip(grads, self.params.values()):
            if id(p) in directions:
                direction, mult = directions[id(p)]
                self.slope += self.sign * mult * torch.sum(g * direction).item()
        if not math.isfinite(self.slope):
            raise ValueError("the gradient or the optimizer's next update is not finite at the start point")

    def _forward(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        buffers = {name: b.clone() for name, b in self.buffers.items()}  # batch-norm stats stay untouched
        # the same dropout masks in every pass; only generators that fork_rng restores are reseeded
        torch.random.default_generator.manual_seed(DROPOUT_SEED)
        for device in self.devices:
            torch.cuda.default_generators[device].manual_seed(DROPOUT_SEED)
        return self.loss_fn(functional_call(self.model, {**params, **buffers}, (self.inputs,)), self.targets)

    def _gradient(self) -> tuple[float, list[torch.Tensor]]:
        """(the objective at theta, the gradient of L itself, which is what the optimizer reads)."""
        leaves = {name: p.detach().requires_grad_(True) for name, p in self.params.items()}
        loss = self._forward(leaves)
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, self.params.values())]
        return self.sign * loss.item(), grads

    @torch.no_grad()
    def __call__(self, eta: float) -> float:
        trial = {name: p if step is None else p - (eta * step[1]) * step[0]
                 for (name, p), step in zip(self.params.items(), self.steps.values())}
        loss = self.sign * self._forward(trial).item()
        self.trials.append((eta, loss))
        return loss


def _objective_sign(optimizer: torch.optim.Optimizer, params: dict[str, torch.Tensor]) -> float:
    """-1.0 if the optimizer maximises the loss, else 1.0; refuses an optimizer that holds none of
    the model's trainable parameters (its step would not move the model) or that maximises in some
    of their groups only."""
    ids = {id(p) for p in params.values()}
    groups = [group for group in optimizer.param_groups if any(id(p) in ids for p in group["params"])]
    if not groups:
        raise ValueError("optimizer: holds none of the model's trainable parameters "
                         "(was it built on the parameters of another copy of the model?)")
    maximize = {bool(group.get("maximize", False)) for group in groups}
    if len(maximize) > 1:
        raise ValueError("optimizer: maximize=True in some param groups only; the search needs one objective")
    return -1.0 if maximize == {True} else 1.0


def _model_target(ell: _OneStepLoss, delta: float) -> float | None:
    """Rate where the fitted quadratic reaches the band's middle, or None if it cannot be trusted."""
    loss0, slope = ell.loss0, ell.slope
    if slope <= 0:
        return None
    target = 0.5 * delta * abs(loss0)
    trusted = [(eta, loss) for eta, loss in ell.trials
               if math.isfinite(loss) and loss - loss0 + slope * eta > TRUSTED_CURVATURE * slope * eta]
    if not trusted:
        return None
    eta, loss = min(trusted, key=lambda trial: abs(trial[1] - loss0 - target))
    curvature = 2 * (loss - loss0 + slope * eta) / eta**2  # ell(eta) - L0 + s eta = c eta^2 / 2
    return (slope + math.sqrt(slope**2 + 2 * curvature * target)) / curvature


def _next_growth(ell: _OneStepLoss, eta: float, eta_max: float, growth: float, method: str, delta: float,
                 misses: int) -> tuple[float, bool]:
    """Next rate of the exponential phase, and whether the quadratic model chose it.  ``misses``
    counts earlier model-chosen rates at which the loss still fell: each doubles the least growth
    allowed (a trust region that widens while the model keeps under-shooting)."""
    if method == "paper":
        return min(growth * eta, eta_max), False
    proposal = _model_target(ell, delta)
    if proposal is None:
        return min(COLD_GROWTH * eta, eta_max), False
    least_growth = min(MIN_GROWTH * 2**misses, COLD_GROWTH)
    return min(max(proposal, least_growth * eta), MODEL_MAX_GROWTH * eta, eta_max), True


def _interpolate(ell: _OneStepLoss, lower: float, upper: float, target: float) -> float | None:
    """Root in (lower, upper) of the parabola through (lower, ell), (upper, ell) and the trial (or the
    origin, ell(0) = L0) nearest the bracket: safeguarded quadratic interpolation."""
    known = dict([(0.0, ell.loss0), *((eta, loss) for eta, loss in ell.trials if math.isfinite(loss))])
    if upper not in known:
        return None
    middle = 0.5 * (lower + upper)
    third = min((eta for eta in known if eta not in (lower, upper)), key=lambda eta: abs(eta - middle))
    etas = torch.tensor([lower, upper, third], dtype=torch.float64)
    losses = torch.tensor([known[lower], known[upper], known[third]], dtype=torch.float64)
    vandermonde = torch.stack([etas**2, etas, torch.ones(3, dtype=torch.float64)], 1)
    c2, c1, c0 = torch.linalg.solve(vandermonde, losses).tolist()
    discriminant = c1**2 - 4 * c2 * (c0 - target)
    if c2 == 0 or discriminant < 0:
        return None
    roots = [(-c1 + sign * math.sqrt(discriminant)) / (2 * c2) for sign in (1.0, -1.0)]
    margin = 0.05 * (upper - lower)
    inside = [root for root in roots if lower + margin < root < upper - margin]
    return inside[0] if inside else None


def _next_inside(ell: _OneStepLoss, lower: float, upper: float, method: str, delta: float) -> float:
    if method == "model":
        proposal = _interpolate(ell, lower, upper, ell.loss0 + 0.5 * delta * abs(ell.loss0))
        if proposal is not None:
            return proposal
        if upper / lower > 4:
            return math.sqrt(lower * upper)  # bisection in log space across a wide bracket
    return 0.5 * (lower + upper)


def critical_lr(model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor,
                optimizer: torch.optim.Optimizer, eta0: float = 1e-4, delta: float = 0.1,
                eta_max: float | None = None, method: str = DEFAULT_METHOD, growth: float = 2.0,
                max_forward_passes: int = 64) -> CriticalLR:
    """The critical learning rate eta_c at the model's current parameters, by forward passes only.

    With L0 = L(theta) on the batch and d the direction of the optimizer's next update, the
    one-step loss is ell(eta) = L(theta - eta lr_mult d).  eta_c is a rate at which the one-step
    loss no longer falls and rises by at most a factor 1 + delta::

        L0 <= ell(eta_c) <= (1 + delta) L0

    d is exactly the optimizer's own next update (momentum, Nesterov, dampening, L2 or decoupled
    weight decay, AMSGrad, GI-Adam's v0; :mod:`warmup_lib.optim.direction`): theta - eta lr_mult d
    is, to rounding, what ``optimizer.step()`` would do at lr = eta lr_mult.  Under ``maximize`` the search runs on
    -L, the objective the optimizer minimises.  Parameters the optimizer does not hold stay fixed.

    Method "model" (the default) chooses the trial rates from a quadratic model of ell (module
    docstring); method "paper" (Alg. 1-2), from ``eta0``, multiplies eta by ``growth`` while
    ell(eta) < L0, then bisects the last bracket until its upper end is inside the band.  Both keep
    the same bracket invariants and acceptance test; eta_c is the bracket's upper end, and eta0
    itself when the loss already rises there.  On a quadratic loss with SGD (d = g), the loss
    rises exactly for eta >= 2 g.g / g.A.g, which is 2/lambda_max when g is a top eigenvector.

    The cost is one gradient at theta (one forward and one backward pass), then one forward pass
    per trial.  Nothing is mutated: parameters, buffers, ``.grad`` fields, the optimizer state and
    the global random state are exactly as before.

    Args:
        model: the network, at the parameters theta where eta_c is measured.
        loss_fn: ``loss_fn(model(inputs), targets)`` is the scalar loss L.
        inputs: the batch's inputs.
        targets: the batch's targets.
        optimizer: the optimizer whose next update defines d (``torch.optim.SGD``, ``Adam``,
            ``AdamW``, ``RAdam`` or :class:`~warmup_lib.optim.giadam.GIAdam`, with any of their
            options); it must hold the model's parameters.  A param group's ``lr_mult`` scales its step.
        eta0: the first rate tried, > 0.
        delta: the width of the acceptance band, > 0.
        eta_max: the largest rate tried (None: no limit); a loss still falling there ends the
            search with ``capped``.
        method: "model" (fewer forward passes) or "paper" (the paper's doubling, what the book uses).
        growth: the factor of the paper's exponential search, > 1 (unused by "model").
        max_forward_passes: the budget of trial forward passes, >= 1.

    Returns:
        A :class:`~warmup_lib.critical.search.CriticalLR` with eta_c, the last bracket, L0, every
        trial and the number of forward passes.

    Raises:
        ValueError: if an argument is out of range; if the optimizer is not supported, holds none of
            the model's trainable parameters or maximises in some groups only; if the loss, the
            gradient or the update direction is not finite at theta.
    """
    if method not in METHODS:
        raise ValueError(f"method: got {method!r}; allowed values are {METHODS}")
    eta_max = math.inf if eta_max is None else eta_max
    if not 0 < eta0 <= eta_max:
        raise ValueError(f"eta0: got {eta0!r}; must be > 0 and <= eta_max ({eta_max!r})")
    if not delta > 0:
        raise ValueError(f"delta: got {delta!r}; must be > 0")
    if not growth > 1:
        raise ValueError(f"growth: got {growth!r}; must be > 1")
    if max_forward_passes < 1:
        raise ValueError(f"max_forward_passes: got {max_forward_passes!r}; must be >= 1")
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        ell = _OneStepLoss(model, loss_fn, inputs, targets, optimizer, devices)
        return _search(ell, eta0, delta, eta_max, method, growth, max_forward_passes)


def _search(ell: _OneStepLoss, eta0: float, delta: float, eta_max: float, method: str, growth: float,
            budget: int) -> CriticalLR:
    loss0, ceiling = ell.loss0, _band_ceiling(ell.loss0, delta)

    def result(lower: float, upper: float, capped: bool) -> CriticalLR:
        upper_loss = dict(ell.trials)[upper]
        within = not capped and math.isfinite(upper_loss) and upper_loss <= ceiling
        return CriticalLR(upper, lower, upper, loss0, len(ell.trials), list(ell.trials), capped, within, ell.slope)

    eta, loss = eta0, ell(eta0)
    if not _falls(loss, loss0):
        return result(0.0, eta0, capped=False)
    misses = 0
    while _falls(loss, loss0):  # exponential search (Alg. 1)
        if eta >= eta_max or len(ell.trials) >= budget:
            return result(eta, eta, capped=True)
        lower, (eta, guided) = eta, _next_growth(ell, eta, eta_max, growth, method, delta, misses)
        misses += guided
        loss = ell(eta)
    upper, upper_loss = eta, loss
    while not (math.isfinite(upper_loss) and upper_loss <= ceiling) and len(ell.trials) < budget:  # Alg. 2
        middle = _next_inside(ell, lower, upper, method, delta)
        middle_loss = ell(middle)
        if _falls(middle_loss, loss0):
            lower = middle
        else:
            upper, upper_loss = middle, middle_loss
    return result(lower, upper, capped=False)
