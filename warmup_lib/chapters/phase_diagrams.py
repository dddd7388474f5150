"""The phase-diagram chapter's experiments: sweeps built from a notebook's parameters, the
authors' released WRN-16-4 Adam grids as reference, and the callback of the Adam failure traces.

A chapter's parameters (``warmup_lib.config.PRESETS[preset]["05_phase_diagrams"]``) name the data,
the model, the grids and the executor; :func:`sgd_sweeps` and :func:`adam_sweep` turn them into
:class:`warmup_lib.runs.sweep.Sweep` objects, one results-store experiment each, so that the book, smoke
and paper presets differ only in their parameters:

* SGD (the paper's Fig. 3, 21): one sweep per family (SP / muP x MSE / cross-entropy), eta_trgt =
  c / lambda_0 with c doubling from the family's first value until every T_wrm row diverges (or fails); the
  family named ``extras_family`` also gets the momentum and cosine-decay variants (Fig. 21).
* Adam vs GI-Adam (Fig. 4, 22-25 and the released grid): absolute eta_trgt = eta_start x 2^j,
  cross-entropy, cosine decay to eta_trgt / 10, doubling until every row diverges or fails.

:func:`trace_callback` is the callback of the probed failure traces: Adam's state and what the paper's
App. G blames for Adam's failures (the share of the gradient carried by the readout bias, the fraction
of hidden units that are zero on the whole batch).  The statistics the chapter's claims are made of
(largest trainable eta, warmup gain, cell means, variance shares) are read by
:mod:`warmup_lib.analysis.phase`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from warmup_lib.config import RunConfig
from warmup_lib.optim.adam_state import AdamStateTracker
from warmup_lib.runs.store import thin_records  # noqa: F401  (re-exported: the notebook calls pe.thin_records)
from warmup_lib.runs.sweep import Sweep

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
    so runs made with :func:`trace_callback` live in their own experiment: its name says that
    every run in it carries the probe's columns."""
    return _experiment(params, "adam_probe")


def trace_callback() -> AdamStateTracker:
    """The callback of the probed failure traces: :class:`~warmup_lib.optim.adam_state.AdamStateTracker`
    with the columns m_norm, v_norm, v_hat_norm, grad_sq_norm, readout_bias_grad_share, dead_units and
    dead_units_last at every step (no last_update_rms)."""
    return AdamStateTracker(update_rms=False, bias_corrected=True, failure_signs=True)
