"""The phase-diagram chapter's experiments: sweeps built from a notebook's parameters, the
authors' released WRN-16-4 Adam grids as reference, and a probe of Adam's state for failure traces.

A chapter's parameters (``warmup_lib.config.PRESETS[preset]["05_phase_diagrams"]``) name the data,
the model, the grids and the executor; :func:`sgd_sweeps` and :func:`adam_sweep` turn them into
:class:`warmup_lib.sweep.Sweep` objects, one results-store experiment each, so that the book, smoke
and paper presets differ only in their parameters:

* SGD (the paper's Fig. 3, 21): one sweep per family (SP / muP x MSE / cross-entropy), eta_trgt =
  c / lambda_0 with c doubling from the family's first value until every T_wrm row diverges (or fails); the
  family named ``extras_family`` also gets the momentum and cosine-decay variants (Fig. 21).
* Adam vs GI-Adam (Fig. 4, 22-25 and the released grid): absolute eta_trgt = eta_start x 2^j,
  cross-entropy, cosine decay to eta_trgt / 10, doubling until every row diverges or fails.

:class:`AdamStateProbe` is a trainer callback measuring what the paper's App. G blames for Adam's
failures: ||m||, ||v||, the share of the gradient carried by the readout bias, and the fraction of
hidden units that are zero on the whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch

from warmup_lib.config import RunConfig
from warmup_lib.sweep import Sweep

SGD_FAMILIES: dict[str, dict[str, str]] = {
    "sp_mse": {"model.param": "sp", "loss": "mse"},
    "sp_xent": {"model.param": "sp", "loss": "xent"},
    "mup_mse": {"model.param": "mup", "loss": "mse"},
    "mup_xent": {"model.param": "mup", "loss": "xent"},
}
ADAM_VARIANTS: dict[str, dict[str, str]] = {"adam": {}, "gi_adam": {"optim.name": "gi_adam"}}

# The authors' released WRN-16-4 runs (SP, CIFAR-10, cross-entropy, B = 128, 10^5 steps, linear
# warmup then cosine decay to eta/10, augmentation, one seed): best test accuracy, code digest
# section 7.  "adam" is optax.adam, "gi_adam" their grads_adam.  A failed run ('F') keeps its best
# accuracy where the digest lists it, NaN otherwise.
_RELEASED = {
    ("adam", 1): [0.936, 0.915, 0.879, "F"],
    ("adam", 1024): [0.947, 0.936, 0.924, 0.899, 0.857, ("F", 0.30)],
    ("gi_adam", 1): [0.943, 0.934, 0.924, 0.893, 0.845, "F", "F"],
    ("gi_adam", 1024): [0.941, 0.939, 0.927, 0.909, 0.878, ("F", 0.37), "F"],
}
RELEASED_ETA_START = 0.00512


def released_wrn_adam() -> pd.DataFrame:
    """The released grid as a table: variant, warmup_steps, eta_trgt (0.00512 x 2^j), outcome
    ('converged' | 'failed') and best_test_accuracy (NaN for a failed run without a listed best)."""
    rows = []
    for (variant, warmup), cells in _RELEASED.items():
        for j, cell in enumerate(cells):
            failed = cell == "F" or isinstance(cell, tuple)
            best = cell[1] if isinstance(cell, tuple) else (math.nan if cell == "F" else cell)
            rows.append({"variant": variant, "warmup_steps": warmup, "eta_trgt": RELEASED_ETA_START * 2**j,
                         "outcome": "failed" if failed else "converged", "best_test_accuracy": best})
    return pd.DataFrame(rows)


def compare_with_released(table: pd.DataFrame) -> pd.DataFrame:
    """Our Adam sweep table (seeds pooled: mean best accuracy over converged seeds, outcomes joined)
    next to the released grid, matched on (variant, T_wrm, eta_trgt to 6 significant digits)."""
    ours = table.assign(key=table["eta_trgt"].map(lambda v: float(f"{v:.6g}")))
    pooled = ours.groupby(["variant", "warmup_steps", "key"]).apply(
        lambda cell: pd.Series({"ours_best_test_accuracy": cell.loc[cell["outcome"] == "converged",
                                                                    "best_test_accuracy"].mean(),
                                "ours_outcomes": "/".join(sorted(set(cell["outcome"])))}),
        include_groups=False).reset_index()
    released = released_wrn_adam().rename(columns={"outcome": "released_outcome",
                                                   "best_test_accuracy": "released_best_test_accuracy"})
    released["key"] = released["eta_trgt"].map(lambda v: float(f"{v:.6g}"))
    merged = released.merge(pooled, on=["variant", "warmup_steps", "key"], how="outer")
    merged["eta_trgt"] = merged["key"]
    return merged.drop(columns="key").sort_values(["variant", "warmup_steps", "eta_trgt"]).reset_index(drop=True)


def base_config(params: Mapping[str, Any]) -> RunConfig:
    """The RunConfig every sweep of the chapter starts from, read from the parameters: data
    (``dataset``, ``n_train``, ``n_test``, ``augment``, ``data_root``, ``data_download``), model (``arch``, ``width``,
    ``depth``, ``widen``), ``batch_size``, ``steps``, ``eval_every``, ``device``."""
    return RunConfig().replace(**{
        "data.name": params["dataset"], "data.n_train": params["n_train"], "data.n_test": params["n_test"],
        "data.augment": params["augment"], "data.root": params["data_root"],
        "data.download": params["data_download"],
        "model.arch": params["arch"], "model.width": params["width"], "model.depth": params["depth"],
        "model.widen": params["widen"],
    }, batch_size=params["batch_size"], steps=params["steps"], eval_every=params["eval_every"],
        device=params["device"])


def _experiment(params: Mapping[str, Any], name: str) -> str:
    return f"05_{params['preset']}_{name}"


def extra_variants(momentum: float) -> dict[str, dict[str, Any]]:
    """Plain SGD and the paper's Fig. 21 variants: heavy-ball momentum, cosine decay, both."""
    return {"sgd": {}, "momentum": {"optim.momentum": momentum}, "cosine": {"schedule.decay": "cosine"},
            "momentum_cosine": {"optim.momentum": momentum, "schedule.decay": "cosine"}}


