"""CurvatureAdaptiveLR (CDAT's eta = min(eta_trgt, scale a/b)) and its trainer callback.

Oracles: gradient descent on quadratics 0.5 theta^T A theta (a = g.g, b = g^T A g in closed form),
the EMA written out as a weighted sum, Adam's next direction computed by hand from the optimizer's
state with a dense Hessian (``torch.autograd.functional.hessian``), an uninterrupted loop for
checkpoints, and a hand-written loop for the callback inside ``train.run``.
"""

import io
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from warmup_lib import CurvatureAdaptiveLR
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.critical import CurvatureAdaptiveCallback
from warmup_lib.runs.train import init_run, run
from quadratic import Quadratic, quadratic_loss


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return ((outputs - targets) ** 2).mean()


NO_INPUT = torch.zeros(1, 1, dtype=torch.float64)


def _positive_definite(seed: int, n: int = 5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    root = torch.randn(n, n, generator=generator, dtype=torch.float64)
    return root @ root.T + 0.1 * torch.eye(n, dtype=torch.float64)


def _quadratic_steps(matrix: torch.Tensor, steps: int, **settings) -> tuple[CurvatureAdaptiveLR, list, list]:
    """Gradient descent on 0.5 theta^T A theta driven by the scheduler; (scheduler, gradients, rates used)."""
    model = Quadratic(torch.linspace(-1.0, 2.0, matrix.shape[0], dtype=torch.float64))
    optimizer = torch.optim.SGD(model.parameters(), lr=settings["eta_trgt"])
    scheduler = CurvatureAdaptiveLR(optimizer, model, quadratic_loss, **settings)
    gradients, rates = [], []
    for _ in range(steps):
        optimizer.zero_grad()
        quadratic_loss(model(NO_INPUT), matrix).backward()
        gradients.append(model.theta.grad.clone())
        before = model.theta.detach().clone()
        rates.append(scheduler.step(NO_INPUT, matrix))
        assert optimizer.param_groups[0]["lr"] == rates[-1]
        optimizer.step()
        assert torch.allclose(model.theta.detach(), before - rates[-1] * gradients[-1], rtol=1e-14, atol=0)
    return scheduler, gradients, rates


def test_gradient_descent_on_a_quadratic_uses_scale_g_g_over_g_A_g():
    matrix = _positive_definite(0)
    scheduler, gradients, rates = _quadratic_steps(matrix, 6, eta_trgt=100.0, scale=2.0, beta=0.0)
    assert [record["step"] for record in scheduler.history] == list(range(6)) and scheduler.hvps == 6
    for record, g, eta in zip(scheduler.history, gradients, rates):
        assert record["a"] == pytest.approx(float(g @ g), rel=1e-13)
        assert record["b"] == pytest.approx(float(g @ matrix @ g), rel=1e-12)
        assert record["u_norm_sq"] == pytest.approx(float(g @ g), rel=1e-13)
        assert eta == record["eta"] == 2.0 * record["a"] / record["b"]  # beta = 0: no smoothing, exactly
    assert len(set(rates)) == 6  # it follows the curvature along each new gradient
    greedy, _, _ = _quadratic_steps(matrix, 1, eta_trgt=100.0, scale=1.0, beta=0.0)
    assert greedy.eta == pytest.approx(rates[0] / 2, rel=1e-15)


def test_smoothed_rate_is_the_bias_corrected_ema_written_out():
    matrix = _positive_definite(1)
    beta, scale = 0.7, 1.5
    scheduler, _, rates = _quadratic_steps(matrix, 7, eta_trgt=100.0, scale=scale, beta=beta)
    a = [record["a"] for record in scheduler.history]
    b = [record["b"] for record in scheduler.history]
    for k in range(1, 8):
        weights = [(1 - beta) * beta ** (k - 1 - j) for j in range(k)]
        a_ema = sum(w * x for w, x in zip(weights, a)) / (1 - beta**k)
        b_ema = sum(w * x for w, x in zip(weights, b)) / (1 - beta**k)
        assert rates[k - 1] == pytest.approx(scale * a_ema / b_ema, rel=1e-12)
    assert rates[1] != pytest.approx(scale * a[1] / b[1], rel=1e-6)  # the smoothing is not a no-op here


def test_the_rate_never_exceeds_eta_trgt_and_a_concave_direction_gives_eta_trgt():
    matrix = _positive_definite(2)
    capped, _, rates = _quadratic_steps(matrix, 4, eta_trgt=1e-3, beta=0.0)
    uncapped = [2 * record["a"] / record["b"] for record in capped.history]
    assert all(value > 1e-3 for value in uncapped) and rates == [1e-3] * 4
    concave, _, rates = _quadratic_steps(-matrix, 2, eta_trgt=0.25, beta=0.0)
    assert all(record["b"] < 0 for record in concave.history) and rates == [0.25, 0.25]


def test_an_update_that_climbs_gets_rate_zero():
    """a = g.u < 0 (a momentum buffer against the gradient) is clipped to 0, as in the paper."""
    matrix = _positive_definite(3)
    model = Quadratic(torch.ones(5, dtype=torch.float64))
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    scheduler = CurvatureAdaptiveLR(optimizer, model, quadratic_loss, eta_trgt=1.0, beta=0.0)
    quadratic_loss(model(NO_INPUT), matrix).backward()
    optimizer.state[model.theta]["momentum_buffer"] = -10.0 * model.theta.grad
    assert scheduler.step(NO_INPUT, matrix) == 0.0
    assert scheduler.history[0]["a"] < 0 < scheduler.history[0]["b"]


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(16, 3, generator=generator, dtype=torch.float64),
            torch.randn(16, 2, generator=generator, dtype=torch.float64))


