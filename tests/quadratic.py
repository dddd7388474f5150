"""A quadratic 'model' for curvature tests: model(x) = theta and loss_fn(theta, A) = 0.5 theta^T A theta,
so that the gradient is A theta and the Hessian is A exactly."""

import torch
from torch import nn


class Quadratic(nn.Module):
    """model(x) = theta, whatever x."""

    def __init__(self, theta: torch.Tensor) -> None:
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.theta


def quadratic_loss(theta: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """0.5 theta^T A theta (the targets are the matrix A)."""
    return 0.5 * theta @ matrix @ theta
