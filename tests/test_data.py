"""Data: MNIST-1D offline, digits, CIFAR binary archives (fabricated in the real format), character
corpora, augmentation and seeded batching."""

from __future__ import annotations

import hashlib
import lzma
import sys
import io
import random
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from warmup_lib.config import DataConfig
from warmup_lib.data import BatchStream, Dataset, load_data
from warmup_lib.data import images, text
from warmup_lib.data.augment import CROP_PADDING, mixup, random_crop, random_flip
from warmup_lib.data.dataset import standardise


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("warmup_lib_cache")


@pytest.fixture()
def cache(module_cache, monkeypatch) -> Path:
    monkeypatch.setenv("WARMUP_LIB_CACHE", str(module_cache))
    return module_cache


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("WARMUP_LIB_CACHE", str(folder))
    return folder


def assert_standardised(x: torch.Tensor) -> None:
    flat = x.reshape(x.shape[0], -1)
    assert torch.allclose(flat.mean(dim=1), torch.zeros(len(flat)), atol=1e-5)
    assert torch.allclose(flat.std(dim=1, unbiased=False), torch.ones(len(flat)), atol=1e-4)


def assert_one_hot(y: torch.Tensor, num_classes: int) -> None:
    assert y.dtype == torch.float32 and y.shape[1] == num_classes
    assert torch.equal(y.sum(dim=1), torch.ones(len(y))) and set(y.unique().tolist()) <= {0.0, 1.0}


# ---------------------------------------------------------------- MNIST-1D and digits

def test_mnist1d_shapes_standardisation_and_one_hot(cache):
    data = load_data(DataConfig(name="mnist1d", seed=0))
    assert data.x_train.shape == (4000, 40) and data.x_test.shape == (1000, 40)
    assert data.input_shape == (40,) and data.num_classes == 10 and data.x_train.dtype == torch.float32
    assert_standardised(data.x_train)
    assert_standardised(data.x_test)
    assert_one_hot(data.y_train, 10)
    assert set(data.y_train.argmax(1).tolist()) == set(range(10))


def test_mnist1d_matches_the_generator_and_is_cached_once(cache, monkeypatch):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = 0
    oracle = make_dataset(args)
    load_data(DataConfig(name="mnist1d", seed=0))
    assert (cache / "mnist1d_seed0.npz").exists()
    # A second load must come from the cache: generating again would fail.
    monkeypatch.setattr("warmup_lib.data.mnist1d._generate", lambda seed: pytest.fail("regenerated"))
    data = load_data(DataConfig(name="mnist1d", seed=0))
    expected = standardise(torch.from_numpy(oracle["x"].astype(np.float32)))
    assert torch.allclose(data.x_train, expected, atol=1e-5)
    assert torch.equal(data.y_train.argmax(1), torch.from_numpy(oracle["y"]).long())
    assert not list(cache.glob("*.tmp"))


def test_mnist1d_seed_changes_data_and_keeps_global_rng(fresh_cache):
    np.random.seed(123)
    random.seed(123)
    before = np.random.get_state()[1].copy(), random.getstate()
    other = load_data(DataConfig(name="mnist1d", seed=1))
    assert np.array_equal(np.random.get_state()[1], before[0]) and random.getstate() == before[1]
    seed0 = load_data(DataConfig(name="mnist1d", seed=0))
    assert not torch.equal(other.x_train, seed0.x_train)


def test_subsets_take_the_first_examples(cache):
    full = load_data(DataConfig(name="mnist1d"))
    part = load_data(DataConfig(name="mnist1d", n_train=100, n_test=50))
    assert torch.equal(part.x_train, full.x_train[:100]) and torch.equal(part.y_test, full.y_test[:50])


