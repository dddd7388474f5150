"""Initialisation and parameterisations (SP, muP, simple-muP) exactly as the authors' code.

Every kernel is drawn from JAX's ``variance_scaling(scale, mode, 'truncated_normal')``: a normal
truncated at +-2 sigma_0 whose *actual* variance is scale / fan, i.e. sigma_0 =
sqrt(scale / fan) / 0.87962566103423978.  Fans follow Flax: a dense kernel (in, out) has fan_in =
in, fan_out = out; a conv kernel has fan_in = prod(kernel) * C_in, fan_out = prod(kernel) * C_out.
All biases start at 0.  ``scale`` is sigma_w^2 = varw for input, hidden and conv layers and 1 for the
readout and the WRN shortcut convs.

* SP: W ~ N(0, scale / fan_in), no multiplier.
* muP (abc style, muP for SGD): input/hidden layers W ~ N(0, scale / fan_out) with the layer's
  output, bias included, multiplied by sqrt(fan_out / fan_in); readout W ~ N(0, 1 / fan_in) with
  its output multiplied by 1 / sqrt(fan_in).
* simple-muP: the same forward pass as muP; it differs only in leaving out the per-layer Adam
  learning-rate multipliers of muP (1/sqrt(fan_out) input, 1/sqrt(fan_in) hidden, 1/fan_in
  readout), which :func:`warmup_lib.models.param_groups` applies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# Standard deviation of a unit normal truncated at +-2: dividing by it restores the target variance.
TRUNCATED_NORMAL_STD = 0.87962566103423978
ROLES = ("input", "hidden", "readout", "shortcut")


def truncated_normal_(weight: torch.Tensor, variance: float) -> torch.Tensor:
    """Fill ``weight`` in place with N(0, sigma_0^2) truncated at +-2 sigma_0, sigma_0 = sqrt(variance)/0.8796...

    The result has variance ``variance`` (JAX's variance_scaling 'truncated_normal').  Draws come
    from torch's global generator.

    Args:
        weight: Tensor to overwrite (no gradient is recorded).
        variance: Target variance of the entries, e.g. scale / fan.

    Returns:
        ``weight`` itself, filled.
    """
    std = math.sqrt(variance) / TRUNCATED_NORMAL_STD
    with torch.no_grad():
        return nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


@dataclass(frozen=True)
class LayerScaling:
    """How one weight layer is initialised and scaled: kernel variance, output multiplier (applied
    to the bias too) and the muP Adam learning-rate multiplier."""

    variance: float
    multiplier: float
    adam_lr_mult: float


def layer_scaling(param: str, role: str, fan_in: int, fan_out: int, varw: float,
                  multiplier_fan_in: int | None = None, multiplier_fan_out: int | None = None) -> LayerScaling:
    """The :class:`LayerScaling` of a layer with Flax fans ``fan_in`` / ``fan_out`` in parameterisation ``param``.

    ``multiplier_fan_in`` / ``multiplier_fan_out`` replace the fans inside the muP multiplier
    sqrt(fan_out / fan_in) only (the WRN's muConv uses C_out / (H W C_in), see ``wrn.py``).

    With scale = 1 for 'readout' and 'shortcut' and ``varw`` otherwise:

    * 'sp': variance scale / fan_in, multiplier 1, Adam multiplier 1.
    * 'mup' / 'simple_mup', readout: variance 1 / fan_in, multiplier 1 / sqrt(fan_in), Adam
      multiplier 1 / fan_in.
    * 'mup' / 'simple_mup', other roles: variance scale / fan_out, multiplier
      sqrt(fan_out / fan_in), Adam multiplier 1 / sqrt(fan_out) ('input') or 1 / sqrt(fan_in).

    Args:
        param: Parameterisation 'sp', 'mup' or 'simple_mup'.
        role: One of :data:`ROLES`: 'input', 'hidden', 'readout', 'shortcut'.
        fan_in: Flax fan-in (in features, or prod(kernel) * C_in).
        fan_out: Flax fan-out (out features, or prod(kernel) * C_out).
        varw: sigma_w^2, the variance scale of input, hidden and conv layers.
        multiplier_fan_in: Replaces ``fan_in`` in the muP multiplier; None keeps ``fan_in``.
        multiplier_fan_out: Replaces ``fan_out`` in the muP multiplier; None keeps ``fan_out``.

    Returns:
        The layer's :class:`LayerScaling` (kernel variance, output multiplier, Adam lr multiplier).

    Raises:
        ValueError: If ``role`` or ``param`` is not an allowed value.
    """
    if role not in ROLES:
        raise ValueError(f"role: got {role!r}; allowed values are {', '.join(map(repr, ROLES))}")
    scale = 1.0 if role in ("readout", "shortcut") else varw
    if param == "sp":
        return LayerScaling(scale / fan_in, 1.0, 1.0)
    if param not in ("mup", "simple_mup"):
        raise ValueError(f"model.param: got {param!r}; allowed values are 'sp', 'mup', 'simple_mup'")
    if role == "readout":
        return LayerScaling(1.0 / fan_in, 1.0 / math.sqrt(fan_in), 1.0 / fan_in)
    multiplier = math.sqrt((multiplier_fan_out or fan_out) / (multiplier_fan_in or fan_in))
    adam_lr_mult = 1.0 / math.sqrt(fan_out) if role == "input" else 1.0 / math.sqrt(fan_in)
    return LayerScaling(scale / fan_out, multiplier, adam_lr_mult)


class _ScaledLayer:
    """Mixin: truncated-normal kernel, zero bias, and an output multiplier (bias included)."""

    multiplier: float
    adam_lr_mult: float

    def _init_scaled(self, scaling: LayerScaling) -> None:
        self.multiplier = scaling.multiplier
        self.adam_lr_mult = scaling.adam_lr_mult
        truncated_normal_(self.weight, scaling.variance)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out if self.multiplier == 1.0 else out * self.multiplier


class ScaledLinear(_ScaledLayer, nn.Linear):
    """Dense layer y = multiplier * (x W^T + b) initialised by a :class:`LayerScaling`.

    Args:
        in_features: Input features (fan_in).
        out_features: Output features (fan_out).
        bias: Add a bias b (initialised to 0).
        scaling: Kernel variance, output multiplier and Adam lr multiplier of the layer.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool, scaling: LayerScaling) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias=bias)
        self._init_scaled(scaling)


