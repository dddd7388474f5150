"""The matrix-free eigensolvers against torch.linalg.eigh of explicit symmetric matrices."""

import warnings

import pytest
import torch

from warmup_lib.curvature.eigensolvers import ConvergenceWarning, lanczos, top_eigenpairs


def random_symmetric(n: int, eigenvalues: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Q diag(eigenvalues) Q^T with a seeded random orthogonal Q."""
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    return q @ torch.diag(eigenvalues.to(torch.float64)) @ q.T


def indefinite_matrix(n: int = 200) -> torch.Tensor:
    """A Hessian-like spectrum: a few outliers on top, a large negative one, a bulk near zero."""
    bulk = torch.linspace(-0.5, 1.0, n - 4, dtype=torch.float64)
    return random_symmetric(n, torch.cat([torch.tensor([10.0, 7.0, 6.5, -9.0]), bulk]))


@pytest.mark.parametrize("solver", ["lanczos", "eigsh"])
@pytest.mark.parametrize("k", [1, 3])
def test_largest_algebraic_eigenvalues(solver, k):
    matrix = indefinite_matrix()
    exact = torch.linalg.eigvalsh(matrix).flip(0)[:k]
    result = top_eigenpairs(lambda v: matrix @ v, 200, k=k, tol=1e-8, solver=solver)
    assert result.converged
    torch.testing.assert_close(result.eigenvalues, exact, rtol=1e-10, atol=0)
    # The reported residuals are the true ones, and they meet the tolerance.
    vectors = result.eigenvectors
    true_residual = (matrix @ vectors - vectors * result.eigenvalues).norm(dim=0) / result.eigenvalues.abs()
    torch.testing.assert_close(result.residuals, true_residual, rtol=1e-6, atol=1e-14)
    assert (true_residual <= 1e-8).all()
    torch.testing.assert_close(vectors.T @ vectors, torch.eye(k, dtype=torch.float64), atol=1e-10, rtol=0)


def test_relative_residual_tolerance_bounds_eigenvalue_error():
    matrix = indefinite_matrix()
    result = top_eigenpairs(lambda v: matrix @ v, 200, tol=1e-3)
    assert result.residuals[0] <= 1e-3
    # For a symmetric matrix the Ritz value error is at most residual^2 / gap (here gap = 3).
    assert abs(result.value - 10.0) <= (1e-3 * 10.0) ** 2 / 3.0


def test_warm_start_from_exact_eigenvectors_needs_k_products():
    matrix = indefinite_matrix()
    _, vectors = torch.linalg.eigh(matrix)
    top = vectors[:, -2:].flip(1)
    result = top_eigenpairs(lambda v: matrix @ v, 200, k=2, tol=1e-8, v0=top)
    assert result.hvps == 2
    torch.testing.assert_close(result.eigenvalues, torch.tensor([10.0, 7.0], dtype=torch.float64))


def test_thick_restart_converges_with_a_small_basis():
    # Clustered top of the spectrum: needs more than max_basis products.
    n = 300
    eigenvalues = torch.cat([torch.tensor([1.0, 0.995]), torch.linspace(0.0, 0.99, n - 2)]).double()
    matrix = random_symmetric(n, eigenvalues, seed=1)
    result = top_eigenpairs(lambda v: matrix @ v, n, tol=1e-6, solver="lanczos", max_hvps=2000)
    small = lanczos(lambda v: matrix @ v, n, tol=1e-6, max_basis=10, max_hvps=5000)
    assert result.converged and small.converged
    assert small.hvps > 10
    assert abs(small.value - 1.0) < 1e-9 and abs(result.value - 1.0) < 1e-9


def test_low_rank_operator_and_tiny_dimension():
    # Rank one: the Krylov space is invariant after one product; the solver must still finish.
    u = torch.arange(1.0, 6.0, dtype=torch.float64)
    result = top_eigenpairs(lambda v: u * (u @ v), 5, k=2, tol=1e-8)
    assert abs(result.value - float(u @ u)) < 1e-9
    assert abs(float(result.eigenvalues[1])) < 1e-9


def test_budget_exhaustion_is_reported_and_warned_not_raised():
    matrix = indefinite_matrix()
    with pytest.warns(ConvergenceWarning, match="max_hvps=3") as caught:
        result = top_eigenpairs(lambda v: matrix @ v, 200, tol=1e-12, max_hvps=3)
    assert not result.converged and result.hvps == 3
    assert f"residual {float(result.residuals[0]):.3g} > tol=1e-12" in str(caught[0].message)
    with warnings.catch_warnings():  # the same solve with budget enough is silent
        warnings.simplefilter("error", ConvergenceWarning)
        assert top_eigenpairs(lambda v: matrix @ v, 200, tol=1e-12).converged


@pytest.mark.parametrize(
    "kwargs, field",
    [({"solver": "power"}, "solver"), ({"k": 0}, "k"), ({"tol": 0.0}, "tol"), ({"v0": torch.ones(7)}, "v0"),
     ({"max_hvps": 0}, "max_hvps")],
)
def test_invalid_arguments_raise(kwargs, field):
    with pytest.raises(ValueError, match=field):
        top_eigenpairs(lambda v: v, 5, **kwargs)