def sgd_sweeps(params: Mapping[str, Any]) -> dict[str, Sweep]:
    """One SGD sweep per family of :data:`SGD_FAMILIES`: eta_trgt = c / lambda_0 for c in
    ``sgd_eta[family]`` and then doubling (``extend``) until every T_wrm row (all ``seeds``) has
    diverged or failed (stuck at chance level without a NaN, as the authors' muP run at 2^6/lambda_0),
    at most ``max_extensions`` times; T_wrm in ``warmup_steps``; constant rate after
    warmup.  The family ``extras_family`` also runs :func:`extra_variants` (momentum ``momentum``)."""
    base = base_config(params)
    sweeps = {}
    for family, overrides in SGD_FAMILIES.items():
        variants = extra_variants(params["momentum"]) if family == params["extras_family"] else {"sgd": {}}
        sweeps[family] = Sweep(
            experiment=_experiment(params, f"sgd_{family}"), base=base.replace(**overrides),
            eta_trgt=tuple(params["sgd_eta"][family]), warmup_steps=tuple(params["warmup_steps"]),
            seeds=tuple(params["seeds"]), variants=variants, extend=True, stop_on=("diverged", "failed"),
            max_extensions=params["max_extensions"], lambda0_batches=params["lambda0_batches"])
    return sweeps


