"""critical_lr against closed forms on quadratics, next-update directions against real optimizer
steps, immutability, and warmup from eta_c (T_reach, T_save, suggest_warmup, persistent catapult)."""

import copy
import dataclasses
import doctest
import io
import math

import pytest
import torch
from sklearn.datasets import load_digits

import warmup_lib.critical.warmup as catapult_warmup
from warmup_lib import GIAdam, PersistentCatapultWarmup, critical_lr, suggest_warmup, t_reach, t_save
from warmup_lib.schedules import Schedule
from warmup_lib.optim.direction import next_update_direction

F64 = torch.float64
METHODS = ["paper", "model"]


class Quadratic(torch.nn.Module):
    """theta = (a, b) in two parameter tensors; the output is theta itself, and the loss
    L = (theta - theta*)^T A (theta - theta*) / 2 is applied by ``quadratic_loss(A)``."""

    def __init__(self, theta: torch.Tensor, split: int) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(theta[:split].clone())
        self.b = torch.nn.Parameter(theta[split:].clone())

    def forward(self, inputs):
        return torch.cat([self.a, self.b])


def quadratic_loss(matrix: torch.Tensor):
    return lambda output, target: 0.5 * (output - target) @ matrix @ (output - target)


def _spd(n: int, seed: int, spread: float) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=F64))
    eigenvalues = torch.logspace(0, math.log10(spread), n, dtype=F64)
    return basis @ torch.diag(eigenvalues) @ basis.T


def _band(loss0: float, slope: float, curvature: float, delta: float) -> tuple[float, float]:
    """ell(eta) - L0 = eta (c eta/2 - s): rises for eta > eta* = 2s/c, stays within delta L0 up to eta_delta."""
    eta_star = 2 * slope / curvature
    return eta_star, eta_star / 2 + math.sqrt(eta_star**2 / 4 + 2 * delta * loss0 / curvature)


def _check_bracket(result, eta_star: float, eta_delta: float) -> None:
    assert result.within_tolerance and not result.capped
    assert result.eta_lower < eta_star * (1 + 1e-12)
    assert eta_star * (1 - 1e-12) <= result.eta_c <= eta_delta * (1 + 1e-12)
    assert result.eta_c == result.eta_upper
    assert result.forward_passes == len(result.losses)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed,spread,delta", [(0, 10.0, 0.1), (1, 1e3, 0.1), (2, 30.0, 1e-3), (3, 1e4, 0.5)])
def test_sgd_on_quadratic_brackets_two_g_dot_g_over_g_A_g(method, seed, spread, delta):
    matrix = _spd(12, seed, spread)
    theta = torch.randn(12, generator=torch.Generator().manual_seed(seed + 10), dtype=F64)
    model, target = Quadratic(theta, 5), torch.zeros(12, dtype=F64)
    result = critical_lr(model, quadratic_loss(matrix), None, target, torch.optim.SGD(model.parameters(), lr=0.1),
                         delta=delta, method=method)
    g = matrix @ theta
    loss0 = 0.5 * theta @ matrix @ theta
    _check_bracket(result, *_band(loss0.item(), (g @ g).item(), (g @ matrix @ g).item(), delta))


@pytest.mark.parametrize("method", METHODS)
def test_gradient_along_top_eigenvector_gives_two_over_lambda_max(method):
    matrix = _spd(10, 5, 100.0)
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    theta = 0.7 * eigenvectors[:, -1]  # g = A theta = 0.7 lambda_max v_max
    model, target = Quadratic(theta, 4), torch.zeros(10, dtype=F64)
    result = critical_lr(model, quadratic_loss(matrix), None, target, torch.optim.SGD(model.parameters(), lr=0.1),
                         delta=1e-4, method=method)
    eta_star = 2 / eigenvalues[-1].item()
    # here L0 = g.g / (2 lambda) and g.A.g = lambda g.g, so eta_delta = eta* (1 + sqrt(1 + delta)) / 2
    assert eta_star * (1 - 1e-9) <= result.eta_c <= eta_star * (1 + math.sqrt(1 + 1e-4)) / 2 * (1 + 1e-9)


