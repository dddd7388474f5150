"""The three descriptions of the environment agree: pyproject.toml, environment.yml, the lock file.

pyproject.toml is the source of truth for *which* packages (core + the book and tests extras, which
is what the Makefile installs); environment.yml must name the same requirements for conda users;
requirements-lock.txt pins every one of them, torch as the portable ``torch==2.13.0``.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

TORCH_PIN = "torch==2.13.0"


def _pyproject_requirements(repo_root: Path) -> list[Requirement]:
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(spec) for spec in project["dependencies"] + extras["book"] + extras["tests"]]


def _environment_pip_section(repo_root: Path) -> list[str]:
    environment = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_sections = [entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict)]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    return pip_sections[0]


def _lock_pins(repo_root: Path) -> dict[str, str]:
    pins = {}
    for line in (repo_root / "requirements-lock.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_environment_yml_names_the_same_requirements_as_pyproject(repo_root: Path) -> None:
    pip_section = _environment_pip_section(repo_root)
    assert "-e ." in pip_section, "environment.yml must install the project itself (-e .)"
    from_environment = {str(Requirement(spec)) for spec in pip_section if spec != "-e ."}
    from_pyproject = {str(requirement) for requirement in _pyproject_requirements(repo_root)}
    assert from_environment == from_pyproject
    assert TORCH_PIN in from_environment


def test_environment_yml_allows_the_pythons_pyproject_allows(repo_root: Path) -> None:
    environment = yaml.safe_load((repo_root / "environment.yml").read_text())
    requires = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["requires-python"]
    assert f"python{requires}" in environment["dependencies"]


def _stand_in(folder: Path, name: str, version: str | None) -> None:
    """A fake interpreter that answers the Makefile's version question (None: a broken one)."""
    script = folder / name
    script.write_text("#!/bin/sh\n" + (f"echo {version}\n" if version else "exit 1\n"))
    script.chmod(0o755)


def _make(repo_root: Path, folder: Path, *target: str) -> subprocess.CompletedProcess:
    """``make`` with a PATH holding only the stand-ins and grep (the Makefile's one helper)."""
    (folder / "grep").symlink_to(shutil.which("grep"))
    return subprocess.run([shutil.which("make"), "-s", "-C", str(repo_root), *target], env={"PATH": str(folder)},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("interpreters, chosen", [
    ({"python3.11": "3.11", "python3.12": "3.12", "python3": "3.13"}, "python3.11"),
    ({"python3.12": "3.12", "python3": "3.10"}, "python3.12"),
    ({"python3.11": None, "python3.13": "3.13"}, "python3.13"),  # a broken python3.11 is skipped
    ({"python3": "3.12"}, "python3"),
    ({"python3": "3.10", "python3.14": "3.14"}, ""),  # nothing the pins support
])
def test_makefile_picks_the_first_supported_interpreter(repo_root: Path, tmp_path: Path, interpreters: dict,
                                                        chosen: str) -> None:
    for name, version in interpreters.items():
        _stand_in(tmp_path, name, version)
    assert _make(repo_root, tmp_path, "python").stdout.strip() == chosen


def test_makefile_says_what_to_install_without_a_supported_python(repo_root: Path, tmp_path: Path) -> None:
    _stand_in(tmp_path, "python3", "3.10")
    result = _make(repo_root, tmp_path, "install", f"VENV={tmp_path / 'venv'}")
    assert result.returncode != 0
    assert "no supported Python found" in result.stderr and "Python 3.11, 3.12 or 3.13" in result.stderr


def test_torch_and_jupyter_book_pins(repo_root: Path) -> None:
    by_name = {canonicalize_name(req.name): req for req in _pyproject_requirements(repo_root)}
    assert str(by_name["torch"]) == TORCH_PIN
    assert not by_name["jupyter-book"].specifier.contains("2.0.0"), "jupyter-book must stay below 2"


def test_lock_pins_every_requirement_portably(repo_root: Path) -> None:
    pins = _lock_pins(repo_root)
    assert pins["torch"] == "2.13.0", "pin torch without a local label such as '+cpu'"
    assert not [name for name, version in pins.items() if "+" in version], "local versions do not exist elsewhere"
    assert "warmup-lib" not in pins, "the project itself is installed editable, not pinned"
    for requirement in _pyproject_requirements(repo_root):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in requirements-lock.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"lock pins {name}=={pins[name]}, outside pyproject's {requirement.specifier}"


def test_makefile_installs_torch_first_then_the_lock(repo_root: Path) -> None:
    makefile = (repo_root / "Makefile").read_text()
    torch_install = makefile.index(f"pip install {TORCH_PIN}")
    assert torch_install < makefile.index("pip install -c $(LOCK) -e '.[book,tests]'")
