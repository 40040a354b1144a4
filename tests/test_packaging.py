"""Packaging guards: one import name, a complete public API, a light root package.

Style rules 1 and 3: the wheel installs exactly one top-level name, ``dicom_inventory`` (never
``scp``, ``inventory``, ...), and ``dicom_inventory.__all__`` is sorted and complete.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import dicom_inventory
import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "inventory": "dicom_inventory",
    "scp": "dicom_inventory.scp",
    "scu": "dicom_inventory.scu",
    "conformance": "dicom_inventory.conformance",
    "cli": "dicom_inventory.cli",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from the checkout (isolated, as a user's install would)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        cwd=out,
    )
    (built,) = out.glob("dicom_inventory-*.whl")
    return built


def test_wheel_has_one_top_level_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"dicom_inventory"}
    assert "dicom_inventory/py.typed" in names
    for sub in ("scp", "scu", "conformance", "cli"):
        assert f"dicom_inventory/{sub}/__init__.py" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "dicom-inventory = dicom_inventory.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    )


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode())


def test_wheel_metadata_names_the_license_authors_and_classifiers(wheel: Path) -> None:
    """A real package: SPDX license with its file (PEP 639), authors, classifiers, keywords."""
    meta = _metadata(wheel)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Author"] == "the dicom-inventory developers"
    classifiers = set(meta.get_all("Classifier") or [])
    assert {
        "Intended Audience :: Healthcare Industry",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
        "Programming Language :: Python :: 3.11",
        "Typing :: Typed",
    } <= classifiers
    # the license is said once, as the SPDX expression: no "License ::" classifier beside it
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert {"DICOM", "Supplement 223"} <= set(meta["Keywords"].split(","))
    with zipfile.ZipFile(wheel) as z:
        (licence,) = [n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert z.read(licence).decode().startswith("MIT License")


def test_every_package_folder_is_listed_in_pyproject() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    for folder, name in FOLDERS.items():
        assert cfg["package-dir"][name] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            assert ".".join((name, *rel)) in listed, init


def test_public_api_is_sorted_and_complete() -> None:
    names = dicom_inventory.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(dicom_inventory, name), name
    # every public name of the library modules' own __all__ is re-exported at the root,
    # except the internals listed here on purpose
    internal = {"dicom_inventory.encode": {"StudyEncoder"}, "dicom_inventory.read": {"TreeNode"}}
    import importlib

    for mod in (
        "encode",
        "enum",
        "errors",
        "model",
        "policy",
        "read",
        "rows",
        "synthetic",
        "validate",
    ):
        m = importlib.import_module(f"dicom_inventory.{mod}")
        for name in m.__all__:
            if name in internal.get(m.__name__, set()):
                continue
            assert name in names, f"{m.__name__}.{name} is not re-exported by dicom_inventory"


def test_root_package_stays_light() -> None:
    """The IOD library never imports the network, the CLI or the other subpackages."""
    code = (
        "import sys, dicom_inventory; "
        "bad = [m for m in sys.modules if m.startswith(('pynetdicom', 'dicom_inventory.scp', "
        "'dicom_inventory.scu', 'dicom_inventory.conformance', 'dicom_inventory.cli', 'rich', "
        "'click', 'dask', 'pyarrow'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_forbidden_top_level_module_is_importable_from_the_install() -> None:
    code = (
        "import importlib.util, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
        "print([n for n in ('scp', 'scu', 'inventory', 'conformance', 'cli') "
        "if importlib.util.find_spec(n) and 'site-packages' not in str(importlib.util.find_spec(n).origin)])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
