"""The three descriptions of the environment agree: pyproject.toml, environment.yml, the lock file.

pyproject.toml is the source of truth for *which* packages (core + the book and tests extras, which
is what the Makefile installs); environment.yml must name the same requirements for conda users;
requirements-lock.txt pins every one of them, torch as the portable ``torch==2.13.0``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

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


def test_environment_yml_uses_python_311(repo_root: Path) -> None:
    environment = yaml.safe_load((repo_root / "environment.yml").read_text())
    assert "python=3.11" in environment["dependencies"]


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
