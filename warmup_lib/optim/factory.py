"""Optimizers from an :class:`~warmup_lib.config.OptimConfig`, and GI-Adam's g0 step.

* 'sgd': ``torch.optim.SGD`` (heavy ball when momentum > 0: m_t = g_t + beta m_{t-1},
  theta_{t+1} = theta_t - eta_t m_t; dampening 0, no Nesterov), as ``optax.sgd`` in the paper.
* 'adam': ``torch.optim.Adam``; 'radam': ``torch.optim.RAdam`` (rectification threshold 5, as
  ``optax.radam``).
* 'gi_adam' / 'ri_adam': :class:`warmup_lib.optim.giadam.GIAdam` with v0 = g0^2 / v0 = r^2 (||r|| = ||g0||);
  g0 comes from one extra training batch (:func:`initialise_second_moment`), as in the authors' code.
* 'adopt': :class:`warmup_lib.optim.adopt.ADOPT` with the clip t^(1/4); its first update only stores
  v0 = g0^2 (no extra batch: update 0 leaves the parameters where they are).

No weight decay anywhere, as in the paper.  Learning rates are set by the trainer before every
update (group["lr"] = group["lr_mult"] * eta_t), so the optimizers are built with lr = 0.
"""

from __future__ import annotations

import torch

from warmup_lib.config import OPTIMIZERS, OptimConfig
from warmup_lib.curvature.hessian import LossFn
from warmup_lib.optim.adopt import ADOPT
from warmup_lib.optim.giadam import GIAdam

GRADIENT_INIT_V0 = {"gi_adam": "grad", "ri_adam": "random"}  # optimizers that need g0 before training


def build_optimizer(cfg: OptimConfig, param_groups: list[dict]) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.name`` over ``param_groups`` (extra keys such as lr_mult are kept).

    Built with lr = 0 (the trainer sets each group's rate before every update) and no weight decay.

    Args:
        cfg: the optimizer's config: name ('sgd', 'adam', 'radam', 'gi_adam', 'ri_adam', 'adopt'), beta1,
            beta2, eps and (for 'sgd') momentum.
        param_groups: torch param groups.

    Returns:
        ``torch.optim.SGD``, ``Adam``, ``RAdam``, :class:`~warmup_lib.optim.giadam.GIAdam` with
        v0 = "grad" ('gi_adam') or "random" ('ri_adam'), or :class:`~warmup_lib.optim.adopt.ADOPT`
        ('adopt', clip_exponent 1/4).

    Raises:
        ValueError: if ``cfg.name`` is not one of those names.
    """
    betas = (cfg.beta1, cfg.beta2)
    if cfg.name == "sgd":
        return torch.optim.SGD(param_groups, lr=0.0, momentum=cfg.momentum, dampening=0.0)
    if cfg.name == "adam":
        return torch.optim.Adam(param_groups, lr=0.0, betas=betas, eps=cfg.eps)
    if cfg.name == "radam":
        return torch.optim.RAdam(param_groups, lr=0.0, betas=betas, eps=cfg.eps)
    if cfg.name in GRADIENT_INIT_V0:
        return GIAdam(param_groups, lr=0.0, betas=betas, eps=cfg.eps, v0=GRADIENT_INIT_V0[cfg.name])
    if cfg.name == "adopt":
        return ADOPT(param_groups, lr=0.0, betas=betas, eps=cfg.eps)
    raise ValueError(f"optim.name: got {cfg.name!r}; allowed values are {', '.join(map(repr, OPTIMIZERS))}")


def initialise_second_moment(optimizer: torch.optim.Optimizer, model: torch.nn.Module, loss_fn: LossFn,
                             inputs: torch.Tensor, targets: torch.Tensor) -> None:
    """GI-/RI-Adam set-up: g0 = grad L(theta_0) on (inputs, targets), then v0 from g0.

    The caller draws this batch from the training stream and trains from the next one, so g0's
    batch is never trained on (code digest section 4).  Gradients are cleared afterwards.

    Args:
        optimizer: a :class:`~warmup_lib.optim.giadam.GIAdam` (it needs ``init_from_grad``).
        model: the network, at theta_0.
        loss_fn: ``loss_fn(model(inputs), targets)`` is the loss L.
        inputs: the batch that defines g0.
        targets: the matching targets.
    """
    optimizer.zero_grad(set_to_none=True)
    loss_fn(model(inputs), targets).backward()
    optimizer.init_from_grad()
    optimizer.zero_grad(set_to_none=True)
