"""Models: parameter counts, init variances, muP multipliers, logit scales, the GPT's causal mask
and double-backward Hessian-vector products (finite differences), parameter groups."""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from warmup_lib.config import ModelConfig
from warmup_lib.models import build_model, param_groups
from warmup_lib.models.init import (TRUNCATED_NORMAL_STD, LayerNorm, ScaledConv2d, layer_scaling, same_padding,
                                    truncated_normal_)


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(seed: int = 0, input_shape=(40,), num_classes: int = 10, **fields) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelConfig(**fields), input_shape, num_classes)


# ---------------------------------------------------------------- parameter counts

def test_wrn_16_4_has_the_authors_parameter_count():
    assert count(build(arch="wrn", depth=16, widen=4, width=16, input_shape=(3, 32, 32))) == 2_751_146


@pytest.mark.parametrize("depth,width,bias", [(2, 7, True), (4, 512, True), (5, 33, False)])
def test_fcn_parameter_count_formula(depth, width, bias):
    d_in, k = 3072, 10
    weights = d_in * width + (depth - 2) * width * width + width * k
    biases = (depth - 1) * width + k if bias else 0
    assert count(build(arch="fcn", depth=depth, width=width, bias=bias, input_shape=(3, 32, 32))) == weights + biases
    if (depth, width, bias) == (4, 512, True):
        assert weights + biases == 2_103_818  # the digest's FCN-4-512 on CIFAR-10


@pytest.mark.parametrize("final_ln", [True, False])
def test_gpt_parameter_count_formula(final_ln):
    vocab, d, depth = 50, 32, 2
    block = 4 * (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * 2 * d
    expected = vocab * d + depth * block + (2 * d if final_ln else 0) + d * vocab + vocab
    model = build(arch="gpt", width=d, depth=depth, heads=4, final_ln=final_ln, input_shape=(16,), num_classes=vocab)
    assert count(model) == expected


# ---------------------------------------------------------------- initialisation

def test_truncated_normal_constant_and_variance():
    assert TRUNCATED_NORMAL_STD == pytest.approx(scipy.stats.truncnorm(-2, 2).std(), rel=1e-12)
    torch.manual_seed(0)
    w = truncated_normal_(torch.empty(1000, 1000), 0.01)
    assert w.var().item() == pytest.approx(0.01, rel=0.01)  # sampling error ~ 0.15% at 1e6 draws
    assert w.abs().max().item() <= 2 * 0.1 / TRUNCATED_NORMAL_STD + 1e-6


@pytest.mark.parametrize("param", ["sp", "mup", "simple_mup"])
def test_fcn_init_variances_and_multipliers(param):
    d_in, width, k, varw = 1500, 1000, 10, 2.0
    model = build(arch="fcn", depth=3, width=width, param=param, varw=varw, input_shape=(d_in,), num_classes=k)
    first, hidden, readout = model.hidden[0], model.hidden[1], model.readout
    mup = param != "sp"
    assert first.weight.var().item() == pytest.approx(varw / (width if mup else d_in), rel=0.02)
    assert hidden.weight.var().item() == pytest.approx(varw / width, rel=0.02)
    readout_var = readout.weight.var().item()
    assert readout_var == pytest.approx(1 / width, rel=0.1)  # only 10 000 entries here
    assert first.multiplier == pytest.approx(math.sqrt(width / d_in) if mup else 1.0)
    assert hidden.multiplier == 1.0
    assert readout.multiplier == pytest.approx(1 / math.sqrt(width) if mup else 1.0)
    # Effective weights (multiplier x kernel) have He variance varw/fan_in in every parameterisation.
    effective = (first.multiplier * first.weight).var().item()
    assert effective == pytest.approx(varw / d_in, rel=0.02)
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in (first, hidden, readout))


def test_multiplier_scales_output_and_bias():
    model = build(arch="fcn", depth=3, width=64, param="mup", input_shape=(16,))
    layer = model.hidden[0]
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(5, 16)
    expected = math.sqrt(64 / 16) * (x @ layer.weight.T + layer.bias)
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_wrn_conv_init_and_the_authors_mup_fan_in():
    sp = build(arch="wrn", depth=10, widen=4, width=16, input_shape=(3, 32, 32))
    mup = build(arch="wrn", depth=10, widen=4, width=16, param="mup", input_shape=(3, 32, 32))
    conv_sp, conv_mup = sp.blocks[1].conv1, mup.blocks[1].conv1  # 64 -> 128 channels, 3x3, 32x32 input
    assert conv_sp.weight.var().item() == pytest.approx(2 / (9 * 64), rel=0.02)
    assert conv_mup.weight.var().item() == pytest.approx(2 / (9 * 128), rel=0.02)
    assert conv_mup.multiplier == pytest.approx(math.sqrt(128 / (32 * 32 * 64)))  # H W C_in of the input
    assert mup.stem.multiplier == pytest.approx(math.sqrt(16 / 3072))
    shortcut = sp.blocks[1].shortcut
    assert shortcut.weight.var().item() == pytest.approx(1 / 64, rel=0.05)  # varw 1 for shortcuts
    assert sp.blocks[0].shortcut is not None and sp.blocks[0].conv1.stride == (1, 1)  # 16 -> 64 channels


