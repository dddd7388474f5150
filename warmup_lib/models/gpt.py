"""A Pre-LN GPT-style language model (the paper's LM-d-n, v1 appendix D.2.2), with or without the
final LayerNorm.

tokens -> embedding + sinusoidal positions -> ``depth`` blocks
x <- x + Attn(LN(x)); x <- x + MLP(LN(x)) -> [final LN] -> Dense readout -> logits (N, T, V).

* Attention: causal, ``heads`` heads, written with explicit matmuls and a softmax (not torch's fused
  scaled_dot_product_attention) so that double backward (Hessian-vector products) works.  Scores
  are scaled by 1/sqrt(d_head) in SP and by 1/d_head in muP / simple-muP (the muP attention scale).
* MLP: width -> 4 width -> GELU (tanh approximation, Flax's default) -> width.  The GELU is fixed:
  ``ModelConfig.act`` only applies to the other architectures.
* Init: every Dense layer as :mod:`warmup_lib.models.init` (hidden sigma_w^2 = varw, readout 1),
  the token embedding N(0, 1) truncated (the same O(1) scale as the sinusoidal code), not tied
  to the readout; the embedding has no muP multiplier and its Adam multiplier is 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from warmup_lib.models.init import LayerNorm, ScaledLinear, layer_scaling, truncated_normal_

MLP_RATIO = 4


def sinusoidal_positions(context: int, width: int) -> torch.Tensor:
    """P[t, 2i] = sin(t / 10000^(2i/width)), P[t, 2i+1] = cos(t / 10000^(2i/width)); shape (context, width).

    Args:
        context: Number of positions t = 0..context-1.
        width: Embedding width (even).

    Returns:
        Float32 table P (context, width), computed in float64.
    """
    positions = torch.arange(context, dtype=torch.float64)[:, None]
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float64) / width)
    table = torch.zeros(context, width, dtype=torch.float64)
    table[:, 0::2] = torch.sin(positions * frequencies)
    table[:, 1::2] = torch.cos(positions * frequencies[: width // 2])
    return table.to(torch.float32)


def _hidden(param: str, fan_in: int, fan_out: int, varw: float, bias: bool) -> ScaledLinear:
    return ScaledLinear(fan_in, fan_out, bias, layer_scaling(param, "hidden", fan_in, fan_out, varw))


class CausalSelfAttention(nn.Module):
    """softmax(Q K^T * scale + causal mask) V, then an output projection.

    scale = 1/sqrt(d_head) in SP and 1/d_head in muP / simple-muP, d_head = width / heads.

    Args:
        width: Model width d (input and output features).
        heads: Number of attention heads (divides ``width``).
        context: Longest sequence length (size of the causal mask).
        param: Parameterisation 'sp', 'mup' or 'simple_mup'.
        varw: Kernel variance scale sigma_w^2 of the Q, K, V and output projections.
        bias: Give the projections a bias.
    """

    def __init__(self, width: int, heads: int, context: int, param: str, varw: float, bias: bool) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.proj = (_hidden(param, width, width, varw, bias) for _ in range(4))
        head_dim = width // heads
        self.scale = 1.0 / math.sqrt(head_dim) if param == "sp" else 1.0 / head_dim
        self.register_buffer("causal", torch.ones(context, context, dtype=torch.bool).tril(), persistent=False)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        return x.view(n, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Causal multi-head attention proj(softmax(Q K^T * scale + mask) V) of ``x``.

        Args:
            x: Activations (N, T, width), T <= context.

        Returns:
            Tensor (N, T, width); position t attends to positions <= t only.
        """
        n, t, d = x.shape
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = (q @ k.transpose(-2, -1)) * self.scale
        weights = scores.masked_fill(~self.causal[:t, :t], float("-inf")).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(n, t, d))


class Block(nn.Module):
    """Pre-LN Transformer block: x <- x + Attn(LN(x)); x <- x + MLP(LN(x)).

    Args:
        width: Model width d.
        heads: Number of attention heads (divides ``width``).
        context: Longest sequence length.
        param: Parameterisation 'sp', 'mup' or 'simple_mup'.
        varw: Kernel variance scale sigma_w^2 of the Dense layers.
        bias: Give the Dense layers a bias.
    """

    def __init__(self, width: int, heads: int, context: int, param: str, varw: float, bias: bool) -> None:
        super().__init__()
        self.norm1 = LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, context, param, varw, bias)
        self.norm2 = LayerNorm(width)
        self.mlp_in = _hidden(param, width, MLP_RATIO * width, varw, bias)
        self.mlp_out = _hidden(param, MLP_RATIO * width, width, varw, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + Attn(LN(x)), then + MLP(LN(.)) with MLP = W_out GELU_tanh(W_in .).

        Args:
            x: Activations (N, T, width).

        Returns:
            Tensor (N, T, width).
        """
        x = x + self.attention(self.norm1(x))
        return x + self.mlp_out(F.gelu(self.mlp_in(self.norm2(x)), approximate="tanh"))


class GPT(nn.Module):
    """Token ids (N, T) with T <= context -> next-token logits (N, T, vocab).

    Args:
        context: Longest sequence length (positions table and causal mask).
        vocab: Vocabulary size (embedding rows and logits).
        width: Model width d.
        depth: Number of Transformer blocks.
        heads: Number of attention heads (divides ``width``).
        param: Parameterisation 'sp', 'mup' or 'simple_mup'.
        varw: Kernel variance scale sigma_w^2 of the hidden Dense layers (the readout uses 1).
        bias: Give the Dense layers a bias.
        final_ln: Apply a LayerNorm before the readout.

    Raises:
        ValueError: If ``width`` is not divisible by ``heads``, or ``param`` is unknown.
    """

    def __init__(self, context: int, vocab: int, width: int, depth: int, heads: int, param: str = "sp",
                 varw: float = 2.0, bias: bool = True, final_ln: bool = True) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"model.heads: width {width} is not divisible by heads {heads}")
        self.context = context
        self.embedding = nn.Embedding(vocab, width)
        truncated_normal_(self.embedding.weight, 1.0)
        self.register_buffer("positions", sinusoidal_positions(context, width), persistent=False)
        self.blocks = nn.Sequential(*(Block(width, heads, context, param, varw, bias) for _ in range(depth)))
        self.final_norm = LayerNorm(width) if final_ln else nn.Identity()
        self.readout = ScaledLinear(width, vocab, bias, layer_scaling(param, "readout", width, vocab, varw))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits readout([LN](blocks(embedding(tokens) + P[:T]))).

        Args:
            tokens: Integer token ids (N, T) in [0, vocab) with T <= context.

        Returns:
            Next-token logits (N, T, vocab).

        Raises:
            ValueError: If T exceeds the model's context.
        """
        length = tokens.shape[1]
        if length > self.context:
            raise ValueError(f"tokens: sequence length {length} exceeds the model's context {self.context}")
        x = self.embedding(tokens) + self.positions[:length]
        return self.readout(self.final_norm(self.blocks(x)))