def _quadratic_with_state(optimizer_factory, steps: int, seed: int = 7):
    """A quadratic with per-group lr_mult, and an optimizer that has taken ``steps`` real steps."""
    matrix = _spd(9, seed, 50.0)
    theta = torch.randn(9, generator=torch.Generator().manual_seed(seed), dtype=F64)
    model, target = Quadratic(theta, 4), torch.zeros(9, dtype=F64)
    optimizer = optimizer_factory([{"params": [model.a], "lr_mult": 0.5}, {"params": [model.b], "lr_mult": 2.0}])
    for _ in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * group["lr_mult"]
        optimizer.zero_grad()
        quadratic_loss(matrix)(model(None), target).backward()
        optimizer.step()
    return matrix, model, target, optimizer


def _hand_direction(kind: str, optimizer, model, g: torch.Tensor, split: int = 4) -> torch.Tensor:
    """theta_next = theta - eta * D, D = lr_mult * d, written out from the optimizers' equations."""
    pieces = []
    pairs = [(model.a, g[:split], optimizer.param_groups[0]), (model.b, g[split:], optimizer.param_groups[1])]
    for param, grad, group in pairs:
        state = optimizer.state[param]
        if kind == "momentum":
            direction = 0.9 * state["momentum_buffer"] + grad if "momentum_buffer" in state else grad
        else:
            beta1, beta2 = group["betas"]
            t = state["step"].item() + 1
            m = beta1 * state["exp_avg"] + (1 - beta1) * grad
            v = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad**2
            direction = (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + group["eps"])
        pieces.append(group["lr_mult"] * direction)
    return torch.cat(pieces)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind,factory,steps", [
    ("momentum", lambda groups: torch.optim.SGD(groups, lr=1e-3, momentum=0.9), 0),
    ("momentum", lambda groups: torch.optim.SGD(groups, lr=1e-3, momentum=0.9), 3),
    ("adam", lambda groups: torch.optim.Adam(groups, lr=1e-3), 5),
    ("adam", lambda groups: GIAdam(groups, lr=1e-3, v0="grad"), 2),
])
def test_momentum_and_adam_on_quadratic_bracket_the_closed_form(method, kind, factory, steps):
    matrix, model, target, optimizer = _quadratic_with_state(factory, steps)
    theta = torch.cat([model.a, model.b]).detach()
    g = matrix @ theta
    direction = _hand_direction(kind, optimizer, model, g)
    slope, curvature = (g @ direction).item(), (direction @ matrix @ direction).item()
    assert slope > 0
    result = critical_lr(model, quadratic_loss(matrix), None, target, optimizer, eta0=1e-6, method=method)
    _check_bracket(result, *_band((0.5 * theta @ matrix @ theta).item(), slope, curvature, 0.1))


OPTIMIZERS = {
    "sgd": lambda groups: torch.optim.SGD(groups, lr=0.1),
    "nesterov_wd": lambda groups: torch.optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda groups: torch.optim.Adam(groups, lr=0.1),
    "adam_l2": lambda groups: torch.optim.Adam(groups, lr=0.1, weight_decay=0.01),
    "adamw": lambda groups: torch.optim.AdamW(groups, lr=0.1, weight_decay=0.01),
    "radam": lambda groups: torch.optim.RAdam(groups, lr=0.1),
    "gi_adam": lambda groups: GIAdam(groups, lr=0.1, v0="grad"),
    "ri_adam": lambda groups: GIAdam(groups, lr=0.1, v0="random"),
    # every option that changes the update
    "sgd_dampening_maximize": lambda groups: torch.optim.SGD(groups, lr=0.1, momentum=0.9, dampening=0.3,
                                                             weight_decay=0.01, maximize=True),
    "adam_amsgrad_maximize": lambda groups: torch.optim.Adam(groups, lr=0.1, amsgrad=True, maximize=True,
                                                             weight_decay=0.01),
    "adam_decoupled": lambda groups: torch.optim.Adam(groups, lr=0.1, weight_decay=0.1, decoupled_weight_decay=True),
    "adamw_amsgrad": lambda groups: torch.optim.AdamW(groups, lr=0.1, weight_decay=0.1, amsgrad=True),
    "radam_l2_maximize": lambda groups: torch.optim.RAdam(groups, lr=0.1, weight_decay=0.01, maximize=True),
    "radam_decoupled": lambda groups: torch.optim.RAdam(groups, lr=0.1, weight_decay=0.1, decoupled_weight_decay=True),
    "gi_adam_l2_maximize": lambda groups: GIAdam(groups, lr=0.1, v0="grad", weight_decay=0.01, maximize=True),
    "ri_adam_decoupled": lambda groups: GIAdam(groups, lr=0.1, v0="random", weight_decay=0.1,
                                               decoupled_weight_decay=True),
}


