r"""Solvable models of the catapult mechanism: a quadratic and the uv model of Lewkowycz et al. (2020).

**Quadratic.**  GD on :math:`L(x) = \tfrac12 \sum_i \lambda_i x_i^2` is :math:`x_{t+1} = (1-\eta\lambda_i) x_t`,
so :math:`x_t = (1-\eta\lambda_i)^t x_0`: stable iff :math:`\eta < 2/\lambda_{\max}`.

**uv model.**  A two-layer linear network of width m,
:math:`f(x) = v^\top U x / \sqrt m` with :math:`U \in \mathbb R^{m\times d}`, :math:`v \in \mathbb R^m`, entries
N(0, 1) at init, trained with GD on :math:`L = \frac{1}{2n}\sum_a (f(x_a) - y_a)^2`.  With d = 1, one example
x = 1 and y = 0 (Lewkowycz et al.'s setting, u = U[:, 0]) write z = f = u.v/sqrt(m) and
:math:`\lambda = (\|u\|^2+\|v\|^2)/m` (the NTK).  GD closes on (z, lambda):

.. math::  z_{t+1} = z_t\,(1 - \eta\lambda_t + \eta^2 z_t^2/m), \qquad
           \lambda_{t+1} = \lambda_t + \frac{\eta z_t^2}{m}\,(\eta\lambda_t - 4).

So for :math:`2/\lambda_0 < \eta < 4/\lambda_0` z grows, lambda falls until :math:`\eta\lambda < 2` (catapult),
while for :math:`\eta > 4/\lambda_0` lambda only grows (divergence): :math:`\eta_{\max} = 4/\lambda_0`.

Every function works on a batch of K runs (U: (K, m, d), v: (K, m)) in float64, so a sweep over
learning rates and warmup lengths is one vectorised GD loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from warmup_lib.schedules import polynomial_warmup

DIVERGENCE_LOSS = 1e12  # a loss this large (or non-finite) is a divergence, recorded not raised


def quadratic_gd(curvatures: torch.Tensor, eta: float, x0: torch.Tensor, steps: int) -> torch.Tensor:
    r"""Iterate GD on :math:`L = \tfrac12\sum_i \lambda_i x_i^2`: :math:`x_{t+1} = x_t - \eta\,\lambda \odot x_t`.

    Args:
        curvatures: the lambda_i, (dim,).
        eta: the learning rate.
        x0: the start point, (dim,).
        steps: the number of GD steps, >= 0.

    Returns:
        The iterates x_0..x_steps, shape (steps + 1, dim).
    """
    iterates = [x0]
    for _ in range(steps):
        iterates.append(iterates[-1] - eta * curvatures * iterates[-1])
    return torch.stack(iterates)


def quadratic_closed_form(curvatures: torch.Tensor, eta: float, x0: torch.Tensor, steps: int) -> torch.Tensor:
    r"""The GD iterates on the quadratic in closed form: :math:`x_t = (1-\eta\lambda_i)^t\,x_{0,i}`.

    Args:
        curvatures: the lambda_i, (dim,).
        eta: the learning rate.
        x0: the start point, (dim,).
        steps: the last t, >= 0.

    Returns:
        x_t for t = 0..steps, shape (steps + 1, dim), in the dtype of ``x0``.
    """
    t = torch.arange(steps + 1, dtype=x0.dtype)[:, None]
    return (1 - eta * curvatures) ** t * x0


def quadratic_diverges(curvatures: torch.Tensor, eta: float) -> bool:
    r"""Whether GD on the quadratic diverges (from a generic x_0): iff some :math:`|1-\eta\lambda_i| > 1`,
    i.e. iff :math:`\eta > 2/\lambda_{\max}` (curvatures > 0).

    Args:
        curvatures: the lambda_i, (dim,).
        eta: the learning rate.

    Returns:
        True if max_i |1 - eta lambda_i| > 1.
    """
    return bool((1 - eta * curvatures).abs().max() > 1)


@dataclass(frozen=True)
class UVData:
    """A data set for the uv model: inputs x (n, d), targets y (n,)."""

    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def single_example(cls) -> "UVData":
        """Lewkowycz et al.'s setting: one example x = 1, target y = 0.

        Returns:
            The data set, x (1, 1) and y (1,) in float64.
        """
        return cls(torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))

    @classmethod
    def linear_teacher(cls, n: int, d: int, seed: int = 0) -> "UVData":
        """n Gaussian inputs x ~ N(0, I/d) with realisable targets y = w*.x, w* ~ N(0, I).

        Args:
            n: the number of examples.
            d: the input dimension.
            seed: the seed of the CPU generator that draws x and w*.

        Returns:
            The data set, x (n, d) and y (n,) in float64.
        """
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(n, d, generator=generator, dtype=torch.float64) / math.sqrt(d)
        w_star = torch.randn(d, generator=generator, dtype=torch.float64)
        return cls(x, x @ w_star)


def uv_init(width: int, input_dim: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """U (1, m, d) and v (1, m) with i.i.d. N(0, 1) entries (float64), as in Lewkowycz et al.

    Args:
        width: m, an int >= 1.
        input_dim: d, the input dimension.
        seed: the seed of the CPU generator that draws U, then v.

    Returns:
        (U, v), a batch of one run.

    Raises:
        ValueError: if ``width`` is not an int >= 1.
    """
    if not (isinstance(width, int) and width >= 1):
        raise ValueError(f"width: got {width!r}; must be an int >= 1")
    generator = torch.Generator().manual_seed(seed)
    u = torch.randn(1, width, input_dim, generator=generator, dtype=torch.float64)
    v = torch.randn(1, width, generator=generator, dtype=torch.float64)
    return u, v


def uv_output(u: torch.Tensor, v: torch.Tensor, data: UVData) -> torch.Tensor:
    r"""The network's outputs :math:`f(x_a) = v^\top U x_a/\sqrt m` for every run and example.

    Args:
        u: U, (K, m, d).
        v: v, (K, m).
        data: the examples x (n, d).

    Returns:
        f, shape (K, n).
    """
    return torch.einsum("kmd,nd,km->kn", u, data.x, v) / math.sqrt(u.shape[1])


def uv_loss(u: torch.Tensor, v: torch.Tensor, data: UVData) -> torch.Tensor:
    r"""The loss :math:`L = \frac{1}{2n}\sum_a (f(x_a) - y_a)^2` of every run.

    Args:
        u: U, (K, m, d).
        v: v, (K, m).
        data: the examples and targets.

    Returns:
        L, shape (K,).
    """
    return 0.5 * ((uv_output(u, v, data) - data.y) ** 2).mean(dim=1)


def uv_gradients(u: torch.Tensor, v: torch.Tensor, data: UVData) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The gradients :math:`\partial L/\partial U = v\,g^\top/\sqrt m`,
    :math:`\partial L/\partial v = U g/\sqrt m` with :math:`g = \frac1n\sum_a (f_a - y_a)\,x_a`.

    Args:
        u: U, (K, m, d).
        v: v, (K, m).
        data: the examples and targets.

    Returns:
        (dL/dU, dL/dv), shapes (K, m, d) and (K, m).
    """
    residual = uv_output(u, v, data) - data.y
    g = residual @ data.x / data.x.shape[0]  # (K, d)
    scale = math.sqrt(u.shape[1])
    return v[:, :, None] * g[:, None, :] / scale, torch.einsum("kmd,kd->km", u, g) / scale


