"""GIAdam against torch.optim.Adam, hand-computed steps and the sqrt(1 - beta2^t) closed form."""

import copy
import io
import math
import pickle

import pytest
import torch
from sklearn.datasets import load_digits

from warmup_lib.optim.giadam import GIAdam, adam_step_terms


def _digits(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    inputs = torch.tensor(data.data[:n], dtype=torch.float32) / 16.0
    return inputs, torch.tensor(data.target[:n])


def _mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


def _train(model, optimizer, steps: int, batch: int = 64) -> list[float]:
    inputs, labels = _digits()
    losses = []
    for step in range(steps):
        rows = slice((step * batch) % len(inputs), (step * batch) % len(inputs) + batch)
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs[rows]), labels[rows])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _param_groups(model: torch.nn.Module) -> list[dict]:
    # two groups with different lr, one carrying a muP-style multiplier key
    return [{"params": model[0].parameters(), "lr": 3e-3, "lr_mult": 0.5},
            {"params": model[2].parameters(), "lr": 1e-3}]


def test_zero_v0_equals_torch_adam_bit_for_bit_over_100_steps():
    reference, ours = _mlp(), _mlp()
    _train(reference, torch.optim.Adam(_param_groups(reference), foreach=False), 100)
    optimizer = GIAdam(_param_groups(ours), v0="zero")
    _train(ours, optimizer, 100)
    for p_ref, p_ours in zip(reference.parameters(), ours.parameters()):
        assert torch.equal(p_ref, p_ours)
    assert optimizer.param_groups[0]["lr_mult"] == 0.5
    assert set(optimizer.state[next(ours.parameters())]) == {"step", "exp_avg", "exp_avg_sq"}
    assert optimizer.state[next(ours.parameters())]["step"].dtype == torch.float32


def _scalar_problem(v0: str, g0: float, steps: int, lr=0.1, betas=(0.9, 0.999), eps=1e-8):
    """x starts at 1 with gradient g(x) = x (L = x^2/2) and an explicit g0 for init_from_grad."""
    x = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    optimizer = GIAdam([x], lr=lr, betas=betas, eps=eps, v0=v0)
    x.grad = torch.tensor([g0], dtype=torch.float64)
    optimizer.init_from_grad()
    trajectory = []
    for _ in range(steps):
        x.grad = x.detach().clone()
        optimizer.step()
        trajectory.append(x.item())
    return trajectory


def test_first_three_steps_against_hand_computation():
    lr, b1, b2, eps, g0 = 0.1, 0.9, 0.999, 1e-8, 0.5
    x, m, v = 1.0, 0.0, g0**2
    expected = []
    for t in range(1, 4):
        g = x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
        expected.append(x)
    assert _scalar_problem("grad", g0, 3) == pytest.approx(expected, rel=1e-14)
    # first step by hand: m_hat = 1, v_hat = (0.999*0.25 + 0.001)/0.001 = 250.75
    assert expected[0] == pytest.approx(1.0 - 0.1 / (math.sqrt(250.75) + 1e-8), rel=1e-14)


@pytest.mark.parametrize("t", [1, 10, 100])
def test_implicit_warmup_factor_on_stationary_gradient(t):
    """Constant g: GI-Adam step / bias-free RMSProp-with-momentum step = sqrt(1 - beta2^t) (eps = 0)."""
    g, lr, b1, b2 = torch.tensor([0.3, -2.0], dtype=torch.float64), 1e-3, 0.9, 0.999
    x = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    optimizer = GIAdam([x], lr=lr, betas=(b1, b2), eps=0.0, v0="grad")
    x.grad = g.clone()
    optimizer.init_from_grad()
    for _ in range(t):
        before = x.detach().clone()
        optimizer.step()
    gi_step = before - x.detach()
    no_bias_correction_step = lr * g / g.abs()  # m_hat = g, v_t = g^2
    torch.testing.assert_close(gi_step / no_bias_correction_step,
                               torch.full((2,), math.sqrt(1 - b2**t), dtype=torch.float64), rtol=1e-12, atol=0)


