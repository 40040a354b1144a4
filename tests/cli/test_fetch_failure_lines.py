"""``fetch`` reports its failures one line per reason, with the count and what to do.

Before (issue 21, round 2): an inventory whose records link outside the allowed folders
printed one wrapped line per record, the same reason each time (up to 50), and nothing said
which folder to allow. Now one line says how many records link under which folder, and the
``--allow-root`` that allows it; ``-v`` still lists every record.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.cli.exits import ExitCode
from dicom_inventory.cli.fetch import _failure_groups
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.production import produce
from dicom_inventory.scu.fetch import FetchResult

CLI = (sys.executable, "-m", "dicom_inventory")


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [*CLI, *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An inventory of 6 instances (in files and a ZIP) and the folder its links are under."""
    base = tmp_path_factory.mktemp("fetch")
    with Archive(base / "A", create=True) as a:
        synthesize(a, studies=1, series_per_study=3, instances_per_series=2)
        (root,) = produce(a, base / "inv", level="INSTANCE")
    return Path(root.path), base / "A" / "store" / "synth-0"


def test_records_refused_by_the_allow_list_are_one_line(
    inventory: tuple[Path, Path], tmp_path: Path
) -> None:
    root, store = inventory
    done = _run("fetch", root, "--out", tmp_path / "x", "--ignore-base-uris")
    assert done.returncode == ExitCode.FINDINGS, done.stdout + done.stderr
    assert "failed 6" in done.stdout
    lines = done.stderr.splitlines()
    assert lines == [
        f"  6 records link under {store}, outside the allowed roots: add --allow-root {store}",
        "  (-v shows every record and why it failed)",
    ], done.stderr
    # what the line says to do is enough
    done = _run("fetch", root, "--out", tmp_path / "x", "--ignore-base-uris", "--allow-root", store)
    assert done.returncode == ExitCode.OK and "failed 0" in done.stdout, done.stderr


def test_verbose_lists_every_record(inventory: tuple[Path, Path], tmp_path: Path) -> None:
    root, store = inventory
    done = _run("fetch", root, "--out", tmp_path / "x", "--ignore-base-uris", "-v")
    assert done.returncode == ExitCode.FINDINGS, done.stdout + done.stderr
    per_record = [line for line in done.stderr.splitlines() if line.startswith("  failed ")]
    assert len(per_record) == 6 and all(str(store) in line for line in per_record)
    assert f"  6 records link under {store}" in done.stderr


def _failed(uid: str, error: str) -> FetchResult:
    return FetchResult(uid, "failed", error=error)


def test_failures_are_grouped_by_reason_with_where_they_link() -> None:
    """Most frequent first; at the same count, what the allow-list refused (and how to allow it)
    first, then other reasons, each without the link it names, followed by where the links are.
    A reason of one record only is that record's own line, as before.
    """
    hint = "outside the allowed roots/hosts (use --allow-root/--allow-url)"
    failures = [
        *(_failed(f"1.{i}", f"https://pacs.example:8443/wado/{i}: {hint}") for i in range(3)),
        *(_failed(f"2.{i}", f"/data/a/{i}.dcm: HTTP 404 Not Found") for i in range(2)),
        _failed("3.1", "/data/b/9.dcm: not a readable DICOM object: truncated"),
        _failed("4.1", "length 10, the record says 12"),
        *(_failed(f"5.{i}", f"/mnt/{i}/x.dcm: {hint}") for i in range(2)),
        _failed("6.1", f"/srv/one/1.dcm: {hint}"),
        _failed("6.2", f"/opt/two/2.dcm: {hint}"),
    ]
    assert _failure_groups(failures) == [
        (
            3,
            "3 records link to https://pacs.example:8443, outside the allowed hosts: "
            "add --allow-url https://pacs.example:8443",
        ),
        (2, "2 records link under /mnt, outside the allowed roots: add --allow-root /mnt"),
        (2, "2 records: HTTP 404 Not Found (links under /data/a)"),
        (1, f"failed 6.1: /srv/one/1.dcm: {hint}"),
        (1, f"failed 6.2: /opt/two/2.dcm: {hint}"),
        (1, "failed 3.1: /data/b/9.dcm: not a readable DICOM object: truncated"),
        (1, "failed 4.1: length 10, the record says 12"),
    ]
