"""Directional curvature and batch sharpness against dense Hessians and closed forms.

Oracles: ``torch.autograd.functional.hessian`` of the loss as a function of the flat parameter
vector (float64), ``torch.linalg.eigvalsh`` for the spectrum's ends, and a quadratic loss
0.5 theta^T A theta whose Hessian is A.
"""

import pytest
import torch
from torch import nn
from torch.func import functional_call

from warmup_lib.curvature import BatchSharpness, batch_sharpness, directional_curvature
from warmup_lib.curvature.directional import flat_direction
from quadratic import Quadratic, quadratic_loss


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error written out (torch 2.13's F.mse_loss fails under forward-over-reverse)."""
    return ((outputs - targets) ** 2).mean()


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()


def _batch(seed: int, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(size, 3, generator=generator, dtype=torch.float64),
            torch.randn(size, 2, generator=generator, dtype=torch.float64))


def _flat_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
    """theta -> the MSE of the model at the flat parameters theta (named_parameters order)."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]

    def loss(theta: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(theta, [shape.numel() for shape in shapes])
        params = {name: piece.view(shape) for name, piece, shape in zip(names, pieces, shapes)}
        return mse(functional_call(model, params, (inputs,)), targets)

    return loss


def _dense(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(g, H) of the loss at the model's parameters, dense."""
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    loss = _flat_loss(model, inputs, targets)
    return torch.func.grad(loss)(theta), torch.autograd.functional.hessian(loss, theta)


def _symmetric(seed: int, n: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    root = torch.randn(n, n, generator=generator, dtype=torch.float64)
    return root + root.T  # indefinite: negative eigenvalues too


@pytest.mark.parametrize("method", ["double_backward", "forward_over_reverse"])
def test_directional_curvature_is_the_dense_rayleigh_quotient_in_every_form(method):
    model = _mlp()
    inputs, targets = _batch(1)
    _, hessian = _dense(model, inputs, targets)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    generator = torch.Generator().manual_seed(2)
    for _ in range(3):
        pieces = [torch.randn(p.shape, generator=generator, dtype=torch.float64) for p in model.parameters()]
        flat = torch.cat([piece.reshape(-1) for piece in pieces])
        expected = float(flat @ hessian @ flat / (flat @ flat))
        named = dict(zip([name for name, _ in model.named_parameters()], pieces))
        for direction in (pieces, named, flat):
            value = directional_curvature(model, mse, inputs, targets, direction, method=method)
            assert value == pytest.approx(expected, rel=1e-10, abs=1e-12)
            assert eigenvalues[0] - 1e-12 <= value <= eigenvalues[-1] + 1e-12
    top = torch.linalg.eigh(hessian).eigenvectors[:, -1]
    assert directional_curvature(model, mse, inputs, targets, top) == pytest.approx(
        float(eigenvalues[-1]), rel=1e-10)


def test_a_dict_direction_leaves_unnamed_parameters_at_zero():
    model = _mlp()
    inputs, targets = _batch(1)
    _, hessian = _dense(model, inputs, targets)
    weight = torch.randn(5, 3, dtype=torch.float64)
    flat = torch.cat([weight.reshape(-1), torch.zeros(hessian.shape[0] - weight.numel(), dtype=torch.float64)])
    value = directional_curvature(model, mse, inputs, targets, {"0.weight": weight})
    assert value == pytest.approx(float(flat @ hessian @ flat / (flat @ flat)), rel=1e-10)


def test_quadratic_closed_form():
    matrix = _symmetric(0)
    model = Quadratic(torch.randn(6, dtype=torch.float64))
    direction = torch.arange(1.0, 7.0, dtype=torch.float64)
    value = directional_curvature(model, quadratic_loss, torch.zeros(1, 1), matrix, [direction])
    assert value == pytest.approx(float(direction @ matrix @ direction / (direction @ direction)), rel=1e-12)


def test_batch_sharpness_on_quadratics_is_the_mean_of_g_A_g_over_g_g():
    theta = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0, 2.0], dtype=torch.float64)
    model = Quadratic(theta)
    matrices = [_symmetric(seed) for seed in (1, 2, 3)]
    result = batch_sharpness(model, quadratic_loss, [(torch.zeros(1, 1), a) for a in matrices], return_info=True)
    expected = []
    for a in matrices:
        g = a @ theta
        expected.append(float(g @ a @ g / (g @ g)))
    assert isinstance(result, BatchSharpness)
    assert result.per_batch == pytest.approx(expected, rel=1e-12)
    assert result.value == pytest.approx(sum(expected) / 3, rel=1e-12)
    assert (result.hvps, result.gradients) == (3, 3)