def test_zero_gradient_coordinates_behave_like_adam():
    torch.manual_seed(0)
    grads = [torch.randn(5) for _ in range(6)]
    for g in grads:
        g[0] = 0.0 if g is grads[0] else g[0]  # coordinate 0 has g0 = 0, then non-zero gradients
    x_gi = torch.nn.Parameter(torch.ones(5))
    x_adam = torch.nn.Parameter(torch.ones(5))
    gi, adam = GIAdam([x_gi], lr=0.01, v0="grad"), torch.optim.Adam([x_adam], lr=0.01, foreach=False)
    x_gi.grad = grads[0].clone()
    gi.init_from_grad()
    assert gi.state[x_gi]["exp_avg_sq"][0] == 0.0
    for g in grads:
        x_gi.grad, x_adam.grad = g.clone(), g.clone()
        gi.step()
        adam.step()
    assert torch.isfinite(x_gi).all()
    assert torch.equal(x_gi[0], x_adam[0])
    assert not torch.equal(x_gi[1:], x_adam[1:])


def test_adam_step_terms_closed_form():
    """b_1 = 1 - beta1^t and d = sqrt(v)/sqrt(1 - beta2^t) + eps; at t = 1 with v = (1 - beta2) g^2 and
    m = (1 - beta1) g, Adam's first step m/b_1/d is g / (|g| + eps): sign descent."""
    g = torch.tensor([0.3, -2.0, 1e-3], dtype=torch.float64)
    b1, d = adam_step_terms((1 - 0.999) * g * g, 1.0, 0.9, 0.999, 1e-8)
    assert b1 == pytest.approx(0.1, rel=1e-14)
    torch.testing.assert_close((1 - 0.9) * g / b1 / d, g / (g.abs() + 1e-8), rtol=1e-12, atol=0)
    b1, d = adam_step_terms(torch.tensor([4.0], dtype=torch.float64), 3.0, 0.5, 0.5, 0.25)
    assert b1 == 1 - 0.5**3 and d.item() == pytest.approx(2.0 / math.sqrt(1 - 0.5**3) + 0.25, rel=1e-15)


def test_first_step_initialises_v0_when_init_from_grad_was_not_called():
    g = torch.tensor([0.5, -1.0])
    x = torch.nn.Parameter(torch.zeros(2))
    optimizer = GIAdam([x], lr=0.1, v0="grad")
    x.grad = g.clone()
    optimizer.step()
    torch.testing.assert_close(optimizer.state[x]["exp_avg_sq"], g.square())  # b2 g^2 + (1-b2) g^2
    torch.testing.assert_close(x.detach(), -0.1 * math.sqrt(1 - 0.999) * g.sign(), rtol=1e-5, atol=0)


def test_random_v0_is_seeded_and_has_the_gradient_norm():
    model = _mlp()
    inputs, labels = _digits()
    torch.nn.functional.cross_entropy(model(inputs), labels).backward()
    grads = [p.grad for p in model.parameters()]
    first = GIAdam(model.parameters(), v0="random").initial_exp_avg_sq(grads)
    second = GIAdam(model.parameters(), v0="random").initial_exp_avg_sq(grads)
    other_seed = GIAdam(model.parameters(), v0="random", generator_seed=7).initial_exp_avg_sq(grads)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], other_seed[0])
    r_norm_sq = sum(v.sum() for v in first)  # sum r^2 = ||r||^2
    g_norm_sq = sum(g.square().sum() for g in grads)
    assert r_norm_sq.item() == pytest.approx(g_norm_sq.item(), rel=1e-5)


@pytest.mark.parametrize("v0", ["zero", "grad", "random"])
def test_state_dict_round_trip_continues_identically(v0):
    model = _mlp()
    optimizer = GIAdam(_param_groups(model), v0=v0)
    _train(model, optimizer, 10)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optim": optimizer.state_dict()}, buffer)
    continued = _train(model, optimizer, 10)
    restored_model = _mlp(seed=1)
    restored = GIAdam(_param_groups(restored_model), v0=v0)
    buffer.seek(0)
    saved = torch.load(buffer)  # load_state_dict keeps the loaded tensors: one copy per optimizer
    restored_model.load_state_dict(saved["model"])
    restored.load_state_dict(saved["optim"])
    assert restored.param_groups[0]["lr_mult"] == 0.5
    assert restored.state_dict()["state"].keys() == optimizer.state_dict()["state"].keys()
    # _train restarts its batch cycle, so the restored pair must replay exactly the continued run
    assert _train(restored_model, restored, 10) == continued
    for p_restored, p_continued in zip(restored_model.parameters(), model.parameters()):
        assert torch.equal(p_restored, p_continued)