def adam_sweep(params: Mapping[str, Any]) -> Sweep:
    """Adam vs GI-Adam (SP, cross-entropy, cosine decay): absolute eta_trgt = ``adam_eta_start`` x
    2^j for j < ``adam_eta_columns``, then doubling until every row diverges or fails; T_wrm in
    ``adam_warmup_steps``."""
    base = base_config(params).replace(**{"model.param": "sp", "optim.name": "adam", "schedule.decay": "cosine"},
                                       loss="xent")
    etas = tuple(params["adam_eta_start"] * 2**j for j in range(params["adam_eta_columns"]))
    return Sweep(experiment=_experiment(params, "adam"), base=base, eta_trgt=etas, eta_unit="absolute",
                 warmup_steps=tuple(params["adam_warmup_steps"]), seeds=tuple(params["seeds"]),
                 variants=ADAM_VARIANTS, extend=True, stop_on=("diverged", "failed"),
                 max_extensions=params["max_extensions"])


def trace_experiment(params: Mapping[str, Any]) -> str:
    """Store experiment of the probed failure traces.  The store keys a run by its config alone,
    so runs made with :class:`AdamStateProbe` live in their own experiment: its name says that
    every run in it carries the probe's columns."""
    return _experiment(params, "adam_probe")


class AdamStateProbe:
    r"""Trainer callback (:class:`warmup_lib.train.Callback`): Adam's state and dead units, every
    ``every`` steps, at theta_t before update t (so m and v are m_{t-1}, v_{t-1}).

    Columns: ``m_norm`` = ||m||_2 and ``v_norm`` = ||v||_2 over all parameters (0 before the
    first update of Adam; v_0 = g_0^2 for GI-Adam), ``readout_bias_grad_share`` =
    ||grad_b L|| / ||grad L|| for the readout bias b, ``dead_units`` = the fraction of the
    hidden ReLU units whose output is zero on every example of the batch (units: the hidden
    layers' features of an FCN, the residual blocks' output channels of a WRN), and
    ``dead_units_last`` the same for the last hidden layer (block).  It computes its own
    gradient (one extra backward pass) and leaves ``.grad`` dirty, which the trainer clears.
    """

    def __init__(self, every: int = 1) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every: got {every!r}; must be an int >= 1")
        self.every = every

    @staticmethod
    def _moment_norm(optimizer: torch.optim.Optimizer, key: str) -> float:
        squares = [state[key].double().pow(2).sum() for state in optimizer.state.values() if key in state]
        return float(torch.stack(squares).sum().sqrt()) if squares else 0.0

    def __call__(self, step: int, model: torch.nn.Module, loss_fn, inputs: torch.Tensor, targets: torch.Tensor,
                 optimizer: torch.optim.Optimizer) -> dict[str, float] | None:
        if step % self.every:
            return None
        layers = getattr(model, "hidden", None) or getattr(model, "blocks", None)
        readout = getattr(model, "readout", None)
        if layers is None or readout is None or readout.bias is None:
            raise ValueError("model: AdamStateProbe needs an FCN (hidden, readout) or a WRN (blocks, readout) "
                             "with a readout bias")
        dead: list[torch.Tensor] = []

        def record_dead(_module, _inputs, output: torch.Tensor) -> None:
            # a unit (feature, or channel of a conv map) is dead when ReLU zeroes it on the whole batch
            dead.append((output <= 0).transpose(0, 1).flatten(1).all(dim=1).double().mean())

        handles = [layer.register_forward_hook(record_dead) for layer in layers]
        try:
            model.zero_grad(set_to_none=True)
            loss_fn(model(inputs), targets).backward()
        finally:
            for handle in handles:
                handle.remove()
        grads = [p.grad.double().pow(2).sum() for p in model.parameters() if p.grad is not None]
        grad_norm = torch.stack(grads).sum().sqrt()
        bias_share = readout.bias.grad.double().norm() / grad_norm if grad_norm > 0 else torch.tensor(math.nan)
        return {"m_norm": self._moment_norm(optimizer, "exp_avg"), "v_norm": self._moment_norm(optimizer, "exp_avg_sq"),
                "readout_bias_grad_share": float(bias_share), "dead_units": float(torch.stack(dead).mean()),
                "dead_units_last": float(dead[-1])}
