"""Image data: sklearn's 8x8 digits and CIFAR-10 / CIFAR-100 from their official *binary* archives.

CIFAR archives are verified by MD5 and parsed from raw bytes (never unpickled, never extracted to
disk).  Binary format (https://www.cs.toronto.edu/~kriz/cifar.html): fixed-length records of
``label_bytes`` label bytes (CIFAR-10: 1; CIFAR-100: coarse then fine) followed by 3072 pixel bytes,
the 1024 red, then green, then blue values of a 32x32 image in row-major order -- i.e. already NCHW.
The parsed uint8 arrays are cached under :func:`cache_dir`, keyed by the archive's checksum.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from warmup_lib.config import DataConfig
from warmup_lib.data.dataset import Dataset, atomic_save_npz, cache_dir, classification_dataset, load_npz

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"
IMAGE_SHAPE = (3, 32, 32)
PIXEL_BYTES = 3 * 32 * 32
DIGITS_TEST_SIZE = 360  # 1797 digits -> 1437 train / 360 test (an 80/20 split)
DIGITS_SPLIT_SEED = 0   # the split is fixed, independent of DataConfig.seed


@dataclass(frozen=True)
class CifarSpec:
    """Where a CIFAR variant's records live inside its binary archive."""

    archive: str
    md5: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    label_bytes: int
    num_classes: int


CIFAR_SPECS = {
    "cifar10": CifarSpec("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", "cifar-10-batches-bin",
                         tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin", 1, 10),
    "cifar100": CifarSpec("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8", "cifar-100-binary",
                          ("train.bin",), "test.bin", 2, 100),
}


def load_digits(cfg: DataConfig) -> Dataset:
    """sklearn's 1797 8x8 digits flattened to 64 features, a fixed seeded 1437/360 split.

    The split uses :data:`DIGITS_SPLIT_SEED`, independent of ``cfg.seed``.

    Args:
        cfg: Data configuration; only ``n_train`` and ``n_test`` (first examples kept) are used.

    Returns:
        :class:`Dataset` 'digits': inputs (N, 64) standardised per example, one-hot targets (N, 10).

    Raises:
        ValueError: If ``cfg.n_train`` / ``cfg.n_test`` exceed 1437 / 360.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(bunch.target))
    x = torch.from_numpy(bunch.data[order].astype(np.float32))
    y = torch.from_numpy(bunch.target[order].astype(np.int64))
    n_train = len(y) - DIGITS_TEST_SIZE
    return classification_dataset("digits", x[:n_train], y[:n_train], x[n_train:], y[n_train:], 10,
                                  cfg.n_train, cfg.n_test)


def file_md5(path: Path) -> str:
    """Hex MD5 digest of a file, read in 1 MiB chunks.

    Args:
        path: The file to hash.

    Returns:
        The 32-character lowercase hex digest.
    """
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(spec: CifarSpec, archive: Path, md5: str) -> None:
    """Fetch the archive from the official address into ``archive`` atomically, checksum first."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=archive.parent, prefix=archive.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(CIFAR_URL + spec.archive, timeout=60) as response:
            shutil.copyfileobj(response, out)
        if file_md5(Path(tmp_name)) != md5:
            raise ValueError(f"downloaded {spec.archive} does not match its MD5 checksum {md5}")
        os.replace(tmp_name, archive)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)


def parse_records(raw: bytes, spec: CifarSpec, member: str) -> tuple[np.ndarray, np.ndarray]:
    """Split raw CIFAR bytes into images (N, 3, 32, 32) uint8 and (fine) labels (N,) int64.

    Args:
        raw: Contents of one binary batch file: N records of ``spec.label_bytes`` + 3072 bytes.
        spec: The CIFAR variant (label bytes per record, number of classes).
        member: Archive member name, used in error messages.

    Returns:
        (images, labels): uint8 (N, 3, 32, 32) and int64 (N,), the last label byte of each record.

    Raises:
        ValueError: If ``raw`` is empty or not a whole number of records, or a label is
            >= ``spec.num_classes``.
    """
    record = spec.label_bytes + PIXEL_BYTES
    if len(raw) == 0 or len(raw) % record:
        raise ValueError(f"{member}: {len(raw)} bytes is not a whole number of {record}-byte CIFAR records")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    labels = records[:, spec.label_bytes - 1].astype(np.int64)  # the last label byte is the (fine) label
    if labels.max() >= spec.num_classes:
        raise ValueError(f"{member}: label {labels.max()} out of range for {spec.num_classes} classes")
    return records[:, spec.label_bytes:].reshape(-1, *IMAGE_SHAPE).copy(), labels


