"""What a newcomer reads when a command line is wrong (issue 21, round 2): one line each.

Usage errors are one line, ``error: ... (dicom-inventory CMD --help)``, exit 2 (docs/cli.md);
a bad peer says which part is wrong (a port outside 1-65535, an AE title longer than 16
characters, PS3.5 Table 6.2-1); ``query`` refuses keys that are not Inventory FIND keys
(PS3.4 JJ.2); level names are any case, and ``repository-query`` takes INSTANCE for IMAGE.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dicom_inventory.scu.peer import PeerError, parse_peer

from tests.scp.raw_peer import free_port


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicom_inventory", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_usage_error_is_one_line_naming_the_commands_help() -> None:
    done = _run("query", "--nosuch")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: No such option")
    assert lines[0].endswith("(dicom-inventory query --help)")


@pytest.mark.parametrize(
    ("peer", "says"),
    [
        ("DICOM_INV@127.0.0.1:99999", "port 99999 is not in 1-65535"),
        ("ABCDEFGHIJKLMNOPQRSTUVW@127.0.0.1:11112", "23 characters long, longer than 16"),
        ("A\\B@127.0.0.1:11112", "backslash"),
        ("A@127.0.0.1:x", "port 'x' is not a number"),
        ("A@127.0.0.1", "is not HOST:PORT"),
    ],
)
def test_a_bad_peer_says_which_part_is_wrong(peer: str, says: str) -> None:
    with pytest.raises(PeerError) as caught:
        parse_peer(peer)
    assert says in str(caught.value)


def test_a_bad_peer_on_the_command_line_is_one_line_with_its_reason() -> None:
    done = _run("query", "--peer", "DICOM_INV@127.0.0.1:99999")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "port 99999 is not in 1-65535" in done.stderr


def test_a_peer_outside_an_option_names_no_option() -> None:
    """A side of ``diff`` (``dicom:...``) is no --peer: its error names the side, not --peer."""
    import click
    from dicom_inventory.cli.options import to_peer

    with pytest.raises(click.UsageError) as caught:
        to_peer("127.0.0.1:11112", label="dicom:127.0.0.1:11112")
    message = caught.value.format_message()
    assert "dicom:127.0.0.1:11112" in message and "no AE title" in message
    assert "--peer" not in message and "-aec" not in message


def test_query_refuses_a_key_that_is_not_an_inventory_find_key() -> None:
    done = _run("query", "--peer", f"NOBODY@127.0.0.1:{free_port()}", "PatientID=X")
    assert done.returncode == 2, done.stderr
    assert "PatientID: not a key of the Inventory FIND identifier" in done.stderr
    assert "InventoryLevel" in done.stderr  # the allowed keys are named


def test_levels_are_any_case_and_instance_is_image_in_repository_query(tmp_path: Path) -> None:
    nobody = f"NOBODY@127.0.0.1:{free_port()}"
    done = _run("repository-query", "--peer", nobody, "--level", "instance")
    assert done.returncode == 4, done.stderr  # past the options: the peer is not there
    assert "--level" not in done.stderr
    done = _run("request", "--peer", nobody, "--level", "series", "--state", str(tmp_path))
    assert "--level" not in done.stderr and done.returncode == 4, done.stderr


def test_tls_to_a_plain_node_says_it_answered_in_plain_dicom_first() -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title="PLAIN")
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        done = _run("query", "--peer", f"PLAIN@127.0.0.1:{server.server_address[1]}", "--tls")
    finally:
        server.shutdown()
    assert done.returncode == 4, done.stderr
    assert "WRONG_VERSION_NUMBER): the peer answered in plain DICOM, not TLS" in done.stderr
