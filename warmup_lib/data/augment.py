"""The authors' train-time image augmentation (code digest section 3), for NCHW batches.

In order: horizontal flip with probability 1/2; zero-pad by 4 pixels and crop back to the original
size at a random corner with offsets 0..7 (``randint(0, 8)``, as the authors, so never 8); mixup
with a per-example weight w ~ U(0, 1) and partner the reversed batch:
x_i <- w_i x_i + (1 - w_i) x_{B-1-i}, and the same for the one-hot labels (so targets become soft).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CROP_PADDING = 4


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image along its width with probability 1/2.

    Args:
        x: Images (N, C, H, W).
        generator: Source of the per-image coin flips (one uniform draw per image).

    Returns:
        Tensor of the shape of ``x``: image i is x_i[..., ::-1] where its draw u_i < 1/2, else x_i.
    """
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_crop(x: torch.Tensor, generator: torch.Generator, padding: int = CROP_PADDING) -> torch.Tensor:
    """Zero-pad H and W by ``padding`` and cut an H x W window at offsets drawn from 0..2*padding-1.

    Args:
        x: Images (N, C, H, W).
        generator: Source of the random offsets (top, then left, one per image).
        padding: Zero padding in pixels on every side; default :data:`CROP_PADDING` = 4, so offsets
            0..7 (never 8, as the authors' ``randint(0, 8)``).

    Returns:
        Cropped images of the shape of ``x``.
    """
    n, channels, height, width = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding, (n,), generator=generator)
    left = torch.randint(0, 2 * padding, (n,), generator=generator)
    rows = (top[:, None] + torch.arange(height))[:, None, :, None]
    cols = (left[:, None] + torch.arange(width))[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(channels)[None, :, None, None], rows, cols]


def mixup(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each example with its partner in the reversed batch, weight w ~ U(0, 1) per example.

    x_i <- w_i x_i + (1 - w_i) x_{B-1-i} and y_i <- w_i y_i + (1 - w_i) y_{B-1-i}.

    Args:
        x: Inputs (B, ...).
        y: Targets (B, ...), e.g. one-hot labels (B, K); they become soft labels.
        generator: Source of the weights w (B uniform draws).

    Returns:
        The mixed (inputs, targets), of the shapes of ``x`` and ``y``.
    """
    weight = torch.rand(x.shape[0], generator=generator, dtype=x.dtype)
    x_weight = weight.reshape(-1, *([1] * (x.dim() - 1)))
    y_weight = weight.reshape(-1, *([1] * (y.dim() - 1))).to(y.dtype)
    return x_weight * x + (1 - x_weight) * x.flip(0), y_weight * y + (1 - y_weight) * y.flip(0)


def augment_batch(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip, then crop, then mixup: the authors' ``augment=True`` pipeline.

    Args:
        x: Images (N, C, H, W).
        y: One-hot targets (N, K).
        generator: The one source of randomness for all three steps (drawn in that order).

    Returns:
        The augmented (inputs, soft targets), of the shapes of ``x`` and ``y``.
    """
    return mixup(random_crop(random_flip(x, generator), generator), y, generator)
