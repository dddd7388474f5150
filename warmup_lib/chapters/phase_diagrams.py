"""The phase-diagram chapter's experiments: sweeps built from a notebook's parameters, the
authors' released WRN-16-4 Adam grids as reference, and a probe of Adam's state for failure traces.

A chapter's parameters (``warmup_lib.config.PRESETS[preset]["05_phase_diagrams"]``) name the data,
the model, the grids and the executor; :func:`sgd_sweeps` and :func:`adam_sweep` turn them into
:class:`warmup_lib.runs.sweep.Sweep` objects, one results-store experiment each, so that the book, smoke
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

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from warmup_lib.runs.store import thin_records  # noqa: F401  (re-exported: the notebook calls pe.thin_records)
from warmup_lib.config import RunConfig
from warmup_lib.runs.sweep import Sweep, SweepResult, load_sweep, run_sweep

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


EXTRA_VARIANTS: dict[str, dict[str, Any]] = {
    "momentum": {"optim.momentum": None}, "cosine": {"schedule.decay": "cosine"},
    "momentum_cosine": {"optim.momentum": None, "schedule.decay": "cosine"},
}


def extra_variants(momentum: float) -> dict[str, dict[str, Any]]:
    """The paper's Fig. 21 variants of SGD: heavy-ball momentum (``momentum``), cosine decay, both."""
    return {name: {key: (momentum if key == "optim.momentum" else value) for key, value in overrides.items()}
            for name, overrides in EXTRA_VARIANTS.items()}


def sgd_sweeps(params: Mapping[str, Any]) -> dict[str, Sweep]:
    """One plain-SGD sweep per family of :data:`SGD_FAMILIES` and one sweep ``"extras"`` of the
    family ``extras_family`` with :func:`extra_variants`.

    eta_trgt = c / lambda_0 for c in ``sgd_eta[family]`` (``extras_eta`` for the extras) and then
    doubling (``extend``) until every T_wrm row (all ``seeds``) has diverged or failed (stuck at
    chance level without a NaN, as the authors' muP run at 2^6/lambda_0), at most
    ``max_extensions`` times; T_wrm in ``warmup_steps`` (``extras_warmup_steps``, a subset, so
    that plain SGD of the extras family serves as their baseline); constant rate after warmup
    unless the variant decays."""
    base = base_config(params)
    common = {"seeds": tuple(params["seeds"]), "extend": True, "stop_on": ("diverged", "failed"),
              "max_extensions": params["max_extensions"], "lambda0_batches": params["lambda0_batches"]}
    sweeps = {family: Sweep(experiment=_experiment(params, f"sgd_{family}"), base=base.replace(**overrides),
                            eta_trgt=tuple(params["sgd_eta"][family]), warmup_steps=tuple(params["warmup_steps"]),
                            variants={"sgd": {}}, **common)
              for family, overrides in SGD_FAMILIES.items()}
    family = params["extras_family"]
    sweeps["extras"] = Sweep(experiment=_experiment(params, f"sgd_{family}_extras"),
                             base=base.replace(**SGD_FAMILIES[family]), eta_trgt=tuple(params["extras_eta"]),
                             warmup_steps=tuple(params["extras_warmup_steps"]),
                             variants=extra_variants(params["momentum"]), **common)
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
    r"""Trainer callback (:class:`warmup_lib.runs.train.Callback`): Adam's state and dead units, every
    ``every`` steps, at theta_t before update t (so m and v are m_{t-1}, v_{t-1}).

    Columns: ``m_norm`` = ||m||_2 and ``v_norm`` = ||v||_2 over all parameters (0 before the
    first update of Adam; v_0 = g_0^2 for GI-Adam); ``v_hat_norm`` = ||v / (1 - beta2^t)||_2, the
    bias-corrected second moment that divides the step (t = updates made; equal to ``v_norm`` for
    t = 0), and ``grad_sq_norm`` = ||g o g||_2 of this batch's gradient g, its counterpart for the
    current gradient: v_hat_norm / grad_sq_norm >> 1 means the step is divided by the memory of
    larger, earlier gradients; ``readout_bias_grad_share`` =
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
    def _moment_norm(optimizer: torch.optim.Optimizer, key: str, bias_corrected: bool = False) -> float:
        squares = []
        for group in optimizer.param_groups:
            beta2 = group.get("betas", (0.0, 0.0))[1]
            for param in group["params"]:
                state = optimizer.state.get(param, {})
                if key not in state:
                    continue
                value = state[key].double()
                updates = int(state["step"]) if "step" in state else 0
                if bias_corrected and updates > 0:
                    value = value / (1 - beta2**updates)
                squares.append(value.pow(2).sum())
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
        grads = [p.grad.double() for p in model.parameters() if p.grad is not None]
        grad_norm = torch.stack([g.pow(2).sum() for g in grads]).sum().sqrt()
        grad_sq_norm = torch.stack([g.pow(4).sum() for g in grads]).sum().sqrt()
        bias_share = readout.bias.grad.double().norm() / grad_norm if grad_norm > 0 else torch.tensor(math.nan)
        return {"m_norm": self._moment_norm(optimizer, "exp_avg"), "v_norm": self._moment_norm(optimizer, "exp_avg_sq"),
                "v_hat_norm": self._moment_norm(optimizer, "exp_avg_sq", bias_corrected=True),
                "grad_sq_norm": float(grad_sq_norm), "readout_bias_grad_share": float(bias_share),
                "dead_units": float(torch.stack(dead).mean()), "dead_units_last": float(dead[-1])}


def load_or_run_sweep(sweep: Sweep, root: str | Path = "results", executor: str = "auto", workers: int | None = None,
                      ray_address: str | None = None, progress: bool = False) -> SweepResult:
    """The stored result of ``sweep`` when a finished sweep with the same spec is in ``root``
    (:func:`warmup_lib.runs.sweep.load_sweep`, nothing is written), else :func:`warmup_lib.runs.sweep.run_sweep`
    (which loads the runs already stored and runs the rest).  Loading without writing keeps a
    re-executed notebook from touching the committed sweep records."""
    record_path = Path(root) / sweep.experiment / "sweep.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record.get("finished") and record.get("spec") == json.loads(json.dumps(sweep.to_dict())):
            return load_sweep(sweep.experiment, root)
    return run_sweep(sweep, executor=executor, root=root, progress=progress, ray_address=ray_address, workers=workers)


# ---------------------------------------------------------------------------------------------------
# Reading a phase diagram: the numbers the chapter's claims are made of
# ---------------------------------------------------------------------------------------------------

def _eta_name(table: pd.DataFrame) -> str:
    return "c" if "c" in table and table["c"].notna().all() else "eta_trgt"


def largest_trainable_eta(table: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, warmup_steps): eta_max = the largest eta (c, or absolute eta_trgt) at which
    a run converged, geometric mean over the seeds (a seed with no converged run is left out),
    and the seeds' min and max.  Columns: variant, warmup_steps, eta_max, eta_max_min, eta_max_max."""
    eta = _eta_name(table)
    good = table[table["outcome"] == "converged"]
    per_seed = good.groupby(["variant", "warmup_steps", "seed"])[eta].max().reset_index()
    stats = per_seed.groupby(["variant", "warmup_steps"])[eta].agg(
        eta_max=lambda v: float(np.exp(np.log(v).mean())), eta_max_min="min", eta_max_max="max")
    return stats.reset_index()


