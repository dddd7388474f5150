"""Schedules against closed forms at every boundary (authors' 0-based update index convention)."""

import io
import math

import pytest
import torch

from test_executors import TINY, _assert_close
from warmup_lib.config import ScheduleConfig
from warmup_lib.runs import train
from warmup_lib.runs.vectorised import train_stack
from warmup_lib.schedules import (Schedule, ScheduleLR, cosine_decay, exponential_warmup, learning_rate,
                                  polynomial_warmup, reach_step, untuned_exponential_time_constant,
                                  untuned_linear_warmup_steps, warmup_from_init)

ETA = 0.8  # a binary fraction, so eta/T_wrm products are exact where the tests compare with ==


def test_linear_warmup_boundaries_then_constant():
    s = Schedule(eta_trgt=ETA, warmup_steps=16, total_steps=40)
    assert s(0) == ETA / 16  # first update uses eta_trgt / T_wrm
    assert s(7) == ETA * 8 / 16
    assert s(15) == ETA  # last warmup update
    assert s(16) == ETA and s(39) == ETA  # first post-warmup and last update
    assert s.reach_step == 15


def test_warmup_steps_one_is_constant():
    s = Schedule(eta_trgt=ETA, warmup_steps=1, total_steps=10)
    assert s.values().tolist() == [ETA] * 10
    assert s.reach_step == 0


def test_polynomial_exponent_and_eta_init():
    k, eta_init, warmup = 2.5, 0.1, 10
    s = Schedule(eta_trgt=ETA, warmup_steps=warmup, total_steps=20, eta_init=eta_init, warmup_exponent=k)
    for t in (0, 4, 9):
        assert s(t) == pytest.approx(eta_init + (ETA - eta_init) * ((t + 1) / warmup) ** k, rel=1e-15)
    assert s(0) == pytest.approx(eta_init + (ETA - eta_init) * 0.1**k, rel=1e-15)
    assert s(9) == ETA and s(10) == ETA


def test_cosine_decay_boundaries():
    warmup, total = 8, 50
    s = Schedule(eta_trgt=ETA, warmup_steps=warmup, total_steps=total, decay="cosine")
    eta_min = ETA / 10
    assert s(warmup - 1) == ETA
    n = total - warmup + 1
    first = eta_min + (ETA - eta_min) * 0.5 * (1 + math.cos(math.pi * 2 / n))
    assert s(warmup) == pytest.approx(first, rel=1e-15) and s(warmup) < ETA  # s = 2 at the first post-warmup step
    assert s(total - 1) == pytest.approx(eta_min, rel=1e-15)  # eta_trgt/10 exactly at the last update
    assert torch.all(torch.diff(s.values()[warmup:]) < 0)


def test_cosine_without_warmup_and_full_length_warmup():
    s = Schedule(eta_trgt=ETA, warmup_steps=1, total_steps=11, decay="cosine")
    assert s(0) == ETA
    assert s(10) == pytest.approx(ETA / 10, rel=1e-15)
    only_warmup = Schedule(eta_trgt=ETA, warmup_steps=5, total_steps=5, decay="cosine")
    assert only_warmup.values().tolist() == [ETA * ((t + 1) / 5) for t in range(5)]


def test_warmup_from_init_slope_and_reach():
    # paper sec. 6.1: eta_init = eta_c = eta_trgt/2 reaches the target after T_wrm/2 updates
    s = Schedule(eta_trgt=ETA, warmup_steps=16, total_steps=30, eta_init=ETA / 2, warmup="from_init")
    assert s(0) == ETA / 2 + ETA / 16
    assert s(6) == ETA / 2 + ETA * 7 / 16
    assert s(7) == ETA and s(15) == ETA and s(16) == ETA
    assert s.reach_step == 7  # T_reach = 16 (1 - 1/2) = 8 updates, the last one t = 7
    values = s.values()
    assert values[s.reach_step] == ETA and values[s.reach_step - 1] < ETA


