"""ADOPT against a float64 reference loop written from arXiv 2411.02853 Algorithm 2, hand-computed
clipped steps, checkpoints, argument checks and a training run through the config."""

import io
import math

import pytest
import torch

from test_train import hand_loop, small_config
from warmup_lib.config import OptimConfig, RunConfig
from warmup_lib.optim import ADOPT, build_optimizer
from warmup_lib.runs.train import run
from warmup_lib.runs.vectorised import stack_key

STEPS = 12


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()


def _group_specs() -> list[dict]:
    """Options of three groups: the first with a muP-style lr_mult, the last unclipped."""
    return [{"lr": 0.05, "lr_mult": 0.5},
            {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-3, "clip_exponent": 0.5},
            {"lr": 0.03, "clip_exponent": None}]


def _groups(model: torch.nn.Module) -> list[dict]:
    layers = [model[0].weight, model[0].bias, model[2].parameters()]
    return [{"params": [p] if isinstance(p, torch.nn.Parameter) else list(p), **spec}
            for p, spec in zip(layers, _group_specs())]


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(100 + step)
    inputs = torch.randn(16, 6, generator=generator, dtype=torch.float64)
    return inputs, torch.randint(0, 3, (16,), generator=generator)


def _gradients(model: torch.nn.Module, step: int) -> None:
    inputs, labels = _batch(step)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(inputs), labels).backward()


def _train(model: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: range) -> None:
    for step in steps:
        _gradients(model, step)
        optimizer.step()


def _reference(model: torch.nn.Module, steps: int) -> list[torch.Tensor]:
    """Algorithm 2 written out on plain float64 tensors: call 0 sets v = g^2, call t >= 1 updates."""
    defaults = {"lr": None, "betas": (0.9, 0.9999), "eps": 1e-6, "clip_exponent": 0.25}
    specs = [{**defaults, **spec} for spec in _group_specs()]
    spec_of = [specs[0], specs[1], specs[2], specs[2]]  # weight0, bias0, weight2, bias2
    params = [p for p in model.parameters()]
    m = [torch.zeros_like(p) for p in params]
    v = [None] * len(params)
    for t in range(steps):
        _gradients(model, t)
        with torch.no_grad():
            for i, (param, spec) in enumerate(zip(params, spec_of)):
                g = param.grad
                if t == 0:
                    v[i] = g * g
                    continue
                beta1, beta2 = spec["betas"]
                n = g / torch.maximum(v[i].sqrt(), torch.tensor(spec["eps"], dtype=torch.float64))
                if spec["clip_exponent"] is not None:
                    c = t ** spec["clip_exponent"]
                    n = torch.minimum(torch.maximum(n, torch.tensor(-c, dtype=torch.float64)),
                                      torch.tensor(c, dtype=torch.float64))
                m[i] = beta1 * m[i] + (1 - beta1) * n
                param -= spec["lr"] * m[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
    return [p.detach() for p in params]


def test_param_groups_follow_the_reference_algorithm():
    ours, reference = _model(), _model()
    optimizer = ADOPT(_groups(ours))
    _train(ours, optimizer, range(STEPS))
    for p_ours, p_ref in zip(ours.parameters(), _reference(reference, STEPS)):
        torch.testing.assert_close(p_ours.detach(), p_ref, rtol=1e-12, atol=1e-15)
    assert optimizer.param_groups[0]["lr_mult"] == 0.5
    state = optimizer.state[ours[0].weight]
    assert set(state) == {"step", "exp_avg", "exp_avg_sq"}
    assert state["step"].dtype == torch.float32 and state["step"].item() == STEPS


def test_reference_is_not_trivially_matched():
    """The groups' options matter: the same model with one set of options ends elsewhere."""
    ours, single = _model(), _model()
    _train(ours, ADOPT(_groups(ours)), range(STEPS))
    _train(single, ADOPT(single.parameters(), lr=0.05), range(STEPS))
    assert not torch.equal(ours[2].weight, single[2].weight)


def test_first_step_only_stores_the_second_moment():
    model, before = _model(), _model()
    optimizer = ADOPT(model.parameters(), lr=0.1)
    _gradients(model, 0)
    optimizer.step()
    for param, original in zip(model.parameters(), before.parameters()):
        assert torch.equal(param, original)
        state = optimizer.state[param]
        assert state["step"].item() == 1
        assert torch.equal(state["exp_avg"], torch.zeros_like(param))
        assert torch.equal(state["exp_avg_sq"], param.grad.square())
    _gradients(model, 1)
    optimizer.step()
    assert not torch.equal(model[0].weight, before[0].weight)


def _scalar_run(grads: list[float], clip_exponent: float | None, lr: float = 0.1, eps: float = 1e-6) -> float:
    x = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = ADOPT([x], lr=lr, betas=(0.9, 0.999), eps=eps, clip_exponent=clip_exponent)
    for g in grads:
        x.grad = torch.tensor([g], dtype=torch.float64)
        optimizer.step()
    return x.item()


def test_clip_bounds_the_update_after_a_zero_first_gradient():
    """g_0 = 0 leaves v_0 = 0: n_1 = 3 / eps, clipped to c_1 = 1^(1/4) = 1 (unclipped: 3e6)."""
    assert _scalar_run([0.0, 3.0], 0.25) == -0.1 * ((1 - 0.9) * 1.0)
    assert _scalar_run([0.0, 3.0], None) == pytest.approx(-0.1 * (1 - 0.9) * 3.0 / 1e-6, rel=1e-12)


def test_clip_inactive_when_the_normalised_gradient_is_small():
    """g_0 = 2, g_1 = 1: n_1 = 1/2 < c_1 = 1, so the clip changes nothing."""
    expected = -0.1 * ((1 - 0.9) * 0.5)
    assert _scalar_run([2.0, 1.0], 0.25) == _scalar_run([2.0, 1.0], None) == expected


def test_clip_grows_as_t_to_the_exponent():
    """Zero gradients keep m = v = 0 and x = 0 until the call t = 9, whose g / eps is clipped to 9^(1/2) = 3."""
    x = _scalar_run([0.0] * 9 + [100.0], 0.5, eps=1.0)
    assert x == pytest.approx(-0.1 * (1 - 0.9) * 3.0, rel=1e-15)


def _save(optimizer: torch.optim.Optimizer) -> dict:
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer)  # weights_only=True: the state is plain tensors and numbers