def test_digits_fixed_split():
    from sklearn.datasets import load_digits

    data = load_data(DataConfig(name="digits"))
    again = load_data(DataConfig(name="digits", seed=5))
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64) and data.input_shape == (64,)
    assert torch.equal(data.x_train, again.x_train)
    assert_standardised(data.x_train)
    assert_one_hot(data.y_test, 10)
    # The split is a partition of sklearn's 1797 digits: label counts add up.
    counts = torch.bincount(torch.cat([data.y_train.argmax(1), data.y_test.argmax(1)]), minlength=10)
    assert torch.equal(counts, torch.bincount(torch.from_numpy(load_digits().target), minlength=10))


# ---------------------------------------------------------------- CIFAR binary archives

def fabricate_cifar(folder: Path, name: str, rng: np.random.Generator, per_file: int = 3) -> tuple[Path, dict]:
    """Write a small tar.gz in the real CIFAR binary layout; return it and the images/labels it holds."""
    spec = images.CIFAR_SPECS[name]
    truth = {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for split, files in (("train", spec.train_files), ("test", (spec.test_file,))):
            xs, ys = [], []
            for file_name in files:
                pictures = rng.integers(0, 256, size=(per_file, 3, 32, 32), dtype=np.uint8)
                labels = rng.integers(0, spec.num_classes, size=per_file)
                raw = bytearray()
                for picture, label in zip(pictures, labels):
                    if spec.label_bytes == 2:
                        raw.append(int(label) // 5)  # a coarse label, which must be ignored
                    raw.append(int(label))
                    for plane in picture:  # red, green, blue planes, each row-major
                        raw.extend(plane.reshape(-1).tobytes())
                info = tarfile.TarInfo(f"{spec.folder}/{file_name}")
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(bytes(raw)))
                xs.append(pictures)
                ys.append(labels)
            truth[split] = (np.concatenate(xs), np.concatenate(ys))
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / spec.archive
    archive.write_bytes(buffer.getvalue())
    return archive, truth


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_fabricated_cifar_archive_is_parsed_from_raw_bytes(name, tmp_path, fresh_cache):
    archive, truth = fabricate_cifar(tmp_path / "archives", name, np.random.default_rng(0))
    md5 = md5_of(archive)
    arrays = images.cifar_arrays(name, archive.parent, md5=md5)
    assert np.array_equal(arrays["x_train"], truth["train"][0]) and np.array_equal(arrays["y_train"], truth["train"][1])
    assert np.array_equal(arrays["x_test"], truth["test"][0]) and np.array_equal(arrays["y_test"], truth["test"][1])
    data = images.load_cifar(DataConfig(name=name, root=str(archive.parent)), md5=md5)
    num_classes = 10 if name == "cifar10" else 100
    assert data.x_train.shape == (len(truth["train"][1]), 3, 32, 32) and data.input_shape == (3, 32, 32)
    assert data.num_classes == num_classes
    assert_standardised(data.x_train)
    assert_one_hot(data.y_train, num_classes)
    # Parsed once, then served from the cache even without the archive.
    archive.unlink()
    assert np.array_equal(images.cifar_arrays(name, archive.parent, md5=md5)["x_test"], truth["test"][0])
    assert not list(fresh_cache.glob("*.tmp"))


def test_official_cifar_checksums():
    assert images.CIFAR_SPECS["cifar10"].md5 == "c32a1d4ab5d03f1284b67883e8d87530"
    assert images.CIFAR_SPECS["cifar100"].md5 == "03b5dce01913d631647c71ecec9e9cb8"


def test_missing_archive_names_file_and_folder(tmp_path, fresh_cache):
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz not found in folder .*nowhere"):
        load_data(DataConfig(name="cifar10", root=str(tmp_path / "nowhere")))


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_damaged_archive_raises_and_writes_nothing(damage, tmp_path, fresh_cache):
    archive, _ = fabricate_cifar(tmp_path / "archives", "cifar10", np.random.default_rng(1))
    good_md5 = md5_of(archive)
    raw = bytearray(archive.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) // 2] ^= 0xFF
    archive.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="MD5 checksum"):
        images.cifar_arrays("cifar10", archive.parent, md5=good_md5)
    # Even when the checksum matches the damaged bytes, reading fails cleanly.
    with pytest.raises(ValueError, match="cannot read the archive|not a whole number|missing"):
        images.cifar_arrays("cifar10", archive.parent, md5=md5_of(archive))
    assert not fresh_cache.exists() or not any(fresh_cache.iterdir())


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()


