"""The layering rules of docs/architecture.md as import-linter contracts (pyproject.toml).

Run over the package as installed (the wheel layout maps the folders onto ``dicom_inventory``,
which import-linter cannot follow in an editable install), and once more with a forbidden
import planted, to show the contract catches it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import tomllib

from tests.conftest import peers_required

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(installed_site: Path) -> Path:
    if shutil.which("lint-imports") is None:
        if peers_required():
            pytest.fail("import-linter is not installed (pip install '.[test]')")
        pytest.skip("import-linter not installed: pip install '.[test]'")
    return installed_site


def _lint(site: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run(
        ["lint-imports", "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=site.parent,
        env=env,
    )


def test_the_contracts_hold(site: Path) -> None:
    done = _lint(site)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 4 kept, 0 broken" in done.stdout, done.stdout


def test_every_module_of_the_iod_library_is_under_its_contract(site: Path) -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (iod,) = [c for c in contracts["contracts"] if c["id"] == "iod-library"]
    modules = {
        f"dicom_inventory.{p.stem}"
        for p in (site / "dicom_inventory").glob("*.py")
        if p.stem not in ("__init__", "__main__")  # the root and the `python -m` entry point
    }
    assert modules == set(iod["source_modules"])


def test_a_forbidden_import_breaks_its_contract(site: Path, tmp_path: Path) -> None:
    planted = tmp_path / "site"
    shutil.copytree(site, planted)
    encode = planted / "dicom_inventory" / "encode.py"
    encode.write_text(encode.read_text() + "\nimport dicom_inventory.scu.client  # planted\n")
    done = _lint(planted)
    assert done.returncode != 0
    assert "the IOD library imports no network, archive, judge or CLI code BROKEN" in done.stdout
    assert "dicom_inventory.encode -> dicom_inventory.scu.client" in done.stdout