@pytest.mark.parametrize("steps", [0, 7])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_trial_step_is_the_optimizers_real_next_step(name, steps):
    """theta - eta lr_mult d equals what optimizer.step() does with lr = eta * lr_mult."""
    matrix, model, target, optimizer = _quadratic_with_state(OPTIMIZERS[name], steps)
    eta = 0.37
    optimizer.zero_grad()
    quadratic_loss(matrix)(model(None), target).backward()
    grads = {p: p.grad.clone() for p in model.parameters()}
    trial = {p: p.detach() - eta * mult * d for p, d, mult in next_update_direction(optimizer, grads)}
    stepped = copy.deepcopy((model, optimizer))
    for param, param_copy in zip(model.parameters(), stepped[0].parameters()):
        param_copy.grad = param.grad.clone()
    for group in stepped[1].param_groups:
        group["lr"] = eta * group["lr_mult"]
    stepped[1].step()
    for param, param_stepped in zip(model.parameters(), stepped[0].parameters()):
        torch.testing.assert_close(trial[param], param_stepped.detach(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_one_step_loss_at_eta_c_is_the_loss_after_a_real_step(name):
    """critical_lr's trial at eta_c is the real optimizer.step() at lr = eta_c * lr_mult, on a copy
    (under maximize, the search's objective is -loss).  The search's loss is 0.01 L (-0.01 L under
    maximize, so that the objective is convex): a gradient much smaller than those the moments saw,
    so that AMSGrad's running maximum of v binds."""
    matrix, model, target, optimizer = _quadratic_with_state(OPTIMIZERS[name], 3)
    sign = -1.0 if optimizer.param_groups[0].get("maximize", False) else 1.0

    def loss_fn(output, target):
        return sign * 0.01 * quadratic_loss(matrix)(output, target)

    result = critical_lr(model, loss_fn, None, target, optimizer, eta0=1e-3)
    assert result.within_tolerance
    stepped_model, stepped = copy.deepcopy((model, optimizer))
    stepped.zero_grad()
    loss_fn(stepped_model(None), target).backward()
    for group in stepped.param_groups:
        group["lr"] = result.eta_c * group["lr_mult"]
    stepped.step()
    real = sign * loss_fn(stepped_model(None), target).item()
    assert dict(result.losses)[result.eta_c] == pytest.approx(real, rel=1e-12, abs=1e-14)
    assert result.loss0 == pytest.approx(sign * loss_fn(model(None), target).item(), rel=1e-15)


@pytest.mark.parametrize("name", ["sgd", "nesterov_wd", "adam", "gi_adam", "ri_adam"])
def test_maximising_minus_the_loss_searches_like_minimising_it(name):
    """Negation is exact: maximize=True on -L gives the same trials as minimising L."""
    results = []
    for maximize in (False, True):
        matrix = _spd(9, 7, 50.0)
        theta = torch.randn(9, generator=torch.Generator().manual_seed(7), dtype=F64)
        model, target = Quadratic(theta, 4), torch.zeros(9, dtype=F64)
        optimizer = OPTIMIZERS[name]([{"params": [model.a], "lr_mult": 0.5}, {"params": [model.b], "lr_mult": 2.0}])
        for group in optimizer.param_groups:
            group["maximize"] = maximize
        sign = -1.0 if maximize else 1.0

        def loss_fn(output, target):  # called within this iteration only
            return sign * quadratic_loss(matrix)(output, target)

        results.append(critical_lr(model, loss_fn, None, target, optimizer, eta0=1e-4))
    assert results[0].within_tolerance
    assert results[1].losses == results[0].losses and results[1].eta_c == results[0].eta_c


def test_refuses_a_non_finite_start_and_an_optimizer_that_does_not_own_the_model():
    matrix = _spd(6, 0, 10.0)
    model, target = Quadratic(torch.ones(6, dtype=F64), 3), torch.zeros(6, dtype=F64)
    loss_fn, sgd = quadratic_loss(matrix), torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="holds none of the model's trainable parameters"):
        critical_lr(copy.deepcopy(model), loss_fn, None, target, sgd)
    with pytest.raises(ValueError, match="maximize=True in some param groups only"):
        critical_lr(model, loss_fn, None, target, torch.optim.SGD([{"params": [model.a], "maximize": True},
                                                                   {"params": [model.b]}], lr=0.1))
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="loss: got"):
            critical_lr(model, lambda output, target: loss_fn(output, target) * bad, None, target, sgd)
    with torch.no_grad():
        model.a[0] = 0.0  # d sqrt(|x|) / dx is not finite at 0
    with pytest.raises(ValueError, match="not finite"):
        critical_lr(model, lambda output, target: output.abs().sqrt().sum(), None, target, sgd)