@pytest.mark.parametrize("arch,shape,ratio", [("fcn", (3072,), 10.0), ("wrn", (3, 32, 32), 10.0)])
def test_mup_initial_logits_are_much_smaller(arch, shape, ratio):
    fields = dict(arch=arch, width=512 if arch == "fcn" else 16, depth=4 if arch == "fcn" else 10, widen=4)
    x = torch.randn(256 if arch == "fcn" else 16, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        sp_std = build(param="sp", input_shape=shape, **fields)(x).std().item()
        mup_std = build(param="mup", input_shape=shape, **fields)(x).std().item()
    assert sp_std > ratio * mup_std
    if arch == "fcn":  # the digest measured 0.90 (SP) and 0.042 (muP) for FCN-4-512
        assert 0.5 < sp_std < 1.5 and 0.02 < mup_std < 0.08


# ---------------------------------------------------------------- layers

def test_flax_same_padding_and_stride_two_conv():
    assert same_padding(32, 3, 2) == (0, 1) and same_padding(32, 3, 1) == (1, 1) and same_padding(32, 1, 2) == (0, 0)
    torch.manual_seed(0)
    conv = ScaledConv2d(3, 4, 3, 2, 8, True, layer_scaling("sp", "hidden", 27, 36, 2.0))
    x = torch.randn(2, 3, 8, 8)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias, stride=2)
    assert conv(x).shape == (2, 4, 4, 4) and torch.allclose(conv(x), expected, atol=1e-6)


def test_channel_layernorm_matches_torch_on_nhwc():
    norm = LayerNorm(6, dim=1)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    oracle = torch.nn.LayerNorm(6, eps=1e-6)
    oracle.load_state_dict(norm.state_dict())
    x = torch.randn(2, 6, 5, 5) * 3 + 1
    assert torch.allclose(norm(x), oracle(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), atol=1e-5)


