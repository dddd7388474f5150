"""benchmarks/gpu_paper_scale.py in its --tiny mode on the CPU: every part runs and writes its JSON.

The full script is meant for a lent GPU (book/reproducing.md, "Paper scale on one GPU"); this smoke
test runs the same code at tiny sizes, so that the device command cannot fail on a typo.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_paper_scale.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_paper_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gpu_paper_scale")
    assert _load_script().main(["--out", str(out), "--tiny", "--device", "cpu"]) == 0
    return out, json.loads((out / "gpu_paper_scale.json").read_text())


def test_tiny_run_writes_every_part_without_errors(tiny_run):
    out, summary = tiny_run
    assert summary["errors"] == {}
    assert set(summary["parts"]) == {"vectorised", "fcn", "lm", "wrn"}
    assert set(summary["wall_s"]) == {"vectorised", "fcn", "lm", "wrn"}
    for key in ("torch", "torch_cuda", "python", "device"):
        assert key in summary["environment"]
    for part in summary["parts"]:
        assert json.loads((out / f"{part}.json").read_text()) == summary["parts"][part]
    assert (out / "fcn_sharpness.png").stat().st_size > 0


def test_tiny_run_part_keys(tiny_run):
    _, summary = tiny_run
    vectorised = summary["parts"]["vectorised"]
    assert vectorised["speedup"] > 0 and vectorised["stacked"]["members"] == vectorised["setup"]["members"]
    assert vectorised["agreement"]["outcomes_equal"] == vectorised["agreement"]["compared"]
    assert vectorised["agreement"]["max_rel_diff_final_train_loss"] < 1e-3  # CPU float32, same kernels per member
    fcn = summary["parts"]["fcn"]
    assert {"mup_seed0", "sp_seed0"} <= set(fcn["lambda_0"])
    run = fcn["runs"][0]
    for key in ("status", "steps_done", "sharpness", "loss_sampled", "eta_trgt", "lambda_0"):
        assert key in run
    lm = summary["parts"]["lm"]
    assert {"with_final_ln_seed0", "without_final_ln_seed0"} <= set(lm["lambda_0"])
    assert lm["lambda0_ratio_without_over_with"]["of_means"] > 1
    assert set(lm["training"]) == {"with_final_ln", "without_final_ln"}
    assert "THROUGHPUT" in summary["parts"]["wrn"]["label"] and summary["parts"]["wrn"]["ms_per_step"] > 0


def test_strict_json(tiny_run):
    out, _ = tiny_run
    text = (out / "gpu_paper_scale.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
