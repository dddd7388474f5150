"""FCN-d-n: d Dense layers (d - 1 hidden layers of width n, then a readout), input flattened.

As the authors' ``fcn_sp`` / ``fcn_mup``: the activation follows every layer but the last, no
normalisation.  Parameters with bias: (in + 1) n + (d - 2)(n + 1) n + (n + 1) K.  Images are
flattened in C, H, W order (NCHW) where the authors flatten H, W, C; with i.i.d. initial weights the
two are the same model up to a fixed permutation of the inputs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from warmup_lib.models.init import ScaledLinear, activation, layer_scaling


class FCN(nn.Module):
    """f(x) = W_d phi(... phi(W_1 x + b_1) ...) + b_d with per-layer muP multipliers when requested.

    Args:
        in_features: Number of input features (the product of the example's shape).
        width: Width n of the hidden layers.
        depth: Number of Dense layers d (d - 1 hidden layers, then the readout).
        num_classes: Number of logits K.
        param: Parameterisation 'sp', 'mup' or 'simple_mup'.
        varw: Kernel variance scale sigma_w^2 of the hidden layers (the readout uses 1).
        act: Activation name phi ('relu', 'tanh', 'gelu', 'linear').
        bias: Give every layer a bias.

    Raises:
        ValueError: If ``param`` or ``act`` is unknown.
    """

    def __init__(self, in_features: int, width: int, depth: int, num_classes: int, param: str = "sp",
                 varw: float = 2.0, act: str = "relu", bias: bool = True) -> None:
        super().__init__()
        self.act = activation(act)
        layers, fan_in = [], in_features
        for index in range(depth - 1):
            role = "input" if index == 0 else "hidden"
            layers.append(ScaledLinear(fan_in, width, bias, layer_scaling(param, role, fan_in, width, varw)))
            fan_in = width
        self.hidden = nn.ModuleList(layers)
        self.readout = ScaledLinear(fan_in, num_classes, bias, layer_scaling(param, "readout", fan_in, num_classes, varw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits f(x) = W_d phi(... phi(W_1 x + b_1) ...) + b_d of the flattened inputs.

        Args:
            x: Inputs (N, ...), flattened to (N, in_features).

        Returns:
            Logits (N, K).
        """
        x = x.flatten(1)
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.readout(x)