@pytest.mark.parametrize("served_ok", [True, False])
def test_download_verifies_checksum_before_keeping_the_archive(served_ok, tmp_path, fresh_cache, monkeypatch):
    source, truth = fabricate_cifar(tmp_path / "server", "cifar10", np.random.default_rng(2))
    payload = source.read_bytes()
    requested = []

    def fake_urlopen(url, timeout):
        requested.append(url)
        return FakeResponse(payload if served_ok else payload[:-10])

    monkeypatch.setattr(images.urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "root"
    config = DataConfig(name="cifar10", root=str(root), download=True)
    if served_ok:
        data = images.load_cifar(config, md5=md5_of(source))
        assert requested == ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"]
        assert (root / "cifar-10-binary.tar.gz").exists() and len(data.x_test) == len(truth["test"][1])
    else:
        with pytest.raises(ValueError, match="MD5"):
            images.load_cifar(config, md5=md5_of(source))
        assert not root.exists() or not any(root.iterdir())


# ---------------------------------------------------------------- character corpora

def test_chars_corpus_hash_windows_and_shift():
    corpus = text.chars_corpus()
    assert hashlib.sha256(corpus.encode()).hexdigest() == text.CHARS_SHA256 and len(corpus) == 465048
    data = load_data(DataConfig(name="chars", context=32))
    vocabulary = sorted(set(corpus))
    assert data.num_classes == len(vocabulary) == 103 and data.input_shape == (32,)
    assert data.x_train.dtype == torch.int64 and data.x_train.shape[1] == 32
    assert "".join(vocabulary[i] for i in data.x_train[0].tolist()) == corpus[:32]
    assert torch.equal(data.y_train[:, :-1], data.x_train[:, 1:])
    assert torch.equal(data.y_train[:-1, -1], data.x_train[1:, 0])
    split = int(len(corpus) * 0.9)
    assert data.x_train.shape[0] == (split - 1) // 32 and data.x_test.shape[0] == (len(corpus) - split - 1) // 32


@pytest.mark.skipif(sys.version_info[:3] != (3, 11, 7), reason="the shipped corpus is CPython 3.11.7's text")
def test_shipped_chars_corpus_is_cpython_3_11_7s_pydoc_topics():
    from pydoc_data.topics import topics

    assert text.chars_corpus() == "\n".join(topics[key] for key in sorted(topics))


def test_damaged_chars_corpus_is_a_clear_error(tmp_path):
    damaged = tmp_path / "chars_corpus.txt.xz"
    damaged.write_bytes(lzma.compress("not the corpus".encode()))
    with pytest.raises(ValueError, match="reinstall warmup_lib"):
        text.chars_corpus(damaged)


def test_chars_hash_mismatch_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(text, "CHARS_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="SHA-256"):
        load_data(DataConfig(name="chars"))


def test_wikitext2_character_level_with_unknown(tmp_path):
    folder = tmp_path / "wikitext-2-raw"
    folder.mkdir()
    (folder / "wiki.train.raw").write_text(" = Valkyria = \n the game began development in 2010 \n" * 3)
    (folder / "wiki.test.raw").write_text(" Zebra game \n" * 4)
    data = load_data(DataConfig(name="wikitext2", root=str(tmp_path), context=8))
    train_chars = sorted(set((folder / "wiki.train.raw").read_text()))
    assert data.num_classes == len(train_chars) + 1
    assert data.x_test[0, 1].item() == len(train_chars)  # 'Z' is not in the training text: <unk>
    assert "".join(train_chars[i] for i in data.x_train[0].tolist()) == " = Valky"
    with pytest.raises(ValueError, match="wiki.train.raw"):
        load_data(DataConfig(name="wikitext2", root=str(tmp_path / "empty"), context=8))


# ---------------------------------------------------------------- augmentation

def test_flip_and_crop_are_the_authors_transforms():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(400, 3, 8, 8)
    flipped = random_flip(x, generator)
    is_flipped = (flipped == x.flip(-1)).flatten(1).all(1)
    assert torch.all(is_flipped | (flipped == x).flatten(1).all(1)) and 100 < is_flipped.sum() < 300
    cropped = random_crop(x, generator)
    padded = torch.nn.functional.pad(x, (CROP_PADDING,) * 4)
    seen = set()
    for i in range(len(x)):
        matches = [(r, c) for r in range(9) for c in range(9) if torch.equal(cropped[i], padded[i, :, r:r + 8, c:c + 8])]
        assert matches, f"example {i} is not a crop of its padded image"
        seen.update(matches)
    assert {r for r, _ in seen} == set(range(8)) and {c for _, c in seen} == set(range(8))  # offsets 0..7, never 8


def test_mixup_partner_is_the_reversed_batch():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, 4, 4)
    y = torch.eye(6)  # distinct classes recover the weight w_i = y_mixed[i, i]
    mixed_x, mixed_y = mixup(x, y, generator)
    weight = mixed_y.diagonal()
    for i in range(6):
        j = 5 - i
        if i != j:
            assert torch.allclose(mixed_x[i], weight[i] * x[i] + (1 - weight[i]) * x[j], atol=1e-6)
            assert torch.isclose(mixed_y[i, j], 1 - weight[i])
    assert torch.allclose(mixed_y.sum(1), torch.ones(6))


# ---------------------------------------------------------------- batching

def toy_dataset(n: int = 10) -> Dataset:
    x = torch.arange(n, dtype=torch.float32)[:, None]
    return Dataset(x, torch.nn.functional.one_hot(torch.arange(n) % 3, 3).float(), x, x, 3, (1,), "toy")


def take(stream: BatchStream, count: int) -> list[torch.Tensor]:
    """The first input feature of each of ``count`` batches (the example index for the toy data)."""
    return [stream.next()[0].flatten(1)[:, 0] for _ in range(count)]


def test_batches_cover_each_epoch_once_with_a_partial_last_batch():
    stream = BatchStream(toy_dataset(10), batch_size=4, seed=0)
    assert stream.batches_per_epoch == 3
    batches = [batch.long() for batch in take(stream, 6)]
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    first, second = torch.cat(batches[:3]), torch.cat(batches[3:])
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))
    assert not torch.equal(first, second)  # a fresh permutation each epoch