class _NetWithState(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                        torch.nn.Dropout(0.2), torch.nn.Linear(16, 3))

    def forward(self, inputs):
        return self.body(inputs)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ["adam", "nesterov_wd", "gi_adam"])
def test_nothing_is_mutated(method, name):
    torch.manual_seed(0)
    model, inputs, targets = _NetWithState(), torch.randn(32, 6), torch.randint(0, 3, (32,))
    optimizer = OPTIMIZERS[name](model.parameters())
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    before = copy.deepcopy((model.state_dict(), optimizer.state_dict(), [p.grad for p in model.parameters()]))
    rng_before = torch.get_rng_state()
    result = critical_lr(model, torch.nn.functional.cross_entropy, inputs, targets, optimizer, method=method)
    assert result.forward_passes > 1
    after = (model.state_dict(), optimizer.state_dict(), [p.grad for p in model.parameters()])
    for key, value in before[0].items():
        assert torch.equal(value, after[0][key]), key
    assert before[1]["param_groups"] == after[1]["param_groups"]
    for index, state in before[1]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, after[1]["state"][index][key]), (index, key)
    assert all(torch.equal(a, b) for a, b in zip(before[2], after[2]))
    assert torch.equal(rng_before, torch.get_rng_state())


def _softplus_problem():
    """L(w) = mean softplus(-w x): SGD steps along x keep lowering it for every eta (no catapult)."""
    model = torch.nn.Linear(3, 1, bias=False, dtype=F64)
    torch.nn.init.zeros_(model.weight)
    inputs = torch.ones(4, 3, dtype=F64)
    return model, (lambda output, target: torch.nn.functional.softplus(-output).mean()), inputs


def test_loss_rising_at_eta0_returns_eta0_and_cap_is_reported():
    matrix = _spd(6, 0, 10.0)
    theta = torch.ones(6, dtype=F64)
    model, target = Quadratic(theta, 3), torch.zeros(6, dtype=F64)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    rising = critical_lr(model, quadratic_loss(matrix), None, target, sgd, eta0=5.0)
    assert (rising.eta_c, rising.eta_lower, rising.forward_passes, rising.capped) == (5.0, 0.0, 1, False)
    capped = critical_lr(model, quadratic_loss(matrix), None, target, sgd, eta0=1e-4, eta_max=1e-3)
    assert capped.capped and capped.eta_c == capped.eta_lower == 1e-3 and not capped.within_tolerance
    model, loss_fn, inputs = _softplus_problem()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    budget = critical_lr(model, loss_fn, inputs, None, sgd, max_forward_passes=9)
    assert budget.capped and budget.forward_passes == 9


def test_non_finite_one_step_loss_counts_as_a_rise():
    matrix = _spd(6, 1, 10.0)
    model, target = Quadratic(torch.ones(6, dtype=F64), 3), torch.zeros(6, dtype=F64)

    loss0 = quadratic_loss(matrix)(model(None), target).item()

    def overflowing(output, target):  # a loss that overflows away from theta0, as a diverging network does
        loss = quadratic_loss(matrix)(output, target)
        return loss if loss < 1.2 * loss0 else loss * math.inf

    result = critical_lr(model, overflowing, None, target, torch.optim.SGD(model.parameters(), lr=0.1), eta0=1e-4,
                         method="paper")  # the doubling overshoots into the overflow
    assert result.within_tolerance and math.isfinite(dict(result.losses)[result.eta_c])
    assert any(not math.isfinite(loss) for _, loss in result.losses)


