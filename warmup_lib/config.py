"""Frozen, validated configuration for every run the library makes.

A run is fully described by a :class:`RunConfig` (data, model, optimizer, schedule, loss, batch,
steps, seed, measurements).  Configs are frozen dataclasses so that a config can be hashed into a
stable run id (see :mod:`warmup_lib.runs.store`).  Every invalid value raises ``ValueError`` naming the
field and the allowed values, at construction time, never half way through a run.

Learning rates are absolute here.  Setting eta_trgt as a multiple of the measured initial sharpness
lambda_0 (the paper's convention eta_trgt = c / lambda_0) is done by the caller (the sweep), which
measures lambda_0 first and stores the absolute value, so that a stored run never depends on a
measurement it did not record.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

DATASETS = ("mnist1d", "digits", "cifar10", "cifar100", "chars", "wikitext2")
# Training-set sizes used to validate batch sizes before any data is loaded.
DATASET_TRAIN_SIZES = {"mnist1d": 4000, "digits": 1437, "cifar10": 50000, "cifar100": 50000}
ARCHS = ("fcn", "cnn1d", "wrn", "gpt")
PARAMETERISATIONS = ("sp", "mup", "simple_mup")
ACTIVATIONS = ("relu", "tanh", "gelu", "linear")
OPTIMIZERS = ("sgd", "adam", "gi_adam", "ri_adam", "radam", "adopt")
WARMUPS = ("polynomial", "from_init", "exponential")
DECAYS = ("constant", "cosine")
LOSSES = ("mse", "xent")
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda")
ADAM_TYPE_OPTIMIZERS = ("adam", "gi_adam", "ri_adam")  # optimizers with Adam's state (m, v) and pre-conditioner
# RunConfig.adam_state_columns -> the options of warmup_lib.optim.adam_state.AdamStateTracker it stands for
ADAM_STATE_COLUMNS = {
    "update": {"update_rms": True, "bias_corrected": False, "failure_signs": False},
    "failure": {"update_rms": False, "bias_corrected": True, "failure_signs": True},
}
PRESET_NAMES = ("smoke", "book", "paper")


SEED_LIMIT = 2**63  # seeds are ints in [0, 2^63): torch.manual_seed and numpy both take them


def _check_types(config: Any, section: str) -> None:
    """Check every field of a config dataclass against its declared type, before any range check.

    bool is not accepted as an int (``steps=True`` would train one step), every float must be finite,
    and an int given for a float field becomes that float, so that numerically equal configs have
    equal JSON and hence one run id (``eta_trgt=1`` and ``eta_trgt=1.0`` are the same run).
    """
    prefix = f"{section}." if section else ""
    for spec in dataclasses.fields(config):
        value, name, kind = getattr(config, spec.name), prefix + spec.name, str(spec.type)
        if value is None and "None" in kind:
            continue
        if kind.startswith("float"):
            _require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value), name,
                     f"got {value!r}; must be a finite number")
            object.__setattr__(config, spec.name, float(value))
        elif kind.startswith("int"):
            _require(isinstance(value, int) and not isinstance(value, bool), name, f"got {value!r}; must be an int")
        elif kind.startswith("bool"):
            _require(isinstance(value, bool), name, f"got {value!r}; must be True or False")
        elif kind.startswith("str"):
            _require(isinstance(value, str), name, f"got {value!r}; must be a string")


def _require_seed(value: int, field_name: str) -> None:
    _require(0 <= value < SEED_LIMIT, field_name, f"got {value!r}; must be an int in [0, 2**63)")


def _known_fields(cls: type, values: dict[str, Any], section: str) -> None:
    """Refuse keys that are not fields of ``cls`` (a typo would otherwise be a TypeError or ignored)."""
    names = {spec.name for spec in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    _require(not unknown, section or "config", f"unknown field(s) {', '.join(map(repr, unknown))}; "
                                               f"allowed fields are {', '.join(sorted(names))}")


def _require(condition: bool, field_name: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{field_name}: {message}")


def _require_choice(value: Any, field_name: str, allowed: tuple) -> None:
    _require(value in allowed, field_name, f"got {value!r}; allowed values are {', '.join(map(repr, allowed))}")


def _require_positive(value: Any, field_name: str, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and (value >= 0 if allow_zero else value > 0)
    bound = ">= 0" if allow_zero else "> 0"
    _require(ok, field_name, f"got {value!r}; must be a number {bound}")


@dataclass(frozen=True)
class DataConfig:
    """Which data set, how much of it, and how it is augmented.

    ``n_train`` / ``n_test`` of None mean the whole split (MNIST-1D: 4000 / 1000).  ``augment``
    turns on the authors' image pipeline (flip, 4-pixel crop, mixup); it is only valid for images.
    ``root`` is the folder holding archives (CIFAR binary tarballs, WikiText-2 raw files);
    ``download`` allows fetching a CIFAR archive from its official address.  ``context`` is the
    sequence length for the character and WikiText data.  ``seed`` seeds data generation (MNIST-1D).
    """

    name: str = "mnist1d"
    n_train: int | None = None
    n_test: int | None = None
    augment: bool = False
    root: str | None = None
    download: bool = False
    context: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        _check_types(self, "data")
        _require_choice(self.name, "data.name", DATASETS)
        _require_seed(self.seed, "data.seed")
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            _require(value is None or (isinstance(value, int) and value > 0), f"data.{name}",
                     f"got {value!r}; must be None (whole split) or a positive int")
        full = DATASET_TRAIN_SIZES.get(self.name)
        if full is not None and self.n_train is not None:
            _require(self.n_train <= full, "data.n_train", f"got {self.n_train}; {self.name} has {full} training examples")
        _require(not self.augment or self.name in ("cifar10", "cifar100"), "data.augment",
                 f"augmentation (flip, crop, mixup) is for images; allowed datasets are 'cifar10', 'cifar100', got {self.name!r}")
        _require_positive(self.context, "data.context")

    @property
    def train_size(self) -> int | None:
        """Number of training examples, when known without loading the data."""
        return self.n_train if self.n_train is not None else DATASET_TRAIN_SIZES.get(self.name)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and parameterisation.

    ``arch``: 'fcn' (FCN-depth-width; depth counts all layers), 'cnn1d' (a small 1-D CNN for
    MNIST-1D, ``width`` channels, ``depth`` conv layers), 'wrn' (WRN-depth-widen with LayerNorm),
    'gpt' (Pre-LN GPT-style LM: ``depth`` blocks, ``width`` model dimension, ``heads`` heads,
    ``final_ln`` toggles the final LayerNorm).  ``param``: 'sp', 'mup' or 'simple_mup'
    (muP without the Adam per-layer learning-rate multipliers).  ``varw`` is sigma_w^2 of hidden
    layers (readout and shortcuts use 1).
    """

    arch: str = "fcn"
    width: int = 256
    depth: int = 4
    widen: int = 4
    param: str = "sp"
    act: str = "relu"
    bias: bool = True
    varw: float = 2.0
    heads: int = 4
    final_ln: bool = True

    def __post_init__(self) -> None:
        _check_types(self, "model")
        _require_choice(self.arch, "model.arch", ARCHS)
        _require_choice(self.param, "model.param", PARAMETERISATIONS)
        _require_choice(self.act, "model.act", ACTIVATIONS)
        for name in ("width", "depth", "widen", "heads"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value > 0, f"model.{name}", f"got {value!r}; must be a positive int")
        _require_positive(self.varw, "model.varw")
        if self.arch == "fcn":
            _require(self.depth >= 2, "model.depth", f"got {self.depth}; an FCN needs depth >= 2 (hidden layers + readout)")
        if self.arch == "wrn":
            _require((self.depth - 4) % 6 == 0 and self.depth >= 10, "model.depth",
                     f"got {self.depth}; a WRN depth is 6N+4 with N >= 1 (10, 16, 22, 28, 40, ...)")
        if self.arch == "gpt":
            _require(self.width % self.heads == 0, "model.heads", f"width {self.width} is not divisible by heads {self.heads}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer.  'sgd' with ``momentum`` > 0 is heavy-ball SGD (torch.optim.SGD, dampening 0).
    'adam' is torch.optim.Adam, 'gi_adam' / 'ri_adam' are :class:`warmup_lib.GIAdam` with
    v0 = g0^2 / v0 = r^2 (||r|| = ||g0||), 'radam' is torch.optim.RAdam, 'adopt' is
    :class:`warmup_lib.optim.adopt.ADOPT` (clip t^(1/4); its first update only stores v0 = g0^2,
    ``eps`` > 0 is the floor of sqrt(v)).  No weight decay anywhere, as in the paper."""

    name: str = "sgd"
    momentum: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        _check_types(self, "optim")
        _require_choice(self.name, "optim.name", OPTIMIZERS)
        _require(0.0 <= self.momentum < 1.0, "optim.momentum", f"got {self.momentum!r}; must be in [0, 1)")
        _require(self.name == "sgd" or self.momentum == 0.0, "optim.momentum",
                 f"momentum is an SGD setting; got {self.momentum} with optimizer {self.name!r}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            _require(0.0 <= value < 1.0, f"optim.{name}", f"got {value!r}; must be in [0, 1)")
        _require_positive(self.eps, "optim.eps", allow_zero=True)
        _require(self.name != "adopt" or self.eps > 0, "optim.eps",
                 f"got {self.eps!r}; ADOPT divides by max(sqrt(v), eps), so it needs eps > 0")


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule in the paper's conventions (see :mod:`warmup_lib.schedules`).

    Warmup from ``eta_init`` to ``eta_trgt`` over ``warmup_steps`` updates with exponent
    ``warmup_exponent`` (the first update uses eta_init + (eta_trgt - eta_init)/warmup_steps;
    ``warmup_steps`` = 1 is a constant rate), then 'constant' or 'cosine' decay to eta_trgt/10 at
    the last step.  ``warmup`` = 'from_init' is the paper's section 6.1 warmup from eta_init = eta_c
    with slope eta_trgt/warmup_steps, min(eta_init + eta_trgt (t+1)/warmup_steps, eta_trgt);
    'exponential' is Ma & Yarats' eta_init + (eta_trgt - eta_init)(1 - exp(-(t+1)/warmup_steps)) at
    every step (``warmup_steps`` is its time constant; decay 'constant' only).
    """

    eta_trgt: float = 0.1
    warmup_steps: int = 1
    eta_init: float = 0.0
    warmup_exponent: float = 1.0
    decay: str = "constant"
    warmup: str = "polynomial"

    def __post_init__(self) -> None:
        _check_types(self, "schedule")
        _require_positive(self.eta_trgt, "schedule.eta_trgt")
        _require(isinstance(self.warmup_steps, int) and self.warmup_steps >= 1, "schedule.warmup_steps",
                 f"got {self.warmup_steps!r}; must be an int >= 1 (1 means no warmup)")
        _require_positive(self.eta_init, "schedule.eta_init", allow_zero=True)
        _require_positive(self.warmup_exponent, "schedule.warmup_exponent")
        _require_choice(self.decay, "schedule.decay", DECAYS)
        _require_choice(self.warmup, "schedule.warmup", WARMUPS)
        _require(self.warmup == "from_init" or self.eta_init <= self.eta_trgt, "schedule.eta_init",
                 f"got {self.eta_init!r}; a {self.warmup} warmup needs eta_init <= eta_trgt ({self.eta_trgt!r})")
        _require(self.warmup == "polynomial" or self.warmup_exponent == 1.0, "schedule.warmup_exponent",
                 f"got {self.warmup_exponent!r}; only the polynomial warmup has an exponent "
                 f"(warmup {self.warmup!r} needs 1.0)")
        _require(self.warmup != "exponential" or self.decay == "constant", "schedule.decay",
                 f"got {self.decay!r}; the exponential warmup has no end, so decay must be 'constant'")


@dataclass(frozen=True)
class RunConfig:
    """One training run, described completely: the results store keys a run by :meth:`to_json`.

    A run makes ``steps`` = T updates t = 0, ..., T-1 at the rates eta_t of ``schedule``
    (:func:`warmup_lib.runs.train.run`).  Its outcome is 'diverged' when a training loss is not
    finite, else 'failed' when the final train accuracy is below failure_factor / K (K classes,
    so failure_factor x chance) or the run stalled (its gradient collapsed: every gradient norm of
    the last quarter of the steps is below stall_grad_ratio x the run's largest, while the final
    train accuracy is below stall_accuracy; :func:`warmup_lib.runs.train.stalled`), else 'converged'.

    Args:
        data: the data set (:class:`~warmup_lib.config.DataConfig`).
        model: the network and its parameterisation (:class:`~warmup_lib.config.ModelConfig`).
        optim: the optimizer (:class:`~warmup_lib.config.OptimConfig`).
        schedule: the learning-rate schedule (:class:`~warmup_lib.config.ScheduleConfig`).
        loss: "mse" or "xent" (language-model data needs "xent").
        batch_size: the minibatch size; None is full-batch gradient descent.
        steps: T, the number of updates, an int >= 1 and >= the warmup.
        seed: seeds the initialisation and the order of the batches.
        eval_every: evaluate at step 0, every that many steps and after the last update (0 = only
            after the last).
        sharpness_every: measure lambda^H every that many steps (0 = never).
        pre_sharpness_every: measure lambda^{P^-1 H} every that many steps (0 = never; Adam-type
            optimizers only).
        adam_state_every: record Adam's state every that many steps (0 = never; Adam-type
            optimizers only) with :class:`~warmup_lib.optim.adam_state.AdamStateTracker`.
        adam_state_columns: which of its columns (:data:`ADAM_STATE_COLUMNS`): "update" (m_norm,
            v_norm, last_update_rms) or "failure" (m_norm, v_norm, v_hat_norm and the gradient and
            dead-unit columns of Adam's training failures; an FCN or WRN with biases).  Only with
            ``adam_state_every`` > 0.
        dtype: "float32" or "float64".
        device: "cpu" or "cuda".
        failure_factor: a run whose final train accuracy is below failure_factor x chance is a
            training failure, > 0.
        stall_grad_ratio: a run whose gradient norms over the last quarter of its steps all stay
            below stall_grad_ratio x its largest gradient norm has stalled, in [0, 1) (0: never).
        stall_accuracy: ... unless its final train accuracy is at least stall_accuracy (a fit whose
            gradient vanished because its loss did), in [0, 1].

    Raises:
        ValueError: naming the first invalid field.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: str = "mse"
    batch_size: int | None = None
    steps: int = 1000
    seed: int = 0
    eval_every: int = 100
    sharpness_every: int = 0
    pre_sharpness_every: int = 0
    adam_state_every: int = 0
    adam_state_columns: str = "update"
    dtype: str = "float32"
    device: str = "cpu"
    failure_factor: float = 1.5
    stall_grad_ratio: float = 1e-6
    stall_accuracy: float = 0.9

    def __post_init__(self) -> None:
        for section, cls in _SECTIONS.items():
            value = getattr(self, section)
            _require(isinstance(value, cls), section, f"got {value!r}; must be a {cls.__name__}")
        _check_types(self, "")
        _require_seed(self.seed, "seed")
        _require_choice(self.loss, "loss", LOSSES)
        _require_choice(self.dtype, "dtype", DTYPES)
        _require_choice(self.device, "device", DEVICES)
        _require(isinstance(self.steps, int) and self.steps >= 1, "steps", f"got {self.steps!r}; must be an int >= 1")
        _require(self.schedule.warmup_steps <= self.steps, "schedule.warmup_steps",
                 f"got {self.schedule.warmup_steps}; warmup cannot be longer than training (steps = {self.steps})")
        _require(self.batch_size is None or (isinstance(self.batch_size, int) and self.batch_size > 0), "batch_size",
                 f"got {self.batch_size!r}; must be None (full batch) or a positive int")
        n_train = self.data.train_size
        if self.batch_size is not None and n_train is not None:
            _require(self.batch_size <= n_train, "batch_size",
                     f"got {self.batch_size}; larger than the training set ({n_train} examples of {self.data.name})")
        for name in ("eval_every", "sharpness_every", "pre_sharpness_every", "adam_state_every"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value >= 0, name, f"got {value!r}; must be an int >= 0 (0 = never)")
        _require(self.pre_sharpness_every == 0 or self.optim.name in ADAM_TYPE_OPTIMIZERS, "pre_sharpness_every",
                 f"pre-conditioned sharpness needs an Adam-type optimizer ('adam', 'gi_adam', 'ri_adam'), got {self.optim.name!r}")
        self._check_adam_state()
        _require(self.loss != "mse" or self.data.name not in ("chars", "wikitext2"), "loss",
                 "language-model data needs loss 'xent'")
        _require_positive(self.failure_factor, "failure_factor")
        _require(0.0 <= self.stall_grad_ratio < 1.0, "stall_grad_ratio", f"got {self.stall_grad_ratio!r}; must be in [0, 1)")
        _require(0.0 <= self.stall_accuracy <= 1.0, "stall_accuracy", f"got {self.stall_accuracy!r}; must be in [0, 1]")

    def _check_adam_state(self) -> None:
        _require(self.adam_state_every == 0 or self.optim.name in ADAM_TYPE_OPTIMIZERS, "adam_state_every",
                 f"Adam's state needs an Adam-type optimizer ('adam', 'gi_adam', 'ri_adam'), got {self.optim.name!r}")
        _require_choice(self.adam_state_columns, "adam_state_columns", tuple(ADAM_STATE_COLUMNS))
        # one recording, one config: columns chosen without a recording would give a second run id
        _require(self.adam_state_every > 0 or self.adam_state_columns == "update", "adam_state_columns",
                 f"got {self.adam_state_columns!r} with adam_state_every = 0; columns need adam_state_every > 0")
        if ADAM_STATE_COLUMNS[self.adam_state_columns]["failure_signs"]:
            _require(self.model.arch in ("fcn", "wrn") and self.model.bias, "adam_state_columns",
                     f"'failure' columns need an FCN or WRN with biases (a readout bias), got arch {self.model.arch!r}"
                     f" with bias={self.model.bias}")

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with fields changed; dotted names reach nested configs: ``replace(**{"schedule.eta_trgt": 0.1})``.

        Args:
            **changes: field name, or "section.field" for a field of data, model, optim or
                schedule, -> its new value.

        Returns:
            The new, validated config.

        Raises:
            ValueError: naming an unknown section or an invalid value.
        """
        nested: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for key, value in changes.items():
            if "." in key:
                section, name = key.split(".", 1)
                nested.setdefault(section, {})[name] = value
            else:
                top[key] = value
        for section, values in nested.items():
            _require(section in _SECTIONS, section,
                     "unknown section; allowed sections are 'data', 'model', 'optim', 'schedule'")
            _known_fields(_SECTIONS[section], values, section)
            top[section] = dataclasses.replace(getattr(self, section), **values)
        _known_fields(RunConfig, top, "")
        return dataclasses.replace(self, **top)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested plain dicts (the inverse of :meth:`from_dict`), without the fields of
        :data:`ADDED_FIELDS` that are at their default (so the run ids of older configs stay).

        Returns:
            Field name -> value, the sections (data, model, optim, schedule) as dicts of their fields.
        """
        return _plain(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunConfig":
        """The config of :meth:`to_dict`'s nested dicts; missing fields keep their defaults.

        Args:
            values: field name -> value, a section (data, model, optim, schedule) as a dict of its
                fields.

        Returns:
            The validated config.

        Raises:
            ValueError: naming an unknown field, a section that is not a dict, or the first
                invalid value.
        """
        _known_fields(cls, values, "")
        kwargs = {}
        for key, value in values.items():
            if key in _SECTIONS:
                _require(isinstance(value, dict), key, f"got {value!r}; must be a dict of {_SECTIONS[key].__name__} fields")
                _known_fields(_SECTIONS[key], value, key)
                value = _SECTIONS[key](**value)
            kwargs[key] = value
        return cls(**kwargs)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces), the input of the run id hash.

        Returns:
            The JSON text; equal configs give equal text.
        """
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "schedule": ScheduleConfig}

