"""Matrix-free top-k eigensolvers for a symmetric operator given as a callable on flat vectors.

``top_eigenpairs`` returns the k largest *algebraic* eigenvalues (a Hessian can be indefinite) and
stops once every pair satisfies the relative residual test ||A y - theta y|| <= tol * |theta|.

Two solvers:

- ``"lanczos"`` (default): a restarted Lanczos / Rayleigh-Ritz iteration with full
  re-orthogonalisation.  The basis Q grows by the (orthogonalised) residual of the leading
  unconverged Ritz pair, which for a single start vector spans exactly the Krylov space
  K_j(A, v0).  The products W = A Q are kept, so the projected matrix Q^T A Q, the Ritz pairs and
  their *true* residuals come without extra products.  When the basis reaches ``max_basis`` it is
  shrunk to the current Ritz vectors (a thick restart; A Q is updated without products).
  Warm starts put the given vectors first in the basis.
- ``"eigsh"``: ARPACK's implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``, which="LA")
  over a ``LinearOperator``; ARPACK's stopping rule is the same relative residual test.  It accepts
  a single start vector.

benchmarks/sharpness.py measures both (and plain power iteration): the hand-written Lanczos reaches
the same accuracy with fewer products, mostly because ARPACK fills a basis of ncv vectors before it
tests convergence and uses only one warm-start vector.

A solve that spends its whole budget of ``max_hvps`` products before the residual test passes
returns its best pairs with ``converged=False`` and warns (:class:`ConvergenceWarning`, naming the
residual reached), since its eigenvalue can be far from the true one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

MatVec = Callable[[torch.Tensor], torch.Tensor]
SOLVERS = ("lanczos", "eigsh")


class ConvergenceWarning(UserWarning):
    """An eigensolve spent its budget of products before its residual met the tolerance."""


@dataclass
class EigenResult:
    """Top-k eigenpairs of a symmetric operator, largest first.

    eigenvalues: (k,); eigenvectors: (n, k), orthonormal columns; residuals: (k,) the relative
    residuals norm(A y - theta y) / abs(theta); hvps: operator applications used; converged: whether
    every residual met the tolerance.
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor = field(repr=False)
    residuals: torch.Tensor
    hvps: int
    converged: bool

    @property
    def value(self) -> float:
        """The largest eigenvalue as a float."""
        return float(self.eigenvalues[0])


def _orthonormal_columns(block: torch.Tensor, basis: torch.Tensor | None) -> torch.Tensor:
    """Columns of ``block`` orthogonalised (twice, for stability) against ``basis`` and each other;
    numerically dependent columns are dropped."""
    kept: list[torch.Tensor] = []
    for column in block.T:
        norm0 = column.norm()
        for _ in range(2):
            for previous in ([basis] if basis is not None else []) + ([torch.stack(kept, 1)] if kept else []):
                column = column - previous @ (previous.T @ column)
        if column.norm() > 1e-8 * max(float(norm0), 1e-300):
            kept.append(column / column.norm())
    return torch.stack(kept, 1) if kept else block[:, :0]


def _ritz(
    basis: torch.Tensor, products: torch.Tensor, projected: torch.Tensor, k: int
) -> tuple[torch.Tensor, ...]:
    """Top-k Ritz values, Ritz vectors, their images A y = W s and relative residuals."""
    theta, coefficients = torch.linalg.eigh(projected)
    order = torch.argsort(theta, descending=True)[: min(k, theta.numel())]
    theta, coefficients = theta[order], coefficients[:, order]
    vectors, images = basis @ coefficients, products @ coefficients
    residual = (images - vectors * theta).norm(dim=0) / theta.abs().clamp_min(torch.finfo(theta.dtype).tiny)
    return theta, vectors, images, residual