def test_model_method_uses_fewer_passes_than_paper_on_quadratics():
    passes = {method: 0 for method in METHODS}
    for seed in range(4):
        matrix = _spd(12, seed, 100.0)
        theta = torch.randn(12, dtype=F64, generator=torch.Generator().manual_seed(seed))
        model, target = Quadratic(theta, 6), torch.zeros(12, dtype=F64)
        for method in METHODS:
            passes[method] += critical_lr(model, quadratic_loss(matrix), None, target,
                                          torch.optim.SGD(model.parameters(), lr=0.1), method=method).forward_passes
    assert passes["model"] < passes["paper"]


def test_invalid_arguments_name_the_field():
    model, target = Quadratic(torch.ones(4, dtype=F64), 2), torch.zeros(4, dtype=F64)
    loss_fn, sgd = quadratic_loss(torch.eye(4, dtype=F64)), torch.optim.SGD(model.parameters(), lr=0.1)
    for kwargs, field in [({"method": "newton"}, "method"), ({"eta0": 0.0}, "eta0"), ({"delta": 0.0}, "delta"),
                          ({"eta0": 2.0, "eta_max": 1.0}, "eta0"), ({"growth": 1.0}, "growth")]:
        with pytest.raises(ValueError, match=field):
            critical_lr(model, loss_fn, None, target, sgd, **kwargs)
    with pytest.raises(ValueError, match="optimizer"):
        critical_lr(model, loss_fn, None, target, torch.optim.Adagrad(model.parameters()))
    with pytest.raises(ValueError, match="forward_passes"):
        t_save(0.1, 1.0, 10, -1)


@pytest.mark.parametrize("eta_c,eta_trgt,warmup_steps", [(0.5, 1.0, 1024), (0.3, 1.0, 1000), (0.013, 0.1, 37),
                                                          (2.0, 1.0, 64), (1e-5, 3.0, 5), (0.1, 0.1, 10)])
def test_t_reach_and_t_save_match_the_schedule(eta_c, eta_trgt, warmup_steps):
    rates = Schedule(eta_trgt, warmup_steps, warmup_steps, eta_init=min(eta_c, eta_trgt), warmup="from_init").values()
    first_at_target = int(torch.nonzero(rates == eta_trgt)[0])  # 0-based update index
    assert t_reach(eta_c, eta_trgt, warmup_steps) == first_at_target + 1
    paper_t_reach = warmup_steps * (1 - eta_c / eta_trgt)
    assert t_reach(eta_c, eta_trgt, warmup_steps) == (1 if eta_c >= eta_trgt else math.ceil(paper_t_reach))
    assert t_save(eta_c, eta_trgt, warmup_steps, 10) == warmup_steps - (first_at_target + 1) - 5


def test_t_save_worked_example_from_the_paper():
    assert t_reach(0.5, 1.0, 1024) == 512
    assert t_save(0.5, 1.0, 1024, forward_passes=10) == 507


def test_suggest_warmup_docstring_example_runs():
    assert doctest.testmod(catapult_warmup, raise_on_error=True).attempted > 0


def test_suggest_warmup_reasons():
    matrix = _spd(6, 3, 10.0)
    model, target = Quadratic(torch.ones(6, dtype=F64), 3), torch.zeros(6, dtype=F64)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    small_target = suggest_warmup(model, quadratic_loss(matrix), None, target, sgd, eta_trgt=1e-3, warmup_steps=100)
    assert small_target.reason == "no warmup needed" and small_target.eta_init == 1e-3 and small_target.t_reach == 1
    assert small_target.t_save == 99 - (small_target.search.forward_passes + 2) / 2
    model, loss_fn, inputs = _softplus_problem()
    flat = suggest_warmup(model, loss_fn, inputs, None, torch.optim.SGD(model.parameters(), lr=0.1), eta_trgt=1.0)
    assert flat.reason == "no catapult" and flat.eta_init == pytest.approx(0.1) and flat.t_reach is None


