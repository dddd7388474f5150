"""warmup_lib.optim.adam_state against oracles: GIAdam on a linear loss (constant gradient), closed forms of the
implicit warmup, the optimizer's own state, the gradient and hand-made dead layers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from warmup_lib.runs import train
from warmup_lib.optim.adam_state import (
    AdamStateTracker, implicit_warmup_deficit, implicit_warmup_factor, matching_linear_warmup,
)
from warmup_lib.config import ADAM_STATE_COLUMNS, DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.losses import get_loss
from warmup_lib.models import build_model
from warmup_lib.optim.giadam import GIAdam
from warmup_lib.schedules import polynomial_warmup


def test_implicit_warmup_factor_values() -> None:
    factor = implicit_warmup_factor(np.array([0, 99, 999]), 0.999)
    assert np.allclose(factor, [math.sqrt(1 - 0.999), math.sqrt(1 - 0.999**100), math.sqrt(1 - 0.999**1000)], rtol=1e-12)
    assert np.allclose(factor, [0.0316, 0.3086, 0.7952], atol=1e-4)  # the paper's 0.032, 0.31, 0.80


def test_gi_adam_steps_follow_the_implicit_warmup_on_a_constant_gradient() -> None:
    """On L = c . theta the gradient is stationary, so GI-Adam (eps = 0) moves every coordinate by exactly
    lr sqrt(1 - beta2^t) at update t: the implicit warmup is not an approximation there."""
    c = torch.tensor([0.3, -2.0, 1e-3], dtype=torch.float64)
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = GIAdam([theta], lr=0.01, betas=(0.9, 0.999), eps=0.0, v0="grad")
    steps = []
    for _ in range(50):
        optimizer.zero_grad()
        (c * theta).sum().backward()
        before = theta.detach().clone()
        optimizer.step()
        steps.append((theta.detach() - before).abs())
    measured = torch.stack(steps) / 0.01
    expected = torch.as_tensor(implicit_warmup_factor(np.arange(50), 0.999))[:, None].expand(-1, 3)
    assert torch.allclose(measured, expected, rtol=1e-10)


@pytest.mark.parametrize("beta2", [0.9, 0.99, 0.999])
def test_deficit_matches_its_integral_and_a_brute_force_sum(beta2: float) -> None:
    deficit = implicit_warmup_deficit(beta2)
    brute = sum(1 - math.sqrt(1 - beta2**t) for t in range(1, 200_000))
    assert deficit == pytest.approx(brute, abs=1e-8)
    # sum ~ integral of (1 - sqrt(1 - e^{-a t})) dt = 2 (1 - ln 2) / a, a = -ln beta2; the sum sits below by < 1
    integral = 2 * (1 - math.log(2)) / -math.log(beta2)
    assert integral - 1 < deficit < integral


def test_matching_linear_warmup_loses_the_same_area() -> None:
    length = matching_linear_warmup(0.999)
    assert length == 1227
    steps = torch.arange(length)
    lost = float((1 - polynomial_warmup(steps, 1.0, length)).sum())  # the library's own linear warmup
    assert lost == pytest.approx(implicit_warmup_deficit(0.999), abs=0.5)


@pytest.mark.parametrize("bad", [-0.1, 1.0, "0.9"])
def test_invalid_beta2_raises(bad) -> None:
    with pytest.raises(ValueError, match="beta2"):
        implicit_warmup_factor(0, bad)
    with pytest.raises(ValueError, match="beta2"):
        implicit_warmup_deficit(bad)


def test_invalid_step_and_every_raise() -> None:
    with pytest.raises(ValueError, match="step"):
        implicit_warmup_factor(-1)
    with pytest.raises(ValueError, match="every"):
        AdamStateTracker(every=0)


def _manual_loop(tracker: AdamStateTracker, steps: int = 6):
    """Adam on a small regression; returns the tracker rows and the oracle (state norms, parameter history)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))
    x, y = torch.randn(16, 5), torch.randn(16, 2)
    loss_fn = torch.nn.functional.mse_loss
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    rows, oracle, history = [], [], []
    for step in range(steps):
        history.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone())
        rows.append(tracker(step, model, loss_fn, x, y, optimizer))
        states = [optimizer.state[p] for p in model.parameters() if p in optimizer.state]
        m = torch.cat([s["exp_avg"].reshape(-1) for s in states]) if states else torch.zeros(0)
        v = torch.cat([s["exp_avg_sq"].reshape(-1) for s in states]) if states else torch.zeros(0)
        oracle.append((float(m.norm()), float(v.norm())))
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return rows, oracle, history


def test_tracker_reads_the_optimizer_state_and_the_update_size() -> None:
    rows, oracle, history = _manual_loop(AdamStateTracker())
    assert rows[0]["m_norm"] == 0.0 and rows[0]["v_norm"] == 0.0 and math.isnan(rows[0]["last_update_rms"])
    for step in range(1, len(rows)):
        assert rows[step]["m_norm"] == pytest.approx(oracle[step][0], rel=1e-6)
        assert rows[step]["v_norm"] == pytest.approx(oracle[step][1], rel=1e-6)
        update = history[step] - history[step - 1]
        assert rows[step]["last_update_rms"] == pytest.approx(float(update.square().mean().sqrt()), rel=1e-6)
    # Adam's first update moves every coordinate by lr (sign descent): RMS = lr.
    assert rows[1]["last_update_rms"] == pytest.approx(0.05, rel=1e-4)