# Fields added after the results store's first format, per config class.  The canonical JSON
# (to_dict / to_json, hence the run id and the measurement keys) leaves such a field out while it
# is at its default, so a config that does not use it has the JSON, and the run id, it had before
# the field existed: every stored run keeps its id.  A new field therefore needs a default that
# means "as before" and an entry here (tests/test_config.py checks both against the first format).
ADDED_FIELDS: dict[type, tuple[str, ...]] = {
    RunConfig: ("adam_state_every", "adam_state_columns", "stall_grad_ratio", "stall_accuracy"),
}


def _plain(config: Any) -> dict[str, Any]:
    """``dataclasses.asdict`` of a config, without the :data:`ADDED_FIELDS` at their defaults."""
    added = ADDED_FIELDS.get(type(config), ())
    values = {}
    for spec in dataclasses.fields(config):
        value = getattr(config, spec.name)
        if spec.name in added and value == spec.default:
            continue
        values[spec.name] = _plain(value) if dataclasses.is_dataclass(value) else value
    return values


# Per-notebook parameters for each preset.  A notebook's parameters cell holds the 'book' values as
# literals (a test checks they agree); papermill injects 'smoke' or 'paper'.  Chapters add their
# own entry keyed by the notebook's file stem.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PRESET_NAMES}