def test_invalid_arguments_name_the_field():
    x = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match="v0"):
        GIAdam([x], v0="ones")
    with pytest.raises(ValueError, match="betas"):
        GIAdam([x], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="init_from_grad"):
        GIAdam([x], v0="grad").init_from_grad()


def test_deepcopy_and_pickle_keep_the_v0_setting():
    optimizer = GIAdam([torch.nn.Parameter(torch.zeros(2))], v0="random", generator_seed=5)
    for clone in (copy.deepcopy(optimizer), pickle.loads(pickle.dumps(optimizer))):
        assert (clone.v0, clone.generator_seed) == ("random", 5)


# torch.optim.Adam's options: GIAdam(v0="zero") against the torch optimizer with the same options,
# bit for bit over 100 steps (the two groups of _param_groups, one overriding an option)
TORCH_OPTIONS = [
    ("foreach_false", torch.optim.Adam, {}, {}),
    ("l2_decay", torch.optim.Adam, {"weight_decay": 0.1}, {}),
    ("l2_decay_one_group", torch.optim.Adam, {}, {"weight_decay": 0.3}),
    ("decoupled_decay_as_adam", torch.optim.Adam, {"weight_decay": 0.1, "decoupled_weight_decay": True}, {}),
    ("maximize", torch.optim.Adam, {"maximize": True}, {}),
    ("maximize_l2_decay", torch.optim.Adam, {"maximize": True, "weight_decay": 0.05}, {}),
]


@pytest.mark.parametrize("name,reference_class,options,second_group", TORCH_OPTIONS, ids=[o[0] for o in TORCH_OPTIONS])
def test_each_option_equals_torch_adam_bit_for_bit(name, reference_class, options, second_group):
    def groups(model):
        first, second = _param_groups(model)
        return [first, {**second, **second_group}]

    reference, ours = _mlp(), _mlp()
    reference_losses = _train(reference, reference_class(groups(reference), foreach=False, **options), 100)
    assert _train(ours, GIAdam(groups(ours), v0="zero", foreach=False, **options), 100) == reference_losses
    for p_ref, p_ours in zip(reference.parameters(), ours.parameters()):
        assert torch.equal(p_ref, p_ours)


def test_decoupled_weight_decay_equals_torch_adamw_bit_for_bit():
    reference, ours = _mlp(), _mlp()
    _train(reference, torch.optim.AdamW(_param_groups(reference), weight_decay=0.1, foreach=False), 100)
    _train(ours, GIAdam(_param_groups(ours), weight_decay=0.1, decoupled_weight_decay=True), 100)
    for p_ref, p_ours in zip(reference.parameters(), ours.parameters()):
        assert torch.equal(p_ref, p_ours)
    assert not torch.equal(next(ours.parameters()), _trained_without_decay())  # the decay really acts


def _trained_without_decay() -> torch.Tensor:
    model = _mlp()
    _train(model, GIAdam(_param_groups(model)), 100)
    return next(model.parameters())


def test_v0_is_built_from_the_gradient_the_moments_fold_in():
    """GI-Adam's v0 = g'^2 with g' = -g under maximize, + w theta under L2 decay (not under AdamW's)."""
    theta, g = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.3, 0.1, -0.2])
    for options, expected in [({}, g), ({"maximize": True}, -g), ({"weight_decay": 0.1}, g.add(theta, alpha=0.1)),
                              ({"weight_decay": 0.1, "maximize": True}, (-g).add(theta, alpha=0.1)),
                              ({"weight_decay": 0.1, "decoupled_weight_decay": True}, g)]:
        x = torch.nn.Parameter(theta.clone())
        optimizer = GIAdam([x], v0="grad", **options)
        x.grad = g.clone()
        optimizer.init_from_grad()
        assert torch.equal(optimizer.state[x]["exp_avg_sq"], expected.square()), options


@pytest.mark.parametrize("option,value", [("amsgrad", True), ("foreach", True), ("fused", True),
                                          ("capturable", True), ("differentiable", True), ("weight_decay", -0.1),
                                          ("lr", -1.0), ("eps", -1e-8)])
