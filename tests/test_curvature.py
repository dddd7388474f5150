"""HVPs, sharpness and pre-conditioned sharpness against dense Hessians, finite differences and PyHessian."""

import copy
import math
import warnings

import pytest
import torch
from torch import nn
from torch.func import functional_call

from warmup_lib.curvature import (
    ConvergenceWarning,
    SharpnessTracker,
    adam_threshold,
    momentum_threshold,
    preconditioned_sharpness,
    sgd_threshold,
    sharpness,
)
from warmup_lib.curvature.hessian import hvp

METHODS = ["double_backward", "forward_over_reverse"]


class TinyCNN(nn.Module):
    """Conv1d -> BatchNorm -> tanh -> linear readout, on (B, 2, 6) inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 3, kernel_size=3)
        self.norm = nn.BatchNorm1d(3)
        self.readout = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(torch.tanh(self.norm(self.conv(x))).flatten(1))


class TinyTransformer(nn.Module):
    """One Pre-LN causal self-attention block written with explicit matmuls, then a readout per token."""

    def __init__(self, width: int = 4, vocab: int = 3) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Parameter(torch.randn(width, 3 * width) / math.sqrt(width))
        self.proj = nn.Parameter(torch.randn(width, width) / math.sqrt(width))
        self.readout = nn.Linear(width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, width = x.shape[1], x.shape[2]
        q, k, v = (self.norm(x) @ self.qkv).split(width, dim=-1)
        scores = q @ k.transpose(1, 2) / math.sqrt(width)
        causal = torch.ones(steps, steps, dtype=torch.bool).tril()
        attention = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        hidden = x + attention @ v @ self.proj
        return self.readout(hidden).flatten(0, 1)


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's MSE: 1/2 mean over batch x classes, one-hot targets."""
    return 0.5 * ((output - nn.functional.one_hot(target, output.shape[-1]).to(output)) ** 2).mean()


