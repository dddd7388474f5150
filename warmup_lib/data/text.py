"""Character-level language-modelling data: an offline corpus and WikiText-2.

``chars``: the English help topics shipped with CPython 3.11.7 (``pydoc_data.topics``), joined in
sorted key order with newlines: 465,048 characters, 103 distinct.  The text differs between Python
versions, so the package ships this one copy (``chars_corpus.txt.xz``, 95 kB, made with
``lzma.compress`` from CPython 3.11.7's module) and every supported Python reads the same
characters; its SHA-256 is pinned, so a damaged copy is caught, not silently used.

``wikitext2``: the raw WikiText-2 files ``wiki.train.raw`` / ``wiki.test.raw`` under
``DataConfig.root`` (or ``root/wikitext-2-raw``).  Tokenisation is **character level** (the paper
used a 4096-token BPE; characters need no tokenizer package and keep the vocabulary small);
characters of the test file not seen in training map to one extra ``<unk>`` id.

Both are cut into non-overlapping windows of ``context`` tokens: x = text[i : i+context] and the
targets y = text[i+1 : i+context+1] (shifted by one).  The first 90% of the chars corpus trains, the
last 10% tests.
"""

from __future__ import annotations

import hashlib
import lzma
from pathlib import Path

import torch

from warmup_lib.config import DataConfig
from warmup_lib.data.dataset import Dataset, cache_dir, take_first

CHARS_FILE = Path(__file__).with_name("chars_corpus.txt.xz")
CHARS_SHA256 = "2a95af4ac93f5b719944030ce3769070ddf827d847cba42192afa8da989e5dc4"
CHARS_TRAIN_FRACTION = 0.9


def chars_corpus(path: Path = CHARS_FILE) -> str:
    """The shipped pydoc topics text (module docstring), checked against :data:`CHARS_SHA256`.

    Args:
        path: The xz-compressed corpus; default the copy shipped with the package.

    Returns:
        The decompressed text (465,048 characters).

    Raises:
        ValueError: If the text's SHA-256 differs from :data:`CHARS_SHA256`.
    """
    text = lzma.decompress(path.read_bytes()).decode("utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != CHARS_SHA256:
        raise ValueError(f"data.name: the 'chars' corpus {path} has SHA-256 {digest}, expected {CHARS_SHA256} "
                         "(CPython 3.11.7's pydoc_data.topics); reinstall warmup_lib to restore the file")
    return text


def encode(text: str, vocabulary: dict[str, int], unknown: int | None = None) -> torch.Tensor:
    """Token ids (int64) of ``text``; characters outside the vocabulary get ``unknown``.

    Args:
        text: The characters to encode.
        vocabulary: Map from character to token id.
        unknown: Id for characters outside ``vocabulary``; None makes them an error.

    Returns:
        Int64 tensor (len(text),) of token ids.

    Raises:
        ValueError: If ``unknown`` is None and ``text`` holds a character outside ``vocabulary``.
    """
    ids = [vocabulary.get(char, unknown) for char in text]
    if unknown is None and None in ids:
        raise ValueError("text holds characters outside the vocabulary")
    return torch.tensor(ids, dtype=torch.int64)


def windows(tokens: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping (inputs, next-token targets), each (N, context), N = (len - 1) // context.

    Window i is x_i = tokens[i c : (i+1) c] and y_i = tokens[i c + 1 : (i+1) c + 1], c = ``context``.

    Args:
        tokens: Token ids (len,).
        context: Window length c in tokens.

    Returns:
        (inputs, targets), each (N, context), targets shifted by one token.

    Raises:
        ValueError: If the text is too short for one window (len - 1 < context).
    """
    count = (tokens.numel() - 1) // context
    if count < 1:
        raise ValueError(f"data.context: got {context}; longer than the text ({tokens.numel()} tokens)")
    inputs = tokens[: count * context].reshape(count, context)
    targets = tokens[1 : count * context + 1].reshape(count, context)
    return inputs, targets


def _lm_dataset(name: str, train_tokens: torch.Tensor, test_tokens: torch.Tensor, vocab_size: int,
                cfg: DataConfig) -> Dataset:
    x_train, y_train = take_first(*windows(train_tokens, cfg.context), cfg.n_train, "data.n_train")
    x_test, y_test = take_first(*windows(test_tokens, cfg.context), cfg.n_test, "data.n_test")
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, num_classes=vocab_size,
                   input_shape=(cfg.context,), name=name)


def load_chars(cfg: DataConfig) -> Dataset:
    """The pydoc corpus as a character LM data set (vocabulary: the 103 characters it holds).

    The first 90% of the characters train, the last 10% test.

    Args:
        cfg: Data configuration: ``context`` (window length), ``n_train`` and ``n_test`` (first
            windows kept; None for all).

    Returns:
        :class:`Dataset` 'chars': int64 inputs and targets (N, context), ``num_classes`` 103.

    Raises:
        ValueError: If the corpus fails its checksum, ``context`` is longer than a split, or
            ``n_train`` / ``n_test`` exceed the number of windows.
    """
    text = chars_corpus()
    vocabulary = {char: index for index, char in enumerate(sorted(set(text)))}
    split = int(len(text) * CHARS_TRAIN_FRACTION)
    return _lm_dataset("chars", encode(text[:split], vocabulary), encode(text[split:], vocabulary),
                       len(vocabulary), cfg)


def wikitext2_folder(root: str | Path | None) -> Path:
    """The folder holding wiki.train.raw: ``root`` itself or ``root/wikitext-2-raw``.

    Args:
        root: Folder to look in; None means :func:`cache_dir`.

    Returns:
        The first of ``root`` and ``root/wikitext-2-raw`` that holds both wiki.train.raw and
        wiki.test.raw.

    Raises:
        ValueError: If neither folder holds both files.
    """
    base = Path(root) if root is not None else cache_dir()
    for folder in (base, base / "wikitext-2-raw"):
        if (folder / "wiki.train.raw").exists() and (folder / "wiki.test.raw").exists():
            return folder
    raise ValueError(f"data.root: wiki.train.raw and wiki.test.raw not found in folder {base} "
                     f"(nor in {base / 'wikitext-2-raw'}); unpack the raw WikiText-2 archive there")


def load_wikitext2(cfg: DataConfig) -> Dataset:
    """Raw WikiText-2 at character level; vocabulary = train characters + one ``<unk>`` id.

    Args:
        cfg: Data configuration: ``root`` (see :func:`wikitext2_folder`), ``context`` (window
            length), ``n_train`` and ``n_test`` (first windows kept; None for all).

    Returns:
        :class:`Dataset` 'wikitext2': int64 inputs and targets (N, context); ``num_classes`` is
        the number of distinct training characters + 1 (the ``<unk>`` id, used for test characters
        not seen in training).

    Raises:
        ValueError: If the files are not found, ``context`` is longer than a split, or
            ``n_train`` / ``n_test`` exceed the number of windows.
    """
    folder = wikitext2_folder(cfg.root)
    train_text = (folder / "wiki.train.raw").read_text(encoding="utf-8")
    test_text = (folder / "wiki.test.raw").read_text(encoding="utf-8")
    vocabulary = {char: index for index, char in enumerate(sorted(set(train_text)))}
    unknown = len(vocabulary)
    return _lm_dataset("wikitext2", encode(train_text, vocabulary), encode(test_text, vocabulary, unknown),
                       len(vocabulary) + 1, cfg)
