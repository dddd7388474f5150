"""Losses and accuracy in the authors' conventions (code digest section 4).

* MSE: L = 1/2 * mean over batch x classes of (f - y)^2, i.e. 1/(2 B K) sum_{i,k} (f_ik - y_ik)^2.
  The extra 1/K against the per-example 1/2 ||f - y||^2 scales the Hessian (and lambda^H) by 1/K.
* Cross-entropy: L = -1/B sum_i sum_k y_ik log softmax(f_i)_k (``optax.softmax_cross_entropy``
  averaged over the batch), for one-hot or soft (mixup) targets; integer targets are class
  indices, also per token: logits (N, T, V) with targets (N, T), averaged over all N T tokens.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

LOSS_NAMES = ("mse", "xent")


def mse_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The MSE loss L = 1/2 mean((f - y)^2) over all B x K entries, i.e. 1/(2 B K) sum_{i,k} (f_ik - y_ik)^2.

    Args:
        output: f, the model's outputs, (B, K).
        target: y, one-hot or soft float targets of the shape of ``output``.

    Returns:
        L as a scalar tensor.

    Raises:
        ValueError: if ``target`` does not have the shape of ``output`` (e.g. integer labels).
    """
    if output.shape != target.shape:
        raise ValueError(f"target: shape {tuple(target.shape)} differs from the output's {tuple(output.shape)}; "
                         "MSE needs one-hot (or soft) float targets")
    return 0.5 * (output - target).square().mean()


def xent_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy averaged over examples (and tokens): L = -mean_i sum_k y_ik log softmax(f_i)_k.

    Args:
        output: f, the logits, (B, K) or per token (N, T, V).
        target: y, float one-hot or soft (mixup) targets of the shape of ``output``, or integer
            class indices, (B,) or per token (N, T).

    Returns:
        L as a scalar tensor, averaged over all examples (all N T tokens for integer targets).
    """
    if target.is_floating_point():
        return -(target * F.log_softmax(output, dim=-1)).sum(dim=-1).mean()
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))


def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The accuracy: the fraction of examples with argmax_k f_ik == label_i.

    Args:
        output: f, the model's outputs or logits, classes on the last axis.
        target: one-hot / soft float targets (the label is their argmax) or integer labels.

    Returns:
        The fraction in [0, 1] as a scalar tensor of ``output``'s dtype.
    """
    labels = target.argmax(dim=-1) if target.is_floating_point() else target
    return (output.argmax(dim=-1) == labels).to(output.dtype).mean()


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function called ``name``: 'mse' (:func:`mse_loss`) or 'xent' (:func:`xent_loss`).

    Args:
        name: 'mse' or 'xent' (:data:`LOSS_NAMES`).

    Returns:
        The function loss(output, target) -> scalar tensor.

    Raises:
        ValueError: if ``name`` is not one of :data:`LOSS_NAMES`.
    """
    losses = {"mse": mse_loss, "xent": xent_loss}
    if name not in losses:
        raise ValueError(f"loss: got {name!r}; allowed values are {', '.join(map(repr, LOSS_NAMES))}")
    return losses[name]