def test_seeded_batches_reproduce_exactly():
    same = [take(BatchStream(toy_dataset(50), 8, seed=3), 20) for _ in range(2)]
    other = take(BatchStream(toy_dataset(50), 8, seed=4), 20)
    assert all(torch.equal(a, b) for a, b in zip(*same))
    assert not all(torch.equal(a, b) for a, b in zip(same[0], other))


def test_augmented_stream_reproduces_and_full_batch():
    x = torch.randn(12, 3, 8, 8)
    data = Dataset(x, torch.eye(12)[:, :10], x, x, 10, (3, 8, 8), "images")
    first, second = (take(BatchStream(data, 5, seed=7, augment=True), 4) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    full_x, full_y = BatchStream(data, None, seed=0).next()
    assert full_x is data.x_train and full_y is data.y_train


def test_invalid_stream_settings():
    with pytest.raises(ValueError, match="batch_size"):
        BatchStream(toy_dataset(10), 11, seed=0)
    with pytest.raises(ValueError, match="augment"):
        BatchStream(toy_dataset(10), 2, seed=0, augment=True)


def test_archive_without_the_binary_members(tmp_path, fresh_cache):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")  # the pickled Python version
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="cifar-10-batches-bin/data_batch_1.bin is missing"):
        images.cifar_arrays("cifar10", tmp_path, md5=md5_of(archive))
    assert not fresh_cache.exists() or not any(fresh_cache.iterdir())