def uv_ntk_eigenvalue(u: torch.Tensor, v: torch.Tensor, data: UVData) -> torch.Tensor:
    r"""Top eigenvalue of the NTK :math:`\Theta = J J^\top/n` (the Gauss-Newton sharpness), shape (K,).

    :math:`\Theta_{ab} = (\|v\|^2 x_a\cdot x_b + (Ux_a)\cdot(Ux_b))/(nm)`; for d = 1 it is
    :math:`\overline{x^2}\,(\|u\|^2 + \|v\|^2)/m`.  At a point with f = y it equals the Hessian's top
    eigenvalue; this is the lambda_0 of the thresholds 2/lambda_0 and 4/lambda_0.

    Args:
        u: U, (K, m, d).
        v: v, (K, m).
        data: the examples x (n, d).

    Returns:
        lambda_max(Theta), shape (K,).
    """
    ux = torch.einsum("kmd,nd->knm", u, data.x)
    gram = (v**2).sum(1)[:, None, None] * (data.x @ data.x.T) + ux @ ux.transpose(1, 2)
    return torch.linalg.eigvalsh(gram / (data.x.shape[0] * u.shape[1]))[:, -1]


def uv_hessian(u: torch.Tensor, v: torch.Tensor, data: UVData) -> torch.Tensor:
    r"""Dense Hessian of L in the flat parameters (vec U row-major, then v), shape (K, P, P), P = m(d+1).

    :math:`H = J^\top J/n + \sum_a r_a \nabla^2 f_a/n` where the only second derivatives of f are
    :math:`\partial^2 f_a/\partial U_{ie}\partial v_j = \delta_{ij} x_{ae}/\sqrt m`.

    Args:
        u: U, (K, m, d).
        v: v, (K, m).
        data: the examples and targets.

    Returns:
        H, shape (K, P, P) with P = m(d+1).
    """
    runs, width, dim = u.shape
    n, scale = data.x.shape[0], math.sqrt(width)
    jac_u = v[:, None, :, None] * data.x[None, :, None, :] / scale  # (K, n, m, d)
    jac_v = torch.einsum("kmd,nd->knm", u, data.x) / scale  # (K, n, m)
    jac = torch.cat([jac_u.reshape(runs, n, width * dim), jac_v], dim=2)
    hessian = jac.transpose(1, 2) @ jac / n
    g = (uv_output(u, v, data) - data.y) @ data.x / n  # (K, d)
    cross = torch.einsum("ij,ke->kiej", torch.eye(width, dtype=u.dtype), g).reshape(runs, width * dim, width) / scale
    hessian[:, : width * dim, width * dim :] += cross
    hessian[:, width * dim :, : width * dim] += cross.transpose(1, 2)
    return hessian


