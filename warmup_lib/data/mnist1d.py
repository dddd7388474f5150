"""MNIST-1D (Greydanus 2020), generated offline and cached.

``mnist1d.data.get_dataset`` downloads a pickle with no timeout and hangs offline; the same data is
built procedurally by ``make_dataset(get_dataset_args())`` in about 1.5 s.  Defaults: 5000 examples,
80/20 split -> 4000 train / 1000 test, 40 features, 10 classes.  The seed is ``DataConfig.seed``.
The raw arrays are cached once per seed under :func:`cache_dir` (atomic write).
"""

from __future__ import annotations

import random

import numpy as np
import torch

from warmup_lib.config import DataConfig
from warmup_lib.data.dataset import Dataset, atomic_save_npz, cache_dir, classification_dataset, load_npz

NUM_CLASSES = 10


def _generate(seed: int) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    # make_dataset reseeds the global numpy and random generators; restore them afterwards.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {"x": data["x"].astype(np.float32), "y": data["y"].astype(np.int64),
            "x_test": data["x_test"].astype(np.float32), "y_test": data["y_test"].astype(np.int64)}


def mnist1d_arrays(seed: int) -> dict[str, np.ndarray]:
    """Raw MNIST-1D arrays for ``seed`` (x: (4000, 40), y: (4000,), x_test, y_test), cached.

    Args:
        seed: Generation seed (``DataConfig.seed``); each seed is cached in its own .npz file.

    Returns:
        Dict with 'x' (float32 (4000, 40)), 'y' (int64 (4000,)), 'x_test' (float32 (1000, 40)) and
        'y_test' (int64 (1000,)).
    """
    path = cache_dir() / f"mnist1d_seed{seed}.npz"
    if path.exists():
        return load_npz(path)
    arrays = _generate(seed)
    atomic_save_npz(path, **arrays)
    return arrays


def load_mnist1d(cfg: DataConfig) -> Dataset:
    """MNIST-1D with per-example standardisation and one-hot labels; input_shape (40,).

    Args:
        cfg: Data configuration: ``seed`` (generation), ``n_train`` and ``n_test`` (first examples
            kept; None for all 4000 / 1000).

    Returns:
        :class:`Dataset` 'mnist1d': inputs (N, 40), one-hot targets (N, 10).

    Raises:
        ValueError: If ``cfg.n_train`` / ``cfg.n_test`` exceed 4000 / 1000.
    """
    arrays = mnist1d_arrays(cfg.seed)
    return classification_dataset("mnist1d", torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]),
                                  torch.from_numpy(arrays["x_test"]), torch.from_numpy(arrays["y_test"]),
                                  NUM_CLASSES, cfg.n_train, cfg.n_test)