def xent(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(output, target.reshape(-1))


def make_case(name: str, dtype: torch.dtype = torch.float64, batch: int = 12):
    """(model, loss_fn, inputs, targets), seeded."""
    torch.manual_seed(0)
    if name == "mlp":
        model = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 4))
        inputs, targets, loss_fn = torch.randn(batch, 6), torch.randint(0, 4, (batch,)), mse
    elif name == "cnn":
        model = TinyCNN()
        inputs, targets, loss_fn = torch.randn(batch, 2, 6), torch.randint(0, 3, (batch,)), xent
    else:
        model = TinyTransformer()
        inputs, targets, loss_fn = torch.randn(batch, 3, 4), torch.randint(0, 3, (batch, 3)), xent
    return model.to(dtype), loss_fn, inputs.to(dtype), targets


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def dense_hessian(model, loss_fn, inputs, targets, train: bool = True) -> torch.Tensor:
    """The oracle: the dense Hessian of the loss over the flat parameter vector."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    buffers = dict(model.named_buffers())

    def loss(theta):
        pieces = torch.split(theta, [s.numel() for s in shapes])
        # Clone inside the transform: batch norm in train mode updates its buffers in place.
        tensors = {**{name: b.clone() for name, b in buffers.items()}, **{n: p.view(s) for n, p, s in zip(names, pieces, shapes)}}
        return loss_fn(functional_call(model, tensors, (inputs,)), targets)

    was_training = model.training
    model.train(train)
    # Row by row, without vmap: torch.func.hessian and jacrev(jacrev) (both vmapped) get batch-norm
    # train-mode cross terms wrong in torch 2.13 (checked against finite differences).
    hessian = torch.autograd.functional.hessian(loss, flat_params(model))
    model.train(was_training)
    return hessian


def flat_grad(model, loss_fn, inputs, targets) -> torch.Tensor:
    grads = torch.autograd.grad(loss_fn(model(inputs), targets), list(model.parameters()))
    return torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer"])
@pytest.mark.parametrize("method", METHODS)
def test_hvp_matches_dense_hessian(name, method):
    model, loss_fn, inputs, targets = make_case(name)
    hessian = dense_hessian(model, loss_fn, inputs, targets)
    vector = torch.randn(hessian.shape[0], dtype=torch.float64)
    result = hvp(model, loss_fn, inputs, targets, vector, method=method)
    torch.testing.assert_close(result, hessian @ vector, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer"])
def test_hvp_matches_central_differences_of_gradients(name):
    model, loss_fn, inputs, targets = make_case(name)
    theta = flat_params(model)
    vector = torch.randn_like(theta)
    step = 1e-5

    def grad_at(point):
        shifted = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(point, shifted.parameters())
        return flat_grad(shifted, loss_fn, inputs, targets)

    finite_difference = (grad_at(theta + step * vector) - grad_at(theta - step * vector)) / (2 * step)
    result = hvp(model, loss_fn, inputs, targets, vector)
    torch.testing.assert_close(result, finite_difference, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_double_backward_equals_forward_over_reverse_float32_and_float64_copy(name):
    model, loss_fn, inputs, targets = make_case(name, dtype=torch.float32)
    vector = torch.randn(sum(p.numel() for p in model.parameters()))
    single = [hvp(model, loss_fn, inputs, targets, vector, method=m) for m in METHODS]
    assert single[0].dtype == torch.float32
    torch.testing.assert_close(single[0], single[1], rtol=1e-4, atol=1e-5)
    double = [hvp(model, loss_fn, inputs, targets, vector, method=m, dtype=torch.float64) for m in METHODS]
    assert double[0].dtype == torch.float64 and next(model.parameters()).dtype == torch.float32
    torch.testing.assert_close(double[0], double[1], rtol=1e-12, atol=1e-14)
    model64 = copy.deepcopy(model).double()
    hessian = dense_hessian(model64, loss_fn, inputs.double(), targets)
    torch.testing.assert_close(double[0], hessian @ vector.double(), rtol=1e-10, atol=1e-12)


def test_several_batches_are_weighted_by_batch_size():
    model, loss_fn, inputs, targets = make_case("mlp", batch=10)
    vector = torch.randn(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    split = ([inputs[:3], inputs[3:]], [targets[:3], targets[3:]])
    for method in METHODS:
        torch.testing.assert_close(
            hvp(model, loss_fn, *split, vector, method=method),
            hvp(model, loss_fn, inputs, targets, vector, method=method),
            rtol=1e-12, atol=1e-14,
        )


def test_dropout_masks_are_fixed_so_both_methods_agree():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 3)).double()
    inputs, targets = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 3, (8,))
    vector = torch.randn(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    results = [hvp(model, xent, inputs, targets, vector, method=m) for m in METHODS]
    torch.testing.assert_close(results[0], results[1], rtol=1e-10, atol=1e-12)
    no_dropout = dense_hessian(model, xent, inputs, targets, train=False) @ vector
    torch.testing.assert_close(hvp(model, xent, inputs, targets, vector, mode="eval"), no_dropout)
    assert not torch.allclose(results[0], no_dropout)


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer"])
def test_sharpness_matches_dense_eigvalsh(name):
    model, loss_fn, inputs, targets = make_case(name)
    exact = torch.linalg.eigvalsh(dense_hessian(model, loss_fn, inputs, targets)).flip(0)
    result = sharpness(model, loss_fn, inputs, targets, k=2, tol=1e-6, return_info=True)
    assert result.converged
    torch.testing.assert_close(result.eigenvalues, exact[:2], rtol=1e-4, atol=0)
    assert abs(sharpness(model, loss_fn, inputs, targets, tol=1e-4) - float(exact[0])) <= 1e-4 * float(exact[0])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batch_norm_mode_is_an_argument_and_restored(mode):
    model, loss_fn, inputs, targets = make_case("cnn")
    model.train(mode == "eval")  # start in the opposite mode
    model.norm.running_mean.uniform_(-1, 1)
    model.norm.running_var.uniform_(0.5, 2)
    exact = torch.linalg.eigvalsh(dense_hessian(model, loss_fn, inputs, targets, train=mode == "train"))[-1]
    value = sharpness(model, loss_fn, inputs, targets, tol=1e-7, mode=mode)
    assert abs(value - float(exact)) <= 1e-4 * float(exact)
    assert model.training == (mode == "eval")


def adam_after_steps(model, loss_fn, inputs, targets, steps: int, **adam_kwargs) -> torch.optim.Adam:
    optimizer = torch.optim.Adam(model.parameters(), **adam_kwargs)
    for step in range(steps):
        optimizer.zero_grad()
        loss_fn(model(inputs[step::2]), targets[step::2]).backward()
        optimizer.step()
    optimizer.zero_grad()
    return optimizer


def dense_preconditioned_top(model, loss_fn, inputs, targets, optimizer, lr_mults=None) -> float:
    """lambda_max(P^-1/2 H P^-1/2) with P built by hand from the optimizer's state (oracle)."""
    gradient = flat_grad(model, loss_fn, inputs, targets)
    diagonals, offset = [], 0
    for index, param in enumerate(model.parameters()):
        group = next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))
        beta1, beta2 = group["betas"]
        state = optimizer.state.get(param, {})
        t = int(state["step"]) if state else 0
        v = state["exp_avg_sq"].reshape(-1) if state else torch.zeros(param.numel(), dtype=param.dtype)
        g = gradient[offset : offset + param.numel()]
        offset += param.numel()
        v_next = beta2 * v + (1 - beta2) * g * g
        p_diag = (1 - beta1 ** (t + 1)) * ((v_next / (1 - beta2 ** (t + 1))).sqrt() + group["eps"])
        diagonals.append(p_diag / (lr_mults[index] if lr_mults else 1.0))
    scale = torch.cat(diagonals).rsqrt()
    hessian = dense_hessian(model, loss_fn, inputs, targets)
    return float(torch.linalg.eigvalsh(scale[:, None] * hessian * scale[None, :])[-1])


