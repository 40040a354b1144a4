"""scp/contexts.py on its own: what a configuration negotiates, and in which roles."""

from __future__ import annotations

from pathlib import Path

from dicom_inventory.scp.config import NodeConfig, Services
from dicom_inventory.scp.contexts import (
    accepted_contexts,
    relational_query_classes,
    scu_only_classes,
)
from dicom_inventory.uid import (
    INVENTORY_CREATION,
    INVENTORY_STORAGE,
    REPOSITORY_QUERY,
    STUDY_ROOT_FIND,
)


def _config(**services: object) -> NodeConfig:
    return NodeConfig(archive=Path("a"), inventories=Path("i"), services=Services(**services))  # type: ignore[arg-type]


def test_a_service_switched_off_is_not_negotiated() -> None:
    classes = {cx.abstract_syntax for cx in accepted_contexts(_config(inventory_creation=False))}
    assert INVENTORY_CREATION not in classes and REPOSITORY_QUERY in classes


def test_inventory_storage_off_leaves_only_the_scu_role_for_c_get() -> None:
    (storage,) = [
        cx
        for cx in accepted_contexts(_config(inventory_storage=False))
        if cx.abstract_syntax == INVENTORY_STORAGE
    ]
    assert (storage.node_scp, storage.node_scu) == (False, True)
    assert storage.pynetdicom_roles() == {"scu_role": False, "scp_role": True}
    assert INVENTORY_STORAGE in scu_only_classes(_config(inventory_storage=False))
    assert INVENTORY_STORAGE not in scu_only_classes(_config())


def test_the_archive_storage_classes_are_scu_only_without_its_storage_scp() -> None:
    only = scu_only_classes(_config(archive_storage=False))
    assert "1.2.840.10008.5.1.4.1.1.2" in only  # CT Image Storage, for C-GET sub-operations
    assert not scu_only_classes(_config(archive_storage=False, study_root_query_retrieve=False))


def test_relational_queries_are_offered_for_the_c_find_classes_only() -> None:
    assert set(relational_query_classes(_config())) == {REPOSITORY_QUERY, STUDY_ROOT_FIND}
