"""The README's library example runs and prints what the README says it prints."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("heading", ["## Use it in your own loop", "## Every warmup remedy as a drop-in"])
def test_readme_example_prints_what_the_readme_shows(heading: str) -> None:
    text = README.read_text()
    section = text.split(heading, 1)[1]
    code, printed = re.findall(r"```(?:python)?\n(.*?)```", section, flags=re.S)[:2]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, str(README), "exec"), {})
    assert output.getvalue().strip() == printed.strip()