@pytest.mark.parametrize("eta_init", [0.0, 0.013, 0.37, 0.5, 0.79, 0.8, 2.0])
@pytest.mark.parametrize("warmup", [1, 7, 100, 1024])
def test_reach_step_agrees_with_the_schedule(eta_init, warmup):
    values = Schedule(ETA, warmup, warmup, eta_init=eta_init, warmup="from_init").values()
    first = int(torch.nonzero(values == ETA)[0])
    assert reach_step(ETA, warmup, eta_init, "from_init") == first
    expected = max(math.ceil(warmup * (1 - eta_init / ETA)) - 1, 0)
    assert abs(first - expected) <= 1  # closed form up to rounding
    if eta_init == 0.0:  # from_init with eta_init = 0 is the linear warmup
        assert torch.equal(values, Schedule(ETA, warmup, warmup).values())


@pytest.mark.parametrize("eta_init", [0.0, 0.1])
def test_exponential_warmup_closed_form_at_every_step(eta_init):
    """Ma & Yarats: eta_t = eta_init + (eta_trgt - eta_init)(1 - exp(-(t+1)/T_wrm)), no switch at T_wrm."""
    warmup, total = 10, 100
    values = Schedule(ETA, warmup, total, eta_init=eta_init, warmup="exponential").values()
    expected = [eta_init + (ETA - eta_init) * (1 - math.exp(-(t + 1) / warmup)) for t in range(total)]
    assert values.tolist() == pytest.approx(expected, rel=1e-13)
    assert values[warmup - 1] == pytest.approx(eta_init + (ETA - eta_init) * (1 - math.exp(-1)), rel=1e-13)
    assert torch.all(torch.diff(values) > 0) and values[-1] < ETA  # still rising after T_wrm, never at eta_trgt


@pytest.mark.parametrize("eta_init", [0.0, 0.013, 0.5, 0.79, 0.8])
@pytest.mark.parametrize("warmup", [1, 7, 100, 1024])
def test_exponential_reach_step_is_the_first_within_one_percent(eta_init, warmup):
    total = 5 * warmup + 1  # past T_wrm ln 100 = 4.6 T_wrm
    values = Schedule(ETA, warmup, total, eta_init=eta_init, warmup="exponential").values()
    first = int(torch.nonzero(values >= eta_init + 0.99 * (ETA - eta_init))[0])
    assert reach_step(ETA, warmup, eta_init, "exponential") == first
    if eta_init < ETA:
        assert abs(first - (math.ceil(warmup * math.log(100)) - 1)) <= 1  # the closed form up to rounding
    else:
        assert first == 0  # a flat warmup


def test_untuned_warmups_from_beta2():
    """Ma & Yarats' rules of thumb: linear over 2/(1 - beta2) steps, exponential with time constant 1/(1 - beta2)."""
    for beta2, linear, exponential in ((0.999, 2000, 1000), (0.99, 200, 100), (0.9, 20, 10), (0.9999, 20000, 10000),
                                       (0.95, 40, 20), (0.3, 3, 1), (0.6, 5, 3)):
        assert untuned_linear_warmup_steps(beta2) == linear
        assert untuned_exponential_time_constant(beta2) == exponential
    for bad in (0.0, 1.0, 1.5, -0.1, True, "0.999", float("nan")):
        for rule in (untuned_linear_warmup_steps, untuned_exponential_time_constant):
            with pytest.raises(ValueError, match="^beta2:"):
                rule(bad)


def test_from_config():
    cfg = ScheduleConfig(eta_trgt=0.5, warmup_steps=4, eta_init=0.1, warmup_exponent=2.0, decay="cosine")
    s = Schedule.from_config(cfg, total_steps=20)
    assert s == Schedule(0.5, 4, 20, 0.1, 2.0, "polynomial", "cosine")


def test_tensor_evaluation_equals_scalar():
    eta = torch.tensor([0.01, 0.3, 2.5], dtype=torch.float64)[:, None, None]
    warmup = torch.tensor([1, 16, 64])[None, :, None]
    steps = torch.arange(100)[None, None, :]
    for kind, eta_init, decay in (("polynomial", 0.0, "cosine"), ("from_init", 0.05, "cosine"),
                                  ("exponential", 0.005, "constant")):
        lr = learning_rate(steps, eta, warmup, 100, eta_init=eta_init, warmup=kind, decay=decay)
        assert lr.shape == (3, 3, 100) and lr.dtype == torch.float64
        for i in range(3):
            for j in range(3):
                scalar = [learning_rate(t, float(eta[i, 0, 0]), int(warmup[0, j, 0]), 100, eta_init=eta_init,
                                        warmup=kind, decay=decay) for t in range(100)]
                assert lr[i, j].tolist() == scalar


def test_pieces_match_learning_rate():
    assert learning_rate(3, ETA, 8, 20) == float(polynomial_warmup(3, ETA, 8))
    assert learning_rate(3, ETA, 8, 20, eta_init=0.2, warmup="from_init") == float(warmup_from_init(3, ETA, 8, 0.2))
    assert learning_rate(12, ETA, 8, 20, decay="cosine") == float(cosine_decay(12, ETA, 8, 20))
    for t in (3, 12):
        assert learning_rate(t, ETA, 8, 20, 0.2, warmup="exponential") == float(exponential_warmup(t, ETA, 8, 0.2))


@pytest.mark.parametrize("kwargs, name", [
    (dict(eta_trgt=0.0), "eta_trgt"),
    (dict(eta_trgt=torch.tensor([0.1, -1.0])), "eta_trgt"),
    (dict(warmup_steps=0), "warmup_steps"),
    (dict(warmup_steps=2.5), "warmup_steps"),
    (dict(total_steps=3), "total_steps"),
    (dict(eta_init=-0.1), "eta_init"),
    (dict(eta_init=1.0), "eta_init"),  # polynomial warmup down
    (dict(exponent=0.0), "exponent"),
    (dict(exponent=2.0, warmup="from_init"), "exponent"),
    (dict(warmup="cosine"), "warmup"),
    (dict(warmup="exponential", decay="cosine"), "decay"),
    (dict(warmup="exponential", exponent=2.0), "exponent"),
    (dict(warmup="exponential", eta_init=1.0), "eta_init"),
    (dict(decay="linear"), "decay"),
    (dict(step=-1), "step"),
    (dict(step=20), "step"),
    (dict(step=torch.tensor([0, 25])), "step"),
])
def test_invalid_arguments_name_the_argument(kwargs, name):
    args = dict(step=0, eta_trgt=0.5, warmup_steps=4, total_steps=20) | kwargs
    with pytest.raises(ValueError, match=f"^{name}:"):
        learning_rate(**args)


def _three_groups(lrs: list[float], lr_mult: float | None = None) -> torch.optim.SGD:
    """SGD over one parameter per group, with these base rates; the last group gets ``lr_mult``."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    if lr_mult is not None:
        groups[-1]["lr_mult"] = lr_mult
    return torch.optim.SGD(groups, lr=1.0)


def _rates_seen(optimizer: torch.optim.Optimizer, scheduler, steps: int) -> list[list[float]]:
    seen = []
    for _ in range(steps):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return seen


def test_lr_scheduler_scales_each_groups_base_rate_and_keeps_lr_mult():
    schedule = Schedule(eta_trgt=ETA, warmup_steps=4, total_steps=10, decay="cosine")
    optimizer = _three_groups([ETA, ETA / 4, 123.0], lr_mult=0.25)
    scheduler = ScheduleLR(optimizer, schedule)
    seen = _rates_seen(optimizer, scheduler, 10)
    # a group built at eta_trgt follows the schedule exactly; another keeps its base rate's ratio
    # (1/4, exact in binary); an lr_mult (this library's per-layer convention) wins over the base rate
    assert seen == [[schedule(t), schedule(t) / 4, 0.25 * schedule(t)] for t in range(10)]
    assert scheduler.get_last_lr() == [schedule(9), schedule(9) / 4, 0.25 * schedule(9)]  # clamped past T
    assert scheduler.base_lrs == [ETA, ETA / 4, 123.0]


def test_lr_scheduler_keeps_the_ratio_of_any_base_rates():
    schedule = Schedule(eta_trgt=0.05, warmup_steps=5, total_steps=10)
    optimizer = _three_groups([0.05, 0.01])
    seen = _rates_seen(optimizer, ScheduleLR(optimizer, schedule), 10)
    assert [rates[0] for rates in seen] == schedule.values().tolist()
    assert [rates[1] for rates in seen] == pytest.approx([0.2 * eta for eta in schedule.values().tolist()], rel=1e-15)
    assert seen[-1] == [0.05, 0.01]  # each group reaches its own base rate at the target


def test_lr_scheduler_refuses_an_optimizer_that_would_train_nothing():
    with pytest.raises(ValueError, match="lr = eta_trgt"):
        ScheduleLR(_three_groups([0.0, 0.0]), Schedule(eta_trgt=ETA, warmup_steps=4, total_steps=10))


class _Run:
    """A small regression trained with SGD + momentum (state that a resume must restore) and a
    ScheduleLR; ``train(n)`` makes n updates and records each update's loss and rates."""

    def __init__(self, schedule: Schedule) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        self.optimizer = torch.optim.SGD([{"params": self.model[0].parameters(), "lr": ETA},
                                          {"params": self.model[2].parameters(), "lr": ETA / 4}], momentum=0.9)
        self.scheduler = ScheduleLR(self.optimizer, schedule)
        generator = torch.Generator().manual_seed(1)
        self.inputs = torch.randn(32, 3, generator=generator)
        self.targets = self.inputs[:, :1] * self.inputs[:, 1:2]
        self.losses, self.rates = [], []

    def train(self, updates: int) -> None:
        for _ in range(updates):
            self.optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(self.model(self.inputs), self.targets)
            loss.backward()
            self.losses.append(loss.item())
            self.rates.append([group["lr"] for group in self.optimizer.param_groups])
            self.optimizer.step()
            self.scheduler.step()

    def checkpoint(self) -> bytes:
        buffer = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict()}, buffer)
        return buffer.getvalue()

    def resume(self, checkpoint: bytes) -> None:
        state = torch.load(io.BytesIO(checkpoint))  # torch's default: weights_only=True
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


@pytest.mark.parametrize("schedule", [Schedule(eta_trgt=ETA, warmup_steps=20, total_steps=40, decay="cosine"),
                                      Schedule(eta_trgt=ETA, warmup_steps=20, total_steps=40, eta_init=0.01,
                                               warmup="exponential")])
def test_lr_scheduler_checkpointed_mid_warmup_resumes_bit_for_bit(schedule):
    uninterrupted = _Run(schedule)
    uninterrupted.train(40)
    first = _Run(schedule)
    first.train(10)
    assert "schedule" not in first.scheduler.state_dict()
    resumed = _Run(schedule)  # a fresh model, optimizer and scheduler, as in a new process
    resumed.resume(first.checkpoint())
    resumed.train(30)
    assert first.losses + resumed.losses == uninterrupted.losses
    assert first.rates + resumed.rates == uninterrupted.rates
    assert uninterrupted.rates[10][0] == schedule(10) != uninterrupted.rates[9][0]  # mid-warmup indeed


def test_lr_scheduler_resumes_on_the_constructors_schedule():
    first = _Run(Schedule(eta_trgt=ETA, warmup_steps=20, total_steps=40, decay="cosine"))
    first.train(30)
    longer = Schedule(eta_trgt=ETA, warmup_steps=20, total_steps=80, decay="cosine")  # the run extended
    resumed = _Run(longer)
    resumed.resume(first.checkpoint())
    resumed.train(10)
    assert [rates[0] for rates in resumed.rates] == [longer(t) for t in range(30, 40)]
    stale = first.scheduler.state_dict() | {"schedule": "an old checkpoint's pickled Schedule"}
    resumed.scheduler.load_state_dict(stale)
    assert resumed.scheduler.schedule is longer


def test_schedule_config_refuses_an_exponential_warmup_with_an_end():
    assert Schedule.from_config(ScheduleConfig(warmup="exponential", warmup_steps=4), 10).warmup == "exponential"
    with pytest.raises(ValueError, match="^schedule.decay:"):
        ScheduleConfig(warmup="exponential", decay="cosine")
    with pytest.raises(ValueError, match="^schedule.warmup_exponent:"):
        ScheduleConfig(warmup="exponential", warmup_exponent=2.0)


def test_vectorised_exponential_member_equals_the_sequential_run():
    exponential = TINY.replace(**{"schedule.warmup": "exponential", "schedule.warmup_steps": 6,
                                  "schedule.eta_init": 0.01, "schedule.eta_trgt": 0.3})
    linear = TINY.replace(seed=1, **{"schedule.warmup_steps": 8, "schedule.eta_trgt": 0.3})
    stacked = train_stack([exponential, linear])
    for cfg, member in zip([exponential, linear], stacked):
        _assert_close(train.run(cfg), member)
    assert stacked[0].records["lr"].tolist() == Schedule.from_config(exponential.schedule, TINY.steps).values().tolist()
    assert stacked[0].summary["lr_reach_step"] == math.ceil(6 * math.log(100)) - 1