def _digits():
    data = load_digits()
    inputs = torch.tensor(data.data[:512], dtype=torch.float32)
    inputs = (inputs - inputs.mean(1, keepdim=True)) / inputs.std(1, keepdim=True)
    return inputs, torch.nn.functional.one_hot(torch.tensor(data.target[:512]), 10).float()


def _mse(output, target):
    return 0.5 * ((output - target) ** 2).mean()


def _train(eta_trgt: float, persistent: bool, steps: int):
    """Full-batch SGD on digits with an SP ReLU MLP; returns (losses, scheduler)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=eta_trgt)
    scheduler = PersistentCatapultWarmup(optimizer, model, _mse, eta_trgt) if persistent else None
    inputs, targets = _digits()
    losses = []
    for _ in range(steps):
        loss = _mse(model(inputs), targets)
        losses.append(loss.item())
        if not loss.item() < 1e6:
            break  # diverged: a recorded outcome
        optimizer.zero_grad()
        loss.backward()
        if scheduler is not None:
            scheduler.step(loss, inputs, targets)
            assert optimizer.param_groups[0]["lr"] == scheduler.eta
        optimizer.step()
    return losses, scheduler


def test_persistent_catapult_warmup_trains_where_constant_eta_trgt_diverges():
    eta_trgt = 12.0  # about 8 x 2/lambda_0 for this network and batch
    constant, _ = _train(eta_trgt, persistent=False, steps=20)
    assert not constant[-1] < 1e6
    losses, scheduler = _train(eta_trgt, persistent=True, steps=120)
    assert len(losses) == 120 and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < 0.1 * losses[0]
    assert scheduler.reached_target and scheduler.eta == eta_trgt
    records = scheduler.records
    assert records[0].reference_loss == math.inf and records[-1].eta_c == eta_trgt
    assert sum(r.forward_passes for r in records) == scheduler.forward_passes
    for previous, record in zip(records, records[1:]):
        assert record.step > previous.step
        assert record.eta_before == previous.eta_c <= record.eta_c
        assert record.reference_loss == previous.loss and record.loss < previous.loss
    for record in records:
        assert record.eta_lower <= record.eta_c <= eta_trgt


class _CatapultRun:
    """The digits problem of ``_train`` with two param groups at base rates eta_trgt and eta_trgt/4
    and a :class:`PersistentCatapultWarmup`; ``train(n)`` makes n updates in the own-loop form
    (``step(loss, inputs, targets)`` before the update) or the framework form (``observe`` before,
    ``step()`` after), recording each update's loss and rates and what ``get_last_lr`` reports."""

    ETA_TRGT = 12.0

    def __init__(self, **settings) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        self.optimizer = torch.optim.SGD([{"params": self.model[0].parameters(), "lr": self.ETA_TRGT},
                                          {"params": self.model[2].parameters(), "lr": self.ETA_TRGT / 4}])
        self.scheduler = PersistentCatapultWarmup(self.optimizer, self.model, _mse, self.ETA_TRGT, **settings)
        self.inputs, self.targets = _digits()
        self.losses, self.rates, self.logged = [], [], []

    def train(self, updates: int, framework: bool = False) -> None:
        for _ in range(updates):
            self.optimizer.zero_grad()
            loss = _mse(self.model(self.inputs), self.targets)
            loss.backward()
            if framework:
                self.scheduler.observe(loss, self.inputs, self.targets)
            else:
                self.scheduler.step(loss, self.inputs, self.targets)
            self.losses.append(loss.item())
            self.rates.append([group["lr"] for group in self.optimizer.param_groups])
            self.optimizer.step()
            if framework:
                self.scheduler.step()
            self.logged.append(self.scheduler.get_last_lr())  # what a framework logs after the update

    def checkpoint(self, scheduler: bool = True) -> bytes:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if scheduler:
            state["scheduler"] = self.scheduler.state_dict()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()

    def resume(self, checkpoint: bytes) -> None:
        state = torch.load(io.BytesIO(checkpoint))  # torch's default: weights_only=True
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])


