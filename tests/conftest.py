"""Shared test fixtures and the peer policy.

Tests that need an external peer (DCMTK, Orthanc) call :func:`require_tool`. On a user's
machine without the tool they skip with the reason and the install command; under CI
(``.ci/run`` sets ``DICOM_INVENTORY_REQUIRE_PEERS=1``) a missing peer fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_INSTALL = {
    "dcmdump": "apt-get install dcmtk",
    "storescp": "apt-get install dcmtk",
    "dcmsend": "apt-get install dcmtk",
    "Orthanc": "apt-get install orthanc",
    "openssl": "apt-get install openssl",
    "curl": "apt-get install curl",
    "chromium": "apt-get install chromium",
    "postgresql": "apt-get install postgresql",
}

#: Data files of Debian packages the tests use, with the package that installs them.
_FILES = {
    "/usr/share/xml/docbook/schema/rng/5.0/docbook.rng": "apt-get install docbook5-xml",
}


def peers_required() -> bool:
    """Whether missing peers must fail (CI) rather than skip (a user's machine)."""
    return os.environ.get("DICOM_INVENTORY_REQUIRE_PEERS") == "1"


#: DCMTK programs: pynetdicom installs console scripts with some of the same names
#: (storescp, echoscu, findscu, ...) into Python's bin folder; tests want DCMTK's own.
_DCMTK = {"dcmdump", "storescp", "storescu", "echoscu", "dcmsend", "findscu", "movescu", "getscu"}


def require_tool(name: str) -> str:
    """Return the path of the program `name`, or skip (fail under CI) if it is missing.

    DCMTK programs are looked up in the system folders (apt's /usr/bin) only, so a pynetdicom
    app of the same name is never taken for DCMTK.
    """
    if name in _DCMTK:
        path = shutil.which(name, path="/usr/bin:/bin")
    else:
        path = shutil.which(name) or (
            f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
        )
    if path:
        return path
    reason = f"{name} not installed ({_INSTALL.get(name, 'install it')})"
    if peers_required():
        pytest.fail(f"{reason}; DICOM_INVENTORY_REQUIRE_PEERS=1 forbids skipping")
    pytest.skip(reason)


def missing_peer(reason: str) -> None:
    """Skip with `reason`, or fail under CI (DICOM_INVENTORY_REQUIRE_PEERS=1)."""
    if peers_required():
        pytest.fail(f"{reason}; DICOM_INVENTORY_REQUIRE_PEERS=1 forbids skipping")
    pytest.skip(reason)


def require_file(path: str) -> str:
    """Return `path` if it exists, or skip (fail under CI): data files of Debian packages."""
    if os.path.exists(path):
        return path
    reason = f"{path} not installed ({_FILES.get(path, 'install it')})"
    if peers_required():
        pytest.fail(f"{reason}; DICOM_INVENTORY_REQUIRE_PEERS=1 forbids skipping")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def installed_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package installed into a folder with pip (the wheel layout, folders mapped onto
    ``dicom_inventory``), once per run, for the tools that cannot follow setuptools' editable
    finder (mypy, import-linter)."""
    target = tmp_path_factory.mktemp("installed") / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=target.parent,
    )
    return target


# The DICOMweb node (a real ``serve`` process), one per session for every test that asks for it.
from tests.web_node import served  # noqa: E402, F401
