"""Shared fixtures and hooks for the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` when no CUDA device is present (they still run on a GPU machine)."""
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where _config.yml, _toc.yml and notebooks/ live)."""
    return REPO_ROOT


@pytest.fixture
def isolated_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the results store (``$WARMUP_RESULTS``) at an empty temporary folder.

    Notebook kernels inherit the environment, so runs made by a test never land in the committed
    ``results/``.
    """
    root = tmp_path / "results"
    root.mkdir()
    monkeypatch.setenv("WARMUP_RESULTS", str(root))
    return root


@pytest.fixture
def hand_built_start():
    """``build(cfg, lr)``: the model, loss, batch stream and an SGD optimizer at rate ``lr`` of a run
    of ``cfg``, built by hand from the public parts exactly as ``train.run`` builds them (the oracle
    of tests that check the library's own set-up)."""
    from warmup_lib.data import BatchStream, load_data
    from warmup_lib.losses import get_loss
    from warmup_lib.models import build_model

    def build(cfg, lr: float):
        data = load_data(cfg.data)
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, data.input_shape, data.num_classes)
        stream = BatchStream(data, cfg.batch_size, seed=cfg.seed)
        return model, get_loss(cfg.loss), stream, torch.optim.SGD(model.parameters(), lr=lr)

    return build
