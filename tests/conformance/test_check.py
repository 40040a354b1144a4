"""``conformance-statement --check`` against real nodes: roles, rejected contexts, and the
configuration rules the statement depends on (PS3.2 A.4.2.1.4, PS3.7 D.3.3.4, PS3.5 10.1)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from dicom_inventory.scp.config import Limits, load_config
from dicom_inventory.scp.server import InventoryNode
from pynetdicom.sop_class import InventoryStorage


def _serve(folder: Path, **services: object) -> InventoryNode:
    (folder / "archive").mkdir(parents=True, exist_ok=True)
    config = load_config(archive=folder / "archive", port=0, ae_title="INV_SCP", services=services)
    node = InventoryNode(replace(config, limits=Limits(acse_timeout=5, dimse_timeout=5)))
    node.start()
    return node


def test_check_names_role_differences_both_ways(tmp_path: Path) -> None:
    """Inventory Storage SCP off leaves the node only its SCU (C-GET sub-operations): such a
    node must reject a default-role proposal (PS3.7 D.3.3.4), and --check holds roles to the
    statement in both directions."""
    from dicom_inventory.conformance import check_node
    from dicom_inventory.scu.peer import Peer

    storage_off = _serve(tmp_path / "off", inventory_storage=False)
    storage_on = _serve(tmp_path / "on")
    try:
        assert (
            check_node(
                storage_off.config, Peer("INV_SCP", "127.0.0.1", storage_off.port), timeout=5
            )
            == []
        )
        # the statement says SCP of Inventory Storage; the node is not
        text = [
            str(d)
            for d in check_node(
                storage_on.config, Peer("INV_SCP", "127.0.0.1", storage_off.port), timeout=5
            )
        ]
        assert any(
            InventoryStorage in t and "rejected it" in t and "role selection" not in t for t in text
        ), text
        assert any(InventoryStorage in t and "SCP role" in t and "refused it" in t for t in text), (
            text
        )
        # the statement says only SCU; the node accepts the SCP role, by default and on request
        text = [
            str(d)
            for d in check_node(
                storage_off.config, Peer("INV_SCP", "127.0.0.1", storage_on.port), timeout=5
            )
        ]
        assert any(
            InventoryStorage in t and "default roles" in t and "accepted it" in t for t in text
        ), text
        assert any(
            InventoryStorage in t and "SCP role" in t and "not offered" in t for t in text
        ), text
    finally:
        storage_off.stop()
        storage_on.stop()


def test_check_counts_each_context_of_an_association_that_rejects_them_all(tmp_path: Path) -> None:
    """A node that answers but rejects every proposed context has answered: each context is
    a rejection, not "no answer" (and nothing found before is dropped)."""
    from dicom_inventory.conformance.check import UNCLAIMED_SAMPLES, _probe_contexts
    from dicom_inventory.scu.peer import Peer

    node = _serve(tmp_path / "n")
    try:
        seen = _probe_contexts(
            Peer("INV_SCP", "127.0.0.1", node.port), "CS_CHECK", 5, list(UNCLAIMED_SAMPLES), False
        )
    finally:
        node.stop()
    assert seen.failures == [] and seen.accepted == {}
    assert seen.rejected == set(UNCLAIMED_SAMPLES)


def test_a_configuration_without_implicit_vr_little_endian_is_refused() -> None:
    from dicom_inventory.scp.config import ConfigError, Services

    with pytest.raises(ConfigError, match=r"ImplicitVRLittleEndian is missing.*PS3.5 10.1"):
        Services(transfer_syntaxes=("ExplicitVRLittleEndian",))


def test_check_compares_the_limits_the_statement_claims(tmp_path: Path) -> None:
    """Maximum PDU, records per Repository Query response set and associations at once, as
    probed on a running node, against a statement that claims other values."""
    from dicom_inventory.conformance import check_node
    from dicom_inventory.scp.archive import Archive
    from dicom_inventory.scp.archive.synth import synthesize
    from dicom_inventory.scu.peer import Peer

    folder = tmp_path / "n"
    (folder / "archive").mkdir(parents=True)
    with Archive(folder / "archive", create=True) as a:
        synthesize(a, studies=5, series_per_study=1, instances_per_series=1)
    node = _serve(folder)  # defaults: 10 associations, PDU 65536, 1000 records per set
    peer = Peer("INV_SCP", "127.0.0.1", node.port)
    try:
        assert check_node(node.config, peer, timeout=5) == []
        claimed = replace(
            node.config,
            limits=replace(
                node.config.limits, max_associations=3, max_pdu=32768, repository_query_limit=2
            ),
        )
        text = [str(d) for d in check_node(claimed, peer, timeout=5)]
    finally:
        node.stop()
    assert any("maximum PDU" in t and "32768" in t and "65536" in t for t in text), text
    assert any(
        "Repository Query response set" in t and "at most 2" in t and "sent 3" in t for t in text
    ), text
    assert any("associations at the same time" in t and "accepted number 4" in t for t in text), (
        text
    )