def test_checkpoint_mid_run_resumes_bit_for_bit():
    uninterrupted = _model()
    optimizer = ADOPT(_groups(uninterrupted))
    _train(uninterrupted, optimizer, range(STEPS))

    first_half = _model()
    saved_optimizer = ADOPT(_groups(first_half))
    _train(first_half, saved_optimizer, range(STEPS // 2))
    checkpoint, weights = _save(saved_optimizer), {k: v.clone() for k, v in first_half.state_dict().items()}
    resumed = _model(seed=1)
    resumed.load_state_dict(weights)
    resumed_optimizer = ADOPT(_groups(resumed))
    resumed_optimizer.load_state_dict(checkpoint)
    _train(resumed, resumed_optimizer, range(STEPS // 2, STEPS))
    for a, b in zip(uninterrupted.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(uninterrupted.parameters(), resumed.parameters()):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(optimizer.state[a][key], resumed_optimizer.state[b][key])
    assert resumed_optimizer.param_groups[1]["clip_exponent"] == 0.5


@pytest.mark.parametrize("kwargs, name", [
    ({"lr": -1e-3}, "lr"), ({"lr": float("nan")}, "lr"), ({"betas": (1.0, 0.9)}, r"betas\[0\]"),
    ({"betas": (0.9, -0.1)}, r"betas\[1\]"), ({"betas": (0.9,)}, "betas"), ({"eps": 0.0}, "eps"),
    ({"clip_exponent": -0.25}, "clip_exponent"), ({"clip_exponent": "1/4"}, "clip_exponent"),
    ({"clip_exponent": float("inf")}, "clip_exponent"),
])
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ADOPT(_model().parameters(), **kwargs)


def test_invalid_group_complex_parameter_and_sparse_gradient_are_refused():
    model = _model()
    optimizer = ADOPT([model[0].weight])
    with pytest.raises(ValueError, match="eps"):
        optimizer.add_param_group({"params": [model[0].bias], "eps": -1.0})
    assert len(optimizer.param_groups) == 1
    with pytest.raises(ValueError, match="complex"):
        ADOPT([torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))])
    x = torch.nn.Parameter(torch.zeros(3))
    x.grad = torch.zeros(3).to_sparse()
    with pytest.raises(ValueError, match="sparse"):
        ADOPT([x]).step()


def test_config_builds_adopt_and_refuses_eps_zero():
    model = _model()
    optimizer = build_optimizer(OptimConfig("adopt", beta1=0.8, beta2=0.99, eps=1e-5),
                                [{"params": list(model.parameters()), "lr": 0.0, "lr_mult": 1.0}])
    assert isinstance(optimizer, ADOPT)
    group = optimizer.param_groups[0]
    assert (group["betas"], group["eps"], group["clip_exponent"], group["lr_mult"]) == ((0.8, 0.99), 1e-5, 0.25, 1.0)
    with pytest.raises(ValueError, match="optim.eps"):
        OptimConfig("adopt", eps=0.0)
    assert stack_key(RunConfig(optim=OptimConfig("adopt"))) is None  # the vectorised trainer has SGD and Adam only


def test_run_equals_hand_written_loop():
    cfg = small_config(**{"optim.name": "adopt", "optim.beta2": 0.99, "optim.eps": 1e-6, "schedule.eta_trgt": 3e-3})
    result = run(cfg)
    losses, grad_norms, test_loss = hand_loop(cfg, lambda params: ADOPT(params, lr=0.0, betas=(0.9, 0.99), eps=1e-6))
    assert result.records["loss"].tolist() == losses  # exact: same init, batches, rates and updates
    assert result.records["grad_norm"].to_numpy() == pytest.approx(grad_norms, rel=1e-5)
    assert result.evals["test_loss"].iloc[-1] == test_loss


def test_run_update_zero_leaves_the_parameters_in_place():
    """Full batch: update 0 only stores v_0, so records 0 and 1 see the same parameters on the same batch."""
    cfg = small_config(batch_size=None, steps=3, eval_every=0, **{"optim.name": "adopt", "schedule.eta_trgt": 3e-3,
                                                                  "schedule.warmup_steps": 1})
    records = run(cfg).records
    assert records["loss"][0] == records["loss"][1] and records["grad_norm"][0] == records["grad_norm"][1]
    assert records["loss"][2] != records["loss"][1]
    assert math.isfinite(records["loss"][2])