def _dense_hessian(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def loss(theta: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(theta, [shape.numel() for shape in shapes])
        return mse(functional_call(model, dict(zip(names, (x.view(s) for x, s in zip(pieces, shapes)))), (inputs,)),
                   targets)

    return torch.autograd.functional.hessian(loss, torch.cat([p.detach().reshape(-1) for p in model.parameters()]))


def test_adam_direction_against_a_hand_computed_one_and_a_dense_hessian():
    model = _mlp()
    betas, eps = (0.8, 0.95), 1e-6
    optimizer = torch.optim.Adam(model.parameters(), lr=10.0, betas=betas, eps=eps)
    scheduler = CurvatureAdaptiveLR(optimizer, model, mse, eta_trgt=10.0, beta=0.0)
    for step in range(4):
        inputs, targets = _batch(step)
        optimizer.zero_grad()
        mse(model(inputs), targets).backward()
        pieces = []
        for param in model.parameters():  # Adam's next direction, from its state before the update
            state = optimizer.state.get(param, {})
            t = float(state["step"]) + 1 if state else 1.0
            m = betas[0] * state.get("exp_avg", torch.zeros_like(param)) + (1 - betas[0]) * param.grad
            v = betas[1] * state.get("exp_avg_sq", torch.zeros_like(param)) + (1 - betas[1]) * param.grad**2
            pieces.append((m / (1 - betas[0] ** t) / ((v / (1 - betas[1] ** t)).sqrt() + eps)).reshape(-1))
        d = torch.cat(pieces)
        g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        hessian = _dense_hessian(model, inputs, targets)
        eta = scheduler.step(inputs, targets)
        record = scheduler.history[-1]
        assert record["a"] == pytest.approx(float(g @ d), rel=1e-10)
        assert record["b"] == pytest.approx(float(d @ hessian @ d), rel=1e-9)
        eigenvalues = torch.linalg.eigvalsh(hessian)
        assert eigenvalues[0] <= record["b"] / record["u_norm_sq"] <= eigenvalues[-1]
        assert eta == min(10.0, 2 * record["a"] / record["b"])
        optimizer.step()
    assert scheduler.history[0]["eta"] < 10.0  # the first rate is measured and below the target


def test_param_groups_train_at_eta_times_lr_mult_and_u_carries_lr_mult():
    model = _mlp()
    inputs, targets = _batch(0)
    optimizer = torch.optim.SGD([{"params": model[0].parameters(), "lr": 50.0},  # lr_mult 1
                                 {"params": model[2].parameters(), "lr": 12.5}])  # lr_mult 1/4
    scheduler = CurvatureAdaptiveLR(optimizer, model, mse, eta_trgt=50.0, beta=0.0)
    assert [group["lr"] for group in optimizer.param_groups] == [0.0, 0.0] == scheduler.get_last_lr()
    mse(model(inputs), targets).backward()
    multipliers = torch.cat([torch.full((p.numel(),), 1.0 if index < 2 else 0.25, dtype=torch.float64)
                             for index, p in enumerate(model.parameters())])
    g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    u = multipliers * g
    eta = scheduler.step(inputs, targets)
    record = scheduler.history[0]
    assert record["a"] == pytest.approx(float(g @ u), rel=1e-12)
    assert record["b"] == pytest.approx(float(u @ _dense_hessian(model, inputs, targets) @ u), rel=1e-10)
    assert [group["lr"] for group in optimizer.param_groups] == [eta, eta / 4] == scheduler.get_last_lr()


def test_every_measures_on_due_updates_and_keeps_the_rate_between():
    matrix = _positive_definite(4)
    scheduler, _, rates = _quadratic_steps(matrix, 7, eta_trgt=100.0, beta=0.0, every=3)
    assert [record["step"] for record in scheduler.history] == [0, 3, 6] and scheduler.hvps == 3
    assert rates[0] == rates[1] == rates[2] != rates[3] == rates[4] == rates[5] != rates[6]


def test_invalid_settings_raise_naming_the_argument():
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    for settings, name in [(dict(eta_trgt=0.0), "eta_trgt"), (dict(scale=0.0), "scale"), (dict(scale=-1.0), "scale"),
                           (dict(beta=1.0), "beta"), (dict(beta=-0.1), "beta"), (dict(every=0), "every"),
                           (dict(every=1.5), "every")]:
        with pytest.raises(ValueError, match=f"^{name}: got"):
            CurvatureAdaptiveLR(optimizer, model, mse, **({"eta_trgt": 1.0} | settings))
        with pytest.raises(ValueError, match=f"^{name}: got"):
            CurvatureAdaptiveCallback(**({"eta_trgt": 1.0} | settings))
    with pytest.raises(ValueError, match="optimizer: maximize"):
        CurvatureAdaptiveLR(torch.optim.SGD(model.parameters(), lr=1.0, maximize=True), model, mse, eta_trgt=1.0)
    scheduler = CurvatureAdaptiveLR(optimizer, model, mse, eta_trgt=1.0)
    with pytest.raises(ValueError, match="backward"):
        scheduler.step(*_batch(0))  # no .grad yet


class _Run:
    """A tanh MLP trained on a stream of batches with a CurvatureAdaptiveLR measuring every 2 updates."""

    ETA_TRGT = 20.0

    def __init__(self, optimizer: str) -> None:
        self.model = _mlp()
        if optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.ETA_TRGT, momentum=0.9)
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.ETA_TRGT)
        self.scheduler = CurvatureAdaptiveLR(self.optimizer, self.model, mse, self.ETA_TRGT, beta=0.8, every=2)
        self.step, self.losses, self.rates = 0, [], []

    def train(self, updates: int) -> None:
        for _ in range(updates):
            inputs, targets = _batch(100 + self.step)
            self.optimizer.zero_grad()
            loss = mse(self.model(inputs), targets)
            loss.backward()
            self.rates.append(self.scheduler.step(inputs, targets))
            self.losses.append(loss.item())
            self.optimizer.step()
            self.step += 1

    def checkpoint(self) -> bytes:
        buffer = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "step": self.step}, buffer)
        return buffer.getvalue()

    def resume(self, checkpoint: bytes) -> None:
        state = torch.load(io.BytesIO(checkpoint))  # torch's default: weights_only=True
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = state["step"]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_checkpointed_mid_warmup_resumes_bit_for_bit(optimizer):
    uninterrupted = _Run(optimizer)
    uninterrupted.train(12)
    first = _Run(optimizer)
    first.train(5)
    assert max(uninterrupted.rates) < _Run.ETA_TRGT and len(set(uninterrupted.rates[5:])) == 4  # still adapting
    resumed = _Run(optimizer)  # fresh objects, as in a new process
    resumed.resume(first.checkpoint())
    assert resumed.scheduler.get_last_lr() == first.scheduler.get_last_lr()
    resumed.train(7)
    assert first.losses + resumed.losses == uninterrupted.losses
    assert first.rates + resumed.rates == uninterrupted.rates
    assert resumed.scheduler.history == uninterrupted.scheduler.history
    assert resumed.scheduler.hvps == uninterrupted.scheduler.hvps == 6
    state = torch.load(io.BytesIO(first.checkpoint()))["scheduler"]
    assert not {"model", "loss_fn", "eta_trgt", "scale", "beta", "every"} & set(state)