# Chapter 1, the catapult primer (solvable models; CPU-cheap at every preset).  eta multiples are in units
# of 2/lambda_0; scan_step is the spacing of the constant-eta scan in units of 1/lambda_0; seeds: the uv
# initialisations and teacher data the textbook rows are measured on (the figures show the first).
PRESETS["smoke"]["01_catapult_primer"] = {
    "seeds": [0, 1], "width": 64, "steps": 120, "scan_step": 0.5, "teacher_width": 16, "teacher_dim": 4,
    "teacher_examples": 8, "warmup_steps": [1, 16, 64], "eta_multiples": [1.25, 1.75, 2.25, 3.25, 4.25],
    "extra_steps": 200,
}
PRESETS["book"]["01_catapult_primer"] = {
    "seeds": [0, 1, 2, 3, 4], "width": 512, "steps": 300, "scan_step": 0.1, "teacher_width": 32, "teacher_dim": 4,
    "teacher_examples": 8, "warmup_steps": [1, 4, 16, 64, 256],
    "eta_multiples": [1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.25, 4.75, 5.25, 5.75, 6.25], "extra_steps": 500,
}
PRESETS["paper"]["01_catapult_primer"] = {
    "seeds": [0, 1, 2, 3, 4], "width": 4096, "steps": 600, "scan_step": 0.02, "teacher_width": 64, "teacher_dim": 8,
    "teacher_examples": 16, "warmup_steps": [1, 4, 16, 64, 128, 256, 512],
    "eta_multiples": [1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.25, 4.75, 5.25, 5.75, 6.25, 7.25, 8.25],
    "extra_steps": 1000,
}


