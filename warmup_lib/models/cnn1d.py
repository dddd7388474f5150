"""A small 1-D CNN for MNIST-1D (our addition; the authors' CNN is the broken Myrtle net).

``depth`` conv layers of ``width`` channels, kernel 5, 'same' padding, each followed by the
activation; every layer halves the length (stride 2) while its input is at least 8 long, which keeps
it cheap on CPUs (40 -> 20 -> 10 -> 5 -> 5 for depth 4).  Then a global mean over
positions and a Dense readout.  Fans are Flax's (kernel * channels); the muP multiplier uses them
too (the WRN's H*W*C_in quirk is not carried over to this model).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from warmup_lib.models.init import ScaledConv1d, ScaledLinear, activation, layer_scaling

KERNEL_SIZE = 5
MIN_LENGTH_TO_DOWNSAMPLE = 8


class CNN1D(nn.Module):
    """Inputs (N, L) or (N, C, L) -> logits (N, K).

    Args:
        input_shape: Shape of one example, (L,) or (C, L).
        width: Channels of every conv layer.
        depth: Number of conv layers.
        num_classes: Number of logits K.
        param: Parameterisation 'sp', 'mup' or 'simple_mup'.
        varw: Kernel variance scale sigma_w^2 of the conv layers (the readout uses 1).
        act: Activation name ('relu', 'tanh', 'gelu', 'linear').
        bias: Give every layer a bias.

    Raises:
        ValueError: If ``input_shape`` is not 1-D or 2-D, or ``param`` / ``act`` is unknown.
    """

    def __init__(self, input_shape: tuple[int, ...], width: int, depth: int, num_classes: int, param: str = "sp",
                 varw: float = 2.0, act: str = "relu", bias: bool = True) -> None:
        super().__init__()
        if len(input_shape) not in (1, 2):
            raise ValueError(f"input_shape: got {input_shape}; the 1-D CNN takes (length,) or (channels, length)")
        self.act = activation(act)
        channels, length = (1, input_shape[0]) if len(input_shape) == 1 else input_shape
        layers = []
        for index in range(depth):
            stride = 2 if length >= MIN_LENGTH_TO_DOWNSAMPLE else 1
            scaling = layer_scaling(param, "input" if index == 0 else "hidden", KERNEL_SIZE * channels,
                                    KERNEL_SIZE * width, varw)
            layers.append(ScaledConv1d(channels, width, KERNEL_SIZE, stride, KERNEL_SIZE // 2, bias, scaling))
            channels, length = width, (length - 1) // stride + 1
        self.convs = nn.ModuleList(layers)
        self.readout = ScaledLinear(width, num_classes, bias, layer_scaling(param, "readout", width, num_classes, varw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits readout(mean_positions(phi(conv_depth(... phi(conv_1(x)) ...)))).

        Args:
            x: Inputs (N, L) (one channel) or (N, C, L).

        Returns:
            Logits (N, K).
        """
        if x.dim() == 2:
            x = x.unsqueeze(1)
        for conv in self.convs:
            x = self.act(conv(x))
        return self.readout(x.mean(dim=-1))
