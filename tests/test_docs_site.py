"""The documentation site builds with warnings as errors, and its generated parts are complete.

``docs/`` is a Sphinx project (``docs/conf.py``): the Markdown pages through myst-parser, the API
reference from the installed package's docstrings (autodoc + numpydoc), the CLI reference from
the click commands themselves (sphinx-click). The build here is the one CI and a contributor run
(``python -m sphinx -W --keep-going -b html docs OUT``), in a subprocess, so a broken
docstring, a dangling page link or a page left out of the table of contents fails this test
with Sphinx's own warnings as the message.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PROG = "dicom-inventory"

_MISSING = [m for m in ("sphinx", "myst_parser", "numpydoc", "sphinx_click") if not find_spec(m)]
if _MISSING:
    # CI (.ci/run sets DICOM_INVENTORY_REQUIRE_PEERS=1) builds the site: a missing tool fails there
    if os.environ.get("DICOM_INVENTORY_REQUIRE_PEERS") == "1":
        pytest.fail(f"{', '.join(_MISSING)} not installed (pip install '.[test]')", pytrace=False)
    pytest.skip(
        f"{', '.join(_MISSING)} not installed: pip install '.[test]'", allow_module_level=True
    )


def _sphinx(src: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m sphinx -W --keep-going -b html`` of `src` into `out`, as a contributor runs it."""
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", *extra]
        + [str(src), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML site built from ``docs/``; the test fails with Sphinx's warnings if any."""
    out = tmp_path_factory.mktemp("site")
    done = _sphinx(DOCS, out)
    assert done.returncode == 0, "the docs build has warnings (errors with -W):\n" + done.stderr
    return out


def _ids(page: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8")))


def _make_id(text: str) -> str:
    """An HTML id as docutils and Sphinx make it: lower case, other characters runs of ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _commands(
    group: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command below `group` with its path of names, nested groups included."""
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if command.hidden:
            continue
        yield (*path, name), command
        yield from _commands(command, (*path, name))


def test_every_page_and_the_generated_references_are_built(site: Path) -> None:
    for page in DOCS.rglob("*.md"):
        html = site / page.relative_to(DOCS).with_suffix(".html")
        assert html.is_file(), f"{page.relative_to(ROOT)} is not in the site"
    cli_ids = _ids(site / "cli-reference.html")
    assert {"dicom-inventory-crawl", "dicom-inventory-export"} <= cli_ids
    api_ids = _ids(site / "api" / "inventory.html")
    assert "dicom_inventory.InventoryReader" in api_ids
    assert any(i.startswith("dicom_inventory.InventoryReader.") for i in api_ids), "no members"


def test_the_cli_reference_has_every_command_and_option_of_the_program(site: Path) -> None:
    """Generated from the click group at build time: a new command or option needs no edit."""
    from dicom_inventory.cli.main import cli

    ids = _ids(site / "cli-reference.html")
    missing = []
    for path, command in [((), cli), *_commands(cli)]:
        section = _make_id(" ".join((PROG, *path)))
        if section not in ids:
            missing.append(section)
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            program = " ".join((PROG, *path))
            wanted = [_make_id(f"cmdoption-{program}-{o}") for o in param.opts]
            if not any(w in ids for w in wanted):
                missing.append(f"{' '.join(path)} {'/'.join(param.opts)}")
    assert not missing, f"not in the generated CLI reference: {missing}"


def test_a_warning_fails_the_build(tmp_path: Path) -> None:
    """The project's configuration with a page naming a missing one: -W makes it an error."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "index.md").write_text("# Index\n\n```{toctree}\nno-such-page\n```\n")
    done = _sphinx(src, tmp_path / "out", "-c", str(DOCS))
    assert done.returncode != 0 and "no-such-page" in done.stderr, done.stderr