# Chapter 5, phase diagrams (warmup_lib.chapters.phase_diagrams builds the sweeps).  sgd_eta: the first
# columns of each SGD family in units of 1/lambda_0 (the grid then doubles until every T_wrm row
# diverges or fails); adam_eta_start x 2^j (j < adam_eta_columns): the first absolute Adam columns;
# adam_beyond: Adam-only doublings past that grid's end; adam_control_eta: the first nominal rate of the
# controls of GI-Adam's implicit warmup; trained_tol: a run has trained out when its training loss fell
# by less than this fraction over the last fifth of its steps.
_PHASE_DATA_MNIST1D = {"dataset": "mnist1d", "augment": False, "data_root": None, "data_download": False}
PRESETS["smoke"]["05_phase_diagrams"] = {
    **_PHASE_DATA_MNIST1D, "n_train": 512, "n_test": 256, "arch": "fcn", "width": 16, "depth": 3, "widen": 4,
    "batch_size": 64, "steps": 40, "eval_every": 20, "device": "cpu", "seeds": [0], "warmup_steps": [1, 8],
    "sgd_eta": {"sp_mse": [2.0, 8.0], "sp_xent": [1.0, 4.0], "mup_mse": [1.0, 4.0], "mup_xent": [0.25, 1.0]},
    "extras_family": "sp_xent", "extras_eta": [0.5, 2.0], "extras_warmup_steps": [1, 8], "momentum": 0.9,
    "max_extensions": 1, "lambda0_batches": 2,
    "adam_eta_start": 0.004, "adam_eta_columns": 2, "adam_warmup_steps": [1, 8], "adam_beyond": 1,
    "adam_control_eta": 0.004, "trained_tol": 0.05, "records_every": 10,
    "executor": "sequential", "workers": None, "ray_address": None,
}
PRESETS["book"]["05_phase_diagrams"] = {
    **_PHASE_DATA_MNIST1D, "n_train": None, "n_test": None, "arch": "fcn", "width": 64, "depth": 4, "widen": 4,
    "batch_size": 128, "steps": 1000, "eval_every": 100, "device": "cpu", "seeds": [0, 1, 2],
    "warmup_steps": [1, 4, 16, 64, 256],
    "sgd_eta": {"sp_mse": [1.0, 2.0, 4.0, 8.0], "sp_xent": [0.25, 0.5, 1.0, 2.0, 4.0],
                "mup_mse": [0.5, 1.0, 2.0, 4.0], "mup_xent": [0.0625, 0.125, 0.25, 0.5, 1.0]},
    "extras_family": "sp_xent", "extras_eta": [0.25, 0.5, 1.0, 2.0, 4.0], "extras_warmup_steps": [1, 256],
    "momentum": 0.9, "max_extensions": 10, "lambda0_batches": 10,
    "adam_eta_start": 0.001, "adam_eta_columns": 6, "adam_warmup_steps": [1, 16, 256], "adam_beyond": 2,
    "adam_control_eta": 0.016, "trained_tol": 0.05, "records_every": 20,
    "executor": "pool-vectorised", "workers": 2, "ray_address": None,
}
PRESETS["paper"]["05_phase_diagrams"] = {
    "dataset": "cifar10", "augment": True, "data_root": None, "data_download": True, "n_train": None,
    "n_test": None, "arch": "wrn", "width": 16, "depth": 16, "widen": 4, "batch_size": 128, "steps": 100_000,
    "eval_every": 391, "device": "cuda", "seeds": [0], "warmup_steps": [1, 64, 256, 1024, 4096],
    "sgd_eta": {"sp_mse": [1.0, 2.0, 4.0, 8.0], "sp_xent": [1.0, 2.0, 4.0, 8.0],
                "mup_mse": [1.0, 2.0, 4.0, 8.0], "mup_xent": [1.0, 2.0, 4.0, 8.0]},
    "extras_family": "sp_xent", "extras_eta": [1.0, 2.0, 4.0, 8.0], "extras_warmup_steps": [1, 1024],
    "momentum": 0.9, "max_extensions": 8, "lambda0_batches": 10,
    "adam_eta_start": 0.00512, "adam_eta_columns": 4, "adam_warmup_steps": [1, 1024], "adam_beyond": 2,
    "adam_control_eta": 0.02048, "trained_tol": 0.05, "records_every": 100,
    "executor": "sequential", "workers": None, "ray_address": None,
}