TINY = RunConfig(data=DataConfig(name="mnist1d", n_train=128, n_test=64), model=ModelConfig(width=16, depth=3),
                 optim=OptimConfig(name="sgd"), schedule=ScheduleConfig(eta_trgt=4.0), loss="xent",
                 batch_size=32, steps=6, eval_every=3)


def _hand_loop(model, loss_fn, optimizer, next_batch, steps: int, **settings) -> tuple[CurvatureAdaptiveLR, list, list]:
    scheduler = CurvatureAdaptiveLR(optimizer, model, loss_fn, **settings)
    losses, rates = [], []
    for _ in range(steps):  # the loop of the class docstring
        inputs, targets = next_batch()
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        rates.append(scheduler.step(inputs, targets))
        losses.append(loss.item())
        optimizer.step()
    return scheduler, losses, rates


def test_callback_in_train_run_equals_the_hand_written_loop_sgd(hand_built_start):
    settings = dict(eta_trgt=4.0, scale=2.0, beta=0.5, every=2)
    result = run(TINY, callbacks=[CurvatureAdaptiveCallback(**settings)])
    model, loss_fn, stream, optimizer = hand_built_start(TINY, TINY.schedule.eta_trgt)
    scheduler, losses, rates = _hand_loop(model, loss_fn, optimizer, stream.next, TINY.steps, **settings)
    records = result.records
    assert records["cdat_eta"].tolist() == rates and records["loss"].tolist() == losses
    assert 0 < rates[0] < 4.0
    measured = records["cdat_curvature"].tolist()
    assert [t for t, value in enumerate(measured) if not math.isnan(value)] == [0, 2, 4]
    assert measured[::2] == [record["b"] / record["u_norm_sq"] for record in scheduler.history]
    assert records["lr"].tolist() == [4.0] * TINY.steps  # the config's schedule, overridden by the hook


def test_callback_in_train_run_equals_the_hand_written_loop_adam():
    cfg = TINY.replace(**{"optim.name": "adam", "schedule.eta_trgt": 1.0})
    settings = dict(eta_trgt=1.0, beta=0.0)
    result = run(cfg, callbacks=[CurvatureAdaptiveCallback(**settings)])
    setup = init_run(cfg)
    scheduler, losses, rates = _hand_loop(setup.model, setup.loss_fn, setup.optimizer, setup.next_batch, cfg.steps,
                                          **settings)
    assert result.records["cdat_eta"].tolist() == rates and result.records["loss"].tolist() == losses
    assert rates[0] < min(rates[1:]) and max(rates) < 1.0  # it warms up by itself
    assert result.records["cdat_curvature"].tolist() == [r["b"] / r["u_norm_sq"] for r in scheduler.history]