def test_cnn1d_shapes_and_float64():
    model = build(arch="cnn1d", width=16, depth=4)
    assert [conv.stride[0] for conv in model.convs] == [2, 2, 2, 1]  # lengths 40 -> 20 -> 10 -> 5 -> 5
    assert model(torch.randn(3, 40)).shape == (3, 10)
    assert model.double()(torch.randn(3, 40, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("arch,shape", [("fcn", (40,)), ("wrn", (3, 8, 8)), ("gpt", (8,))])
def test_models_run_in_float64(arch, shape):
    model = build(arch=arch, width=8, depth=10 if arch == "wrn" else 2, widen=1, heads=2, input_shape=shape).double()
    x = torch.randint(0, 10, (2, 8)) if arch == "gpt" else torch.randn(2, *shape, dtype=torch.float64)
    assert model(x).dtype == torch.float64


# ---------------------------------------------------------------- GPT

def test_gpt_causal_mask():
    model = build(arch="gpt", width=16, depth=2, heads=4, input_shape=(12,), num_classes=20)
    tokens = torch.randint(0, 20, (2, 12), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 20
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert before.shape == (2, 12, 20)
    assert torch.equal(before[:, :7], after[:, :7])
    assert not torch.allclose(before[:, 7:], after[:, 7:])


def test_gpt_with_and_without_final_ln_differ_only_in_that_layer():
    """Same seed: the same parameters apart from the final LayerNorm's, and the same function up to it."""
    kwargs = dict(arch="gpt", width=16, depth=2, heads=4, input_shape=(12,), num_classes=20)
    with_ln, without_ln = build(final_ln=True, **kwargs), build(final_ln=False, **kwargs)
    params_with, params_without = dict(with_ln.named_parameters()), dict(without_ln.named_parameters())
    extra = sorted(set(params_with) - set(params_without))
    assert extra == ["final_norm.bias", "final_norm.weight"] and set(params_without) <= set(params_with)
    for name, value in params_without.items():
        assert torch.equal(value, params_with[name]), name
    tokens = torch.randint(0, 20, (3, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        hidden = without_ln.blocks(without_ln.embedding(tokens) + without_ln.positions[:12])
        assert torch.equal(without_ln(tokens), without_ln.readout(hidden))
        assert torch.equal(with_ln(tokens), without_ln.readout(with_ln.final_norm(hidden)))
        assert not torch.allclose(with_ln(tokens), without_ln(tokens))


def hvp_and_finite_difference(model: torch.nn.Module, loss_fn, epsilon: float = 1e-6):
    """Double-backward H v and the central difference (g(theta + eps v) - g(theta - eps v)) / 2 eps."""
    params = list(model.parameters())
    vector = [torch.randn_like(p) for p in params]
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    hvp = torch.autograd.grad(sum((g * v).sum() for g, v in zip(grads, vector)), params)

    def shifted_grad(sign: float):
        with torch.no_grad():
            for p, v in zip(params, vector):
                p.add_(sign * epsilon * v)
        g = torch.autograd.grad(loss_fn(), params)
        with torch.no_grad():
            for p, v in zip(params, vector):
                p.sub_(sign * epsilon * v)
        return g

    plus, minus = shifted_grad(1.0), shifted_grad(-1.0)
    finite = [(a - b) / (2 * epsilon) for a, b in zip(plus, minus)]
    return torch.cat([h.flatten() for h in hvp]), torch.cat([f.flatten() for f in finite])


@pytest.mark.parametrize("final_ln", [True, False])
def test_gpt_double_backward_hvp_matches_finite_differences(final_ln):
    model = build(arch="gpt", width=8, depth=2, heads=2, final_ln=final_ln, input_shape=(6,), num_classes=11).double()
    tokens = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(1))
    targets = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(2))
    hvp, finite = hvp_and_finite_difference(model, lambda: F.cross_entropy(model(tokens).reshape(-1, 11), targets.reshape(-1)))
    assert hvp.norm() > 0 and (hvp - finite).norm() < 1e-6 * hvp.norm()


@pytest.mark.parametrize("param", ["sp", "mup"])
def test_wrn_double_backward_hvp_matches_finite_differences(param):
    # tanh, not ReLU: a finite difference across a ReLU kink is not a second derivative.
    model = build(arch="wrn", width=4, depth=10, widen=1, input_shape=(3, 8, 8), param=param, act="tanh").double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    y = torch.eye(10, dtype=torch.float64)[:2]
    hvp, finite = hvp_and_finite_difference(model, lambda: 0.5 * (model(x) - y).square().mean())
    assert hvp.norm() > 0 and (hvp - finite).norm() < 1e-6 * hvp.norm()


# ---------------------------------------------------------------- parameter groups

def lr_mult_of(groups: list[dict]) -> dict[int, float]:
    return {id(p): group["lr_mult"] for group in groups for p in group["params"]}


def test_mup_adam_param_groups_follow_the_paper():
    model = build(arch="fcn", depth=3, width=64, param="mup", input_shape=(40,), num_classes=10)
    cfg = ModelConfig(arch="fcn", depth=3, width=64, param="mup")
    groups = param_groups(model, cfg, "adam", lr=0.01)
    mults = lr_mult_of(groups)
    assert len(mults) == len(list(model.parameters()))
    expected = {model.hidden[0]: 1 / math.sqrt(64), model.hidden[1]: 1 / math.sqrt(64), model.readout: 1 / 64}
    for layer, value in expected.items():
        assert mults[id(layer.weight)] == pytest.approx(value) and mults[id(layer.bias)] == pytest.approx(value)
    assert all(group["lr"] == pytest.approx(0.01 * group["lr_mult"]) for group in groups)
    wide_input = build(arch="fcn", depth=3, width=32, param="mup", input_shape=(40,))
    assert lr_mult_of(param_groups(wide_input, cfg, "gi_adam", 1.0))[id(wide_input.hidden[0].weight)] == pytest.approx(32 ** -0.5)
    torch.optim.Adam(groups)  # a valid optimizer spec


@pytest.mark.parametrize("param,optimizer", [("sp", "adam"), ("simple_mup", "adam"), ("mup", "sgd")])
def test_single_group_otherwise(param, optimizer):
    model = build(arch="fcn", depth=3, width=16, param=param)
    groups = param_groups(model, ModelConfig(param=param), optimizer, lr=0.5)
    assert len(groups) == 1 and groups[0]["lr_mult"] == 1.0 and groups[0]["lr"] == 0.5
    assert len(groups[0]["params"]) == len(list(model.parameters()))


def test_gpt_mup_groups_keep_layernorm_and_embedding_at_one():
    model = build(arch="gpt", width=16, depth=1, heads=2, param="mup", input_shape=(4,), num_classes=7)
    mults = lr_mult_of(param_groups(model, ModelConfig(arch="gpt", param="mup"), "adam", 1.0))
    assert mults[id(model.embedding.weight)] == 1.0 and mults[id(model.blocks[0].norm1.weight)] == 1.0
    assert mults[id(model.blocks[0].mlp_out.weight)] == pytest.approx(1 / math.sqrt(64))
    assert mults[id(model.readout.weight)] == pytest.approx(1 / 16)


def test_invalid_optimizer_name():
    with pytest.raises(ValueError, match="optim.name.*'sgd'"):
        param_groups(build(arch="fcn", width=4, depth=2), ModelConfig(), "lamb", 0.1)