def _read_archive(archive: Path, spec: CifarSpec) -> dict[str, np.ndarray]:
    def read_split(tar: tarfile.TarFile, files: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        # Regular files only, by name (a leading './' tolerated); nothing is extracted to disk.
        members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
        parts = []
        for name in files:
            member = f"{spec.folder}/{name}"
            if member not in members:
                raise ValueError(f"{archive}: member {member} is missing; is this the binary CIFAR archive?")
            parts.append(parse_records(tar.extractfile(members[member]).read(), spec, member))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            x_train, y_train = read_split(tar, spec.train_files)
            x_test, y_test = read_split(tar, (spec.test_file,))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise ValueError(f"{archive}: cannot read the archive ({error}); delete it and fetch it again") from error
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def cifar_arrays(name: str, root: str | Path | None = None, download: bool = False,
                 md5: str | None = None) -> dict[str, np.ndarray]:
    """Raw uint8 images and int labels of CIFAR-10 ('cifar10') or CIFAR-100 ('cifar100', fine labels).

    The archive ``<root>/cifar-10-binary.tar.gz`` (or ``cifar-100-binary.tar.gz``; root defaults
    to ``cache_dir()/'cifar'``) must match ``md5`` (default: the official checksum); it is fetched
    from the official address only when ``download`` is True.  A missing, truncated or corrupted
    archive raises ValueError and writes nothing to the cache.

    Args:
        name: 'cifar10' or 'cifar100'.
        root: Folder holding the binary archive; None means ``cache_dir()/'cifar'``.
        download: Fetch the archive from the official address when it is missing.
        md5: Expected MD5 of the archive; None means the official checksum.  It also keys the
            parsed-array cache ``cache_dir()/<name>_<md5>.npz``.

    Returns:
        Dict with 'x_train', 'x_test' (uint8 (N, 3, 32, 32)) and 'y_train', 'y_test' (int64 (N,)).

    Raises:
        ValueError: If ``name`` is not a CIFAR name, the archive is missing and ``download`` is
            False, or the archive fails its checksum or cannot be parsed.
    """
    if name not in CIFAR_SPECS:
        raise ValueError(f"data.name: got {name!r}; allowed CIFAR names are {', '.join(map(repr, CIFAR_SPECS))}")
    spec = CIFAR_SPECS[name]
    md5 = md5 or spec.md5
    cached = cache_dir() / f"{name}_{md5}.npz"
    if cached.exists():
        return load_npz(cached)
    folder = Path(root) if root is not None else cache_dir() / "cifar"
    archive = folder / spec.archive
    if not archive.exists():
        if not download:
            raise ValueError(f"data.root: {spec.archive} not found in folder {folder}; put the official binary "
                             f"archive there or set DataConfig.download=True to fetch it from {CIFAR_URL}")
        _download(spec, archive, md5)
    actual = file_md5(archive)
    if actual != md5:
        raise ValueError(f"{archive}: MD5 checksum {actual} does not match the expected {md5}; the archive is "
                         "truncated or corrupted: delete it and fetch it again")
    arrays = _read_archive(archive, spec)
    atomic_save_npz(cached, **arrays)
    return arrays


def load_cifar(cfg: DataConfig, md5: str | None = None) -> Dataset:
    """CIFAR-10/100 as NCHW float32 (3, 32, 32), standardised per image, one-hot labels.

    Args:
        cfg: Data configuration: ``name`` ('cifar10' / 'cifar100'), ``root``, ``download``,
            ``n_train``, ``n_test``.
        md5: Expected MD5 of the archive; None means the official checksum (see :func:`cifar_arrays`).

    Returns:
        :class:`Dataset` with inputs (N, 3, 32, 32) and one-hot targets (N, 10) or (N, 100).

    Raises:
        ValueError: As :func:`cifar_arrays`, or if ``n_train`` / ``n_test`` exceed the split sizes.
    """
    arrays = cifar_arrays(cfg.name, cfg.root, cfg.download, md5)
    spec = CIFAR_SPECS[cfg.name]
    return classification_dataset(cfg.name, torch.from_numpy(arrays["x_train"]), torch.from_numpy(arrays["y_train"]),
                                  torch.from_numpy(arrays["x_test"]), torch.from_numpy(arrays["y_test"]),
                                  spec.num_classes, cfg.n_train, cfg.n_test)
