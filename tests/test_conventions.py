"""Other libraries' warmup conventions: the closed forms against the real libraries, the torch rows
against torch's own formula, and the table's reach column against each convention."""

import math
import warnings

import pytest
import torch

from warmup_lib.conventions import (pytorch_warmup_linear_rate, torch_linear_lr_rates, transformers_linear_rate,
                                    warmup_conventions)
from warmup_lib.schedules import Schedule

ETA = 0.1


def _sgd() -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=ETA)


def _stepped(optimizer: torch.optim.Optimizer, scheduler, updates: int) -> list[float]:
    """The rate the optimizer holds at each update, stepping it and then ``scheduler``."""
    rates = []
    for _ in range(updates):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("warmup, total", [(1, 5), (4, 10), (7, 7), (16, 40)])
def test_transformers_closed_form_equals_the_library(warmup, total):
    transformers = pytest.importorskip("transformers")
    optimizer = _sgd()
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, warmup, total)
    assert _stepped(optimizer, scheduler, total + 2) == [transformers_linear_rate(t, ETA, warmup, total)
                                                         for t in range(total + 2)]


@pytest.mark.parametrize("warmup", [1, 3, 8, 100])
def test_pytorch_warmup_closed_form_equals_the_library(warmup):
    pytorch_warmup = pytest.importorskip("pytorch_warmup")
    optimizer = _sgd()
    dampener = pytorch_warmup.LinearWarmup(optimizer, warmup_period=warmup)
    rates = []
    for _ in range(warmup + 3):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        with dampener.dampening():  # the documented use, here over a constant rate
            pass
    assert rates == [pytorch_warmup_linear_rate(t, ETA, warmup) for t in range(warmup + 3)]
    assert rates[0] == ETA / warmup and rates[warmup - 1] == ETA  # this library's convention


@pytest.mark.parametrize("warmup", [1, 2, 5, 64])
def test_torch_linear_lr_rows_follow_torch_formula(warmup):
    rates = torch_linear_lr_rates(ETA, warmup, warmup + 3)
    expected = [ETA * (1 / warmup + (1 - 1 / warmup) * min(t, warmup) / warmup) for t in range(warmup + 3)]
    assert rates == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("after", ["constant", "cosine"])
def test_sequential_lr_keeps_the_linear_lr_warmup(after):
    """Chained with SequentialLR(milestones=[T]), LinearLR's warmup is unchanged and the next
    scheduler starts at t = T from eta_trgt exactly."""
    warmup, total = 6, 20
    optimizer = _sgd()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on schedulers built before the chain
        linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, total_iters=warmup)
        follower = (torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0) if after == "constant"
                    else torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup))
        chained = torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, follower], milestones=[warmup])
    rates = _stepped(optimizer, chained, warmup + 2)
    assert rates[:warmup] == torch_linear_lr_rates(ETA, warmup, warmup)
    assert rates[warmup] == ETA


def test_table_rows_and_reach_columns():
    warmup, updates = 4, 6
    table = warmup_conventions(ETA, warmup, updates)
    assert list(table.columns) == ["recipe", *[f"update {t}" for t in range(updates)], "first update at eta_trgt"]
    rates = table[[f"update {t}" for t in range(updates)]].to_numpy().tolist()
    assert rates[0] == Schedule(ETA, warmup, updates).values().tolist()
    assert rates[1] == torch_linear_lr_rates(ETA, warmup, updates)
    assert rates[2] == [ETA * t / warmup for t in range(warmup)] + [ETA, ETA * 1 / 2]  # decays to 0 at total = 6
    assert rates[3] == rates[0]
    assert table["first update at eta_trgt"].tolist() == [warmup - 1, warmup, warmup, warmup - 1]
    assert table["recipe"].str.startswith(("warmup_lib", "torch", "transformers", "pytorch_warmup")).all()


def test_table_total_steps_and_no_warmup():
    assert warmup_conventions(ETA, 1, 3)["first update at eta_trgt"].tolist() == [0, 0, 1, 0]  # transformers: 0 first
    long_run = warmup_conventions(ETA, 4, 6, total_steps=1000)
    assert long_run.loc[2, "recipe"].endswith("(4, 1000)")
    assert long_run.loc[2, "update 4"] == ETA and long_run.loc[2, "update 5"] == ETA * (995 / 996)


@pytest.mark.parametrize("kwargs, name", [
    ({"eta_trgt": 0.0}, "eta_trgt"), ({"eta_trgt": math.inf}, "eta_trgt"), ({"warmup_steps": 0}, "warmup_steps"),
    ({"warmup_steps": 2.0}, "warmup_steps"), ({"updates": 0}, "updates"), ({"total_steps": 4}, "total_steps"),
])
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        warmup_conventions(**({"eta_trgt": ETA, "warmup_steps": 4, "updates": 4} | kwargs))