class ScaledConv1d(_ScaledLayer, nn.Conv1d):
    """1-D convolution with an output multiplier, initialised by a :class:`LayerScaling`.

    Args:
        in_channels: Input channels C_in.
        out_channels: Output channels C_out.
        kernel_size: Kernel length.
        stride: Stride.
        padding: Zero padding on each end (symmetric).
        bias: Add a bias (initialised to 0).
        scaling: Kernel variance, output multiplier and Adam lr multiplier of the layer.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
                 bias: bool, scaling: LayerScaling) -> None:
        nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
        self._init_scaled(scaling)


class ScaledConv2d(_ScaledLayer, nn.Conv2d):
    """2-D convolution with Flax 'SAME' padding (asymmetric when needed) and an output multiplier.

    Args:
        in_channels: Input channels C_in.
        out_channels: Output channels C_out.
        kernel_size: Side of the square kernel.
        stride: Stride.
        input_size: Height = width of the square input, used to work out the 'SAME' padding.
        bias: Add a bias (initialised to 0).
        scaling: Kernel variance, output multiplier and Adam lr multiplier of the layer.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, input_size: int,
                 bias: bool, scaling: LayerScaling) -> None:
        low, high = same_padding(input_size, kernel_size, stride)
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride=stride,
                           padding=low if low == high else 0, bias=bias)
        # Flax pads (0, 1) for a 3x3 stride-2 conv on an even size; torch's padding=1 would pad (1, 1).
        self.pre_pad = None if low == high else (low, high, low, high)
        self._init_scaled(scaling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """multiplier * (conv(x) + b), after padding x as Flax 'SAME' does.

        Args:
            x: Images (N, C_in, input_size, input_size).

        Returns:
            Tensor (N, C_out, ceil(input_size / stride), ceil(input_size / stride)).
        """
        return super().forward(x if self.pre_pad is None else F.pad(x, self.pre_pad))


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(low, high) padding of XLA/Flax 'SAME': output ceil(size/stride), extra padding at the end.

    total = max((ceil(size / stride) - 1) * stride + kernel - size, 0), low = total // 2,
    high = total - low.

    Args:
        size: Input length along the axis.
        kernel: Kernel length.
        stride: Stride.

    Returns:
        (low, high): padding before and after the input.
    """
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class LayerNorm(nn.Module):
    """LayerNorm over one axis ``dim`` (Flax's nn.LayerNorm normalises the feature axis only).

    y = (x - mean) / sqrt(var + eps) * gamma + beta, mean/var over ``dim``, eps 1e-6 (Flax).  Written
    with elementary ops so that every higher derivative exists (Hessian-vector products).

    Args:
        num_features: Size of axis ``dim`` (length of gamma and beta, initialised to 1 and 0).
        dim: The axis normalised over (-1: last; 1: channels of NCHW).
        eps: Added to the variance.
    """

    def __init__(self, num_features: int, dim: int = -1, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = (x - mean) / sqrt(var + eps) * gamma + beta, statistics over axis ``dim``.

        Args:
            x: Tensor whose axis ``dim`` has ``num_features`` entries.

        Returns:
            Tensor of the shape of ``x``.
        """
        centred = x - x.mean(dim=self.dim, keepdim=True)
        normalised = centred * torch.rsqrt(centred.square().mean(dim=self.dim, keepdim=True) + self.eps)
        shape = [1] * x.dim()
        shape[self.dim] = -1
        return normalised * self.weight.view(shape) + self.bias.view(shape)


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Elementwise nonlinearity by name: 'relu', 'tanh', 'gelu' (tanh approximation, as Flax), 'linear'.

    Args:
        name: 'relu', 'tanh', 'gelu' or 'linear' (the identity).

    Returns:
        The function phi, applied elementwise to a tensor.

    Raises:
        ValueError: If ``name`` is not one of the four.
    """
    functions = {"relu": F.relu, "tanh": torch.tanh, "gelu": lambda x: F.gelu(x, approximate="tanh"),
                 "linear": lambda x: x}
    if name not in functions:
        raise ValueError(f"model.act: got {name!r}; allowed values are {', '.join(map(repr, functions))}")
    return functions[name]