@pytest.mark.parametrize("name, steps", [("mlp", 0), ("mlp", 3), ("transformer", 4)])
def test_preconditioned_sharpness_matches_dense(name, steps):
    model, loss_fn, inputs, targets = make_case(name)
    optimizer = adam_after_steps(model, loss_fn, inputs, targets, steps, lr=1e-2)
    exact = dense_preconditioned_top(model, loss_fn, inputs, targets, optimizer)
    value = preconditioned_sharpness(model, loss_fn, inputs, targets, optimizer, tol=1e-7)
    assert abs(value - exact) <= 1e-4 * exact


def test_preconditioner_uses_preinitialised_state_and_lr_mult():
    model, loss_fn, inputs, targets = make_case("mlp")
    first, *rest = model.parameters()
    optimizer = torch.optim.Adam(
        [{"params": [first], "lr_mult": 0.25, "betas": (0.8, 0.99)}, {"params": rest}], lr=1e-2, eps=1e-6
    )
    # GI-Adam style: v0 = g0^2 from another batch, stored before the first step.
    g0 = flat_grad(model, loss_fn, inputs[:4], targets[:4])
    offset = 0
    for param in model.parameters():
        v0 = g0[offset : offset + param.numel()].reshape(param.shape) ** 2
        offset += param.numel()
        optimizer.state[param] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(param), "exp_avg_sq": v0}
    exact = dense_preconditioned_top(model, loss_fn, inputs, targets, optimizer, lr_mults=[0.25, 1, 1, 1])
    value = preconditioned_sharpness(model, loss_fn, inputs, targets, optimizer, tol=1e-7)
    assert abs(value - exact) <= 1e-4 * exact
    without = dense_preconditioned_top(model, loss_fn, inputs, targets, adam_after_steps(model, loss_fn, inputs, targets, 0))
    assert abs(value - without) > 1e-2 * exact  # the stored v0 and lr_mult really matter


