"""The drop-in parts inside Hugging Face ``Trainer`` and Lightning: checkpointed mid-warmup, resumed
in a fresh process, every loss and rate equals the uninterrupted run's.

tests/framework_runs.py trains a tiny model with GIAdam (v0 "grad" and "zero") under ScheduleLR or
PersistentCatapultWarmup, once for 40 updates checkpointing at update 20, then again from that
checkpoint in a new process (each phase is one subprocess per framework).  Offline: tiny torch
models and tensors only.  Needs the frameworks extra (``make test`` installs it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from framework_runs import (CATAPULT_ETA_TRGT, CHECKPOINT_STEP, CONFIGS, SCHEDULE_ETA_TRGT, STEPS,  # noqa: E402
                            WARMUP_STEPS)

from warmup_lib import Schedule  # noqa: E402

FRAMEWORKS = {"transformers": ("transformers", "accelerate"), "lightning": ("lightning",)}
SCRIPT = Path(__file__).parent / "framework_runs.py"

pytestmark = pytest.mark.slow  # two fresh processes per framework, each importing it: 10-30 s


@pytest.fixture(scope="module", params=sorted(FRAMEWORKS))
def runs(request, tmp_path_factory) -> tuple[str, Path]:
    """Both phases of every configuration in one framework: (framework, folder of the runs)."""
    framework = request.param
    missing = [name for name in FRAMEWORKS[framework] if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (the frameworks extra: pip install -e '.[frameworks]')")
    folder = tmp_path_factory.mktemp(framework)
    for phase in ("first", "resume"):  # the resume is a fresh process: nothing survives but the checkpoint
        done = subprocess.run([sys.executable, str(SCRIPT), framework, phase, str(folder)], capture_output=True,
                              text=True, timeout=600, env=os.environ | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
        assert done.returncode == 0, done.stderr[-4000:]
    return framework, folder


def _phases(folder: Path, config: str) -> tuple[dict, dict]:
    return tuple(json.loads((folder / config / f"{phase}.json").read_text()) for phase in ("first", "resume"))


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_a_run_resumed_mid_warmup_equals_the_uninterrupted_one(runs, config) -> None:
    _, folder = runs
    first, resumed = _phases(folder, config)
    assert first["steps"] == list(range(STEPS)) and resumed["steps"] == list(range(CHECKPOINT_STEP, STEPS))
    assert resumed["losses"] == first["losses"][CHECKPOINT_STEP:]  # floats compared exactly
    assert resumed["rates"] == first["rates"][CHECKPOINT_STEP:]
    assert resumed["logged"] == first["logged"][CHECKPOINT_STEP:]
    # the train-begins hook initialised v0 once; on the resume it kept the restored moments
    assert (first["init_from_grad"], resumed["init_from_grad"]) == ([True], [False])


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_rates_are_the_schedulers_and_keep_the_groups_ratio(runs, config) -> None:
    framework, folder = runs
    first, _ = _phases(folder, config)
    rates = first["rates"]
    assert all(rate[1] == rate[0] / 4 for rate in rates)  # base rates eta_trgt and eta_trgt/4; 1/4 is exact
    if CONFIGS[config][1] == "schedule":
        schedule = Schedule(eta_trgt=SCHEDULE_ETA_TRGT, warmup_steps=WARMUP_STEPS, total_steps=STEPS)
        assert [rate[0] for rate in rates] == schedule.values().tolist()
        assert rates[CHECKPOINT_STEP][0] < SCHEDULE_ETA_TRGT  # the checkpoint is mid-warmup
    else:
        searches = first["searches"]
        assert searches[0] == 0 and searches[-1] >= CHECKPOINT_STEP  # re-estimations on both sides
        assert _phases(folder, config)[1]["searches"] == searches  # the resumed records are the same
        assert max(rate[0] for rate in rates[:CHECKPOINT_STEP]) < CATAPULT_ETA_TRGT
    if framework == "transformers" or CONFIGS[config][1] == "catapult":
        # what Hugging Face logs, and get_last_lr() of the persistent warmup, is the rate used
        assert first["logged"] == [rate[0] for rate in rates]
    else:  # after scheduler.step(), torch's get_last_lr() is the next update's rate
        assert first["logged"][:-1] == [rate[0] for rate in rates[1:]]


def test_the_checkpoints_load_with_torch_load_defaults(runs) -> None:
    framework, folder = runs
    for config, (_, kind) in CONFIGS.items():
        if framework == "transformers":
            state = torch.load(folder / config / f"checkpoint-{CHECKPOINT_STEP}" / "scheduler.pt")
        else:
            state = torch.load(folder / config / f"step={CHECKPOINT_STEP}.ckpt")["lr_schedulers"][0]
        assert state["last_epoch"] == CHECKPOINT_STEP
        assert "schedule" not in state and ("records" in state) == (kind == "catapult")
