"""warmup_lib.runs.measure and init_run: quantities measured at a run's initialisation, and their cache.

Oracles: the set-up built by hand from its public parts (build_model after manual_seed, BatchStream,
critical_lr), the run's own first record, dense float64 Hessian eigenvalues, and the closed form
P_GI = P_Adam / sqrt(1 - beta2) at full batch with eps = 0.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.func import functional_call

from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.critical.search import critical_lr
from warmup_lib.data import BatchStream, load_data
from warmup_lib.losses import mse_loss
from warmup_lib.models import build_model
from warmup_lib.runs import measure
from warmup_lib.runs.train import init_run, run

TINY = RunConfig(data=DataConfig(name="mnist1d", n_train=256, n_test=64), model=ModelConfig(width=16, depth=3),
                 optim=OptimConfig(name="sgd"), schedule=ScheduleConfig(eta_trgt=2.0, warmup_steps=8),
                 loss="xent", batch_size=64, steps=12, eval_every=6)


def _tiny_run(optimizer: str, **changes) -> RunConfig:
    cfg = RunConfig(data=DataConfig(n_train=64, n_test=32), model=ModelConfig(width=8, depth=3),
                    optim=OptimConfig(name=optimizer), schedule=ScheduleConfig(eta_trgt=0.01), loss="mse",
                    steps=3, eval_every=0)
    return cfg.replace(**changes)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "gi_adam"])
def test_init_run_is_the_runs_own_start(optimizer: str) -> None:
    """The loss of init_run's model on its next batch is the run's first record, bit for bit
    (GI-Adam: after v0 was drawn from the stream's first batch)."""
    cfg = _tiny_run(optimizer, batch_size=16, steps=1)
    setup = init_run(cfg)
    inputs, targets = setup.next_batch()
    with torch.no_grad():
        loss = float(setup.loss_fn(setup.model(inputs), targets))
    assert loss == run(cfg).records["loss"][0]
    has_v0 = ["exp_avg_sq" in setup.optimizer.state[p] for p in setup.model.parameters()]
    assert all(has_v0) if optimizer == "gi_adam" else not any(has_v0)


def test_init_run_without_optimizer_draws_no_batch() -> None:
    cfg = _tiny_run("gi_adam", batch_size=16)
    assert init_run(cfg, with_optimizer=False).optimizer is None
    first = BatchStream(load_data(cfg.data), 16, seed=cfg.seed).next()[0]
    assert torch.equal(init_run(cfg, with_optimizer=False).next_batch()[0], first)


def test_search_at_initialisation_equals_a_hand_built_search(hand_built_start) -> None:
    model, loss_fn, stream, optimizer = hand_built_start(TINY, 0.0)
    expected = critical_lr(model, loss_fn, *stream.next(), optimizer, eta0=0.01, delta=0.1, eta_max=5.0,
                           method="paper")
    measured = measure.measure_critical_lr(TINY, eta0=0.01, delta=0.1, eta_max=5.0)
    assert measured["eta_c"] == expected.eta_c and measured["forward_passes"] == expected.forward_passes
    assert measured["total_passes"] == expected.forward_passes + 2
    assert measured["trials"] == [list(trial) for trial in expected.losses]
    assert measured["loss0"] == pytest.approx(math.log(10), rel=0.3)  # cross-entropy near chance at init


def test_measurement_key_ignores_the_schedule_but_not_the_settings() -> None:
    other = TINY.replace(**{"schedule.eta_trgt": 7.0, "schedule.warmup_steps": 2}, steps=30)
    key = measure.measurement_key
    assert key(TINY, "critical_lr", eta0=0.1) == key(other, "critical_lr", eta0=0.1)
    assert key(TINY, "critical_lr", eta0=0.1) != key(TINY, "critical_lr", eta0=0.2)
    assert key(TINY, "critical_lr", eta0=0.1) != key(TINY.replace(seed=1), "critical_lr", eta0=0.1)


def test_lambda0_ignores_the_optimizer_and_eta_c_does_not() -> None:
    adam = TINY.replace(**{"optim.name": "adam"})
    key = measure.measurement_key
    assert key(TINY, "lambda0", batches=3) == key(adam, "lambda0", batches=3)
    assert key(TINY, "critical_lr", eta0=0.1) != key(adam, "critical_lr", eta0=0.1)
    with pytest.raises(ValueError, match="quantity"):
        key(TINY, "sharpness")


def test_load_or_search_records_and_reuses(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = measure.load_or_search("exp", TINY, eta0=0.01, eta_max=2.0, root=tmp_path)
    recorded = json.loads((tmp_path / "exp" / "critical_lr.json").read_text())
    assert list(recorded.values()) == [first]
    monkeypatch.setattr(measure, "measure_critical_lr", lambda *a, **k: pytest.fail("searched again"))
    assert measure.load_or_search("exp", TINY, eta0=0.01, eta_max=2.0, root=tmp_path) == first


def test_initial_curvature_equals_the_runs_own_step0_measurement() -> None:
    cfg = _tiny_run("adam", steps=1, sharpness_every=1, pre_sharpness_every=1)
    records = run(cfg).records
    values = measure.measure_initial_curvature(cfg)
    assert values["lambda_H"] == pytest.approx(records["sharpness"][0], rel=1e-3)
    assert values["lambda_PH"] == pytest.approx(records["pre_sharpness"][0], rel=1e-3)
    assert 1.0 <= values["participation"] <= values["num_params"]


def test_gi_adam_lowers_the_initial_preconditioned_sharpness_by_sqrt_one_minus_beta2() -> None:
    """Full batch and eps = 0: P_GI = P_Adam / sqrt(1 - beta2) exactly, so lambda_0 falls by 1/sqrt(1 - beta2)."""
    adam = measure.measure_initial_curvature(_tiny_run("adam", **{"optim.eps": 0.0}), tol=1e-6)
    gi = measure.measure_initial_curvature(_tiny_run("gi_adam", **{"optim.eps": 0.0}), tol=1e-6)
    assert adam["lambda_PH"] / gi["lambda_PH"] == pytest.approx(1 / math.sqrt(1 - 0.999), rel=1e-3)
    assert adam["lambda_H"] == pytest.approx(gi["lambda_H"], rel=1e-4)


def test_initial_curvature_refuses_sgd() -> None:
    with pytest.raises(ValueError, match="optim.name"):
        measure.measure_initial_curvature(_tiny_run("sgd"))


def _dense_lambda_max(cfg: RunConfig, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Oracle: the top eigenvalue of the dense float64 Hessian at the run's initialisation."""
    torch.manual_seed(cfg.seed)
    data = load_data(cfg.data)
    model = build_model(cfg.model, data.input_shape, data.num_classes).double()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(theta, [math.prod(s) for s in shapes])
        params = {n: piece.reshape(s) for n, piece, s in zip(names, pieces, shapes)}
        return mse_loss(functional_call(model, params, (inputs.double(),)), targets.double())

    return float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat, vectorize=True))[-1])


def test_lambda0_is_the_mean_top_hessian_eigenvalue_over_the_runs_first_batches() -> None:
    cfg = _tiny_run("sgd", seed=3, batch_size=64, **{"model.width": 6, "model.depth": 2, "data.n_train": 256})
    measured = measure.measure_lambda0(cfg, batches=3)
    stream = BatchStream(load_data(cfg.data), cfg.batch_size, seed=cfg.seed)
    oracle = [_dense_lambda_max(cfg, *stream.next()) for _ in range(3)]
    assert measured["batches"] == 3
    assert measured["per_batch"] == pytest.approx(oracle, rel=1e-5)
    assert measured["lambda_0"] == pytest.approx(sum(oracle) / 3, rel=1e-5)