# Chapter 2, SGD warmup mechanisms (FCN, GD / SGD / momentum, MSE / xent, sharpness tracked).  Learning
# rates are multiples of the measured lambda_0 (muP: mup_multiple / lambda_0, SP: sp_multiple / lambda_0);
# sp_scan lists the multiples of the constant-rate divergence scan; sharpness every k steps, warm-started.
_MECHANISMS_COMMON = {
    "depth": 4, "mup_multiple": 1.0, "sp_multiple": 32.0, "momentum": 0.9,
    "catapult_rise": 1.2, "catapult_drop": 0.2, "catapult_window": 8, "regime_tol": 0.2, "data_root": None,
}
PRESETS["smoke"]["02_sgd_warmup_mechanisms"] = {
    **_MECHANISMS_COMMON, "dataset": "mnist1d", "n_train": 600, "n_test": 200, "width": 32, "steps": 32,
    "variant_steps": 32, "sharpness_every": 4, "variant_sharpness_every": 8, "warmup_steps": [1, 8],
    "variant_warmup_steps": [1, 8], "sp_scan": [32.0], "scan_steps": 8, "regime_window": 32,
    "eval_every": 0, "seeds": [0], "batch_size": 128, "workers": 1, "device": "cpu",
}
PRESETS["book"]["02_sgd_warmup_mechanisms"] = {
    **_MECHANISMS_COMMON, "dataset": "mnist1d", "n_train": 1024, "n_test": 1000, "width": 128, "steps": 512,
    "variant_steps": 256, "sharpness_every": 4, "variant_sharpness_every": 8,
    "warmup_steps": [1, 16, 64, 256, 512], "variant_warmup_steps": [1, 64, 256], "sp_scan": [2.0, 4.0, 8.0, 16.0, 32.0],
    "scan_steps": 64, "regime_window": 512, "eval_every": 64, "seeds": [0, 1, 2], "batch_size": 128, "workers": 1,
    "device": "cpu",
}
PRESETS["paper"]["02_sgd_warmup_mechanisms"] = {
    **_MECHANISMS_COMMON, "dataset": "cifar10", "n_train": 5000, "n_test": 5000, "width": 512, "steps": 2048,
    "variant_steps": 2048, "sharpness_every": 1, "variant_sharpness_every": 1, "warmup_steps": [1, 64, 256, 1024],
    "variant_warmup_steps": [1, 64, 1024], "sp_scan": [2.0, 4.0, 8.0, 16.0, 32.0], "scan_steps": 64,
    "regime_window": 2048, "eval_every": 256, "seeds": [0, 1, 2], "batch_size": 512, "workers": 1,
    "device": "cuda",
}


# The scorecard gathers the claims cells of the executed chapters; it has no setting of its own.
for _preset in PRESET_NAMES:
    PRESETS[_preset]["09_scorecard"] = {}


def notebook_parameters(notebook: str, preset: str) -> dict[str, Any]:
    """Parameters to inject into ``notebook`` (file stem, e.g. '01_catapult_primer') for ``preset``.

    Args:
        notebook: the chapter notebook's file stem.
        preset: one of :data:`PRESET_NAMES` ('smoke', 'book', 'paper').

    Returns:
        ``{"preset": preset}`` with the notebook's entry of :data:`PRESETS` for that preset.

    Raises:
        ValueError: naming an unknown preset, or a notebook without a preset.
    """
    _require_choice(preset, "preset", PRESET_NAMES)
    _require(notebook in PRESETS[preset], "notebook",
             f"no {preset!r} preset for {notebook!r}; known notebooks: {', '.join(sorted(PRESETS[preset])) or 'none'}")
    return {"preset": preset, **PRESETS[preset][notebook]}