@pytest.mark.parametrize("steps", [0, 2])
def test_preconditioned_sharpness_reads_gi_adam(steps):
    from warmup_lib.optim.giadam import GIAdam

    model, loss_fn, inputs, targets = make_case("mlp")
    optimizer = GIAdam(model.parameters(), lr=1e-2, v0="grad")
    loss_fn(model(inputs[:4]), targets[:4]).backward()
    optimizer.init_from_grad()  # v0 = g0^2 at step 0
    for step in range(steps):
        optimizer.zero_grad()
        loss_fn(model(inputs[step::2]), targets[step::2]).backward()
        optimizer.step()
    optimizer.zero_grad()
    exact = dense_preconditioned_top(model, loss_fn, inputs, targets, optimizer)
    value = preconditioned_sharpness(model, loss_fn, inputs, targets, optimizer, tol=1e-7)
    assert abs(value - exact) <= 1e-4 * exact


def test_top_eigenvalue_agrees_with_pyhessian():
    from pyhessian import hessian as PyHessian

    model, loss_fn, inputs, targets = make_case("mlp", dtype=torch.float32, batch=32)
    torch.manual_seed(1)
    reference = PyHessian(model, loss_fn, data=(inputs, targets), cuda=False).eigenvalues(maxIter=500, tol=1e-7)[0][0]
    ours = sharpness(model, loss_fn, inputs, targets, tol=1e-5, mode="eval", dtype=torch.float64)
    assert abs(ours - reference) <= 1e-3 * abs(reference)


def test_warm_start_reduces_products_after_a_small_step():
    model, loss_fn, inputs, targets = make_case("transformer", batch=16)
    first = sharpness(model, loss_fn, inputs, targets, tol=1e-6, return_info=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    loss_fn(model(inputs), targets).backward()
    optimizer.step()
    cold = sharpness(model, loss_fn, inputs, targets, tol=1e-6, return_info=True)
    warm = sharpness(model, loss_fn, inputs, targets, tol=1e-6, v0=first.eigenvectors, return_info=True)
    assert abs(warm.value - cold.value) <= 1e-5 * cold.value
    assert warm.hvps < cold.hvps


def snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    return {
        "tensors": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "rng": torch.get_rng_state(),
    }


def assert_same(before: dict, after: dict) -> None:
    assert before["tensors"].keys() == after["tensors"].keys()
    assert all(torch.equal(before["tensors"][k], after["tensors"][k]) for k in before["tensors"])
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(before["grads"], after["grads"]))
    assert before["modes"] == after["modes"]
    assert torch.equal(before["rng"], after["rng"])
    old, new = before["optimizer"], after["optimizer"]
    assert old["param_groups"] == new["param_groups"] and old["state"].keys() == new["state"].keys()
    for index, state in old["state"].items():
        assert all(torch.equal(torch.as_tensor(v), torch.as_tensor(new["state"][index][key])) for key, v in state.items())


@pytest.mark.parametrize("method", METHODS)
def test_measurements_change_nothing(method):
    model, loss_fn, inputs, targets = make_case("cnn", dtype=torch.float32)
    optimizer = adam_after_steps(model, loss_fn, inputs, targets, 2, lr=1e-2)
    loss_fn(model(inputs), targets).backward()  # leave non-zero .grad fields
    model.norm.eval()  # mixed modes must come back exactly
    before = snapshot(model, optimizer)
    for dtype in (None, torch.float64):
        sharpness(model, loss_fn, inputs, targets, dtype=dtype, method=method)
        preconditioned_sharpness(model, loss_fn, inputs, targets, optimizer, dtype=dtype, method=method)
    assert_same(before, snapshot(model, optimizer))