def warmup_gain(table: pd.DataFrame, variant: str) -> float:
    """eta_max at the longest warmup / eta_max without warmup (the shortest T_wrm), for ``variant``:
    how much larger a target learning rate warmup makes trainable (seeds: geometric means)."""
    rows = largest_trainable_eta(table)
    rows = rows[rows["variant"] == variant].sort_values("warmup_steps")
    return float(rows["eta_max"].iloc[-1] / rows["eta_max"].iloc[0]) if len(rows) else math.nan


def cell_means(table: pd.DataFrame, metric: str = "best_test_accuracy") -> pd.DataFrame:
    """Seed means of ``metric`` per (variant, warmup_steps, eta) over converged runs, with the
    number of seeds that converged (``converged``) and ran (``seeds``)."""
    eta = _eta_name(table)
    grouped = table.assign(ok=table["outcome"] == "converged",
                           value=table[metric].where(table["outcome"] == "converged"))
    cells = grouped.groupby(["variant", "warmup_steps", eta]).agg(mean=("value", "mean"), converged=("ok", "sum"),
                                                                  seeds=("ok", "size"))
    return cells.reset_index().rename(columns={eta: "eta"})


def variance_shares(table: pd.DataFrame, variant: str, margin: int = 1,
                    metric: str = "best_test_accuracy") -> dict[str, float]:
    r"""How much of the accuracy's variation *away from the boundary* eta_trgt and T_wrm explain.

    Interior cells: the eta columns at least ``margin`` doublings below the smallest
    per-row eta_max (so every row, every seed converged there).  On the interior's complete grid
    of seed means a_{ij} (eta i, T_wrm j) the two-way decomposition
    SS_total = SS_eta + SS_T + SS_resid, with SS_eta = n_T sum_i (abar_i. - abar)^2 and
    SS_T = n_eta sum_j (abar_.j - abar)^2, gives the shares SS_eta / SS_total and SS_T / SS_total.
    Returns {"eta_share", "warmup_share", "columns"} (NaN shares with fewer than 2 columns)."""
    cells = cell_means(table, metric)
    cells = cells[cells["variant"] == variant]
    bound = largest_trainable_eta(table)
    bound = bound.loc[bound["variant"] == variant, "eta_max_min"].min() if len(bound) else math.nan
    interior = cells[(cells["eta"] <= bound / 2**margin * (1 + 1e-9)) & (cells["converged"] == cells["seeds"])]
    grid = interior.pivot(index="eta", columns="warmup_steps", values="mean").dropna()
    if grid.shape[0] < 2 or grid.shape[1] < 1:
        return {"eta_share": math.nan, "warmup_share": math.nan, "columns": int(grid.shape[0])}
    values = grid.to_numpy()
    centre = values.mean()
    total = ((values - centre) ** 2).sum()
    by_eta = values.shape[1] * ((values.mean(axis=1) - centre) ** 2).sum()
    by_warmup = values.shape[0] * ((values.mean(axis=0) - centre) ** 2).sum()
    return {"eta_share": float(by_eta / total) if total > 0 else math.nan,
            "warmup_share": float(by_warmup / total) if total > 0 else math.nan, "columns": int(values.shape[0])}


def best_to_boundary(table: pd.DataFrame, variant: str, metric: str = "best_test_accuracy") -> float:
    """Mean over T_wrm rows of log2(eta_max / eta_best): how many doublings below the row's
    trainability boundary its best seed-mean accuracy sits (0: the best eta is the last one that
    trains, as the paper finds for SGD; Adam's best sits further left)."""
    cells = cell_means(table, metric)
    cells = cells[(cells["variant"] == variant) & cells["mean"].notna()]
    bound = largest_trainable_eta(table)
    bound = bound[bound["variant"] == variant].set_index("warmup_steps")["eta_max_max"]
    gaps = [math.log2(bound[warmup] / row.loc[row["mean"].idxmax(), "eta"])
            for warmup, row in cells.groupby("warmup_steps")]
    return float(np.mean(gaps)) if gaps else math.nan
