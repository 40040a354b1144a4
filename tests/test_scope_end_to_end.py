"""Any scope, end to end: SCU -> N-ACTION -> job -> stored instance -> Inventory FIND -> reader.

Scopes of every matching type (single value, wild card, range, list of UIDs, empty value,
non-ASCII names; PS3.4 C.2.2.2) are drawn from the archive's own values, sent by our SCU in the
standard form (PS3.3 C.38.2.1), produced by our node over real associations on 127.0.0.1, found
again by Inventory FIND and read back: the scope comes back equal, and the inventory lists
exactly the studies a Study Root C-FIND with the same keys finds (empty-value keys, which a
C-FIND treats as universal, are matched on the full listing instead).
"""

from __future__ import annotations

from typing import Any

import pytest
from dicom_inventory import iter_inventory, read_header
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scu.client import EventListener, inventory_find
from dicom_inventory.scu.peer import Peer
from dicom_inventory.scu.request import TransactionStore, request_inventory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.scp.finder import study_root_find
from tests.scp.raw_peer import free_port

SCU_AE = "SCOPE_SCU"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("scope-node")
    with Archive(root / "archive", create=True) as a:
        synthesize(a, studies=30, series_per_study=1, instances_per_series=1)
        # a few studies whose Accession Number the archive cleared in its database only, so
        # that empty value matching has something to find (current values, PS3.17 YYYY.7.9)
        for (uid,) in a.conn.execute("SELECT study_uid FROM studies ORDER BY study_uid LIMIT 4"):
            a.update("STUDY", uid, {"AccessionNumber": ""})
    listen = free_port()
    config = load_config(
        archive=root / "archive",
        port=0,
        ae_title="INV_SCP",
        peers={SCU_AE: {"ae_title": SCU_AE, "host": "127.0.0.1", "port": listen}},
        limits={"acse_timeout": 5, "dimse_timeout": 10, "event_backoff": 0.2},
    )
    n = InventoryNode(config)
    n.start()
    n.listen_port = listen  # type: ignore[attr-defined]
    yield n
    n.stop()


@pytest.fixture(scope="module")
def listing(node: InventoryNode) -> dict[str, dict[str, str]]:
    every = study_root_find(node.port, {})
    assert len(every) == 30
    return every


@st.composite
def scopes(draw: st.DrawFn, listing: dict[str, dict[str, str]]) -> dict[str, str]:
    studies = sorted(listing.values(), key=lambda s: s["StudyInstanceUID"])
    dates = sorted(s["StudyDate"] for s in studies)
    keys: dict[str, str] = {}
    if draw(st.booleans()):
        lo, hi = sorted(draw(st.lists(st.sampled_from(dates), min_size=2, max_size=2)))
        keys["StudyDate"] = draw(st.sampled_from([f"{lo}-{hi}", f"{lo}-", f"-{hi}"]))
    if draw(st.booleans()):
        every = [s["StudyInstanceUID"] for s in studies]
        uids = draw(st.lists(st.sampled_from(every), min_size=2, max_size=20, unique=True))
        keys["StudyInstanceUID"] = "\\".join(uids)
    if draw(st.booleans()):
        pid = draw(st.sampled_from(studies))["PatientID"]
        keys["PatientID"] = draw(st.sampled_from([pid, pid[:3] + "*", pid[:2] + "?" + pid[3:]]))
    if draw(st.booleans()):  # names in several scripts: Müller, García, ... (synthetic data)
        family = draw(st.sampled_from(studies))["PatientName"].split("^")[0]
        keys["PatientName"] = draw(st.sampled_from([family + "*", family.lower() + "^*"]))
    if draw(st.booleans()):
        keys["AccessionNumber"] = ""  # empty value matching (PS3.4 C.2.2.2.7)
    return keys


def _expected(
    node: InventoryNode, listing: dict[str, dict[str, str]], keys: dict[str, str]
) -> set[str]:
    finds = {k: v for k, v in keys.items() if v != ""}
    found = study_root_find(node.port, finds) if finds else listing
    empty = [k for k, v in keys.items() if v == ""]
    return {uid for uid, values in found.items() if all(not listing[uid][k] for k in empty)}


@pytest.mark.peer
def test_any_scope_round_trips_and_selects_what_study_root_find_selects(
    node: InventoryNode,
    listing: dict[str, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    peer = Peer("INV_SCP", "127.0.0.1", node.port)

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(keys=scopes(listing))
    def run(keys: dict[str, str]) -> None:
        out = tmp_path_factory.mktemp("scoped")
        store = TransactionStore(out / "state")
        listener = EventListener(SCU_AE, node.listen_port)  # type: ignore[attr-defined]
        listener.accept_only(store.known)
        try:
            outcome = request_inventory(
                peer,
                "STUDY",
                scope=keys,
                store=store,
                listener=listener,
                out=out / "inv",
                calling_ae=SCU_AE,
                timeout=60,
            )
        finally:
            listener.close()
            store.close()
        assert outcome.action.status == 0x0000, (keys, outcome.action)
        assert outcome.final is not None and outcome.final.event_type == 11
        assert outcome.files
        got = {s.study_instance_uid for f in outcome.files for s in iter_inventory(f)}
        assert got == _expected(node, listing, keys), keys
        # the scope as stored, and as Inventory FIND returns it: the same keys, standard form
        root = out / "inv" / f"{outcome.final.info.ReferencedSOPInstanceUID}.dcm"  # the root
        stored = read_header(root).scope
        assert (stored.keys if stored else {}) == keys
        root_uid = outcome.final.info.ReferencedSOPInstanceUID
        (found,) = inventory_find(
            peer,
            {"SOPInstanceUID": root_uid, "ScopeOfInventorySequence": []},
            calling_ae=SCU_AE,
        )
        items: Any = found.ScopeOfInventorySequence
        returned = ScopeOfInventory.from_dataset(items[0]).keys if len(items) else {}
        assert returned == keys
        if items:
            assert not {e.keyword for e in items[0]} & set(keys)  # nothing directly in the item

    run()
