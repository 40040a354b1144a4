"""Exit codes: one table (cli/exits.py), the same code for the same failure in every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dicom_inventory.cli.exits import ExitCode, exit_code_for
from dicom_inventory.errors import InventoryError, InventoryReadError
from dicom_inventory.scp.config import ConfigError
from dicom_inventory.scu.client import PeerAborted, SCUError
from dicom_inventory.scu.crawl import CrawlError
from dicom_inventory.scu.peer import PeerError

from tests.scp.raw_peer import free_port


def test_every_scu_error_belongs_to_the_inventory_error_tree() -> None:
    for cls in (SCUError, PeerAborted, CrawlError, PeerError):
        assert issubclass(cls, InventoryError), cls


def test_error_classes_map_to_their_documented_codes() -> None:
    assert exit_code_for(InventoryReadError("x")) is ExitCode.USAGE
    assert exit_code_for(ConfigError("x")) is ExitCode.USAGE
    assert exit_code_for(PeerError("x")) is ExitCode.USAGE
    assert exit_code_for(SCUError("x")) is ExitCode.PEER
    assert exit_code_for(PeerAborted("x")) is ExitCode.PEER
    assert exit_code_for(CrawlError("x")) is ExitCode.PEER
    assert exit_code_for(ZeroDivisionError()) is ExitCode.INTERNAL
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in doc, code


def test_an_unreachable_peer_exits_4_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dicom_inventory",
            "query",
            "--peer",
            f"NOBODY@127.0.0.1:{free_port()}",
            "SOPInstanceUID",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitCode.PEER, done.stdout + done.stderr
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr
