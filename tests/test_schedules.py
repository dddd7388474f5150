"""Schedules against closed forms at every boundary (authors' 0-based update index convention)."""

import math

import pytest
import torch

from warmup_lib.config import ScheduleConfig
from warmup_lib.schedules import (Schedule, ScheduleLR, cosine_decay, learning_rate, polynomial_warmup, reach_step,
                                  warmup_from_init)

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


def test_from_config():
    cfg = ScheduleConfig(eta_trgt=0.5, warmup_steps=4, eta_init=0.1, warmup_exponent=2.0, decay="cosine")
    s = Schedule.from_config(cfg, total_steps=20)
    assert s == Schedule(0.5, 4, 20, 0.1, 2.0, "polynomial", "cosine")


def test_tensor_evaluation_equals_scalar():
    eta = torch.tensor([0.01, 0.3, 2.5], dtype=torch.float64)[:, None, None]
    warmup = torch.tensor([1, 16, 64])[None, :, None]
    steps = torch.arange(100)[None, None, :]
    for kind, eta_init in (("polynomial", 0.0), ("from_init", 0.05)):
        lr = learning_rate(steps, eta, warmup, 100, eta_init=eta_init, warmup=kind, decay="cosine")
        assert lr.shape == (3, 3, 100) and lr.dtype == torch.float64
        for i in range(3):
            for j in range(3):
                scalar = [learning_rate(t, float(eta[i, 0, 0]), int(warmup[0, j, 0]), 100, eta_init=eta_init,
                                        warmup=kind, decay="cosine") for t in range(100)]
                assert lr[i, j].tolist() == scalar


def test_pieces_match_learning_rate():
    assert learning_rate(3, ETA, 8, 20) == float(polynomial_warmup(3, ETA, 8))
    assert learning_rate(3, ETA, 8, 20, eta_init=0.2, warmup="from_init") == float(warmup_from_init(3, ETA, 8, 0.2))
    assert learning_rate(12, ETA, 8, 20, decay="cosine") == float(cosine_decay(12, ETA, 8, 20))


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
    (dict(decay="linear"), "decay"),
    (dict(step=-1), "step"),
    (dict(step=20), "step"),
    (dict(step=torch.tensor([0, 25])), "step"),
])
def test_invalid_arguments_name_the_argument(kwargs, name):
    args = dict(step=0, eta_trgt=0.5, warmup_steps=4, total_steps=20) | kwargs
    with pytest.raises(ValueError, match=f"^{name}:"):
        learning_rate(**args)


def test_lr_scheduler_adapter_respects_lr_mult():
    schedule = Schedule(eta_trgt=ETA, warmup_steps=4, total_steps=10, decay="cosine")
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([{"params": [a], "lr_mult": 0.25}, {"params": [b]}], lr=123.0)
    scheduler = ScheduleLR(optimizer, schedule)
    seen = []
    for _ in range(10):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert seen == [[0.25 * schedule(t), schedule(t)] for t in range(10)]
    assert [group["lr"] for group in optimizer.param_groups] == [0.25 * schedule(9), schedule(9)]  # clamped past T