def uv_sharpness(u: torch.Tensor, v: torch.Tensor, data: UVData) -> torch.Tensor:
    r"""Exact top Hessian eigenvalue of the uv model, shape (K,).

    For d = 1 in closed form: with :math:`S = \overline{x^2}`, :math:`N = (\|u\|^2+\|v\|^2)/m`,
    :math:`c = u\cdot v/m`, :math:`c' = \overline{(f-y)x}/\sqrt m`, the Hessian is
    :math:`S\,\nabla z\nabla z^\top + c' J` (J swaps u and v); on span{(u,v),(v,u)}

    .. math:: \lambda_{\max}(H) = \tfrac{SN}{2} + \sqrt{(Sc + c')^2 + S^2(N^2/4 - c^2)},

    which is SN (the NTK) where f = y, e.g. :math:`(\|u\|^2+\|v\|^2)/m` for x = 1, y = 0 at f = 0.
    For d > 1 it is ``eigvalsh`` of :func:`uv_hessian`.

    Args:
        u: U, (K, m, d).
        v: v, (K, m).
        data: the examples and targets.

    Returns:
        lambda_max(H), shape (K,).
    """
    if u.shape[2] > 1:
        return torch.linalg.eigvalsh(uv_hessian(u, v, data))[:, -1]
    u1, width = u[:, :, 0], u.shape[1]
    x = data.x[:, 0]
    s = (x**2).mean()
    norm = ((u1**2).sum(1) + (v**2).sum(1)) / width
    c = (u1 * v).sum(1) / width
    c_prime = ((uv_output(u, v, data) - data.y) * x).mean(1) / math.sqrt(width)
    return s * norm / 2 + torch.sqrt((s * c + c_prime) ** 2 + s**2 * (norm**2 / 4 - c**2))


def linear_warmup_etas(eta_trgt: torch.Tensor, warmup_steps: torch.Tensor, steps: int) -> torch.Tensor:
    r"""Linear warmup rates :math:`\eta_t = \eta_{trgt}\min(1, (t+1)/T_{wrm})` for each run (rows), t = 0..steps-1.

    Args:
        eta_trgt: each run's target rate, (K,).
        warmup_steps: each run's T_wrm, (K,).
        steps: the number of updates T.

    Returns:
        eta_t, shape (K, steps), float64.
    """
    t = torch.arange(steps, dtype=torch.float64)
    return polynomial_warmup(t, eta_trgt[:, None], warmup_steps.to(torch.float64)[:, None])


@dataclass(frozen=True)
class UVTrajectory:
    """Per-step records of K GD runs: loss, sharpness and NTK at t = 0..T (K, T+1), etas (K, T), and the
    step at which each run diverged (-1 if it did not).  Records after a divergence are NaN."""

    loss: torch.Tensor
    sharpness: torch.Tensor
    ntk: torch.Tensor
    etas: torch.Tensor
    diverged_at: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor


def uv_gd(u0: torch.Tensor, v0: torch.Tensor, data: UVData, etas: torch.Tensor,
          record_every: int = 1) -> UVTrajectory:
    r"""Full-batch GD :math:`\theta_{t+1} = \theta_t - \eta_t \nabla L(\theta_t)` for K runs at once.

    ``etas`` (K, T) holds each run's schedule; all runs start from (u0, v0) (batch 1 or K).  A run whose
    loss exceeds DIVERGENCE_LOSS or turns non-finite is frozen and marked diverged.  Sharpness and NTK
    are recorded every ``record_every`` steps (NaN in between) since d > 1 needs a dense eigvalsh.

    Args:
        u0: the initial U, (1, m, d) or (K, m, d).
        v0: the initial v, (1, m) or (K, m).
        data: the examples and targets.
        etas: eta_t of every run, (K, T).
        record_every: record sharpness and NTK at the steps divisible by this (and at T), >= 1.

    Returns:
        The :class:`UVTrajectory` of the K runs, with their final U and v.
    """
    runs, steps = etas.shape
    u, v = u0.expand(runs, -1, -1).clone(), v0.expand(runs, -1).clone()
    nan = torch.full((runs, steps + 1), math.nan, dtype=torch.float64)
    loss, sharpness, ntk = nan.clone(), nan.clone(), nan.clone()
    diverged_at = torch.full((runs,), -1, dtype=torch.long)
    for t in range(steps + 1):
        alive = diverged_at < 0
        current = uv_loss(u, v, data)
        newly = alive & (~torch.isfinite(current) | (current > DIVERGENCE_LOSS))
        diverged_at[newly] = t
        alive &= ~newly
        loss[alive, t] = current[alive]
        if t % record_every == 0 or t == steps:
            sharpness[alive, t] = uv_sharpness(u[alive], v[alive], data)
            ntk[alive, t] = uv_ntk_eigenvalue(u[alive], v[alive], data)
        if t == steps:
            break
        grad_u, grad_v = uv_gradients(u, v, data)
        step_size = torch.where(alive, etas[:, t], torch.zeros_like(etas[:, t]))
        u = u - step_size[:, None, None] * grad_u
        v = v - step_size[:, None] * grad_v
    return UVTrajectory(loss, sharpness, ntk, etas, diverged_at, u, v)


def uv_outcomes(trajectory: UVTrajectory, loss_tol: float = 0.5) -> list[str]:
    r"""Classify each run: 'diverged'; 'converged' if its final loss is below loss_tol x L_0 **and** the
    final point is linearly stable, :math:`\eta_T\,\lambda^H_T \le 2` (from there GD converges, if
    slowly when the catapult left little sharpness); otherwise 'unstable' (still oscillating, or resting
    exactly on a minimum that GD at this eta cannot hold).

    Args:
        trajectory: the runs, with sharpness recorded at the last step.
        loss_tol: the fraction of the initial loss L_0 below which the final loss counts as converged.

    Returns:
        One of 'diverged', 'converged', 'unstable' per run.
    """
    final_loss, initial_loss = trajectory.loss[:, -1], trajectory.loss[:, 0]
    stable = trajectory.etas[:, -1] * trajectory.sharpness[:, -1] <= 2.0
    outcomes = []
    for run in range(trajectory.loss.shape[0]):
        if trajectory.diverged_at[run] >= 0:
            outcomes.append("diverged")
        elif final_loss[run] <= loss_tol * initial_loss[run] and stable[run]:
            outcomes.append("converged")
        else:
            outcomes.append("unstable")
    return outcomes


def warmup_sweep(u0: torch.Tensor, v0: torch.Tensor, data: UVData, eta_trgts: list[float],
                 warmup_steps: list[int], extra_steps: int, loss_tol: float = 0.5) -> list[list[str]]:
    """Outcome of linear warmup for every (T_wrm, eta_trgt) pair, one vectorised GD run per cell.

    Every run lasts max(warmup_steps) + extra_steps steps; each is classified by :func:`uv_outcomes`.

    Args:
        u0: the initial U shared by all runs, (1, m, d).
        v0: the initial v shared by all runs, (1, m).
        data: the examples and targets.
        eta_trgts: the target rates, the grid's columns.
        warmup_steps: the warmup lengths T_wrm, the grid's rows.
        extra_steps: the steps every run makes beyond the longest warmup.
        loss_tol: passed to :func:`uv_outcomes`.

    Returns:
        outcomes[i][j] ('diverged', 'converged' or 'unstable') for warmup_steps[i], eta_trgts[j].
    """
    grid_eta = torch.tensor(eta_trgts, dtype=torch.float64).repeat(len(warmup_steps))
    grid_warmup = torch.tensor(warmup_steps).repeat_interleave(len(eta_trgts))
    etas = linear_warmup_etas(grid_eta, grid_warmup, max(warmup_steps) + extra_steps)
    outcomes = uv_outcomes(uv_gd(u0, v0, data, etas, record_every=etas.shape[1]), loss_tol)
    return [outcomes[i * len(eta_trgts):(i + 1) * len(eta_trgts)] for i in range(len(warmup_steps))]