@pytest.mark.parametrize("method", ["double_backward", "forward_over_reverse"])
def test_batch_sharpness_against_dense_gradients_and_hessians(method):
    model = _mlp()
    batches = [_batch(seed) for seed in (3, 4, 5, 6)]
    quotients, lowest, highest = [], [], []
    for inputs, targets in batches:
        g, hessian = _dense(model, inputs, targets)
        quotients.append(float(g @ hessian @ g / (g @ g)))
        eigenvalues = torch.linalg.eigvalsh(hessian)
        lowest.append(float(eigenvalues[0]))
        highest.append(float(eigenvalues[-1]))
    result = batch_sharpness(model, mse, batches, method=method, return_info=True)
    assert result.per_batch == pytest.approx(quotients, rel=1e-10)
    assert all(low - 1e-12 <= q <= high + 1e-12 for low, q, high in zip(lowest, result.per_batch, highest))
    value = batch_sharpness(model, mse, batches, method=method)
    assert value == result.value == pytest.approx(sum(quotients) / len(quotients), rel=1e-10)
    assert (result.hvps, result.gradients) == (4, 4)
    # one batch of all the data is a different quantity (the full-batch gradient's curvature)
    full = (torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
    g, hessian = _dense(model, *full)
    assert batch_sharpness(model, mse, [full]) == pytest.approx(float(g @ hessian @ g / (g @ g)))


def test_float32_model_measured_in_float64():
    model = _mlp().float()
    inputs, targets = _batch(1)
    reference = _mlp()
    value = batch_sharpness(model, mse, [(inputs.float(), targets.float())], dtype=torch.float64)
    expected = batch_sharpness(reference, mse, [(inputs.float().double(), targets.float().double())])
    assert value == pytest.approx(expected, rel=1e-5)


def test_model_grads_and_random_state_are_untouched():
    model = _mlp()
    inputs, targets = _batch(1)
    mse(model(inputs), targets).backward()
    params = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    model.eval()
    state = torch.random.get_rng_state()
    direction = [torch.ones_like(p) for p in model.parameters()]
    directional_curvature(model, mse, inputs, targets, direction)
    batch_sharpness(model, mse, [(inputs, targets), _batch(2)])
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params))
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    assert not model.training and torch.equal(torch.random.get_rng_state(), state)


def test_invalid_input_raises_naming_the_argument():
    model = _mlp()
    inputs, targets = _batch(1)
    loss_fn = mse
    zero = [torch.zeros_like(p) for p in model.parameters()]
    with pytest.raises(ValueError, match="direction"):
        directional_curvature(model, loss_fn, inputs, targets, zero)
    with pytest.raises(ValueError, match="direction"):
        directional_curvature(model, loss_fn, inputs, targets, [torch.full_like(p, float("nan")) for p in zero])
    with pytest.raises(ValueError, match="direction"):
        flat_direction(model, zero[:-1])
    with pytest.raises(ValueError, match="direction.*'0.bias'"):
        flat_direction(model, [zero[0], torch.ones(4), *zero[2:]])
    with pytest.raises(ValueError, match="direction.*nope"):
        flat_direction(model, {"nope": torch.ones(1)})
    with pytest.raises(ValueError, match="direction"):
        flat_direction(model, torch.ones(5))
    with pytest.raises(ValueError, match="batches"):
        batch_sharpness(model, loss_fn, [])
    with pytest.raises(ValueError, match="batches"):
        batch_sharpness(model, loss_fn, [inputs])
    flat = Quadratic(torch.zeros(6, dtype=torch.float64))  # zero gradient at theta = 0
    with pytest.raises(ValueError, match="batches: the gradient on batch 0"):
        batch_sharpness(flat, quadratic_loss, [(torch.zeros(1, 1), _symmetric(0))])
