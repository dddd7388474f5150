"""The trainer against hand-written torch loops on real MNIST-1D data and the library's real models."""

import math

import pandas as pd
import pytest
import torch

from warmup_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.data import BatchStream, load_data
from warmup_lib.losses import get_loss
from warmup_lib.models import build_model, param_groups
from warmup_lib.optim.giadam import GIAdam
from warmup_lib.schedules import Schedule
from warmup_lib.runs import train
from warmup_lib.runs.train import run
from warmup_lib.runs.vectorised import train_stack

DATA = DataConfig(name="mnist1d", n_train=1000, n_test=300)
FCN = ModelConfig(arch="fcn", width=32, depth=3)


def small_config(**changes) -> RunConfig:
    cfg = RunConfig(data=DATA, model=FCN, optim=OptimConfig("sgd"), batch_size=100, steps=20, eval_every=10, seed=3,
                    schedule=ScheduleConfig(eta_trgt=0.5, warmup_steps=6, decay="cosine"))
    return cfg.replace(**changes)


def hand_loop(cfg: RunConfig, make_optimizer, skip_first_batch: bool = False):
    """A plain torch loop: the same init, batches and schedule, the optimizer the test builds."""
    data = load_data(cfg.data)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    loss_fn = get_loss(cfg.loss)
    optimizer = make_optimizer(model.parameters())
    stream = BatchStream(data, cfg.batch_size, seed=cfg.seed)
    if skip_first_batch:  # GI-Adam: g0 from one batch that is never trained on
        x, y = stream.next()
        loss_fn(model(x), y).backward()
        optimizer.init_from_grad()
    eta = cfg.schedule.eta_trgt
    losses, grad_norms = [], []
    for t in range(cfg.steps):
        x, y = stream.next()
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        losses.append(loss.item())
        grad_norms.append(torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in model.parameters()])).item())
        warmup, total = cfg.schedule.warmup_steps, cfg.steps  # the closed form, written out again
        if t < warmup:
            lr = eta * (t + 1) / warmup
        else:
            lr = eta / 10 + (eta - eta / 10) * 0.5 * (1 + math.cos(math.pi * (t - warmup + 2) / (total - warmup + 1)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
    with torch.no_grad():
        test_loss = loss_fn(model(data.x_test), data.y_test).item()
    return losses, grad_norms, test_loss


@pytest.mark.parametrize("name, make_optimizer", [
    ("sgd", lambda params: torch.optim.SGD(params, lr=0.0, momentum=0.9)),
    ("adam", lambda params: torch.optim.Adam(params, lr=0.0)),
])
def test_run_equals_hand_written_loop(name, make_optimizer):
    cfg = small_config(**{"optim.name": name, "optim.momentum": 0.9 if name == "sgd" else 0.0})
    if name == "adam":
        cfg = cfg.replace(**{"schedule.eta_trgt": 3e-3})
    result = run(cfg)
    losses, grad_norms, test_loss = hand_loop(cfg, make_optimizer)
    assert result.records["loss"].tolist() == losses  # exact: same init, batches, lrs and updates
    assert result.records["grad_norm"].to_numpy() == pytest.approx(grad_norms, rel=1e-5)
    assert result.evals["test_loss"].iloc[-1] == test_loss
    assert result.records["lr"].tolist() == pytest.approx(Schedule.from_config(cfg.schedule, cfg.steps).values().tolist(), rel=1e-15)


def test_gi_adam_skips_the_g0_batch_like_the_authors():
    cfg = small_config(**{"optim.name": "gi_adam", "schedule.eta_trgt": 3e-3})
    result = run(cfg)
    losses, _, test_loss = hand_loop(cfg, lambda params: GIAdam(params, lr=0.0, v0="grad"), skip_first_batch=True)
    assert result.records["loss"].tolist() == losses
    assert result.evals["test_loss"].iloc[-1] == test_loss


def test_bit_reproducible_on_cpu():
    cfg = small_config(**{"optim.name": "ri_adam", "schedule.eta_trgt": 1e-3})
    first, second = run(cfg), run(cfg)
    pd.testing.assert_frame_equal(first.records, second.records, check_exact=True)
    pd.testing.assert_frame_equal(first.evals, second.evals, check_exact=True)


def test_records_and_evaluations_index_the_same_parameters():
    # full-batch GD: record t's loss is L(theta_t) on the whole train set, as is evaluation s = t
    cfg = small_config(batch_size=None, steps=12, eval_every=5)
    result = run(cfg)
    assert result.evals["step"].tolist() == [0, 5, 10, 12]
    for step in (0, 5, 10):
        assert result.evals.set_index("step").loc[step, "train_loss"] == result.records.loc[step, "loss"]
    assert list(result.records.columns) == ["step", "lr", "loss", "accuracy", "grad_norm"]
    assert result.records["step"].tolist() == list(range(12))
    assert run(cfg.replace(eval_every=0)).evals["step"].tolist() == [12]


def test_divergence_is_a_recorded_outcome():
    cfg = small_config(**{"schedule.eta_trgt": 1e4, "schedule.decay": "constant"}, steps=50)
    result = run(cfg)
    summary = result.summary
    assert summary["outcome"] == "diverged"
    last = result.records.iloc[-1]
    assert not math.isfinite(last["loss"]) and result.records["loss"].iloc[:-1].map(math.isfinite).all()
    assert summary["steps_run"] == summary["diverged_step"] == last["step"] < cfg.steps
    assert result.evals["step"].iloc[-1] == summary["steps_run"]


def test_failure_and_convergence_outcomes():
    converged = run(small_config(steps=100, eval_every=0))
    assert converged.summary["outcome"] == "converged"
    assert converged.summary["final_train_accuracy"] >= 1.5 / 10
    failed = run(small_config(steps=100, eval_every=0, failure_factor=9.9))  # needs 99 % train accuracy
    assert failed.summary["outcome"] == "failed"
    assert failed.summary["final_train_accuracy"] == converged.summary["final_train_accuracy"]


def _records(grad_norms, steps=None) -> pd.DataFrame:
    steps = list(range(len(grad_norms))) if steps is None else steps
    return pd.DataFrame({"step": steps, "grad_norm": grad_norms})


STALL = RunConfig(steps=8)  # default thresholds: stall_grad_ratio 1e-6, stall_accuracy 0.9


@pytest.mark.parametrize("grad_norms, accuracy, stalled", [
    ([3.0, 9.0, 1.0, 0.1, 0.01, 1e-3, 5e-6, 8e-6], 0.43, True),      # last quarter (t >= 6) below 1e-6 x 9
    ([3.0, 9.0, 1.0, 0.1, 0.01, 1e-3, 5e-6, 9.1e-6], 0.43, False),   # one late norm above 9e-6: still moving
    ([3.0, 9.0, 1.0, 0.1, 0.01, 1e-3, 5e-6, 8e-6], 0.95, False),     # a fit whose gradient vanished with its loss
    ([3.0, 9.0, 1.0, 0.1, 1e-9, 1e-9, 1e-3, 1e-9], 0.43, False),     # slow but not collapsed at t = 6
    ([1.0, 0.5, 0.25, 0.12, 0.06, 0.03, 0.015, 0.008], 0.2, False),  # steady slow SGD: 1e-2 of its peak
    ([3.0, 9.0, 1.0, math.nan, 0.01, 1e-3, 5e-6, 8e-6], 0.43, False),  # a non-finite norm is never a stall
])
def test_stalled_is_a_collapsed_gradient_far_from_a_fit(grad_norms, accuracy, stalled) -> None:
    assert train.stalled(_records(grad_norms), accuracy, STALL) is stalled
    verdict = train.outcome(STALL, _records(grad_norms), {"train_accuracy": accuracy}, 10, diverged=False)
    assert verdict == ("failed" if stalled else "converged")


def test_stall_thresholds_and_thinned_records() -> None:
    collapsed = [3.0, 9.0, 1.0, 0.1, 0.01, 1e-3, 5e-6, 8e-6]
    assert not train.stalled(_records(collapsed), 0.43, STALL.replace(stall_grad_ratio=0.0))  # 0 turns it off
    assert train.stalled(_records(collapsed), 0.43, STALL.replace(stall_grad_ratio=1e-3))
    assert train.stalled(_records(collapsed), 0.97, STALL.replace(stall_accuracy=1.0))
    # a stored run's thinned records are read by their step column (rows are not steps)
    kept = [0, 1, 4, 6, 7]
    assert train.stalled(_records([collapsed[t] for t in kept], kept), 0.43, STALL)
    assert train.outcome(STALL, _records(collapsed), {"train_accuracy": 0.1}, 10, diverged=False) == "failed"
    assert train.outcome(STALL, _records(collapsed), {"train_accuracy": 0.43}, 10, diverged=True) == "diverged"


def test_a_stall_is_failed_in_the_trainer_and_in_the_stack() -> None:
    """Through run() and the vectorised trainer: a config whose threshold makes every run with a
    falling gradient a stall fails, the same run at the default thresholds converges."""
    cfg = small_config(steps=100, eval_every=0)
    forced = cfg.replace(stall_grad_ratio=0.999, stall_accuracy=1.0)
    plain, stalled = run(cfg), run(forced)
    late = plain.records["grad_norm"][plain.records["step"] >= 75]
    assert late.max() < 0.999 * plain.records["grad_norm"].max()  # the premise: the gradient fell
    assert plain.summary["outcome"] == "converged" and stalled.summary["outcome"] == "failed"
    assert stalled.records.equals(plain.records)  # the thresholds judge the run, they do not change it
    stacked = train_stack([cfg, forced])
    assert [r.summary["outcome"] for r in stacked] == ["converged", "failed"]


def test_summary_fields():
    cfg = small_config(**{"schedule.warmup": "from_init", "schedule.eta_init": 0.25, "schedule.warmup_steps": 8})
    result = run(cfg)
    summary = result.summary
    assert summary["lr_reach_step"] == 3  # 0.25 + 0.5 (t+1)/8 >= 0.5 first at t = 3
    assert summary["best_test_accuracy"] == result.evals["test_accuracy"].max()
    assert summary["final_test_loss"] == result.evals["test_loss"].iloc[-1]
    assert summary["steps_run"] == 20 and summary["config"] == cfg.to_dict()
    assert RunConfig.from_dict(summary["config"]) == cfg


def test_callbacks_see_the_training_batch_before_the_update():
    seen = []

    def callback(step, model, loss_fn, inputs, targets, optimizer):
        if step % 3:
            return None
        with torch.no_grad():
            seen.append(step)
            return {"callback_loss": loss_fn(model(inputs), targets).item()}

    result = run(small_config(), callbacks=[callback])
    records = result.records
    measured = records["callback_loss"].notna()
    assert records.loc[measured, "step"].tolist() == seen == list(range(0, 20, 3))
    assert (records.loc[measured, "callback_loss"] == records.loc[measured, "loss"]).all()


def test_config_sharpness_tracker_adds_columns():
    result = run(small_config(steps=4, sharpness_every=2, **{"schedule.warmup_steps": 2}))
    assert result.records["sharpness"].notna().tolist() == [True, False, True, False]
    assert (result.records["sharpness"].dropna() > 0).all()


def test_optimizer_factory_and_lr_mult():
    cfg = small_config(**{"optim.name": "adam", "schedule.eta_trgt": 1e-3, "model.param": "mup", "schedule.warmup_steps": 2}, steps=5)
    built = []

    def factory(groups):
        built.append(torch.optim.Adam(groups, lr=0.0))
        return built[0]

    result = run(cfg, optimizer_factory=factory)
    groups = built[0].param_groups
    assert len({group["lr_mult"] for group in groups}) > 1  # muP + Adam: per-layer multipliers
    eta_last = result.records["lr"].iloc[-1]
    assert [group["lr"] for group in groups] == [group["lr_mult"] * eta_last for group in groups]
    assert result.records["loss"].tolist() == run(cfg).records["loss"].tolist()  # the same as cfg's own Adam


def test_float64_run():
    dtypes = set()

    def callback(step, model, loss_fn, inputs, targets, optimizer):
        dtypes.update({inputs.dtype, targets.dtype, *(p.dtype for p in model.parameters())})

    result = run(small_config(dtype="float64", steps=3, **{"schedule.warmup_steps": 2}), callbacks=[callback])
    assert dtypes == {torch.float64} and result.summary["outcome"] in ("converged", "failed")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_matches_cpu():
    cfg = small_config(dtype="float64")
    on_cpu, on_gpu = run(cfg), run(cfg.replace(device="cuda"))
    assert on_gpu.records["loss"].to_numpy() == pytest.approx(on_cpu.records["loss"].to_numpy(), rel=1e-9)