# Chapter 6, warmup from the critical learning rate and persistent catapult warmup (warmup_lib.chapters.critical_lr_warmup).
# eta_multiples: eta_trgt in units of 1/lambda_0 (the Fig. 5 grid; eta_c searched from eta_trgt/T_wrm with
# tolerance delta); pcw_targets: the persistent-catapult comparisons, [loss, eta_trgt in units of that loss's
# 1/lambda_0] each (three: claims 15a-15c), against a linear warmup of pcw_linear_warmup steps and a constant
# rate; seeds: the network initialisations the grid is trained from (the figures show the first); pcw_seeds:
# those of the persistent-warmup comparisons (more: their targets sit near the divergence boundary, where
# a single run's outcome is decided by rounding-level differences).
_CRITICAL_COMMON = {
    "arch": "fcn", "param": "sp", "loss": "xent", "delta": 0.1, "search_eta0": 1e-4,
    "pcw_delta": 0.1, "pcw_eta0": 1e-4, "pcw_max_forward_passes": 500,
    "data_root": None,
}
PRESETS["smoke"]["06_critical_lr_warmup"] = {
    **_CRITICAL_COMMON, "dataset": "mnist1d", "augment": False, "data_download": False, "n_train": 512,
    "n_test": 256, "width": 16, "depth": 3, "widen": 4, "batch_size": 64, "steps": 40, "eval_every": 20,
    "eta_multiples": [2.0, 16.0], "warmup_steps": [8, 32], "lambda0_batches": 2,
    "pcw_targets": [["xent", 16.0], ["xent", 32.0], ["mse", 8.0]], "pcw_linear_warmup": 16,
    "executor": "sequential", "workers": None, "device": "cpu", "seeds": [0], "pcw_seeds": [0],
}
PRESETS["book"]["06_critical_lr_warmup"] = {
    **_CRITICAL_COMMON, "dataset": "mnist1d", "augment": False, "data_download": False, "n_train": None,
    "n_test": None, "width": 128, "depth": 4, "widen": 4, "batch_size": 512, "steps": 768, "eval_every": 64,
    "eta_multiples": [2.0, 4.0, 8.0, 16.0, 32.0, 64.0], "warmup_steps": [16, 64, 256], "lambda0_batches": 10,
    "pcw_targets": [["xent", 48.0], ["xent", 64.0], ["mse", 32.0]],
    "pcw_linear_warmup": 256, "executor": "sequential", "workers": 1, "device": "cpu", "seeds": [0, 1, 2],
    "pcw_seeds": [0, 1, 2, 3, 4, 5, 6, 7],
}
PRESETS["paper"]["06_critical_lr_warmup"] = {
    **_CRITICAL_COMMON, "dataset": "cifar10", "augment": True, "data_download": True, "n_train": None,
    "n_test": None, "arch": "wrn", "width": 16, "depth": 16, "widen": 4, "batch_size": 128, "steps": 10_000,
    "eval_every": 391, "eta_multiples": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
    "warmup_steps": [64, 256, 1024, 4096], "lambda0_batches": 10,
    "pcw_targets": [["xent", 48.0], ["xent", 64.0], ["mse", 32.0]], "pcw_linear_warmup": 1024,
    "executor": "sequential", "workers": None, "device": "cuda", "seeds": [0, 1, 2], "pcw_seeds": [0, 1, 2],
}


# Chapter 3, Adam's pre-conditioned sharpness (FCN, full-batch Adam, simple-muP and SP, several T_wrm; variants
# with minibatches of batch_size from batch_n_train examples and with cross-entropy).  Learning rates are
# absolute, as in the paper's Adam runs; pre_sharpness_every / sharpness_every: tracker cadence (warm-started);
# init_widths: widths at which lambda_0^{P^-1 H} is measured at initialisation only; a first-step spike is a loss
# excursion (above catapult_rise x the lowest loss so far) that starts within the first spike_steps steps;
# seeds: the FCN initialisations (RunConfig.seed) every run and measurement is repeated with.
_ADAM_COMMON = {"depth": 4, "data_root": None, "catapult_rise": 1.2, "spike_steps": 8}
PRESETS["smoke"]["03_adam_preconditioned_sharpness"] = {
    **_ADAM_COMMON, "dataset": "mnist1d", "n_train": 256, "n_test": 200, "width": 16, "steps": 24,
    "warmup_steps": [1, 8], "eta_simple_mup": 0.03, "eta_sp": 0.02, "pre_sharpness_every": 4, "sharpness_every": 8,
    "variant_steps": 16, "variant_warmup_steps": [1, 8], "variant_every": 8, "batch_size": 64, "batch_n_train": 512,
    "xent_eta_simple_mup": 0.03, "xent_eta_sp": 0.02, "init_widths": [16, 32], "eval_every": 0, "workers": 1,
    "device": "cpu", "seeds": [0],
}
PRESETS["book"]["03_adam_preconditioned_sharpness"] = {
    **_ADAM_COMMON, "dataset": "mnist1d", "n_train": 1024, "n_test": 1000, "width": 128, "steps": 256,
    "warmup_steps": [1, 16, 128], "eta_simple_mup": 0.03, "eta_sp": 0.02, "pre_sharpness_every": 4,
    "sharpness_every": 8, "variant_steps": 256, "variant_warmup_steps": [1, 128], "variant_every": 8,
    "batch_size": 512, "batch_n_train": 4000, "xent_eta_simple_mup": 0.03, "xent_eta_sp": 0.02,
    "init_widths": [64, 128, 256, 512], "eval_every": 64, "workers": 1, "device": "cpu", "seeds": [0, 1, 2],
}
PRESETS["paper"]["03_adam_preconditioned_sharpness"] = {
    **_ADAM_COMMON, "dataset": "cifar10", "n_train": 5000, "n_test": 5000, "width": 512, "steps": 2048,
    "warmup_steps": [1, 64, 256, 1024], "eta_simple_mup": 0.003, "eta_sp": 0.001, "pre_sharpness_every": 1,
    "sharpness_every": 1, "variant_steps": 2048, "variant_warmup_steps": [1, 1024], "variant_every": 4,
    "batch_size": 512, "batch_n_train": None, "xent_eta_simple_mup": 0.003, "xent_eta_sp": 0.001,
    "init_widths": [128, 256, 512, 1024], "eval_every": 256, "workers": 1, "device": "cuda", "seeds": [0, 1, 2],
}

