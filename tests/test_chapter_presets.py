"""The chapters' ``paper`` presets: what they hold, and their code paths exercised on the CPU.

A paper preset is meant for a GPU and hours of compute.  Each chapter checks here that its paper
preset describes the paper's setup, and executes the notebook with that preset's parameters on the
CPU with only the *shapes* overridden (documented per chapter below), so that the GPU run does
not fail on a code path that the smoke and book presets never take (CIFAR instead of MNIST-1D,
sharpness at every step, ...).  Chapters append their own tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from test_data import fabricate_cifar, md5_of
from warmup_lib import config
from warmup_lib.tools import notebooks
from warmup_lib.data import images


@pytest.fixture
def fabricated_cifar10(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fabricated CIFAR-10 (in the real binary format, 5 x 13 training images) that the library
    loads as if it were the official archive: it is parsed once and its arrays put into a fresh data
    cache under the official checksum's name, which is where ``load_data`` looks first."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("WARMUP_LIB_CACHE", str(cache))
    archive, _ = fabricate_cifar(tmp_path / "archives", "cifar10", np.random.default_rng(0), per_file=13)
    fabricated_md5 = md5_of(archive)
    images.cifar_arrays("cifar10", archive.parent, md5=fabricated_md5)
    official = images.CIFAR_SPECS["cifar10"].md5
    shutil.move(cache / f"cifar10_{fabricated_md5}.npz", cache / f"cifar10_{official}.npz")
    return cache


# ------------------------------------------------------------------- 02_sgd_warmup_mechanisms


def run_paper_preset_with_tiny_shapes(stem: str, overrides: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      repo_root: Path) -> str:
    """Execute notebook ``stem`` at the paper preset with ``overrides`` (tiny shapes) on the CPU and
    return everything it printed (stream text and plain-text displays)."""
    monkeypatch.setitem(config.PRESETS["paper"], stem, {**config.PRESETS["paper"][stem], **overrides})
    output = tmp_path / f"{stem}.ipynb"
    assert notebooks.execute_notebook(repo_root / "notebooks" / f"{stem}.ipynb", "paper", output=output)
    executed = nbformat.read(output, as_version=4)
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                   for cell in executed.cells for o in cell.get("outputs", []))


MECHANISMS = "02_sgd_warmup_mechanisms"
# Shapes only: a width-16 FCN on 48 fabricated CIFAR-10 images for 12 steps, on the CPU.  Everything
# else (CIFAR-10, depth 4, sharpness at every step, the learning-rate multiples, momentum, losses)
# is the paper preset's.
MECHANISMS_TINY = {"n_train": 48, "n_test": 13, "width": 16, "steps": 12, "variant_steps": 12,
                   "warmup_steps": [1, 4], "variant_warmup_steps": [1, 4], "sp_scan": [32.0], "scan_steps": 4,
                   "regime_window": 8, "eval_every": 4, "batch_size": 16, "device": "cpu", "seeds": [0]}


def test_mechanisms_paper_preset_is_the_papers_setup() -> None:
    paper = config.notebook_parameters(MECHANISMS, "paper")
    assert (paper["dataset"], paper["n_train"], paper["width"], paper["depth"]) == ("cifar10", 5000, 512, 4)
    assert (paper["steps"], paper["sharpness_every"], paper["device"]) == (2048, 1, "cuda")
    assert (paper["mup_multiple"], paper["sp_multiple"], paper["batch_size"], paper["momentum"]) == (1.0, 32.0, 512, 0.9)
    assert {1, 64, 1024} <= set(paper["warmup_steps"])
    assert set(MECHANISMS_TINY) <= set(paper), "the override may only change existing parameters"


@pytest.mark.slow
def test_mechanisms_paper_preset_runs_on_cpu_with_tiny_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              fabricated_cifar10: Path, isolated_results: Path,
                                                              repo_root: Path) -> None:
    printed = run_paper_preset_with_tiny_shapes(MECHANISMS, MECHANISMS_TINY, tmp_path, monkeypatch, repo_root)
    assert "\n4c " in printed  # the claims cell ran to its end (its last row)
    stored = sorted(path.name for path in (isolated_results / MECHANISMS).iterdir())
    # 4 settings x (muP, SP) x 2 warmups, SGD with momentum, one scan run, and lambda0.json
    assert len(stored) == 4 * 2 * 2 + 1 + 1 + 1 and "lambda0.json" in stored


# ------------------------------------------------------------------- 05_phase_diagrams

PHASE = "05_phase_diagrams"
# Shapes only: a WRN-10-1 of width 4 on 48 fabricated CIFAR-10 images for 4 steps, two warmups, one
# extension of each grid, on the CPU.  Everything else (CIFAR-10 with augmentation, the WRN, the
# eta grids, cosine decay, cross-entropy, Adam vs GI-Adam, momentum) is the paper preset's.
PHASE_TINY = {"n_train": 48, "n_test": 13, "width": 4, "depth": 10, "widen": 1, "batch_size": 16, "steps": 4,
              "eval_every": 2, "device": "cpu", "seeds": [0], "warmup_steps": [1, 2], "extras_warmup_steps": [1, 2],
              "adam_warmup_steps": [1, 2], "adam_eta_columns": 2, "max_extensions": 1, "lambda0_batches": 1}


def test_phase_paper_preset_is_the_released_wrn_grid() -> None:
    from warmup_lib.chapters import phase_diagrams as pe
    from warmup_lib.models import build_model

    paper = config.notebook_parameters(PHASE, "paper")
    sweep = pe.adam_sweep(paper)
    base = sweep.base
    assert (base.data.name, base.data.augment, base.loss, base.batch_size, base.steps) == ("cifar10", True, "xent", 128, 100_000)
    assert (base.model.arch, base.model.depth, base.model.widen, base.model.width, base.model.param) == ("wrn", 16, 4, 16, "sp")
    assert (base.schedule.decay, base.optim.name, sweep.warmup_steps) == ("cosine", "adam", (1, 1024))
    assert sweep.eta_unit == "absolute" and np.allclose(sweep.eta_trgt, [0.00512 * 2**j for j in range(4)])
    assert dict(sweep.variants) == {"adam": {}, "gi_adam": {"optim.name": "gi_adam"}}
    assert sweep.extend and set(sweep.stop_on) == {"diverged", "failed"}
    model = build_model(base.model, (3, 32, 32), 10)
    assert sum(p.numel() for p in model.parameters()) == 2_751_146
    released = pe.released_wrn_adam()
    assert np.allclose(sorted(set(released["eta_trgt"])), [0.00512 * 2**j for j in range(7)])
    assert set(released["warmup_steps"]) == {1, 1024}
    sgd = pe.sgd_sweeps(paper)
    assert {sw.base.model.param for sw in sgd.values()} == {"sp", "mup"}
    assert all(sw.base.steps == 100_000 and sw.base.batch_size == 128 for sw in sgd.values())
    assert set(PHASE_TINY) <= set(paper), "the override may only change existing parameters"


@pytest.mark.slow
def test_phase_paper_preset_runs_on_cpu_with_tiny_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         fabricated_cifar10: Path, isolated_results: Path,
                                                         repo_root: Path) -> None:
    printed = run_paper_preset_with_tiny_shapes(PHASE, PHASE_TINY, tmp_path, monkeypatch, repo_root)
    assert "\n13i " in printed  # the claims cell ran to its end (its last row)
    assert "released_best_test_accuracy" in printed  # the comparison with the released grid was shown
    stored = {path.name for path in isolated_results.iterdir()}
    assert {"05_paper_adam", "05_paper_adam_probe", "05_paper_sgd_sp_mse", "05_paper_sgd_sp_xent_extras"} <= stored


# ------------------------------------------------------------------- 06_critical_lr_warmup

CRITICAL = "06_critical_lr_warmup"
# Shapes only: a WRN-10-1 of width 4 on 48 fabricated CIFAR-10 images for 4 steps, two warmups, on the CPU.
# Everything else (CIFAR-10 with augmentation, the WRN, cross-entropy, SGD, the searches, the persistent
# catapult targets) is the paper preset's.
CRITICAL_TINY = {"n_train": 48, "n_test": 13, "width": 4, "depth": 10, "widen": 1, "batch_size": 16, "steps": 4,
                 "eval_every": 2, "device": "cpu", "eta_multiples": [2.0, 64.0], "warmup_steps": [2, 4],
                 "lambda0_batches": 1, "pcw_linear_warmup": 2}


def test_critical_paper_preset_is_the_papers_fig5_setup() -> None:
    from warmup_lib.models import build_model

    paper = config.notebook_parameters(CRITICAL, "paper")
    assert (paper["dataset"], paper["augment"], paper["loss"], paper["batch_size"], paper["steps"]) == \
        ("cifar10", True, "xent", 128, 10_000)
    assert (paper["arch"], paper["depth"], paper["widen"], paper["width"], paper["param"]) == ("wrn", 16, 4, 16, "sp")
    assert (paper["device"], paper["delta"]) == ("cuda", 0.1)
    model = build_model(config.ModelConfig(arch="wrn", width=16, depth=16, widen=4), (3, 32, 32), 10)
    assert sum(p.numel() for p in model.parameters()) == 2_751_146
    assert set(CRITICAL_TINY) <= set(paper), "the override may only change existing parameters"


@pytest.mark.slow
def test_critical_paper_preset_runs_on_cpu_with_tiny_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            fabricated_cifar10: Path, isolated_results: Path,
                                                            repo_root: Path) -> None:
    printed = run_paper_preset_with_tiny_shapes(CRITICAL, CRITICAL_TINY, tmp_path, monkeypatch, repo_root)
    assert "\n12a " in printed and "\n15c " in printed  # the claims cell ran to its end
    stored = {path.name for path in isolated_results.iterdir()}
    assert "06_paper_critical_lr_warmup" in stored
    assert any(name.startswith("06_paper_critical_lr_warmup_pcw_") for name in stored)
    assert len(list((isolated_results / "06_paper_critical_lr_warmup").iterdir())) >= 2 * 4 + 2  # grid + records


# ------------------------------------------------------------------- 03_adam_preconditioned_sharpness

ADAM_PRE = "03_adam_preconditioned_sharpness"
# Shapes only: a width-16 FCN on 48 fabricated CIFAR-10 images for 8 steps (minibatches of 16), two warmups,
# two widths in the initialisation scan, on the CPU.  Everything else (CIFAR-10, depth 4, both sharpnesses
# at every step in the main runs, the paper's learning rates, MSE and cross-entropy) is the paper preset's.
ADAM_PRE_TINY = {"n_train": 48, "n_test": 13, "width": 16, "steps": 8, "warmup_steps": [1, 4], "variant_steps": 8,
                 "variant_warmup_steps": [1, 4], "batch_size": 16, "batch_n_train": 48, "init_widths": [8, 16],
                 "eval_every": 4, "workers": 1, "device": "cpu", "seeds": [0]}


def test_adam_pre_paper_preset_is_the_papers_setup() -> None:
    paper = config.notebook_parameters(ADAM_PRE, "paper")
    assert (paper["dataset"], paper["n_train"], paper["width"], paper["depth"]) == ("cifar10", 5000, 512, 4)
    assert (paper["steps"], paper["pre_sharpness_every"], paper["sharpness_every"], paper["device"]) == (2048, 1, 1, "cuda")
    assert (paper["eta_simple_mup"], paper["eta_sp"], paper["batch_size"]) == (0.003, 0.001, 512)
    assert {1, 1024} <= set(paper["warmup_steps"]) and 512 in paper["init_widths"]
    assert set(ADAM_PRE_TINY) <= set(paper), "the override may only change existing parameters"


@pytest.mark.slow
def test_adam_pre_paper_preset_runs_on_cpu_with_tiny_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            fabricated_cifar10: Path, isolated_results: Path,
                                                            repo_root: Path) -> None:
    printed = run_paper_preset_with_tiny_shapes(ADAM_PRE, ADAM_PRE_TINY, tmp_path, monkeypatch, repo_root)
    assert "\n5k " in printed  # the claims cell ran to its end
    stored = sorted(path.name for path in (isolated_results / ADAM_PRE).iterdir())
    # (simple-muP, SP) x 2 warmups in each of 3 settings, and the initialisation scan
    assert len(stored) == 3 * 2 * 2 + 1 and "initial_curvature.json" in stored


# ------------------------------------------------------------------- 04_gi_adam

GI_ADAM = "04_gi_adam"
# Shapes only: a width-16 FCN on 48 fabricated CIFAR-10 images, 8-16 steps, on the CPU (the matching linear
# warmup is then capped at the run length).  Everything else (CIFAR-10, depth 4, pre-conditioned sharpness
# at every step, the paper's learning rates, Adam / GI-Adam / RI-Adam) is the paper preset's.
GI_ADAM_TINY = {"n_train": 48, "n_test": 13, "width": 16, "steps": 8, "implicit_steps": 16, "failure_steps": 8,
                "failure_warmup": 4, "eval_every": 4, "workers": 1, "device": "cpu", "seeds": [0],
                "implicit_seeds": [0]}


def test_gi_adam_paper_preset_is_the_papers_setup() -> None:
    paper = config.notebook_parameters(GI_ADAM, "paper")
    assert (paper["dataset"], paper["n_train"], paper["width"], paper["depth"]) == ("cifar10", 5000, 512, 4)
    assert (paper["pre_sharpness_every"], paper["device"]) == (1, "cuda")
    assert (paper["eta_simple_mup"], paper["eta_sp"]) == (0.003, 0.001)
    assert paper["implicit_steps"] >= 1227  # room for the linear warmup matching beta2 = 0.999
    assert set(GI_ADAM_TINY) <= set(paper), "the override may only change existing parameters"


@pytest.mark.slow
def test_gi_adam_paper_preset_runs_on_cpu_with_tiny_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           fabricated_cifar10: Path, isolated_results: Path,
                                                           repo_root: Path) -> None:
    printed = run_paper_preset_with_tiny_shapes(GI_ADAM, GI_ADAM_TINY, tmp_path, monkeypatch, repo_root)
    assert "\n14c " in printed  # the claims cell ran to its end
    stored = sorted(path.name for path in (isolated_results / GI_ADAM).iterdir())
    # mechanism, implicit-warmup (with the square-root warmup) and failure-preview runs, and the
    # epsilon -> 0 check at initialisation
    assert len(stored) == 6 + 4 + 4 + 1 and "initial_curvature.json" in stored


# ------------------------------------------------------------------- 07_transformers

TRANSFORMERS = "07_transformers"
# Shapes only: LM-1-16 on 64 windows of 16 characters of a fabricated WikiText-2 (raw files cut from the
# shipped character corpus), 12 steps, one seed, on the CPU.  Everything else (WikiText-2's loader, the
# vectorised executor of the phase diagram, the tracker cadences' code paths, the search) is the paper
# preset's.
TRANSFORMERS_TINY = {"n_train": 64, "n_test": 16, "context": 16, "width": 16, "depth": 1, "heads": 2,
                     "batch_size": 8, "steps": 12, "device": "cpu", "seeds": [0], "lambda0_widths": [16],
                     "lambda0_depths": [1], "lambda0_grid_batches": 1, "lambda0_batches": 1,
                     "sgd_eta": [2.0, 8.0], "warmup_steps": [1, 8], "traj_warmup": 8, "traj_steps": 12,
                     "adam_warmup": 8, "adam_steps": 12, "gi_eta": [0.004, 0.064], "gi_warmup_steps": [1, 8]}


def test_transformers_paper_preset_is_the_papers_lm() -> None:
    paper = config.notebook_parameters(TRANSFORMERS, "paper")
    assert (paper["dataset"], paper["context"], paper["width"], paper["depth"]) == ("wikitext2", 64, 128, 4)
    assert (paper["batch_size"], paper["steps"], paper["device"]) == (64, 10_000, "cuda")
    assert set(TRANSFORMERS_TINY) <= set(paper), "the override may only change existing parameters"


@pytest.mark.slow
def test_transformers_paper_preset_runs_on_cpu_with_tiny_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                isolated_results: Path, repo_root: Path) -> None:
    from warmup_lib.data.text import chars_corpus

    text, raw = chars_corpus(), tmp_path / "wikitext-2-raw"
    raw.mkdir()
    (raw / "wiki.train.raw").write_text(text[:20_000], encoding="utf-8")
    (raw / "wiki.test.raw").write_text(text[20_000:24_000], encoding="utf-8")
    printed = run_paper_preset_with_tiny_shapes(TRANSFORMERS, {**TRANSFORMERS_TINY, "data_root": str(tmp_path)},
                                                tmp_path, monkeypatch, repo_root)
    assert "12t" in printed  # the claims cell ran to its end
    assert (isolated_results / "07_paper_transformers" / "lambda0.json").exists()
