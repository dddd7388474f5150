"""Seeded, exactly reproducible minibatches from the training split (the authors' ``data_stream``).

Each epoch draws a fresh random permutation of the N training examples and yields ceil(N / B)
batches in its order; the last batch of an epoch holds N mod B examples when B does not divide N
and is trained on, as the authors do (no drop_last).  All randomness (permutations and
augmentation) comes from one ``torch.Generator`` seeded with ``seed``, so the same seed gives the
same batches.
"""

from __future__ import annotations

import math

import torch

from warmup_lib.data.augment import augment_batch
from warmup_lib.data.dataset import Dataset


class BatchStream:
    """Endless stream of (inputs, targets) training batches; ``batch_size`` None is the full batch.

    The full batch without augmentation is the training tensors themselves (no copy): do not
    modify a returned batch in place.

    Args:
        dataset: The data set whose training split (``x_train``, ``y_train``) is batched.
        batch_size: Examples per batch B, an int in [1, N]; None for the full batch (all N examples,
            in their stored order, every step).
        seed: Seed of the one ``torch.Generator`` behind the permutations and the augmentation.
        augment: Apply the authors' flip / crop / mixup pipeline to every batch (NCHW images only).

    Raises:
        ValueError: If ``batch_size`` is not None or an int in [1, N], or if ``augment`` is True and
            the inputs are not 4-D (N, C, H, W) images.
    """

    def __init__(self, dataset: Dataset, batch_size: int | None, seed: int, augment: bool = False) -> None:
        num_examples = dataset.x_train.shape[0]
        if batch_size is not None and not (isinstance(batch_size, int) and 1 <= batch_size <= num_examples):
            raise ValueError(f"batch_size: got {batch_size!r}; must be None (full batch) or an int in "
                             f"[1, {num_examples}] for {dataset.name}")
        if augment and dataset.x_train.dim() != 4:
            raise ValueError(f"augment: flip/crop/mixup need NCHW images; {dataset.name} inputs have shape "
                             f"{tuple(dataset.x_train.shape[1:])}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.augment = augment
        self._generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.int64)
        self._position = 0

    @property
    def batches_per_epoch(self) -> int:
        """Batches per epoch, ceil(N / B); 1 for the full batch.

        Returns:
            ceil(N / B) for N training examples and batch size B, or 1 when ``batch_size`` is None.
        """
        if self.batch_size is None:
            return 1
        return math.ceil(self.dataset.x_train.shape[0] / self.batch_size)

    def _next_indices(self) -> torch.Tensor:
        if self._position >= self._order.numel():
            self._order = torch.randperm(self.dataset.x_train.shape[0], generator=self._generator)
            self._position = 0
        indices = self._order[self._position : self._position + self.batch_size]
        self._position += self.batch_size
        return indices

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next training batch (inputs, targets), augmented when ``augment`` is True.

        A fresh random permutation of the N examples starts each epoch; the last batch of an
        epoch holds N mod B examples when B does not divide N.

        Returns:
            (inputs, targets): B (or N for the full batch) rows of ``x_train`` and ``y_train``.
        """
        if self.batch_size is None:
            x, y = self.dataset.x_train, self.dataset.y_train
        else:
            indices = self._next_indices()
            x, y = self.dataset.x_train[indices], self.dataset.y_train[indices]
        if self.augment:
            x, y = augment_batch(x, y, self._generator)
        return x, y