def test_persistent_catapult_warmup_is_a_torch_scheduler_that_keeps_group_ratios():
    run = _CatapultRun(eta0=0.5)
    assert isinstance(run.scheduler, torch.optim.lr_scheduler.LRScheduler)
    assert [group["lr"] for group in run.optimizer.param_groups] == [0.5, 0.125] == run.scheduler.get_last_lr()
    run.train(12)
    assert run.scheduler.reached_target and len(run.scheduler.records) >= 2
    assert all(rates[1] == rates[0] / 4 for rates in run.rates)  # 1/4 is exact in binary
    assert run.rates[-1] == [12.0, 3.0]  # each group ends at its own base rate
    assert run.logged == run.rates  # get_last_lr is the rate each update used
    framework = _CatapultRun(eta0=0.5)
    framework.train(12, framework=True)
    assert (framework.losses, framework.rates, framework.logged) == (run.losses, run.rates, run.logged)
    assert framework.scheduler.records == run.scheduler.records
    assert framework.scheduler.last_epoch == run.scheduler.last_epoch == 12


@pytest.mark.parametrize("framework", [False, True])
def test_persistent_catapult_warmup_checkpointed_mid_warmup_resumes_bit_for_bit(framework):
    uninterrupted = _CatapultRun()
    uninterrupted.train(20, framework)
    steps = [record.step for record in uninterrupted.scheduler.records]
    assert min(steps) < 5 < max(steps) and uninterrupted.scheduler.reached_target  # re-estimates on both sides
    first = _CatapultRun()
    first.train(5, framework)
    resumed = _CatapultRun()  # fresh objects, as in a new process
    resumed.resume(first.checkpoint())
    resumed.train(15, framework)
    assert first.losses + resumed.losses == uninterrupted.losses
    assert first.rates + resumed.rates == uninterrupted.rates
    assert resumed.scheduler.records == uninterrupted.scheduler.records
    assert resumed.scheduler.forward_passes == uninterrupted.scheduler.forward_passes


def test_persistent_catapult_warmup_resumed_without_its_state_keeps_the_rate_until_restart():
    first = _CatapultRun()
    first.train(5)
    eta = first.scheduler.eta
    assert eta < first.ETA_TRGT
    naive = _CatapultRun()  # built before optimizer.load_state_dict, as torch advises; no scheduler state
    naive.resume(first.checkpoint(scheduler=False))
    with pytest.warns(UserWarning, match="without its state_dict"):
        naive.train(3)
    assert naive.rates == [[eta, eta / 4]] * 3 and naive.scheduler.records == []
    naive.scheduler.restart()
    naive.train(1)
    # asked, it searches again (its counter started at the resume: no state, no update index)
    assert [record.step for record in naive.scheduler.records] == [3] and naive.scheduler.eta > eta
    late = _CatapultRun()  # torch's other resume convention: the optimizer first, then last_epoch
    late.optimizer.load_state_dict(torch.load(io.BytesIO(first.checkpoint()))["optimizer"])
    with pytest.warns(UserWarning, match="without its state_dict"):
        late.scheduler = PersistentCatapultWarmup(late.optimizer, late.model, _mse, late.ETA_TRGT, last_epoch=4)
    assert late.scheduler.eta == eta and late.scheduler.get_last_lr() == [eta, eta / 4]


def test_persistent_catapult_warmup_state_holds_plain_values_and_the_settings_stay_the_constructors():
    first = _CatapultRun(max_forward_passes=20)
    first.train(5)
    assert first.scheduler.budget_exhausted
    state = torch.load(io.BytesIO(first.checkpoint()))["scheduler"]
    assert not {"model", "loss_fn", "eta_trgt", "delta", "method", "max_forward_passes"} & set(state)
    assert state["records"][0] == dataclasses.asdict(first.scheduler.records[0])
    resumed = _CatapultRun(max_forward_passes=500)  # a larger budget for the rest of the run
    resumed.resume(first.checkpoint())
    assert resumed.scheduler.forward_passes == first.scheduler.forward_passes and not resumed.scheduler.budget_exhausted
    resumed.train(10)
    assert len(resumed.scheduler.records) > len(first.scheduler.records)
