"""warmup_lib.chapters.phase_diagrams: sweeps from chapter parameters, the released grid, the failure
traces' callback (the thinning of stored records is tested with the store)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from warmup_lib import config
from warmup_lib.chapters import phase_diagrams as pe
from warmup_lib.config import ModelConfig
from warmup_lib.losses import get_loss
from warmup_lib.models import build_model

OK = "converged"


def test_released_grid_holds_the_digest_numbers() -> None:
    released = pe.released_wrn_adam()
    assert len(released) == 24
    cell = released.set_index(["variant", "warmup_steps", "eta_trgt"])
    assert cell.loc[("adam", 1024, 0.00512), "best_test_accuracy"] == 0.947
    # the digest's claim 13: without warmup GI-Adam trains up to 0.08192, Adam only up to 0.02048
    trained = released[released["outcome"] == "converged"].groupby(["variant", "warmup_steps"])["eta_trgt"].max()
    assert trained[("adam", 1)] == pytest.approx(0.02048) and trained[("gi_adam", 1)] == pytest.approx(0.08192)
    ours = pd.DataFrame([{"variant": "adam", "warmup_steps": 1, "eta_trgt": 0.00512, "seed": 0,
                          "outcome": OK, "best_test_accuracy": 0.9}])
    merged = pe.compare_with_released(ours)
    row = merged[(merged["variant"] == "adam") & (merged["warmup_steps"] == 1) & (merged["eta_trgt"] == 0.00512)]
    assert row["ours_best_test_accuracy"].item() == 0.9 and row["released_best_test_accuracy"].item() == 0.936


@pytest.mark.parametrize("preset", config.PRESET_NAMES)
def test_sweeps_from_every_preset(preset: str) -> None:
    params = config.notebook_parameters("05_phase_diagrams", preset)
    sweeps = pe.sgd_sweeps(params)
    assert set(sweeps) == {*pe.SGD_FAMILIES, "extras"}
    assert set(sweeps["extras"].warmup_steps) <= set(params["warmup_steps"])  # plain SGD rows are the baseline
    assert sweeps["extras"].base == sweeps[params["extras_family"]].base
    assert {sw.experiment for sw in sweeps.values()} | {pe.adam_sweep(params).experiment, pe.trace_experiment(params)} \
        == {f"05_{preset}_{name}" for name in ("sgd_sp_mse", "sgd_sp_xent", "sgd_mup_mse", "sgd_mup_xent",
                                                "sgd_sp_xent_extras", "adam", "adam_probe")}


def test_trace_callback_records_the_columns_of_the_stored_traces() -> None:
    """The committed 05_<preset>_adam_probe runs carry exactly these columns, in this order."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="fcn", width=8, depth=3), (5,), 3)
    inputs, targets = torch.randn(6, 5), torch.arange(6) % 3
    row = pe.trace_callback()(0, model, get_loss("xent"), inputs, targets, torch.optim.Adam(model.parameters()))
    assert list(row) == ["m_norm", "v_norm", "v_hat_norm", "grad_sq_norm", "readout_bias_grad_share", "dead_units",
                         "dead_units_last"]
