"""Train K runs of one architecture at once, each member equal to its own :func:`warmup_lib.runs.train.run`.

The K members' parameters are stacked along a new leading axis, theta[k] for member k, and one
forward pass ``vmap(functional_call(model))`` evaluates all of them, each on its own batch (its own
seed's stream).  Because the members are independent, the gradient of sum_k L_k(theta[k]) with
respect to the stack is the stack of the members' own gradients, so one backward pass serves all.
The optimizers are written functionally for the stack, with per-member hyperparameters broadcast
over the member axis and the per-layer lr_mult of :func:`warmup_lib.models.param_groups`:

* SGD (heavy ball, as torch.optim.SGD with dampening 0):  b <- mu b + g,  theta <- theta - eta b;
* Adam (as torch.optim.Adam):  m <- m + (1 - beta1)(g - m),  v <- beta2 v + (1 - beta2) g^2,
  theta <- theta - eta/(1 - beta1^t) m / (sqrt(v)/sqrt(1 - beta2^t) + eps).

Each member has its own schedule eta_t (its own eta_trgt, T_wrm, ...).  A member whose training
loss is not finite is recorded as diverged at that step, exactly as the sequential trainer does
(its record row kept, no update, a final evaluation), and is dropped from the stack, so the others
carry on at the cost of K - 1 members.  Records, evaluations and summaries have the sequential
trainer's columns and definitions (same data, same initialisation after torch.manual_seed(seed),
same batch streams); they agree with it to rounding (tested in float64).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence

import pandas as pd
import torch
from torch.func import functional_call, vmap

from warmup_lib.runs import train
from warmup_lib.config import RunConfig
from warmup_lib.data import BatchStream, load_data
from warmup_lib.losses import accuracy, get_loss
from warmup_lib.models import build_model, param_groups
from warmup_lib.schedules import Schedule

STACKABLE_OPTIMIZERS = ("sgd", "adam")
# may differ between the members of a stack (the last three only change the outcome's verdict)
_MEMBER_FIELDS = ("schedule", "seed", "failure_factor", "stall_grad_ratio", "stall_accuracy")
_MEMBER_OPTIM_FIELDS = ("momentum", "beta1", "beta2", "eps")

__all__ = ["stack_key", "train_stack"]


def stack_key(cfg: RunConfig) -> str | None:
    """Configs with equal keys can be trained in one stack; None when ``cfg`` cannot be stacked
    (optimizers other than SGD and Adam, or per-step measurements of sharpness or Adam's state).

    Members of a stack may differ only in schedule, seed, the outcome's thresholds
    (failure_factor, stall_grad_ratio, stall_accuracy) and the optimizer's momentum, beta1, beta2
    and eps; everything else must be equal.

    Args:
        cfg: the run's config.

    Returns:
        The canonical JSON (sorted keys) of the config without those fields, or None.
    """
    if cfg.optim.name not in STACKABLE_OPTIMIZERS or cfg.sharpness_every or cfg.pre_sharpness_every or cfg.adam_state_every:
        return None
    shared = cfg.to_dict()
    for name in _MEMBER_FIELDS:
        shared.pop(name, None)  # a field of config.ADDED_FIELDS at its default is not in the dict
    for name in _MEMBER_OPTIM_FIELDS:
        shared["optim"].pop(name)
    return json.dumps(shared, sort_keys=True)


class _Stack:
    """Stacked parameters and optimizer state of the members still training."""

    def __init__(self, cfgs: Sequence[RunConfig], models: list[torch.nn.Module]) -> None:
        base = models[0]
        self.names = [name for name, _ in base.named_parameters()]
        self.params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]) for n in self.names}
        self.buffers = {n: torch.stack([dict(m.named_buffers())[n] for m in models]) for n, _ in base.named_buffers()}
        mult_of = {id(p): g["lr_mult"] for g in param_groups(base, cfgs[0].model, cfgs[0].optim.name, 0.0)
                   for p in g["params"]}
        self.lr_mult = {n: mult_of[id(p)] for n, p in base.named_parameters()}
        dtype, device = next(iter(self.params.values())).dtype, next(iter(self.params.values())).device

        def per_member(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype, device=device)

        self.momentum = per_member([c.optim.momentum for c in cfgs])
        self.beta1, self.beta2 = per_member([c.optim.beta1 for c in cfgs]), per_member([c.optim.beta2 for c in cfgs])
        self.eps = per_member([c.optim.eps for c in cfgs])
        self.adam = cfgs[0].optim.name == "adam"
        self.state = {n: [torch.zeros_like(p), torch.zeros_like(p)] for n, p in self.params.items()}
        self.steps_done = 0

    def keep(self, index: torch.Tensor) -> None:
        """Keep only the members at positions ``index``."""
        self.params = {n: p[index] for n, p in self.params.items()}
        self.buffers = {n: b[index] for n, b in self.buffers.items()}
        self.state = {n: [s[index] for s in states] for n, states in self.state.items()}
        for name in ("momentum", "beta1", "beta2", "eps"):
            setattr(self, name, getattr(self, name)[index])

    @torch.no_grad()
    def update(self, grads: dict[str, torch.Tensor], lrs: torch.Tensor) -> None:
        """One optimizer step of every member, with learning rates ``lrs`` (one per member)."""
        self.steps_done += 1
        t = self.steps_done
        for name, param in self.params.items():
            grad, shape = grads[name], (-1,) + (1,) * (param.dim() - 1)
            lr = (lrs * self.lr_mult[name]).view(shape)
            first, second = self.state[name]
            if self.adam:
                # Adam written out here, not through optim.giadam.adam_step_terms: beta1, beta2 and eps are
                # per-member tensors (a stack may mix them), which torch's scalar-only addcmul_/addcdiv_
                # cannot take, and tensor arithmetic in the parameters' dtype rounds differently from the
                # optimizer's Python floats.  Sharing the code would change the stacked runs' numbers;
                # the tests hold them equal to the sequential runs to rounding (float64).
                beta1, beta2 = self.beta1.view(shape), self.beta2.view(shape)
                first.add_((grad - first) * (1 - beta1))
                second.mul_(beta2).add_(grad * grad * (1 - beta2))
                step_size = lr / (1 - beta1**t)
                denom = second.sqrt() / (1 - beta2**t).sqrt() + self.eps.view(shape)
                param.sub_(step_size * first / denom)
            else:
                first.mul_(self.momentum.view(shape)).add_(grad)
                param.sub_(lr * first)


def _forward(base: torch.nn.Module):
    def call(params: dict, buffers: dict, inputs: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (params, buffers), (inputs,))

    return call


@torch.no_grad()
def _evaluate(params: dict, buffers: dict, base: torch.nn.Module, loss_fn, inputs: torch.Tensor,
              targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-member mean loss and accuracy over all examples, chunked as train._evaluate does."""
    forward = vmap(_forward(base), in_dims=(0, 0, None))
    members = next(iter(params.values())).shape[0]
    total_loss = inputs.new_zeros(members, dtype=torch.float64)
    total_correct = inputs.new_zeros(members, dtype=torch.float64)
    for start in range(0, inputs.shape[0], train.EVAL_CHUNK):
        x, y = inputs[start:start + train.EVAL_CHUNK], targets[start:start + train.EVAL_CHUNK]
        outputs = forward(params, buffers, x)
        total_loss += vmap(loss_fn, in_dims=(0, None))(outputs, y).double() * x.shape[0]
        total_correct += vmap(accuracy, in_dims=(0, None))(outputs, y).double() * x.shape[0]
    return total_loss / inputs.shape[0], total_correct / inputs.shape[0]


def _evaluation_rows(step: int, params: dict, buffers: dict, base: torch.nn.Module, loss_fn,
                     data) -> list[dict[str, float]]:
    """One evaluation row (train._evaluation_row's columns) per member of the stacked ``params``."""
    base.eval()
    x_train, y_train = data.x_train[:train.TRAIN_EVAL_MAX], data.y_train[:train.TRAIN_EVAL_MAX]
    values = torch.stack([*_evaluate(params, buffers, base, loss_fn, x_train, y_train),
                          *_evaluate(params, buffers, base, loss_fn, data.x_test, data.y_test)], dim=1).tolist()
    base.train()
    return [dict(step=step, train_loss=v[0], train_accuracy=v[1], test_loss=v[2], test_accuracy=v[3]) for v in values]


def train_stack(cfgs: Sequence[RunConfig]) -> list[train.RunResult]:
    """Train every config of ``cfgs`` (all with one :func:`stack_key`) at once; one RunResult per
    config, in order, as :func:`warmup_lib.runs.train.run` would return it.

    Member k follows its own schedule eta_t and batch stream; a member whose training loss is not
    finite is recorded as diverged at that step and dropped from the stack (module docstring).

    Args:
        cfgs: the configs, at least one, all stackable with the same key.

    Returns:
        One :class:`~warmup_lib.runs.train.RunResult` per config, in the order of ``cfgs``; each
        summary's wall_time_s is the stack's time divided by the number of members.

    Raises:
        ValueError: when ``cfgs`` is empty, a config cannot be stacked or the keys differ.
    """
    keys = {stack_key(cfg) for cfg in cfgs}
    if None in keys or len(keys) != 1:
        raise ValueError("cfgs: a stack needs configs that differ only in schedule, seed, the outcome's thresholds "
                         f"(failure_factor, stall_*) and optimizer hyperparameters, with optimizer in {STACKABLE_OPTIMIZERS} "
                         "and no sharpness or Adam-state tracking")
    start_time = time.perf_counter()
    first = cfgs[0]
    device, dtype = train.run_device(first), getattr(torch, first.dtype)
    data = train.prepare_data(load_data(first.data), dtype, device, first.data.augment)
    models = []
    for cfg in cfgs:
        torch.manual_seed(cfg.seed)
        models.append(build_model(cfg.model, data.input_shape, data.num_classes).to(device=device, dtype=dtype))
    base = models[0]
    base.train()
    loss_fn = get_loss(first.loss)
    schedules = [Schedule.from_config(cfg.schedule, cfg.steps) for cfg in cfgs]
    lr_table = torch.stack([s.values() for s in schedules])  # (K, T) float64, as the trainer's list of floats
    streams = [BatchStream(data, cfg.batch_size, seed=cfg.seed, augment=cfg.data.augment) for cfg in cfgs]
    stack = _Stack(cfgs, models)
    num_params = sum(p.numel() for p in base.parameters())
    forward = vmap(_forward(base))
    losses = vmap(loss_fn)
    accuracies = vmap(accuracy)

    alive = list(range(len(cfgs)))  # member index of each stack position
    columns = [{"step": [], "lr": [], "loss": [], "accuracy": [], "grad_norm": []} for _ in cfgs]
    evals: list[list[dict]] = [[] for _ in cfgs]
    diverged_at: dict[int, int] = {}
    if first.eval_every > 0:
        for member, row in zip(alive, _evaluation_rows(0, stack.params, stack.buffers, base, loss_fn, data)):
            evals[member].append(row)
    for step in range(first.steps):
        batches = [streams[m].next() for m in alive]
        inputs = torch.stack([b[0] for b in batches]).to(device)
        targets = torch.stack([b[1] for b in batches]).to(device)
        grads, measured = _measure_step(stack, forward, losses, accuracies, inputs, targets)
        lrs = lr_table[alive, step]
        finite = []
        for position, (member, values) in enumerate(zip(alive, measured)):
            for name, value in zip(("step", "lr", "loss", "accuracy", "grad_norm"), (step, float(lrs[position]), *values)):
                columns[member][name].append(value)
            if math.isfinite(values[0]):
                finite.append(position)
            else:
                diverged_at[member] = step
        if len(finite) < len(alive):
            gone = [p for p in range(len(alive)) if p not in finite]
            rows = _evaluation_rows(step, {n: p[gone] for n, p in stack.params.items()},
                                    {n: b[gone] for n, b in stack.buffers.items()}, base, loss_fn, data)
            for position, row in zip(gone, rows):
                if not evals[alive[position]] or evals[alive[position]][-1]["step"] != step:
                    evals[alive[position]].append(row)
            index = torch.tensor(finite, dtype=torch.long, device=device)
            stack.keep(index)
            grads = {n: g[index] for n, g in grads.items()}
            lrs = lrs[finite]
            alive = [alive[p] for p in finite]
            if not alive:
                break
        stack.update(grads, lrs.to(dtype=dtype, device=device))
        steps_run = step + 1
        if first.eval_every > 0 and steps_run % first.eval_every == 0 and steps_run < first.steps:
            for member, row in zip(alive, _evaluation_rows(steps_run, stack.params, stack.buffers, base, loss_fn, data)):
                evals[member].append(row)
    if alive:
        for member, row in zip(alive, _evaluation_rows(first.steps, stack.params, stack.buffers, base, loss_fn, data)):
            if not evals[member] or evals[member][-1]["step"] != first.steps:
                evals[member].append(row)
    wall = (time.perf_counter() - start_time) / len(cfgs)  # each member's share of the stack's time
    return [_result(cfg, columns[m], evals[m], diverged_at.get(m), schedules[m], num_params, data.num_classes, wall)
            for m, cfg in enumerate(cfgs)]


def _result(cfg: RunConfig, columns: dict[str, list], evals: list[dict], diverged_step: int | None,
            schedule: Schedule, num_params: int, num_classes: int, wall: float) -> train.RunResult:
    """One member's RunResult, summarised by the sequential trainer's own rules."""
    frame, records = pd.DataFrame(evals), train._records_frame(columns, {})
    steps_run = cfg.steps if diverged_step is None else diverged_step
    outcome = train.outcome(cfg, records, evals[-1], num_classes, diverged_step is not None)
    summary = train._summary(cfg, frame, outcome, steps_run, schedule, num_params, wall)
    return train.RunResult(records, frame, summary)


def _measure_step(stack: _Stack, forward, losses, accuracies, inputs: torch.Tensor,
                  targets: torch.Tensor) -> tuple[dict[str, torch.Tensor], list[list[float]]]:
    """Gradients of every member on its batch, and per member [loss, accuracy, ||grad||] (float64)."""
    leaves = {n: p.requires_grad_(True) for n, p in stack.params.items()}
    outputs = forward(leaves, stack.buffers, inputs)
    member_losses = losses(outputs, targets)
    grads = dict(zip(leaves, torch.autograd.grad(member_losses.sum(), list(leaves.values()))))
    for p in leaves.values():
        p.requires_grad_(False)
    grad_norm = torch.stack([g.flatten(1).double().square().sum(1) for g in grads.values()]).sum(0).sqrt()
    measured = torch.stack([member_losses.detach().double(), accuracies(outputs.detach(), targets).double(),
                            grad_norm]).T.tolist()  # one device sync per step, as the trainer
    return grads, measured