# Chapter 4, GI-Adam and RI-Adam next to Adam (same FCN and data as chapter 3).  Mechanism runs: T_wrm = 1,
# lambda^{P^-1 H} every pre_sharpness_every steps; implicit-warmup runs: SP at eta_sp for implicit_steps
# (Adam, GI-Adam, Adam with the linear warmup of matching length, capped at implicit_steps); failure
# preview: SP at failure_eta for failure_steps (Adam, GI-Adam, RI-Adam, Adam with failure_warmup steps).
# seeds: those of the mechanism and failure runs; implicit_seeds: those of the implicit-warmup runs (seconds each).
PRESETS["smoke"]["04_gi_adam"] = {
    **_ADAM_COMMON, "dataset": "mnist1d", "n_train": 256, "n_test": 200, "width": 16, "eta_simple_mup": 0.03,
    "eta_sp": 0.02, "steps": 24, "pre_sharpness_every": 4, "implicit_steps": 64, "failure_eta": 0.1,
    "failure_steps": 32, "failure_warmup": 16, "eval_every": 0, "workers": 1, "device": "cpu", "seeds": [0],
    "implicit_seeds": [0],
}
PRESETS["book"]["04_gi_adam"] = {
    **_ADAM_COMMON, "dataset": "mnist1d", "n_train": 1024, "n_test": 1000, "width": 128, "eta_simple_mup": 0.03,
    "eta_sp": 0.02, "steps": 256, "pre_sharpness_every": 4, "implicit_steps": 2048, "failure_eta": 0.1,
    "failure_steps": 1024, "failure_warmup": 256, "eval_every": 64, "workers": 1, "device": "cpu",
    "seeds": [0, 1, 2], "implicit_seeds": [0, 1, 2, 3, 4],
}
PRESETS["paper"]["04_gi_adam"] = {
    **_ADAM_COMMON, "dataset": "cifar10", "n_train": 5000, "n_test": 5000, "width": 512, "eta_simple_mup": 0.003,
    "eta_sp": 0.001, "steps": 2048, "pre_sharpness_every": 1, "implicit_steps": 4096, "failure_eta": 0.01,
    "failure_steps": 4096, "failure_warmup": 1024, "eval_every": 256, "workers": 1, "device": "cuda",
    "seeds": [0, 1, 2], "implicit_seeds": [0, 1, 2],
}


# Chapter 7, Transformers (warmup_lib.chapters.transformers): a Pre-LN GPT-style LM-depth-width with and
# without the final LayerNorm on the character corpus (n_train / n_test windows of `context` characters;
# paper: WikiText-2, whose raw files must be put under data_root).  lambda0_widths / lambda0_depths: the
# lambda_0 grid (at the chapter's depth / width) over lambda0_grid_batches batches; sgd_eta: eta_trgt in
# units of 1/lambda_0 (lambda_0 of each variant and seed, lambda0_batches batches) x warmup_steps for the
# SGD phase diagram; traj_*: the SGD warmup whose sharpness is tracked every sharpness_every steps;
# adam_*: the Adam warmup (absolute eta) whose lambda^{P^-1 H} is tracked every pre_sharpness_every steps
# (adam_skip: the first steps left out of the eta lambda / 38 check); crit_*: the eta_c search at init;
# gi_eta x gi_warmup_steps: the Adam / GI-Adam phase diagram of the Pre-LN LM (absolute eta_trgt).
_TRANSFORMERS_COMMON = {"heads": 4, "crit_eta0": 1e-4, "crit_delta": 0.1, "crit_cap": 1000.0, "adam_skip": 8}
PRESETS["smoke"]["07_transformers"] = {
    **_TRANSFORMERS_COMMON, "dataset": "chars", "data_root": None, "n_train": 64, "n_test": 16, "context": 16,
    "gi_eta": [0.004, 0.064], "gi_warmup_steps": [1],
    "width": 16, "depth": 1, "heads": 2, "batch_size": 8, "steps": 12, "device": "cpu", "seeds": [0],
    "lambda0_widths": [8, 16], "lambda0_depths": [1, 2], "lambda0_grid_batches": 1, "lambda0_batches": 1,
    "sgd_eta": [2.0, 8.0], "warmup_steps": [1, 8], "executor": "sequential", "workers": 1,
    "traj_c": 8.0, "traj_warmup": 8, "traj_steps": 12, "sharpness_every": 4,
    "adam_eta": 0.003, "adam_warmup": 8, "adam_steps": 12, "pre_sharpness_every": 4,
}
PRESETS["book"]["07_transformers"] = {
    **_TRANSFORMERS_COMMON, "dataset": "chars", "data_root": None, "n_train": 2048, "n_test": 256,
    "gi_eta": [0.001, 0.004, 0.016, 0.064, 0.256, 1.024, 4.096], "gi_warmup_steps": [1],
    "context": 32, "width": 64, "depth": 2, "batch_size": 32, "steps": 128, "device": "cpu", "seeds": [0, 1, 2],
    "lambda0_widths": [32, 64, 128], "lambda0_depths": [1, 2, 4], "lambda0_grid_batches": 2,
    "lambda0_batches": 1, "sgd_eta": [2.0, 4.0, 8.0, 16.0], "warmup_steps": [1, 64], "executor": "sequential",
    "workers": 1, "traj_c": 8.0, "traj_warmup": 64, "traj_steps": 128, "sharpness_every": 8,
    "adam_eta": 0.003, "adam_warmup": 64, "adam_steps": 128, "pre_sharpness_every": 8,
}
PRESETS["paper"]["07_transformers"] = {
    **_TRANSFORMERS_COMMON, "dataset": "wikitext2", "data_root": None, "n_train": None, "n_test": None,
    "gi_eta": [0.0001, 0.0004, 0.0016, 0.0064, 0.0256, 0.1024], "gi_warmup_steps": [1, 64, 256, 1024, 4096],
    "context": 64, "width": 128, "depth": 4, "batch_size": 64, "steps": 10_000, "device": "cuda",
    "seeds": [0, 1, 2], "lambda0_widths": [64, 128, 256, 512], "lambda0_depths": [1, 2, 4, 8],
    "lambda0_grid_batches": 10, "lambda0_batches": 10, "sgd_eta": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
    "warmup_steps": [1, 64, 256, 1024, 4096], "executor": "vectorised", "workers": 1, "traj_c": 8.0,
    "traj_warmup": 1024, "traj_steps": 2048, "sharpness_every": 4, "adam_eta": 0.001, "adam_warmup": 1024,
    "adam_steps": 2048, "pre_sharpness_every": 4,
}


