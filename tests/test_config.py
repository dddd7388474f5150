"""warmup_lib.config: every bad input is a ValueError naming its field; equal configs share a run id.

Each case below is one bad input and the words its message must contain (the field, and what is
wrong).  Run ids of the committed store are checked against their folders, so a change to the
canonical JSON cannot silently orphan them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from warmup_lib.config import ADDED_FIELDS, DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig
from warmup_lib.runs.store import run_id
from warmup_lib.runs.train import init_run

BASE = RunConfig(data=DataConfig(n_train=64, n_test=32), model=ModelConfig(width=8, depth=2), steps=4,
                 eval_every=0)

# (changes for RunConfig.replace, words the message must contain)
BAD_INPUTS = [
    ({"steps": True}, "steps: got True; must be an int"),
    ({"steps": 2.0}, "steps: got 2.0; must be an int"),
    ({"steps": 0}, "steps: got 0"),
    ({"steps": "10"}, "steps: got '10'"),
    ({"seed": -1}, "seed: got -1"),
    ({"seed": 2**63}, "seed: got"),
    ({"seed": 1.5}, "seed: got 1.5; must be an int"),
    ({"seed": False}, "seed: got False; must be an int"),
    ({"batch_size": 0}, "batch_size: got 0"),
    ({"batch_size": True}, "batch_size: got True; must be an int"),
    ({"batch_size": 65}, "batch_size: got 65; larger than the training set"),
    ({"eval_every": -1}, "eval_every: got -1"),
    ({"sharpness_every": 1.0}, "sharpness_every: got 1.0; must be an int"),
    ({"pre_sharpness_every": 2}, "pre_sharpness_every: pre-conditioned sharpness needs an Adam-type optimizer"),
    ({"loss": "hinge"}, "loss: got 'hinge'; allowed values are"),
    ({"dtype": "float16"}, "dtype: got 'float16'; allowed values are"),
    ({"device": "tpu"}, "device: got 'tpu'; allowed values are"),
    ({"device": None}, "device: got None; must be a string"),
    ({"failure_factor": math.inf}, "failure_factor: got inf; must be a finite number"),
    ({"failure_factor": 0.0}, "failure_factor: got 0.0"),
    ({"failure_factor": True}, "failure_factor: got True; must be a finite number"),
    ({"schedule.eta_trgt": math.inf}, "schedule.eta_trgt: got inf; must be a finite number"),
    ({"schedule.eta_trgt": math.nan}, "schedule.eta_trgt: got nan; must be a finite number"),
    ({"schedule.eta_trgt": -0.1}, "schedule.eta_trgt: got -0.1"),
    ({"schedule.eta_trgt": "0.1"}, "schedule.eta_trgt: got '0.1'; must be a finite number"),
    ({"schedule.eta_init": -math.inf}, "schedule.eta_init: got -inf; must be a finite number"),
    ({"schedule.eta_init": 1.0}, "schedule.eta_init: got 1.0; a polynomial warmup needs eta_init <= eta_trgt"),
    ({"schedule.warmup_steps": True}, "schedule.warmup_steps: got True; must be an int"),
    ({"schedule.warmup_steps": 5}, "schedule.warmup_steps: got 5; warmup cannot be longer than training"),
    ({"schedule.warmup_exponent": math.inf}, "schedule.warmup_exponent: got inf; must be a finite number"),
    ({"schedule.decay": "linear"}, "schedule.decay: got 'linear'; allowed values are"),
    ({"schedule.warmup": "cosine"}, "schedule.warmup: got 'cosine'; allowed values are"),
    ({"optim.eps": math.inf}, "optim.eps: got inf; must be a finite number"),
    ({"optim.eps": -1e-8}, "optim.eps: got -1e-08"),
    ({"optim.beta2": 1.0}, "optim.beta2: got 1.0; must be in [0, 1)"),
    ({"optim.beta1": math.nan}, "optim.beta1: got nan; must be a finite number"),
    ({"optim.momentum": 0.9, "optim.name": "adam"}, "optim.momentum: momentum is an SGD setting"),
    ({"optim.name": "lion"}, "optim.name: got 'lion'; allowed values are"),
    ({"model.width": 0}, "model.width: got 0; must be a positive int"),
    ({"model.width": True}, "model.width: got True; must be an int"),
    ({"model.depth": 1}, "model.depth: got 1; an FCN needs depth >= 2"),
    ({"model.varw": math.inf}, "model.varw: got inf; must be a finite number"),
    ({"model.bias": 1}, "model.bias: got 1; must be True or False"),
    ({"model.final_ln": "yes"}, "model.final_ln: got 'yes'; must be True or False"),
    ({"model.arch": "mlp"}, "model.arch: got 'mlp'; allowed values are"),
    ({"model.param": "ntk"}, "model.param: got 'ntk'; allowed values are"),
    ({"data.name": "imagenet"}, "data.name: got 'imagenet'; allowed values are"),
    ({"data.n_train": 0}, "data.n_train: got 0"),
    ({"data.n_train": 5000}, "data.n_train: got 5000; mnist1d has 4000 training examples"),
    ({"data.augment": True}, "data.augment: augmentation (flip, crop, mixup) is for images"),
    ({"data.augment": 1}, "data.augment: got 1; must be True or False"),
    ({"data.seed": -3}, "data.seed: got -3"),
    ({"data.context": True}, "data.context: got True; must be an int"),
    ({"data.root": 3}, "data.root: got 3; must be a string"),
    ({"stepz": 3}, "config: unknown field(s) 'stepz'"),
    ({"schedule.eta": 0.1}, "schedule: unknown field(s) 'eta'"),
    ({"trainer.steps": 3}, "trainer: unknown section"),
    ({"stall_grad_ratio": 1.0}, "stall_grad_ratio: got 1.0; must be in [0, 1)"),
    ({"stall_grad_ratio": -1e-6}, "stall_grad_ratio: got -1e-06; must be in [0, 1)"),
    ({"stall_grad_ratio": math.nan}, "stall_grad_ratio: got nan; must be a finite number"),
    ({"stall_accuracy": 1.5}, "stall_accuracy: got 1.5; must be in [0, 1]"),
    ({"stall_accuracy": True}, "stall_accuracy: got True; must be a finite number"),
    ({"adam_state_every": -1, "optim.name": "adam"}, "adam_state_every: got -1"),
    ({"adam_state_every": True, "optim.name": "adam"}, "adam_state_every: got True; must be an int"),
    ({"adam_state_every": 1}, "adam_state_every: Adam's state needs an Adam-type optimizer"),
    ({"adam_state_every": 1, "optim.name": "adam", "adam_state_columns": "all"},
     "adam_state_columns: got 'all'; allowed values are 'update', 'failure'"),
    ({"adam_state_columns": "failure"}, "adam_state_columns: got 'failure' with adam_state_every = 0"),
    ({"adam_state_every": 1, "optim.name": "adam", "adam_state_columns": "failure", "model.arch": "cnn1d"},
     "adam_state_columns: 'failure' columns need an FCN or WRN with biases"),
]


def test_there_are_at_least_forty_bad_inputs() -> None:
    assert len(BAD_INPUTS) >= 40


@pytest.mark.parametrize("changes, message", BAD_INPUTS, ids=[next(iter(c)) for c, _ in BAD_INPUTS])
def test_bad_input_is_a_value_error_naming_the_problem(changes: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        BASE.replace(**changes)
    assert message in str(error.value)


@pytest.mark.parametrize("values, message", [
    ({"stepz": 3}, "config: unknown field(s) 'stepz'"),
    ({"optim": {"name": "sgd", "lr": 0.1}}, "optim: unknown field(s) 'lr'"),
    ({"optim": "sgd"}, "optim: got 'sgd'; must be a dict of OptimConfig fields"),
    ({"schedule": {"eta_trgt": "fast"}}, "schedule.eta_trgt: got 'fast'"),
])
def test_from_dict_refuses_unknown_and_malformed_keys(values: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        RunConfig.from_dict(values)
    assert message in str(error.value)


def test_a_section_must_be_its_config_class() -> None:
    with pytest.raises(ValueError, match="optim: got .*; must be a OptimConfig"):
        RunConfig(optim={"name": "adam"})


def test_numerically_equal_configs_share_one_run_id() -> None:
    as_int = BASE.replace(**{"schedule.eta_trgt": 1, "optim.momentum": 0, "failure_factor": 2})
    as_float = BASE.replace(**{"schedule.eta_trgt": 1.0, "optim.momentum": 0.0, "failure_factor": 2.0})
    assert as_int == as_float and run_id(as_int) == run_id(as_float)
    assert isinstance(as_int.schedule.eta_trgt, float)
    assert run_id(BASE.replace(**{"schedule.eta_trgt": 1.0000001})) != run_id(as_float)


def test_round_trip_through_json_keeps_the_config_and_its_id() -> None:
    cfg = BASE.replace(**{"schedule.eta_trgt": 3, "model.arch": "cnn1d"})
    again = RunConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg and run_id(again) == run_id(cfg)


def test_committed_runs_keep_their_ids(repo_root: Path) -> None:
    folders = sorted((repo_root / "results").glob("*/*/run.json"))
    assert folders, "the committed store is empty"
    for path in folders:
        assert run_id(RunConfig.from_dict(json.loads(path.read_text())["config"])) == path.parent.name, path


# The fields of the store's first format (the committed runs' configs hold exactly these).
FIRST_FORMAT = {
    RunConfig: {"data", "model", "optim", "schedule", "loss", "batch_size", "steps", "seed", "eval_every",
                "sharpness_every", "pre_sharpness_every", "dtype", "device", "failure_factor"},
    DataConfig: {"name", "n_train", "n_test", "augment", "root", "download", "context", "seed"},
    ModelConfig: {"arch", "width", "depth", "widen", "param", "act", "bias", "varw", "heads", "final_ln"},
    OptimConfig: {"name", "momentum", "beta1", "beta2", "eps"},
    ScheduleConfig: {"eta_trgt", "warmup_steps", "eta_init", "warmup_exponent", "decay", "warmup"},
}


@pytest.mark.parametrize("cls", list(FIRST_FORMAT), ids=lambda cls: cls.__name__)
def test_every_field_is_of_the_first_format_or_registered_as_added(cls: type) -> None:
    names = {spec.name for spec in dataclasses.fields(cls)}
    assert names - FIRST_FORMAT[cls] == set(ADDED_FIELDS.get(cls, ()))
    assert FIRST_FORMAT[cls] <= names


def test_added_fields_are_left_out_of_the_json_at_their_default_only() -> None:
    plain = BASE.replace(**{"optim.name": "adam"})
    assert set(plain.to_dict()) == FIRST_FORMAT[RunConfig]
    assert run_id(plain.replace(adam_state_every=0, adam_state_columns="update")) == run_id(plain)
    tracked = plain.replace(adam_state_every=1)
    assert tracked.to_dict() == {**plain.to_dict(), "adam_state_every": 1}
    probed = tracked.replace(adam_state_columns="failure")
    assert probed.to_dict() == {**tracked.to_dict(), "adam_state_columns": "failure"}
    assert len({run_id(plain), run_id(tracked), run_id(probed)}) == 3
    assert RunConfig.from_dict(json.loads(probed.to_json())) == probed


def test_committed_configs_hold_the_first_format_and_the_added_fields_away_from_their_defaults(repo_root: Path) -> None:
    defaults = RunConfig()
    for path in sorted((repo_root / "results").glob("*/*/run.json")):
        stored = json.loads(path.read_text())["config"]
        for name in set(stored) - FIRST_FORMAT[RunConfig]:
            assert name in ADDED_FIELDS[RunConfig] and stored[name] != getattr(defaults, name), path


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_gpu_is_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match="device: got 'cuda' but torch sees no CUDA device"):
        init_run(BASE.replace(device="cuda"))
