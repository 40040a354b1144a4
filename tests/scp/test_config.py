"""scp/config.py on its own: the TOML file, its defaults, and a clear error for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from dicom_inventory.scp.config import ConfigError, load_config

EXAMPLE = """
ae_title = "DICOM_INV"
port = 11112
archive = "data/archive"

[limits]
max_jobs = 3

[peers.MIGRATOR]
ae_title = "MIGRATOR"
host = "127.0.0.1"
port = 11113

[services]
repository_query = false
transfer_syntaxes = ["ImplicitVRLittleEndian"]
"""


def test_the_documented_example_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    f = tmp_path / "node.toml"
    f.write_text(EXAMPLE)
    config = load_config(f)
    assert config.archive == (tmp_path / "data" / "archive").resolve()
    assert config.inventories == config.archive / "inventories"
    assert config.limits.max_jobs == 3 and config.limits.max_pending_jobs == 32  # default kept
    assert config.peers["MIGRATOR"].port == 11113
    assert not config.services.repository_query
    assert config.services.transfer_syntaxes == ("1.2.840.10008.1.2",)


def test_overrides_from_the_command_line_win(tmp_path: Path) -> None:
    f = tmp_path / "node.toml"
    f.write_text(EXAMPLE)
    assert load_config(f, port=104).port == 104


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 1\n", r"'archive' \(the archive folder\) is required"),
        ('archive = "a"\n[limits]\nmax_jobz = 2\n', r"\[limits\].*max_jobz"),
        (
            'archive = "a"\n[services]\ntransfer_syntaxes = ["JPEGBaseline8Bit"]\n',
            "JPEGBaseline8Bit",
        ),
        (
            'archive = "a"\n[services]\ntransfer_syntaxes = ["ExplicitVRLittleEndian"]\n',
            "PS3.5 10.1",
        ),
        ("archive = [\n", "not valid TOML"),
    ],
)
def test_each_mistake_gets_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "node.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(f)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "absent.toml")


def test_a_peer_is_found_by_its_ae_title_as_it_arrives_on_the_wire(tmp_path: Path) -> None:
    """Move Destination and Calling AE titles come padded, sometimes as bytes (PS3.5 AE)."""
    config = load_config(
        archive=tmp_path, peers={"store": {"ae_title": "STORESCP", "host": "h", "port": 1}}
    )
    for name in ("STORESCP", b"STORESCP        ", " STORESCP "):
        peer = config.peer(name)
        assert peer is not None and peer.host == "h"
    assert config.peer("store") is None, "the table name is not an AE title"
    assert config.peer(b"OTHER") is None


def test_over_an_orthanc_the_archive_storage_scp_is_never_offered(tmp_path: Path) -> None:
    """The node reads an Orthanc and cannot store into it: no patient Storage SCP context is
    accepted as SCP, and the statement's SOP class roles (read from the same contexts) say so."""
    from dicom_inventory.conformance.statement import sop_class_roles
    from dicom_inventory.scp.contexts import accepted_contexts

    config = load_config(None, archive=tmp_path, repository="orthanc+http://127.0.0.1:8042")
    assert not config.services.archive_storage
    assert not [cx for cx in accepted_contexts(config) if cx.service == "archive_storage"]
    ct = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage: still out, by C-GET sub-operations
    assert sop_class_roles(config)[ct] == (True, False)  # (SCU, SCP)
    embedded = load_config(None, archive=tmp_path)
    assert sop_class_roles(embedded)[ct] == (True, True)
