"""Models of the paper (FCN, WRN with LayerNorm, Pre-LN GPT) plus a 1-D CNN, in SP / muP / simple-muP."""

from __future__ import annotations

import math

import torch

from warmup_lib.config import OPTIMIZERS, ModelConfig
from warmup_lib.models.cnn1d import CNN1D
from warmup_lib.models.fcn import FCN
from warmup_lib.models.gpt import GPT
from warmup_lib.models.wrn import WideResNet

ADAM_TYPE_OPTIMIZERS = ("adam", "gi_adam", "ri_adam", "radam")


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> torch.nn.Module:
    """The model ``cfg`` describes, for examples of shape ``input_shape`` and ``num_classes`` outputs.

    model(x) gives logits (N, K); for 'gpt', ``input_shape`` is (context,), ``num_classes`` the
    vocabulary and the logits are (N, context, vocab).  Weights come from torch's global generator:
    seed it (``torch.manual_seed``) before building.  ``width`` is the FCN / CNN / GPT width and the
    WRN's stem filters (16 in WRN-d-k); ``widen`` is the WRN's k.

    Args:
        cfg: Model configuration: ``arch`` ('fcn', 'cnn1d', 'wrn', 'gpt'), ``width``, ``depth``,
            ``widen`` (WRN), ``heads`` and ``final_ln`` (GPT), ``param``, ``varw``, ``act`` (not
            GPT) and ``bias``.
        input_shape: Shape of one example: (features,) or (C, H, W) (flattened by the FCN),
            (L,) or (C, L) for the CNN, square (C, H, W) for the WRN, (context,) for the GPT.
        num_classes: Number of outputs K (the vocabulary size for 'gpt').

    Returns:
        The freshly initialised model.

    Raises:
        ValueError: If ``cfg.arch`` is unknown, or the architecture rejects ``input_shape`` or
            its settings.
    """
    if cfg.arch == "fcn":
        return FCN(math.prod(input_shape), cfg.width, cfg.depth, num_classes, cfg.param, cfg.varw, cfg.act, cfg.bias)
    if cfg.arch == "cnn1d":
        return CNN1D(tuple(input_shape), cfg.width, cfg.depth, num_classes, cfg.param, cfg.varw, cfg.act, cfg.bias)
    if cfg.arch == "wrn":
        return WideResNet(tuple(input_shape), cfg.depth, cfg.widen, cfg.width, num_classes, cfg.param, cfg.varw,
                          cfg.act, cfg.bias)
    if cfg.arch == "gpt":
        return GPT(input_shape[0], num_classes, cfg.width, cfg.depth, cfg.heads, cfg.param, cfg.varw, cfg.bias,
                   cfg.final_ln)
    raise ValueError(f"model.arch: got {cfg.arch!r}; allowed values are 'fcn', 'cnn1d', 'wrn', 'gpt'")


def param_groups(model: torch.nn.Module, cfg: ModelConfig, optimizer_name: str, lr: float) -> list[dict]:
    """Optimizer parameter groups, each with "params", "lr" = lr_mult * lr and "lr_mult".

    muP with an Adam-type optimizer gets the paper's per-layer multipliers: 1/sqrt(fan_out) for the
    input layer, 1/sqrt(fan_in) for hidden layers (and shortcuts), 1/fan_in for the readout; a
    layer's bias shares its weight's multiplier; LayerNorm parameters and embeddings get 1.
    Everything else (SP, simple-muP, SGD, whose muP lives in the forward multipliers) is one group
    with lr_mult 1.  A trainer sets each group's lr to lr_mult * eta_t every step.

    Args:
        model: The model from :func:`build_model`; its layers carry ``adam_lr_mult``.
        cfg: Its model configuration (``cfg.param`` decides between muP and one group).
        optimizer_name: One of :data:`warmup_lib.config.OPTIMIZERS`; 'adam', 'gi_adam', 'ri_adam'
            and 'radam' are Adam-type.
        lr: The base learning rate eta each group's lr is a multiple of.

    Returns:
        List of dicts {"params": [...], "lr": lr_mult * lr, "lr_mult": lr_mult}, one per distinct
        multiplier; every parameter of ``model`` is in exactly one group.

    Raises:
        ValueError: If ``optimizer_name`` is not a known optimizer.
    """
    if optimizer_name not in OPTIMIZERS:
        raise ValueError(f"optim.name: got {optimizer_name!r}; allowed values are {', '.join(map(repr, OPTIMIZERS))}")
    if cfg.param != "mup" or optimizer_name not in ADAM_TYPE_OPTIMIZERS:
        return [{"params": list(model.parameters()), "lr": lr, "lr_mult": 1.0}]
    multiplier_of = {id(p): module.adam_lr_mult for module in model.modules() if hasattr(module, "adam_lr_mult")
                     for p in module.parameters(recurse=False)}
    grouped: dict[float, list[torch.nn.Parameter]] = {}
    for parameter in model.parameters():
        grouped.setdefault(multiplier_of.get(id(parameter), 1.0), []).append(parameter)
    return [{"params": params, "lr": lr * mult, "lr_mult": mult} for mult, params in grouped.items()]


__all__ = ["CNN1D", "FCN", "GPT", "WideResNet", "build_model", "param_groups"]
