"""mypy --strict over the installed package (style rule 10: typed and checked, not declared only).

The package is installed into a temporary target with pip (the wheel layout: the folders are
mapped onto ``dicom_inventory``), because mypy cannot follow setuptools' lenient editable
finder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_on_the_installed_package(tmp_path: Path, installed_site: Path) -> None:
    if (
        shutil.which("mypy") is None
        and subprocess.run(
            [sys.executable, "-m", "mypy", "--version"], capture_output=True
        ).returncode
    ):
        if os.environ.get("DICOM_INVENTORY_REQUIRE_PEERS") == "1":
            pytest.fail("mypy is not installed (pip install '.[test]')")
        pytest.skip("mypy not installed: pip install '.[test]'")
    env = dict(os.environ, MYPYPATH=str(installed_site))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "-p",
            "dicom_inventory",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