# Chapter 8, every warmup remedy head to head (warmup_lib.chapters.warmup_remedies).  tasks: model, data and run
# length of each task (cross-entropy, SP); settings: the (task, optimizer) pairs compared; sgd_eta: the SGD grid in
# units of 1/lambda_0 (lambda_0 over lambda0_batches batches), adam_eta: the absolute Adam grid (both doubling);
# linear_fractions: the tuned linear warmup's lengths as fractions of the run (the warmup from eta_c uses the
# longest); beta2: Adam's (and RAdam's, GI-/RI-Adam's, ADOPT's, the untuned warmups'); search_*: the eta_c search;
# pcw_*: persistent catapult warmup; cdat_*: the curvature-adaptive rate (scale x the quadratic model's step,
# EMA beta, a measurement every cdat_every steps); signal_*: the SGD (c / lambda_0) and Adam (absolute) linear
# warmups whose curvature signals are measured every signal_every steps, on the step's batch (Adam at two
# targets, signal_adam_eta and signal_adam_eta_high); records_every: the comparison's stored records are thinned
# to every that many steps; executor 'pool': every remedy on the sequential trainer.
_REMEDIES_COMMON = {"beta2": 0.99, "search_eta0": 1e-4, "search_delta": 0.1, "pcw_delta": 0.1, "pcw_eta0": 1e-4,
                    "pcw_max_forward_passes": 500, "cdat_scale": 2.0, "cdat_beta": 0.9,
                    "settings": [["fcn", "sgd"], ["fcn", "adam"], ["cnn", "adam"], ["lm", "adam"]]}
PRESETS["smoke"]["08_warmup_remedies"] = {
    **_REMEDIES_COMMON, "tasks": {
        "fcn": {"arch": "fcn", "width": 16, "depth": 3, "dataset": "mnist1d", "n_train": 256, "n_test": 128,
                "context": 64, "batch_size": 64, "steps": 24},
        "cnn": {"arch": "cnn1d", "width": 8, "depth": 2, "dataset": "mnist1d", "n_train": 256, "n_test": 128,
                "context": 64, "batch_size": 64, "steps": 16},
        "lm": {"arch": "gpt", "width": 16, "depth": 1, "dataset": "chars", "n_train": 64, "n_test": 16,
               "context": 16, "batch_size": 8, "steps": 12}},
    "sgd_eta": [2.0, 32.0], "adam_eta": [0.004, 0.256], "linear_fractions": [0.25, 0.5], "lambda0_batches": 2,
    "cdat_every": 2, "seeds": [0], "signal_sgd_c": 32.0, "signal_adam_eta": 0.032,
    "signal_adam_eta_high": 0.128, "signal_warmup": 8, "records_every": 4,
    "signal_steps": 16, "signal_every": 2, "executor": "sequential", "workers": 1,
}
PRESETS["book"]["08_warmup_remedies"] = {
    **_REMEDIES_COMMON, "tasks": {
        "fcn": {"arch": "fcn", "width": 128, "depth": 4, "dataset": "mnist1d", "n_train": None, "n_test": None,
                "context": 64, "batch_size": 128, "steps": 1000},
        "cnn": {"arch": "cnn1d", "width": 32, "depth": 3, "dataset": "mnist1d", "n_train": None, "n_test": None,
                "context": 64, "batch_size": 128, "steps": 400},
        "lm": {"arch": "gpt", "width": 32, "depth": 2, "dataset": "chars", "n_train": 1024, "n_test": 256,
               "context": 32, "batch_size": 16, "steps": 200}},
    "sgd_eta": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
    "adam_eta": [0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048],
    "linear_fractions": [0.05, 0.2, 0.5], "lambda0_batches": 10, "cdat_every": 2, "seeds": [0, 1, 2],
    "signal_sgd_c": 32.0, "signal_adam_eta": 0.032, "signal_adam_eta_high": 0.128, "signal_warmup": 64,
    "signal_steps": 128, "signal_every": 2, "records_every": 50, "executor": "pool", "workers": 2,
}
PRESETS["paper"]["08_warmup_remedies"] = {
    **_REMEDIES_COMMON, "tasks": {
        "fcn": {"arch": "fcn", "width": 512, "depth": 4, "dataset": "mnist1d", "n_train": None, "n_test": None,
                "context": 64, "batch_size": 128, "steps": 10_000},
        "cnn": {"arch": "cnn1d", "width": 64, "depth": 4, "dataset": "mnist1d", "n_train": None, "n_test": None,
                "context": 64, "batch_size": 128, "steps": 10_000},
        "lm": {"arch": "gpt", "width": 128, "depth": 4, "dataset": "wikitext2", "n_train": None, "n_test": None,
               "context": 64, "batch_size": 64, "steps": 10_000}},
    "sgd_eta": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
    "adam_eta": [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048],
    "linear_fractions": [0.01, 0.05, 0.2], "lambda0_batches": 10, "cdat_every": 1, "seeds": [0, 1, 2],
    "signal_sgd_c": 32.0, "signal_adam_eta": 0.032, "signal_adam_eta_high": 0.128, "signal_warmup": 1024,
    "signal_steps": 2048, "signal_every": 4, "records_every": 100, "executor": "pool", "workers": None,
}