@pytest.mark.parametrize("options, columns", [
    ({}, ["m_norm", "v_norm", "last_update_rms"]),
    ({"update_rms": False, "bias_corrected": True}, ["m_norm", "v_norm", "v_hat_norm"]),
    ({"bias_corrected": True, "failure_signs": True},
     ["m_norm", "v_norm", "v_hat_norm", "last_update_rms", "grad_sq_norm", "readout_bias_grad_share", "dead_units",
      "dead_units_last"]),
])
def test_tracker_options_choose_the_columns(options, columns) -> None:
    model, inputs, targets = _probe_model()
    row = AdamStateTracker(**options)(0, model, get_loss("xent"), inputs, targets, torch.optim.Adam(model.parameters()))
    assert list(row) == columns


def test_tracker_with_a_cadence_still_measures_the_update() -> None:
    every_step, _, _ = _manual_loop(AdamStateTracker())
    sparse, _, _ = _manual_loop(AdamStateTracker(every=2))
    assert [row is None for row in sparse] == [False, True, False, True, False, True]
    for step in (2, 4):
        assert sparse[step] == pytest.approx(every_step[step])


def _tiny_run(optimizer: str, **changes) -> RunConfig:
    cfg = RunConfig(data=DataConfig(n_train=64, n_test=32), model=ModelConfig(width=8, depth=3),
                    optim=OptimConfig(name=optimizer), schedule=ScheduleConfig(eta_trgt=0.01), loss="mse",
                    steps=3, eval_every=0)
    return cfg.replace(**changes)


def test_tracker_in_the_trainer_sees_gi_adams_initial_second_moment() -> None:
    adam = train.run(_tiny_run("adam"), callbacks=[AdamStateTracker()]).records
    gi = train.run(_tiny_run("gi_adam"), callbacks=[AdamStateTracker()]).records
    assert adam["v_norm"][0] == 0.0
    # GI-Adam's v0 = g0^2 (full batch: g0 is the first step's gradient), so ||v0|| = ||g0^2|| > 0
    assert gi["v_norm"][0] > 0 and gi["m_norm"][0] == 0.0
    assert gi["last_update_rms"][1] == pytest.approx(math.sqrt(1 - 0.999) * adam["last_update_rms"][1], rel=0.05)


@pytest.mark.parametrize("optimizer, columns, every", [("adam", "update", 1), ("gi_adam", "failure", 1),
                                                        ("ri_adam", "update", 2)])
def test_config_field_records_what_the_callback_recorded_bit_for_bit(optimizer: str, columns: str, every: int) -> None:
    """The stored runs once tracked by a callback are now described by their config: same computation."""
    cfg = _tiny_run(optimizer, steps=6, **{"schedule.eta_trgt": 0.05})
    by_callback = train.run(cfg, callbacks=[AdamStateTracker(every=every, **ADAM_STATE_COLUMNS[columns])])
    by_field = train.run(cfg.replace(adam_state_every=every, adam_state_columns=columns))
    pd.testing.assert_frame_equal(by_field.records, by_callback.records, check_exact=True)
    pd.testing.assert_frame_equal(by_field.evals, by_callback.evals, check_exact=True)
    assert "m_norm" in by_field.records and ("dead_units" in by_field.records) == (columns == "failure")


def _probe_model() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="fcn", width=8, depth=3), (5,), 3).double()
    inputs = torch.randn(6, 5, dtype=torch.float64)
    targets = torch.nn.functional.one_hot(torch.arange(6) % 3, 3).double()
    return model, inputs, targets


def test_tracker_failure_signs_against_the_optimizer_state() -> None:
    model, inputs, targets = _probe_model()
    loss_fn = get_loss("xent")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    probe = AdamStateTracker(every=2, update_rms=False, bias_corrected=True, failure_signs=True)
    assert probe(0, model, loss_fn, inputs, targets, optimizer)["v_norm"] == 0.0  # no state before the first step
    for _ in range(2):
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
    assert probe(1, model, loss_fn, inputs, targets, optimizer) is None  # every 2 steps
    measured = probe(2, model, loss_fn, inputs, targets, optimizer)
    v = torch.cat([optimizer.state[p]["exp_avg_sq"].flatten() for p in model.parameters()])
    m = torch.cat([optimizer.state[p]["exp_avg"].flatten() for p in model.parameters()])
    assert measured["v_norm"] == pytest.approx(v.norm().item()) and measured["m_norm"] == pytest.approx(m.norm().item())
    assert measured["v_hat_norm"] == pytest.approx(v.norm().item() / (1 - 0.999**2))  # two updates made
    model.zero_grad()
    loss_fn(model(inputs), targets).backward()
    grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert measured["grad_sq_norm"] == pytest.approx((grad**2).norm().item())
    assert measured["readout_bias_grad_share"] == pytest.approx((model.readout.bias.grad.norm() / grad.norm()).item())


def test_tracker_failure_signs_see_a_dead_layer() -> None:
    model, inputs, targets = _probe_model()
    with torch.no_grad():
        model.hidden[-1].bias.fill_(-1e3)  # every unit of the last hidden layer is negative: ReLU gives 0
        model.readout.bias[0] = 1.0  # predictions away from the (uniform) class frequencies: a gradient
    optimizer = torch.optim.Adam(model.parameters())
    measured = AdamStateTracker(failure_signs=True)(0, model, get_loss("xent"), inputs, targets, optimizer)
    assert measured["dead_units_last"] == 1.0
    assert 0.5 <= measured["dead_units"] < 1.0  # the first layer is alive: mean over the two layers
    # with the last hidden layer dead, the readout sees zeros: its bias carries the whole readout gradient
    assert measured["readout_bias_grad_share"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="model"):  # no hidden layers to read
        AdamStateTracker(failure_signs=True)(0, torch.nn.Linear(5, 3), get_loss("xent"), inputs, targets, optimizer)
