"""Data sets (MNIST-1D, digits, CIFAR-10/100, character corpora) and seeded batching."""

from __future__ import annotations

from warmup_lib.config import DATASETS, DataConfig
from warmup_lib.data.batching import BatchStream
from warmup_lib.data.dataset import Dataset, cache_dir, standardise
from warmup_lib.data.images import load_cifar, load_digits
from warmup_lib.data.mnist1d import load_mnist1d
from warmup_lib.data.text import load_chars, load_wikitext2

_LOADERS = {"mnist1d": load_mnist1d, "digits": load_digits, "cifar10": load_cifar, "cifar100": load_cifar,
            "chars": load_chars, "wikitext2": load_wikitext2}


def load_data(cfg: DataConfig) -> Dataset:
    """Load the data set named by ``cfg.name`` (one of :data:`warmup_lib.config.DATASETS`).

    Args:
        cfg: Data configuration; ``cfg.name`` picks the loader ('mnist1d', 'digits', 'cifar10',
            'cifar100', 'chars', 'wikitext2'), the other fields are passed on to it.

    Returns:
        The loaded :class:`Dataset` (train and test tensors).

    Raises:
        ValueError: If ``cfg.name`` is not a known data set (or the loader rejects ``cfg``).
    """
    if cfg.name not in _LOADERS:
        raise ValueError(f"data.name: got {cfg.name!r}; allowed values are {', '.join(map(repr, DATASETS))}")
    return _LOADERS[cfg.name](cfg)


__all__ = ["BatchStream", "Dataset", "cache_dir", "load_data", "standardise"]