def lanczos(
    matvec: MatVec,
    n: int,
    *,
    k: int = 1,
    tol: float = 1e-3,
    v0: torch.Tensor | None = None,
    max_hvps: int = 1000,
    max_basis: int = 64,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> EigenResult:
    """Top-k (largest algebraic) eigenpairs of the symmetric operator ``matvec`` on R^n.

    Rayleigh-Ritz on a growing Krylov basis with full re-orthogonalisation and thick restarts;
    stops when ||A y_i - theta_i y_i|| <= tol |theta_i| for i = 1..k or after ``max_hvps``.
    ``v0`` (shape (n,) or (n, m)) warm-starts the basis; otherwise a seeded Gaussian vector.

    Args:
        matvec: v -> A v for a flat vector v of length n (A symmetric, e.g. a Hessian).
        n: the dimension of the operator.
        k: the number of top eigenpairs (at most n).
        tol: the relative residual at which the solve stops, > 0.
        v0: a warm start, (n,) or (n, m), whose columns come first in the basis;
            None draws a seeded Gaussian vector.
        max_hvps: the budget of operator applications.
        max_basis: the basis size at which the basis is shrunk to the Ritz vectors (thick restart).
        dtype: the dtype of the basis and the results.
        device: the device of the basis and the results.
        seed: the seed of the Gaussian start vector (and of fresh directions after an invariant
            subspace).

    Returns:
        An :class:`EigenResult` with the top-k Ritz pairs, largest first; ``converged`` False
        when the budget or the dimension ran out first, or the residuals are not finite.

    Raises:
        ValueError: if ``v0`` is zero.
    """
    k = min(k, n)
    if v0 is None:
        generator = torch.Generator().manual_seed(seed)
        v0 = torch.randn(n, generator=generator, dtype=torch.float64)
    start = v0.reshape(n, -1).to(dtype=dtype, device=device)
    basis = _orthonormal_columns(start, None)
    if basis.shape[1] == 0:
        raise ValueError("v0 must not be zero")
    products = torch.stack([matvec(q) for q in basis.T], 1)
    projected = basis.T @ products  # Q^T A Q, grown by one border per product below
    projected = (projected + projected.T) / 2
    hvps = basis.shape[1]
    while True:
        theta, vectors, images, residual = _ritz(basis, products, projected, k)
        converged = theta.numel() == k and bool((residual <= tol).all())
        finite = bool(torch.isfinite(residual).all())  # a diverged model gives NaN: report it, do not iterate
        if converged or not finite or hvps >= max_hvps or basis.shape[1] >= n:
            return EigenResult(theta, vectors, residual, hvps, converged)
        if basis.shape[1] >= max_basis:
            # Thick restart: keep the Ritz vectors; A Y = W S and Y^T A Y = diag(theta) need no products.
            basis, products, projected = vectors, images, torch.diag(theta)
        leading = int(torch.nonzero(residual > tol)[0]) if theta.numel() == k else 0
        direction = images[:, leading] - vectors[:, leading] * theta[leading]
        new = _orthonormal_columns(direction[:, None], basis)
        if new.shape[1] == 0:  # invariant subspace found: continue from a fresh random direction
            generator = torch.Generator().manual_seed(seed + hvps)
            fresh = torch.randn(n, 1, generator=generator, dtype=torch.float64).to(basis)
            new = _orthonormal_columns(fresh, basis)
        image = matvec(new[:, 0])
        basis, products = torch.cat([basis, new], 1), torch.cat([products, image[:, None]], 1)
        border = basis.T @ image  # q_i^T A q_new, symmetric by construction
        projected = torch.cat([torch.cat([projected, border[:-1, None]], 1), border[None, :]], 0)
        hvps += 1


def arpack(
    matvec: MatVec,
    n: int,
    *,
    k: int = 1,
    tol: float = 1e-3,
    v0: torch.Tensor | None = None,
    max_hvps: int = 1000,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> EigenResult:
    """Top-k (largest algebraic) eigenpairs by ``scipy.sparse.linalg.eigsh(which="LA")``.

    ARPACK stops when ||A y - theta y|| <= tol |theta|; ``v0`` warm-starts with its first column.

    Args:
        matvec: v -> A v for a flat vector v of length n (A symmetric, e.g. a Hessian).
        n: the dimension of the operator.
        k: the number of top eigenpairs (at most n).
        tol: the relative residual at which the solve stops, > 0.
        v0: a warm start, (n,) or (n, m), of which only the first column is used;
            None draws a seeded Gaussian vector.
        max_hvps: ARPACK's ``maxiter`` (its iteration limit).
        dtype: the dtype in which ``matvec`` is applied and the results are returned.
        device: the device in which ``matvec`` is applied and the results are returned.
        seed: the seed of the Gaussian start vector (numpy) when ``v0`` is None.

    Returns:
        An :class:`EigenResult`, largest first, whose residuals are checked with k extra products
        (not counted in ``hvps``).
    """
    hvps = 0

    def numpy_matvec(x: np.ndarray) -> np.ndarray:
        nonlocal hvps
        hvps += 1
        vector = torch.as_tensor(np.ascontiguousarray(x).reshape(-1), dtype=dtype, device=device)
        return matvec(vector).detach().cpu().double().numpy()

    start = None if v0 is None else v0.reshape(n, -1)[:, 0].detach().cpu().double().numpy()
    if start is None:
        start = np.random.default_rng(seed).standard_normal(n)
    operator = LinearOperator((n, n), matvec=numpy_matvec, dtype=np.float64)
    values, vectors = eigsh(operator, k=k, which="LA", tol=tol, v0=start, maxiter=max_hvps)
    order = np.argsort(values)[::-1].copy()
    theta = torch.as_tensor(values[order], dtype=dtype, device=device)
    vectors_t = torch.as_tensor(vectors[:, order], dtype=dtype, device=device)
    # k extra products (not counted in hvps) check ARPACK's residuals independently.
    images = torch.stack([matvec(y) for y in vectors_t.T], 1)
    residual = (images - vectors_t * theta).norm(dim=0) / theta.abs()
    return EigenResult(theta, vectors_t, residual, hvps, bool((residual <= tol).all()))


def top_eigenpairs(
    matvec: MatVec,
    n: int,
    *,
    k: int = 1,
    tol: float = 1e-3,
    v0: torch.Tensor | None = None,
    solver: str = "lanczos",
    max_hvps: int = 1000,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> EigenResult:
    """Top-k largest algebraic eigenpairs of a symmetric operator with ||Ay - theta y|| <= tol|theta|.

    ``solver`` is "lanczos" (default, warm-startable with k vectors) or "eigsh" (ARPACK).  If the
    budget of ``max_hvps`` products runs out before every residual meets ``tol``, the best pairs
    found are returned with ``converged=False`` and a :class:`ConvergenceWarning` is issued (a
    non-finite operator, e.g. a diverged model, returns NaN residuals without a warning).

    Args:
        matvec: v -> A v for a flat vector v of length n (A symmetric, e.g. a Hessian).
        n: the dimension of the operator.
        k: the number of top eigenpairs, >= 1 (at most n are returned).
        tol: the relative residual at which the solve stops, > 0.
        v0: a warm start with n rows, (n,) or (n, m) ("eigsh" uses its first
            column); None draws a seeded Gaussian vector.
        max_hvps: the budget of operator applications, >= 1.
        solver: "lanczos" or "eigsh".
        dtype: the dtype of the results.
        device: the device of the results.

    Returns:
        An :class:`EigenResult`, largest first.

    Raises:
        ValueError: if an argument is out of range (``max_hvps`` < 1 included).
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    if max_hvps < 1:
        raise ValueError(f"max_hvps must be a positive integer, got {max_hvps}")
    if v0 is not None and v0.reshape(v0.shape[0], -1).shape[0] != n:
        raise ValueError(f"v0 must have {n} rows, got shape {tuple(v0.shape)}")
    run = lanczos if solver == "lanczos" else arpack
    result = run(matvec, n, k=k, tol=tol, v0=v0, max_hvps=max_hvps, dtype=dtype, device=device)
    if not result.converged and result.hvps >= max_hvps and bool(torch.isfinite(result.residuals).all()):
        warnings.warn(f"eigensolver ({solver}) stopped unconverged after max_hvps={max_hvps} products: relative "
                      f"residual {float(result.residuals.max()):.3g} > tol={tol:g}; raise max_hvps (or tol)",
                      ConvergenceWarning, stacklevel=2)
    return result