def test_unsupported_options_are_refused_naming_them(option, value):
    x, y = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match=option):
        GIAdam([x], **{option: value})
    optimizer = GIAdam([x])
    with pytest.raises(ValueError, match=option):
        optimizer.add_param_group({"params": [y], option: value})
    assert len(optimizer.param_groups) == 1  # the refused group was not added
    optimizer.add_param_group({"params": [y], "weight_decay": 0.1})
    assert optimizer.param_groups[1]["weight_decay"] == 0.1 and optimizer.param_groups[1]["amsgrad"] is False


def test_complex_parameters_and_sparse_gradients_are_refused():
    with pytest.raises(ValueError, match="complex"):
        GIAdam([torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))])
    optimizer = GIAdam([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match="complex"):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))]})
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    dense = torch.nn.Parameter(torch.ones(2))
    for v0 in ("zero", "grad"):
        optimizer = GIAdam([dense, embedding.weight], v0=v0)
        before = embedding.weight.detach().clone()
        optimizer.zero_grad()
        (embedding(torch.tensor([1, 2])).sum() + dense.sum()).backward()
        with pytest.raises(ValueError, match="sparse gradients"):
            optimizer.step()
        assert torch.equal(dense.detach(), torch.ones(2)) and torch.equal(embedding.weight.detach(), before)
        assert not optimizer.initialised  # refused before anything was written


def test_a_checkpoint_from_before_the_options_loads_and_one_with_amsgrad_is_refused():
    model = _mlp()
    optimizer = GIAdam(_param_groups(model), v0="grad")
    _train(model, optimizer, 3)
    saved = optimizer.state_dict()
    for group in saved["param_groups"]:  # as GIAdam wrote them before it had torch's options
        for key in ("weight_decay", "amsgrad", "maximize", "foreach", "capturable", "differentiable", "fused",
                    "decoupled_weight_decay"):
            del group[key]
    restored = GIAdam(_param_groups(model), v0="grad")
    restored.load_state_dict(saved)
    assert restored.param_groups[0]["weight_decay"] == 0.0 and restored.param_groups[1]["maximize"] is False
    amsgrad = torch.optim.Adam(_param_groups(model), amsgrad=True).state_dict()
    with pytest.raises(ValueError, match="amsgrad"):
        GIAdam(_param_groups(model)).load_state_dict(amsgrad)


def _moments(optimizer) -> list[torch.Tensor]:
    return [state[key].clone() for state in optimizer.state.values() for key in ("step", "exp_avg", "exp_avg_sq")]


@pytest.mark.parametrize("v0", ["zero", "grad", "random"])
def test_init_from_grad_keeps_a_restored_state_unless_forced(v0):
    """A framework's resume: it restores the optimizer, then its "train begins" hook calls
    init_from_grad on a fresh batch; the restored moments must survive, and training continue as if
    never interrupted."""
    model = _mlp()
    optimizer = GIAdam(_param_groups(model), v0=v0)
    inputs, labels = _digits()
    torch.nn.functional.cross_entropy(model(inputs[:64]), labels[:64]).backward()
    assert optimizer.state[next(model.parameters())] == {}  # a read creates an empty entry, not a state
    assert optimizer.init_from_grad() is True
    _train(model, optimizer, 10)
    saved = copy.deepcopy({"model": model.state_dict(), "optim": optimizer.state_dict()})
    continued = _train(model, optimizer, 10)

    resumed_model = _mlp(seed=1)
    resumed_model.load_state_dict(saved["model"])
    resumed = GIAdam(_param_groups(resumed_model), v0=v0)
    resumed.load_state_dict(saved["optim"])
    before = _moments(resumed)
    resumed_model.zero_grad()
    torch.nn.functional.cross_entropy(resumed_model(inputs[64:128]), labels[64:128]).backward()
    assert resumed.init_from_grad() is False
    assert all(torch.equal(a, b) for a, b in zip(before, _moments(resumed)))
    assert _train(resumed_model, resumed, 10) == continued

    assert resumed.init_from_grad(force=True) is True
    assert all(state["step"].item() == 0 for state in resumed.state.values())