def test_thresholds_closed_forms():
    assert sgd_threshold(0.1) == pytest.approx(20.0)
    assert momentum_threshold(0.1, 0.9) == pytest.approx(38.0)
    assert adam_threshold(1e-3, 0.9) == pytest.approx(38e3)


def test_tracker_in_a_real_adam_loop():
    model, loss_fn, inputs, targets = make_case("mlp", batch=40)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    tracker = SharpnessTracker(every=2, preconditioned=True, tol=1e-6)
    for step in range(5):
        x, y = inputs[8 * step : 8 * step + 8], targets[8 * step : 8 * step + 8]
        record = tracker(step, model, loss_fn, x, y, optimizer)
        if step % 2:
            assert record is None
        else:
            assert set(record) == {"sharpness", "sharpness_hvps", "pre_sharpness", "pre_sharpness_hvps"}
            exact = torch.linalg.eigvalsh(dense_hessian(model, loss_fn, x, y))[-1]
            assert abs(record["sharpness"] - float(exact)) <= 1e-4 * float(exact)
            pre_exact = dense_preconditioned_top(model, loss_fn, x, y, optimizer)
            assert abs(record["pre_sharpness"] - pre_exact) <= 1e-4 * pre_exact
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    assert [entry["step"] for entry in tracker.history] == [0, 2, 4]


def test_invalid_arguments_raise():
    model, loss_fn, inputs, targets = make_case("mlp")
    with pytest.raises(ValueError, match="mode"):
        sharpness(model, loss_fn, inputs, targets, mode="inference")
    with pytest.raises(ValueError, match="method"):
        sharpness(model, loss_fn, inputs, targets, method="finite_difference")
    with pytest.raises(ValueError, match="optimizer"):
        preconditioned_sharpness(model, loss_fn, inputs, targets, torch.optim.Adam([nn.Parameter(torch.ones(1))]))
    with pytest.raises(ValueError, match="optimizer"):
        preconditioned_sharpness(model, loss_fn, inputs, targets, torch.optim.SGD(model.parameters(), lr=0.1))
    for options, name in [({"amsgrad": True}, "amsgrad"), ({"maximize": True}, "maximize"),
                          ({"weight_decay": 0.1}, "weight_decay")]:
        with pytest.raises(ValueError, match=name):
            preconditioned_sharpness(model, loss_fn, inputs, targets, torch.optim.Adam(model.parameters(), **options))
    adamw = torch.optim.AdamW(model.parameters(), weight_decay=0.1)  # decoupled decay leaves P unchanged
    assert preconditioned_sharpness(model, loss_fn, inputs, targets, adamw) == pytest.approx(
        preconditioned_sharpness(model, loss_fn, inputs, targets, torch.optim.Adam(model.parameters())), rel=1e-12)
    with pytest.raises(ValueError, match="max_hvps"):
        sharpness(model, loss_fn, inputs, targets, max_hvps=0)


def test_unconverged_sharpness_warns_with_its_residual():
    """A budget too small for tol returns a poor estimate, so it must say so; a converged one is silent."""
    model, loss_fn, inputs, targets = make_case("mlp")
    exact = torch.linalg.eigvalsh(dense_hessian(model, loss_fn, inputs, targets))[-1].item()
    with pytest.warns(ConvergenceWarning, match=r"max_hvps=2 products: relative residual [0-9.e-]+ > tol=1e-08"):
        rough = sharpness(model, loss_fn, inputs, targets, tol=1e-8, max_hvps=2, return_info=True)
    assert not rough.converged and rough.hvps == 2 and rough.residuals[0] > 1e-8
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert sharpness(model, loss_fn, inputs, targets, tol=1e-8) == pytest.approx(exact, rel=1e-8)
    with pytest.raises(ValueError, match="every"):
        SharpnessTracker(every=0)
    with pytest.raises(ValueError, match="optimizer"):
        SharpnessTracker(every=1, hessian=False, preconditioned=True)(0, model, loss_fn, inputs, targets)
