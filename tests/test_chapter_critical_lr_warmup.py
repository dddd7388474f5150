"""warmup_lib.chapters.critical_lr_warmup: warmup from eta_c through the store, the Fig. 5 grid, and persistent catapult warmup inside train.run.

Oracles: the search and the warmup built by hand from their public parts (build_model,
BatchStream, critical_lr, PersistentCatapultWarmup in a hand-written loop), the closed-form
schedule, and t_reach / t_save.
"""

from __future__ import annotations

import math

import pytest
import torch

from warmup_lib.chapters import critical_lr_warmup as cr
from warmup_lib.runs import store
from warmup_lib.critical.search import critical_lr
from warmup_lib.critical.warmup import PersistentCatapultWarmup, t_reach, t_save
from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.data import BatchStream, load_data
from warmup_lib.losses import get_loss
from warmup_lib.models import build_model

TINY = RunConfig(data=DataConfig(name="mnist1d", n_train=256, n_test=64), model=ModelConfig(width=16, depth=3),
                 optim=OptimConfig(name="sgd"), schedule=ScheduleConfig(eta_trgt=2.0, warmup_steps=8),
                 loss="xent", batch_size=64, steps=12, eval_every=6)


def _initial(cfg: RunConfig):
    """Model, loss, first batch and optimizer exactly as train.run builds them (by hand)."""
    data = load_data(cfg.data)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    stream = BatchStream(data, cfg.batch_size, seed=cfg.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    return model, get_loss(cfg.loss), stream, optimizer


def test_from_critical_lr_is_the_papers_schedule_in_the_stored_run(tmp_path) -> None:
    eta_c = 0.5
    cfg = cr.from_critical_lr(TINY, eta_c)
    assert (cfg.schedule.warmup, cfg.schedule.eta_init) == ("from_init", eta_c)
    result = store.load_or_run("exp", cfg, root=tmp_path)
    lr = result.records["lr"].tolist()
    eta_trgt, warmup = TINY.schedule.eta_trgt, TINY.schedule.warmup_steps
    assert lr == pytest.approx([min(eta_c + eta_trgt * (t + 1) / warmup, eta_trgt) for t in range(TINY.steps)])
    assert lr.index(eta_trgt) + 1 == t_reach(eta_c, eta_trgt, warmup) == math.ceil(warmup * (1 - eta_c / eta_trgt))
    assert cr.from_critical_lr(TINY, 9.0).schedule.eta_init == eta_trgt  # eta_c >= eta_trgt: start at the target
    with pytest.raises(ValueError, match="eta_c"):
        cr.from_critical_lr(TINY, 0.0)


def test_grid_rows_follow_the_formulas_and_a_rerun_runs_nothing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = TINY.replace(steps=8)
    grid = cr.critical_warmup_grid("grid", base, [2.0, 64.0], [4, 8], lambda0_batches=1, root=tmp_path)
    assert len(grid) == 4 and len(store.list_runs("grid", tmp_path)) == 8
    for row in grid.itertuples():
        assert row.eta_trgt == pytest.approx(row.c / row.lambda_0)
        assert row.eta0 == pytest.approx(row.eta_trgt / row.warmup_steps)
        eta_init = min(row.eta_c, row.eta_trgt)
        assert row.t_reach == t_reach(eta_init, row.eta_trgt, row.warmup_steps)
        assert row.t_save == t_save(eta_init, row.eta_trgt, row.warmup_steps, row.total_passes)
        assert not row.capped or row.eta_c == row.eta_trgt
    small = grid[grid["c"] == 2.0]
    assert small["capped"].all() and (small["t_reach"] == 1).all()  # 2/lambda_0 is below the one-step eta_c
    monkeypatch.setattr(cr, "make_executor", lambda *a, **k: pytest.fail("ran again"))
    again = cr.critical_warmup_grid("grid", base, [2.0, 64.0], [4, 8], lambda0_batches=1, root=tmp_path)
    assert again.equals(grid)


def test_persistent_catapult_run_equals_the_hand_written_loop() -> None:
    cfg = TINY.replace(**{"schedule.eta_trgt": 10.0, "schedule.warmup_steps": 1})
    result = cr.run_persistent_catapult(cfg, delta=0.1, eta0=1e-3, max_forward_passes=200)
    model, loss_fn, stream, optimizer = _initial(cfg)
    warmup = PersistentCatapultWarmup(optimizer, model, loss_fn, eta_trgt=10.0, delta=0.1, eta0=1e-3,
                                      max_forward_passes=200)
    losses, rates = [], []
    for _ in range(cfg.steps):  # the loop of the class docstring
        inputs, targets = stream.next()
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        rates.append(warmup.step(loss, inputs, targets))
        losses.append(loss.item())
        optimizer.step()
    assert result.records["lr"].tolist() == rates
    assert result.records["loss"].tolist() == pytest.approx(losses, rel=1e-6)
    summary = result.summary
    assert summary["pcw_reestimates"] == len(warmup.records) >= 2
    assert summary["pcw_forward_passes"] == sum(r.forward_passes + 2 for r in warmup.records)
    reached = [t for t, eta in enumerate(rates) if eta >= 10.0]
    assert summary["pcw_reach_step"] == (reached[0] if reached else None)


def test_persistent_catapult_store_roundtrip_and_refuses_a_warmup_schedule(tmp_path) -> None:
    cfg = TINY.replace(**{"schedule.eta_trgt": 1.0, "schedule.warmup_steps": 1}, steps=4)
    first = cr.run_persistent_catapult(cfg, eta0=0.01, experiment="exp", root=tmp_path)
    folder = cr.persistent_experiment("exp", 0.1, 0.01, 500)
    assert folder == "exp_pcw_delta0.1_eta00.01_fp500" and store.is_done(folder, cfg, tmp_path)
    again = cr.run_persistent_catapult(cfg, eta0=0.01, experiment="exp", root=tmp_path)
    assert again.records["lr"].tolist() == first.records["lr"].tolist()
    assert again.summary["pcw_reestimates"] == first.summary["pcw_reestimates"]
    with pytest.raises(ValueError, match="schedule"):
        cr.run_persistent_catapult(TINY)
