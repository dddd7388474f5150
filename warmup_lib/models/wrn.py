"""WRN-d-k with LayerNorm, exactly as the authors' Flax ``WideResNet`` (code digest section 2.4).

* Stem: conv3x3(``width`` = 16 filters, not widened) -> LN -> act.
* Three stages of N = (d - 4) / 6 blocks with width * 2^s * k channels (64, 128, 256 for WRN-16-4);
  stride 2 in the first block of stages 1 and 2.
* Block (post-norm, ResNet v1): y = LN(conv3x3(x, stride)) -> act -> LN(conv3x3(y)); the shortcut is
  a 1x1 conv (sigma_w^2 = 1, with bias, no norm, no activation before it) only when the channels or
  the stride change; output act(y + shortcut).
* Head: global mean over H, W -> Dense readout.
* LayerNorm over the channels only, separately at each spatial position, eps 1e-6, learnable
  scale and bias; every conv has a bias; 'SAME' padding as Flax (asymmetric (0, 1) at stride 2).
WRN-16-4 on CIFAR-10 has 2,751,146 parameters.

muP conv (the authors' ``muConv``): kernel variance varw / (9 C_out) (Flax fan_out) and the output,
bias included, multiplied by sqrt(C_out / (H W C_in)) where H W C_in is the size of the whole
*input activation* (3072 at the stem), not 9 C_in.  That is almost certainly unintended, but the
released muP SGD data came from it, so we keep it: because LayerNorm follows every conv the forward
pass barely notices, while the per-layer effective learning rates are those of the released runs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from warmup_lib.models.init import LayerNorm, ScaledConv2d, ScaledLinear, activation, layer_scaling

STAGE_STRIDES = (1, 2, 2)


def _conv(param: str, role: str, c_in: int, c_out: int, kernel: int, stride: int, size: int, varw: float,
          bias: bool) -> ScaledConv2d:
    """A conv on a ``size`` x ``size`` input with the authors' SP or muConv scaling."""
    scaling = layer_scaling(param, role, kernel * kernel * c_in, kernel * kernel * c_out, varw,
                            multiplier_fan_in=size * size * c_in, multiplier_fan_out=c_out)
    return ScaledConv2d(c_in, c_out, kernel, stride, size, bias, scaling)


class WRNBlock(nn.Module):
    """Post-norm residual block: act(LN(conv(act(LN(conv(x))))) + shortcut(x)).

    Args:
        c_in: Input channels.
        c_out: Output channels.
        stride: Stride of the first conv (and of the shortcut).
        size: Height = width of the (square) input.
        param: Parameterisation 'sp', 'mup' or 'simple_mup'.
        varw: Kernel variance scale sigma_w^2 of the 3x3 convs (the shortcut uses 1).
        act: Activation name.
        bias: Give every conv a bias.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, size: int, param: str, varw: float, act: str,
                 bias: bool) -> None:
        super().__init__()
        self.act = activation(act)
        self.conv1 = _conv(param, "hidden", c_in, c_out, 3, stride, size, varw, bias)
        self.norm1 = LayerNorm(c_out, dim=1)
        out_size = -(-size // stride)
        self.conv2 = _conv(param, "hidden", c_out, c_out, 3, 1, out_size, varw, bias)
        self.norm2 = LayerNorm(c_out, dim=1)
        changes_shape = c_in != c_out or stride != 1
        self.shortcut = _conv(param, "shortcut", c_in, c_out, 1, stride, size, varw, bias) if changes_shape else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """act(LN(conv(act(LN(conv(x))))) + shortcut(x)); the shortcut is x itself when shapes match.

        Args:
            x: Activations (N, c_in, size, size).

        Returns:
            Tensor (N, c_out, ceil(size / stride), ceil(size / stride)).
        """
        y = self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))
        return self.act(y + (x if self.shortcut is None else self.shortcut(x)))


class WideResNet(nn.Module):
    """WRN-``depth``-``widen`` on (C, H, W) inputs with ``width`` stem filters -> logits (N, K).

    Args:
        input_shape: Shape of one image (C, H, W) with H = W.
        depth: d of WRN-d-k; each of the three stages has (d - 4) // 6 blocks.
        widen: Widening factor k; stage s has width * 2^s * k channels.
        width: Stem filters (16 in the paper).
        num_classes: Number of logits K.
        param: Parameterisation 'sp', 'mup' or 'simple_mup'.
        varw: Kernel variance scale sigma_w^2 of the stem and block convs.
        act: Activation name ('relu', 'tanh', 'gelu', 'linear').
        bias: Give every layer a bias.

    Raises:
        ValueError: If ``input_shape`` is not a square (C, H, W), or ``param`` / ``act`` is unknown.
    """

    def __init__(self, input_shape: tuple[int, ...], depth: int, widen: int, width: int, num_classes: int,
                 param: str = "sp", varw: float = 2.0, act: str = "relu", bias: bool = True) -> None:
        super().__init__()
        if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
            raise ValueError(f"input_shape: got {input_shape}; the WRN takes square (channels, height, width) images")
        channels, size = input_shape[0], input_shape[1]
        self.act = activation(act)
        self.stem = _conv(param, "input", channels, width, 3, 1, size, varw, bias)
        self.stem_norm = LayerNorm(width, dim=1)
        blocks, c_in = [], width
        for stage, stage_stride in enumerate(STAGE_STRIDES):
            c_out = width * 2**stage * widen
            for index in range((depth - 4) // 6):
                stride = stage_stride if index == 0 else 1
                blocks.append(WRNBlock(c_in, c_out, stride, size, param, varw, act, bias))
                c_in, size = c_out, -(-size // stride)
        self.blocks = nn.Sequential(*blocks)
        self.readout = ScaledLinear(c_in, num_classes, bias, layer_scaling(param, "readout", c_in, num_classes, varw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits readout(mean_{H,W}(blocks(act(LN(stem(x)))))).

        Args:
            x: Images (N, C, H, W).

        Returns:
            Logits (N, K).
        """
        x = self.blocks(self.act(self.stem_norm(self.stem(x))))
        return self.readout(x.mean(dim=(2, 3)))
