"""[services] decides what the node negotiates (scp/contexts.py), on a real association."""

from __future__ import annotations

from pathlib import Path

import pytest
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.config import ConfigError, load_config
from dicom_inventory.scp.server import InventoryNode
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom import AE, build_role
from pynetdicom.sop_class import InventoryFind, InventoryStorage, RepositoryQuery, Verification


def test_disabled_services_and_transfer_syntaxes_are_not_negotiated(tmp_path: Path) -> None:
    Archive(tmp_path / "archive", create=True).close()
    config = load_config(
        archive=tmp_path / "archive",
        port=0,
        ae_title="INV_SCP",
        services={
            "repository_query": False,
            "inventory_storage": False,
            "transfer_syntaxes": ["ExplicitVRLittleEndian", "ImplicitVRLittleEndian"],
        },
        limits={"acse_timeout": 5, "dimse_timeout": 5},
    )
    node = InventoryNode(config)
    node.start()
    try:
        ae = AE(ae_title="PROBE")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        ae.add_requested_context(Verification, [DeflatedExplicitVRLittleEndian])  # dropped syntax
        ae.add_requested_context(Verification, [ExplicitVRLittleEndian])
        ae.add_requested_context(RepositoryQuery)  # disabled service
        ae.add_requested_context(InventoryFind)
        ae.add_requested_context(InventoryStorage)
        assoc = ae.associate("127.0.0.1", node.port, ae_title="INV_SCP")
        assert assoc.is_established
        accepted = {(c.abstract_syntax, c.transfer_syntax[0]) for c in assoc.accepted_contexts}
        rejected = {c.abstract_syntax for c in assoc.rejected_contexts}
        assert (Verification, ExplicitVRLittleEndian) in accepted
        assert (Verification, DeflatedExplicitVRLittleEndian) not in accepted
        assert RepositoryQuery in rejected
        assert InventoryFind in {a for a, _ in accepted}
        assert assoc.send_c_echo().Status == 0x0000
        # Inventory Storage SCP is off: in the default roles (the node as SCP) it is rejected
        assert InventoryStorage in rejected
        assoc.release()
        # ... and it stays for C-GET: with Role Selection the requester is its SCP (PS3.7 D.3.3.4)
        ae.requested_contexts = []
        ae.add_requested_context(InventoryStorage)
        assoc = ae.associate(
            "127.0.0.1",
            node.port,
            ae_title="INV_SCP",
            ext_neg=[build_role(InventoryStorage, scu_role=True, scp_role=True)],
        )
        assert assoc.is_established
        (cx,) = assoc.accepted_contexts
        assert (cx.as_scu, cx.as_scp) == (False, True)  # the requester only SCP
        assoc.release()
    finally:
        node.stop()


def test_unknown_transfer_syntax_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[services\] transfer_syntaxes: 'JPEGBaseline8Bit'"):
        load_config(archive=tmp_path, services={"transfer_syntaxes": ["JPEGBaseline8Bit"]})
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(archive=tmp_path, services={"dicomweb": True})
