"""Solvable models against their oracles: closed forms, torch.func.hessian + eigvalsh, torch autograd."""

import math

import pytest
import torch

from warmup_lib import solvable
from warmup_lib.analysis.trajectory import loss_excursions

F64 = torch.float64


def _flat_loss(width: int, dim: int, data: solvable.UVData):
    """L as a function of the flat parameter vector (vec U row-major, then v), for torch.func."""
    def loss(theta: torch.Tensor) -> torch.Tensor:
        return solvable.uv_loss(theta[: width * dim].view(1, width, dim), theta[width * dim:].view(1, width), data)[0]
    return loss


DATASETS = {
    "single example": (1, solvable.UVData.single_example()),
    "two scalar examples, y != 0": (1, solvable.UVData(torch.tensor([[0.5], [2.0]], dtype=F64),
                                                       torch.tensor([1.0, -0.3], dtype=F64))),
    "teacher d=3": (3, solvable.UVData.linear_teacher(5, 3, seed=1)),
}


# --- quadratic ---------------------------------------------------------------------------------------

def test_quadratic_gd_matches_closed_form():
    curvatures = torch.tensor([0.3, 1.0, 2.5], dtype=F64)
    x0 = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    for eta in (0.1, 0.7, 0.85):
        torch.testing.assert_close(solvable.quadratic_gd(curvatures, eta, x0, 30),
                                   solvable.quadratic_closed_form(curvatures, eta, x0, 30), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("eta_lambda_max", [0.5, 1.5, 1.99, 2.01, 3.0])
def test_quadratic_diverges_iff_eta_above_two_over_lambda_max(eta_lambda_max):
    curvatures = torch.tensor([0.5, 1.0, 2.0], dtype=F64)
    eta = eta_lambda_max / 2.0
    grows = bool(solvable.quadratic_gd(curvatures, eta, torch.ones(3, dtype=F64), 300)[-1].norm() > math.sqrt(3))
    assert solvable.quadratic_diverges(curvatures, eta) == grows == (eta_lambda_max > 2)


# --- uv model: derivatives, sharpness ----------------------------------------------------------------

@pytest.mark.parametrize("name", list(DATASETS))
def test_uv_hessian_and_gradient_match_autograd(name):
    dim, data = DATASETS[name]
    u, v = solvable.uv_init(6, dim, seed=3)
    theta = torch.cat([u.flatten(), v.flatten()])
    loss = _flat_loss(6, dim, data)
    torch.testing.assert_close(solvable.uv_hessian(u, v, data)[0], torch.func.hessian(loss)(theta),
                               rtol=1e-10, atol=1e-12)
    grad_u, grad_v = solvable.uv_gradients(u, v, data)
    torch.testing.assert_close(torch.cat([grad_u.flatten(), grad_v.flatten()]), torch.func.grad(loss)(theta),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(DATASETS))
def test_uv_sharpness_is_top_eigenvalue_of_dense_hessian(name):
    dim, data = DATASETS[name]
    u, v = solvable.uv_init(9, dim, seed=4)
    dense = torch.linalg.eigvalsh(torch.func.hessian(_flat_loss(9, dim, data))(torch.cat([u.flatten(), v.flatten()])))
    torch.testing.assert_close(solvable.uv_sharpness(u, v, data)[0], dense[-1], rtol=1e-10, atol=1e-12)


def test_sharpness_at_f_zero_is_norms_over_width():
    """Single example x = 1, y = 0: at a point with f = 0 the sharpness is (|u|^2 + |v|^2)/m, and it equals the NTK."""
    width = 8
    u, v = solvable.uv_init(width, seed=5)
    u1 = u[0, :, 0]
    v = v - (u1 @ v[0]) / (u1 @ u1) * u1  # make u.v = 0, so f = 0
    data = solvable.UVData.single_example()
    assert abs(solvable.uv_output(u, v, data).item()) < 1e-12
    expected = ((u**2).sum() + (v**2).sum()) / width
    dense = torch.linalg.eigvalsh(torch.func.hessian(_flat_loss(width, 1, data))(torch.cat([u.flatten(), v.flatten()])))
    torch.testing.assert_close(dense[-1], expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(solvable.uv_sharpness(u, v, data)[0], expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(solvable.uv_ntk_eigenvalue(u, v, data)[0], expected, rtol=1e-12, atol=0)


def test_ntk_eigenvalue_against_jacobian():
    dim, data = DATASETS["teacher d=3"]
    u, v = solvable.uv_init(7, dim, seed=6)
    theta = torch.cat([u.flatten(), v.flatten()])
    jacobian = torch.func.jacrev(lambda t: solvable.uv_output(t[:21].view(1, 7, 3), t[21:].view(1, 7), data)[0])(theta)
    expected = torch.linalg.eigvalsh(jacobian @ jacobian.T / data.x.shape[0])[-1]
    torch.testing.assert_close(solvable.uv_ntk_eigenvalue(u, v, data)[0], expected, rtol=1e-10, atol=0)


# --- uv model: GD dynamics ---------------------------------------------------------------------------

def test_uv_gd_equals_torch_sgd():
    """Three GD runs with different schedules equal torch.optim.SGD steps on the same parameters."""
    dim, data = DATASETS["teacher d=3"]
    u0, v0 = solvable.uv_init(5, dim, seed=7)
    etas = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5], [0.05, 0.0, 0.2, 0.1]], dtype=F64)
    trajectory = solvable.uv_gd(u0, v0, data, etas)
    for run in range(3):
        u, v = u0.clone().requires_grad_(), v0.clone().requires_grad_()
        optimizer = torch.optim.SGD([u, v], lr=1.0)
        for t in range(4):
            optimizer.param_groups[0]["lr"] = etas[run, t].item()
            optimizer.zero_grad()
            loss = solvable.uv_loss(u, v, data)[0]
            assert loss.item() == pytest.approx(trajectory.loss[run, t].item(), rel=1e-12)
            loss.backward()
            optimizer.step()
        torch.testing.assert_close(trajectory.u[run], u.detach()[0], rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(trajectory.v[run], v.detach()[0], rtol=1e-12, atol=1e-14)


def test_uv_gd_follows_the_closed_z_lambda_recursion():
    """x = 1, y = 0: z' = z(1 - eta lam + eta^2 z^2/m), lam' = lam + (eta z^2/m)(eta lam - 4)."""
    width, eta = 64, 1.3
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(width, seed=8)
    trajectory = solvable.uv_gd(u0, v0, data, torch.full((1, 12), eta, dtype=F64))
    z = solvable.uv_output(u0, v0, data).item()
    lam = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    for t in range(13):
        assert trajectory.loss[0, t].item() == pytest.approx(z * z / 2, rel=1e-9)
        assert trajectory.ntk[0, t].item() == pytest.approx(lam, rel=1e-9)
        z, lam = z * (1 - eta * lam + eta**2 * z**2 / width), lam + eta * z**2 / width * (eta * lam - 4)


def test_lazy_regime_prediction():
    """eta < 2/lambda_0: the loss falls monotonically as (1 - eta lambda_0)^(2t) L_0, and the sharpness
    moves by far less than 1 %.

    Tolerance: lambda moves per step by at most eps = 4 eta z_0^2/m relative to lambda_0 (the recursion,
    with |z_t| <= |z_0|), which changes the factor |1 - eta lambda| by eta lambda_0 eps/|1 - eta lambda_0|;
    over t steps of the squared factor the loss is off by at most 2 t times that (x2 for safety)."""
    width = 512
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(width, seed=0)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    eta = 1.5 / lambda_0
    trajectory = solvable.uv_gd(u0, v0, data, torch.full((1, 20), eta, dtype=F64))
    predicted = trajectory.loss[0, 0] * (1 - eta * lambda_0) ** (2 * torch.arange(21, dtype=F64))
    eps = 4 * eta * 2 * trajectory.loss[0, 0].item() / width  # z_0^2 = 2 L_0
    rtol = 2 * 2 * 20 * eta * lambda_0 * eps / abs(1 - eta * lambda_0)
    assert rtol < 0.02  # the prediction is a sharp one
    torch.testing.assert_close(trajectory.loss[0], predicted, rtol=rtol, atol=0)
    assert bool((trajectory.loss[0, 1:] < trajectory.loss[0, :-1]).all())
    assert (trajectory.sharpness[0] / trajectory.sharpness[0, 0] - 1).abs().max().item() < 1e-3


def test_catapult_regime_spikes_then_ends_below_two_over_eta():
    width = 512
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(width, seed=0)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    eta = 3.0 / lambda_0
    trajectory = solvable.uv_gd(u0, v0, data, torch.full((1, 200), eta, dtype=F64))
    spikes = [spike.peak for spike in loss_excursions(trajectory.loss[0], rise=2.0, floor=1e-8, include_open=True)]
    assert len(spikes) == 1 and trajectory.loss[0, spikes[0]] > 100 * trajectory.loss[0, 0]
    assert eta * trajectory.sharpness[0, -1].item() < 2
    assert solvable.uv_outcomes(trajectory) == ["converged"]


def test_eta_max_is_four_over_lambda_0():
    r"""Lewkowycz et al.'s eta_max = 4/lambda_0 (x = 1, y = 0, width 512, N(0, 1) init).

    Upper side, exact: lam' - lam = (eta z^2/m)(eta lam - 4) >= 0 whenever eta lam >= 4, so for
    eta > 4/lambda_0 the sharpness never falls and GD never reaches a point with eta lambda^H <= 2;
    every run above 4/lambda_0 must end 'diverged' (tolerance 0).  Lower side: in the variables
    k = eta lam, s = eta^2 z^2/m the map is k' = k + s(k - 4), s' = s(1 - k + s)^2, independent of m
    except through s_0 = eta^2 z_0^2/m ~ 1e-4 here; as s_0 -> 0 every k_0 < 4 converges (the catapult).
    Close to k_0 = 4 the descent of k is slow (its rate is 4 - k), so we allow 5 %: every
    eta lambda_0 <= 3.8 must converge within 400 steps."""
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(512, seed=0)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    below = [2.2, 2.6, 3.0, 3.4, 3.8]
    above = [4.02, 4.3, 5.0, 8.0]
    etas = torch.tensor(below + above, dtype=F64)[:, None].expand(-1, 400) / lambda_0
    outcomes = solvable.uv_outcomes(solvable.uv_gd(u0, v0, data, etas, record_every=400))
    assert outcomes == ["converged"] * len(below) + ["diverged"] * len(above)


# --- warmup sweep and helpers ------------------------------------------------------------------------

def test_linear_warmup_etas():
    etas = solvable.linear_warmup_etas(torch.tensor([2.0, 1.0], dtype=F64), torch.tensor([4, 1]), 6)
    torch.testing.assert_close(etas, torch.tensor([[0.5, 1.0, 1.5, 2.0, 2.0, 2.0], [1.0] * 6], dtype=F64))


def test_warmup_sweep_matches_individual_runs_and_classifies():
    dim, data = 2, solvable.UVData.linear_teacher(4, 2, seed=2)
    u0, v0 = solvable.uv_init(8, dim, seed=2)
    lambda_0 = solvable.uv_ntk_eigenvalue(u0, v0, data).item()
    eta_trgts = [1.0 / lambda_0, 3.0 / lambda_0, 12.0 / lambda_0]
    grid = solvable.warmup_sweep(u0, v0, data, eta_trgts, [1, 8], extra_steps=150)
    for row, warmup in zip(grid, [1, 8]):
        for outcome, eta in zip(row, eta_trgts):
            etas = solvable.linear_warmup_etas(torch.tensor([eta], dtype=F64), torch.tensor([warmup]), 158)
            assert solvable.uv_outcomes(solvable.uv_gd(u0, v0, data, etas))[0] == outcome
    assert grid[0][0] == "converged" and grid[0][2] == "diverged"


def test_divergence_is_recorded_not_raised():
    data = solvable.UVData.single_example()
    u0, v0 = solvable.uv_init(16, seed=0)
    trajectory = solvable.uv_gd(u0, v0, data, torch.full((1, 100), 10.0, dtype=F64))
    step = trajectory.diverged_at[0].item()
    assert 0 < step <= 100
    assert torch.isnan(trajectory.loss[0, step:]).all() and torch.isfinite(trajectory.loss[0, :step]).all()


def test_uv_init_rejects_bad_width():
    with pytest.raises(ValueError, match="width"):
        solvable.uv_init(0)
