"""The in-memory data set every loader returns, and the preprocessing all loaders share.

Conventions follow the authors' pipeline (code digest section 3): every example is standardised on
its own (zero mean, unit standard deviation over all of its features, no per-channel statistics),
labels are one-hot, and ``n_train`` / ``n_test`` subsets keep the *first* examples of each split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from warmup_lib.atomic import atomic_write


@dataclass
class Dataset:
    """Train and test tensors of one data set, ready for a model.

    Images and vectors: ``x`` float32 of shape (N, *input_shape), standardised per example, ``y``
    float32 one-hot (N, K).  Language modelling: ``x`` int64 tokens (N, context) and ``y`` int64
    next-token targets (N, context); ``num_classes`` is then the vocabulary size.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    name: str


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Per-example standardisation x_i <- (x_i - mean(x_i)) / std(x_i) over all non-batch axes.

    The standard deviation is the population one (ddof 0), as ``jnp.std`` in the authors' code.

    Args:
        x: Examples (N, ...), any numeric dtype.

    Returns:
        Float32 tensor of the shape of ``x``, each example with mean 0 and standard deviation 1.
    """
    flat = x.reshape(x.shape[0], -1).to(torch.float32)
    mean = flat.mean(dim=1, keepdim=True)
    std = flat.std(dim=1, unbiased=False, keepdim=True)
    return ((flat - mean) / std).reshape(x.shape)


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Float32 one-hot rows e_{y_i} of length ``num_classes`` (0/1 entries, no centring).

    Args:
        labels: Integer class labels (N,) in [0, num_classes).
        num_classes: Number of classes K.

    Returns:
        Float32 tensor (N, K) with a 1 at (i, y_i) and 0 elsewhere.
    """
    return torch.nn.functional.one_hot(labels.to(torch.int64), num_classes).to(torch.float32)


def take_first(x: torch.Tensor, y: torch.Tensor, n: int | None, field_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` examples (all when ``n`` is None), as the authors' ``subset`` does.

    Args:
        x: Inputs of one split (N, ...).
        y: Targets of the same split (N, ...).
        n: Number of leading examples to keep; None keeps all N.
        field_name: Config field named in the error message (e.g. 'data.n_train').

    Returns:
        (x[:n], y[:n]), or (x, y) themselves when ``n`` is None.

    Raises:
        ValueError: If ``n`` exceeds the N examples of the split.
    """
    if n is None:
        return x, y
    if n > x.shape[0]:
        raise ValueError(f"{field_name}: got {n}; the split has only {x.shape[0]} examples")
    return x[:n], y[:n]


def cache_dir() -> Path:
    """Folder for generated and parsed data: $WARMUP_LIB_CACHE, default ~/.cache/warmup_lib.

    Returns:
        The cache folder (not created here).
    """
    return Path(os.environ.get("WARMUP_LIB_CACHE", Path.home() / ".cache" / "warmup_lib"))


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` (.npz) atomically, so a reader never sees a half-written cache.

    Args:
        path: Destination .npz file.
        **arrays: The arrays to store, by name.
    """
    atomic_write(path, lambda handle: np.savez(handle, **arrays), binary=True)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz file (no pickled objects allowed).

    Args:
        path: The .npz file to read.

    Returns:
        Dict from array name to array, fully loaded (the file is closed on return).
    """
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def classification_dataset(name: str, x_train: torch.Tensor, labels_train: torch.Tensor, x_test: torch.Tensor,
                           labels_test: torch.Tensor, num_classes: int, n_train: int | None,
                           n_test: int | None) -> Dataset:
    """Subset (first examples), standardise per example and one-hot encode a labelled data set.

    Args:
        name: Data set name stored in :attr:`Dataset.name`.
        x_train: Training inputs (N_train, *input_shape).
        labels_train: Integer training labels (N_train,).
        x_test: Test inputs (N_test, *input_shape).
        labels_test: Integer test labels (N_test,).
        num_classes: Number of classes K.
        n_train: Keep the first ``n_train`` training examples; None keeps all.
        n_test: Keep the first ``n_test`` test examples; None keeps all.

    Returns:
        :class:`Dataset` with float32 standardised inputs and float32 one-hot (N, K) targets.

    Raises:
        ValueError: If ``n_train`` or ``n_test`` exceeds its split's size.
    """
    x_train, labels_train = take_first(x_train, labels_train, n_train, "data.n_train")
    x_test, labels_test = take_first(x_test, labels_test, n_test, "data.n_test")
    return Dataset(x_train=standardise(x_train), y_train=one_hot(labels_train, num_classes),
                   x_test=standardise(x_test), y_test=one_hot(labels_test, num_classes),
                   num_classes=num_classes, input_shape=tuple(x_train.shape[1:]), name=name)
