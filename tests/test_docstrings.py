"""Every public module, class, method and function of the package has a numpydoc docstring:
ruff's pydocstyle rules with the numpy convention and the project's lint rules
(pyproject.toml, [tool.ruff.lint], which says which pydocstyle rules are left out and why)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ["inventory", "scp", "scu", "conformance", "cli"]


def test_public_names_have_numpy_docstrings() -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed: pip install '.[test]'")
    done = subprocess.run(
        [ruff, "check", "--output-format", "concise", *PACKAGE],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rule_catches_a_missing_docstring(tmp_path: Path) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed: pip install '.[test]'")
    (tmp_path / "m.py").write_text(
        '"""A module."""\n\n\ndef public(x: int) -> int:\n    return x\n'
    )
    done = subprocess.run(
        [
            ruff,
            "check",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--select",
            "D",
            str(tmp_path / "m.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1 and "D103" in done.stdout, done.stdout
