"""The PS3.2 statement follows the configuration; its tables are derived here independently.

The expected SOP classes, roles and transfer syntaxes are written down in this file from the
[services] settings (not taken from scp/contexts.py), and a running node is probed with raw
pynetdicom to see that what the statement claims is what the node negotiates.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest
from dicom_inventory.conformance import (
    LIMIT_DESCRIPTIONS,
    Product,
    build_statement,
    to_docbook,
    to_docbook_bytes,
    to_html,
    to_markdown,
)
from dicom_inventory.conformance.docbook import DB
from dicom_inventory.scp.config import TLS, Limits, NodeConfig, load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scp.services import creation, qr, storage, studyroot
from lxml import etree
from pynetdicom import AE
from pynetdicom.sop_class import (
    InventoryCreation,
    InventoryFind,
    InventoryGet,
    InventoryMove,
    InventoryStorage,
    ModalityWorklistInformationFind,
    RepositoryQuery,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from tests.conformance.browser import dump_dom, screenshot
from tests.conftest import require_file, require_tool

EXPLICIT, IMPLICIT, DEFLATED = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99"

#: service flag -> the SOP classes it offers, as PS3.4 names them (written down independently)
EXPECTED = {
    "verification": [Verification],
    "inventory_creation": [InventoryCreation],
    "inventory_storage": [InventoryStorage],
    "inventory_query_retrieve": [InventoryFind, InventoryMove, InventoryGet, InventoryStorage],
    "repository_query": [RepositoryQuery],
    "study_root_query_retrieve": [
        StudyRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelMove,
        StudyRootQueryRetrieveInformationModelGet,
    ],
}


def _config(tmp_path: Path, **services: object) -> NodeConfig:
    return load_config(archive=tmp_path / "archive", port=0, ae_title="INV_SCP", services=services)


def _expected_classes(config: NodeConfig) -> set[str]:
    out: set[str] = set()
    for flag, uids in EXPECTED.items():
        if getattr(config.services, flag):
            out.update(str(u) for u in uids)
    return out


def _claimed(doc: object) -> dict[str, tuple[str, str]]:
    rows = doc.table("sop-classes").rows  # type: ignore[attr-defined]
    return {r[1]: (r[2], r[3]) for r in rows}


def _accepted_ts(doc: object) -> dict[str, set[str]]:
    rows = doc.table("accepted-contexts").rows  # type: ignore[attr-defined]
    return {r[1]: set(r[3].split(", ")) for r in rows if r[1].startswith("1.2")}


@pytest.mark.parametrize(
    "services",
    [
        {},
        {"repository_query": False},
        {"transfer_syntaxes": ["ExplicitVRLittleEndian", "ImplicitVRLittleEndian"]},
        {"inventory_storage": False, "archive_storage": False},
        {"inventory_creation": False, "study_root_query_retrieve": False},
    ],
)
def test_sop_classes_roles_and_syntaxes_follow_the_configuration(
    tmp_path: Path, services: dict[str, object]
) -> None:
    config = _config(tmp_path, **services)
    doc = build_statement(config)
    claimed = _claimed(doc)
    inventory_side = {
        u
        for u in claimed
        if u.startswith("1.2.840.10008.5.1.4.1.1.201")
        or u
        in (
            Verification,
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelMove,
            StudyRootQueryRetrieveInformationModelGet,
        )
    }
    assert inventory_side == _expected_classes(config)
    # roles: Inventory Storage is SCU for retrieval, SCP for storage
    if InventoryStorage in claimed:
        scu, scp = claimed[InventoryStorage]
        assert scu == ("Yes" if config.services.inventory_query_retrieve else "No")
        assert scp == ("Yes" if config.services.inventory_storage else "No")
    # every Inventory context offers exactly the configured transfer syntaxes
    # (the Q/R contexts never take Deflated: pynetdicom inflates their identifiers unbounded)
    wanted = set(config.services.transfer_syntaxes)
    qr_classes = {InventoryFind, InventoryMove, InventoryGet, RepositoryQuery}
    for uid, ts in _accepted_ts(doc).items():
        if uid.startswith("1.2.840.10008.5.1.4.1.1.201"):
            assert ts == (wanted - {DEFLATED} if uid in qr_classes else wanted), uid
    titles = {s.title for s in doc.walk()}
    assert (
        "SOP Specific Conformance: Repository Query SCP" in titles
    ) == config.services.repository_query
    network = {r[1] for r in doc.table("network-services").rows}
    assert ("Repository Query" in network) == config.services.repository_query


def test_the_statement_changes_with_tls_peers_limits_and_allow_list(tmp_path: Path) -> None:
    base = _config(tmp_path)
    changed = replace(
        base,
        tls=TLS(tmp_path / "node.pem", tmp_path / "node.key", tmp_path / "ca.pem"),
        accepted_calling_ae_titles=("MIGRATOR",),
        limits=replace(base.limits, max_associations=3, retention_days=7, max_records=5000),
        peers={
            "MIG": load_config(
                archive=tmp_path,
                peers={"MIG": {"ae_title": "MIGRATOR", "host": "10.0.0.9", "port": 104}},
            ).peers["MIG"]
        },
    )
    a, b = build_statement(base), build_statement(changed)
    sec_a = " ".join(p.text for s in a.walk() if s.id == "security" for p in s.blocks)  # type: ignore[union-attr]
    sec_b = " ".join(p.text for s in b.walk() if s.id == "security" for p in s.blocks)  # type: ignore[union-attr]
    assert "No TLS" in sec_a and "TLS is required" in sec_b and "client certificate" in sec_b
    assert "Only the calling AE titles MIGRATOR" in sec_b
    assert b.table("associations-acceptor").rows == [["3"]]
    params = {r[0]: r[2] for r in b.table("parameters").rows}
    assert params["limits.retention_days"] == "7" and params["limits.max_records"] == "5000"
    assert b.table("remote-ae-titles").rows == [["MIG", "MIGRATOR", "10.0.0.9", "104"]]
    assert a.table("remote-ae-titles").rows[0][0] == "(none configured)"


def test_the_dicomweb_section_is_the_servers_own_table(tmp_path: Path) -> None:
    from dicom_inventory.scp.config import HTTP
    from dicom_inventory.scp.web.resources import HTTP_STATUSES, transactions

    base = _config(tmp_path)
    assert "dicomweb" not in {s.id for s in build_statement(base).walk()}
    http = HTTP(port=8042, certfile=tmp_path / "c.pem", keyfile=tmp_path / "k.pem", store=False)
    doc = build_statement(replace(base, http=http))
    rows = doc.table("dicomweb-transactions").rows
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (t.name, t.method, t.path) for t in transactions(http)
    ]
    assert "Store" not in {r[0] for r in rows}  # [http] store = false
    assert [int(r[0]) for r in doc.table("dicomweb-statuses").rows] == [
        c for c, _, _ in HTTP_STATUSES
    ]
    security = " ".join(p.text for s in doc.walk() if s.id == "security" for p in s.blocks)  # type: ignore[union-attr]
    assert "HTTPS only" in security and "no authentication" in security


def test_every_limit_is_described_and_tabulated(tmp_path: Path) -> None:
    names = [f.name for f in fields(Limits)]
    assert set(LIMIT_DESCRIPTIONS) == set(names)
    rows = build_statement(_config(tmp_path)).table("parameters").rows
    assert [r[0] for r in rows[: len(names)]] == [f"limits.{n}" for n in names]
    assert all(r[4] for r in rows)


def _statuses_used(module: object, functions: set[str] | None = None) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (functions is None or node.name in functions):
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "Status"
                ):
                    used.add(sub.attr)
    return used


def test_status_tables_list_every_status_the_handlers_return() -> None:
    """A status returned by a handler and missing from the statement would be a lie of omission."""

    def names(table: object) -> set[str]:
        return {s.name for s, _ in table}  # type: ignore[attr-defined]

    assert _statuses_used(creation, {"handle_n_action", "_initiate", "_control"}) <= names(
        creation.N_ACTION_STATUSES
    )
    assert _statuses_used(storage, {"handle_store", "_store_patient_object"}) <= names(
        storage.C_STORE_STATUSES
    )
    assert _statuses_used(qr) - {"PENDING"} <= names(qr.INVENTORY_QR_STATUSES)
    assert _statuses_used(studyroot) <= names(studyroot.REPOSITORY_QUERY_STATUSES) | names(
        studyroot.STUDY_ROOT_STATUSES
    )


def test_docbook_is_valid_docbook_5(tmp_path: Path) -> None:
    schema = require_file("/usr/share/xml/docbook/schema/rng/5.0/docbook.rng")
    rng = etree.RelaxNG(etree.parse(schema))
    for services in ({}, {"repository_query": False, "archive_storage": False}):
        data = to_docbook_bytes(build_statement(_config(tmp_path, **services)))
        root = etree.fromstring(data)  # well-formed
        assert root.tag == f"{{{DB}}}article"
        assert rng.validate(etree.ElementTree(root)), rng.error_log
        ids = [
            e.get("{http://www.w3.org/XML/1998/namespace}id")
            for e in root.iter()
            if e.get("{http://www.w3.org/XML/1998/namespace}id")
        ]
        assert len(ids) == len(set(ids))


def test_html_and_markdown_carry_every_section_and_table(tmp_path: Path) -> None:
    doc = build_statement(_config(tmp_path), Product(name="AcmeVNA", version="9.1", vendor="Acme"))
    db = to_docbook(doc)
    page, md = to_html(db), to_markdown(db)
    tables = [t for s in doc.walk() for t in s.blocks if hasattr(t, "rows")]
    assert page.count("<table ") == len(tables) == md.count("\n**Table ")
    for s in doc.walk()[1:]:
        assert s.title in page and s.title in md
    assert "AcmeVNA 9.1" in page and "Acme" in md
    assert "0xB001" in page and "B001" in md  # the Repository Query paging behaviour
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page


def test_the_node_negotiates_what_the_statement_claims(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    config = replace(
        _config(
            tmp_path,
            repository_query=False,
            transfer_syntaxes=["ExplicitVRLittleEndian", "ImplicitVRLittleEndian"],
        ),
        limits=Limits(acse_timeout=5, dimse_timeout=5),
    )
    claimed = _claimed(build_statement(config))
    node = InventoryNode(config)
    node.start()
    try:
        ae = AE(ae_title="PROBE")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        probes = [str(u) for us in EXPECTED.values() for u in us] + [
            str(ModalityWorklistInformationFind)
        ]
        for uid in dict.fromkeys(probes):
            ae.requested_contexts = []
            ae.add_requested_context(uid, [EXPLICIT])
            assoc = ae.associate("127.0.0.1", node.port, ae_title="INV_SCP")
            ok = assoc.is_established and any(
                c.abstract_syntax == uid for c in assoc.accepted_contexts
            )
            if assoc.is_established:
                assoc.release()
            assert ok == (uid in claimed and claimed[uid][1] == "Yes" or uid == InventoryStorage), (
                uid
            )
    finally:
        node.stop()


def test_cli_writes_each_format(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text('archive = "archive"\nae_title = "VNA1"\n[services]\nrepository_query = false\n')
    for fmt in ("html", "docbook", "markdown"):
        out = tmp_path / f"cs.{fmt}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "dicom_inventory",
                "conformance-statement",
                "--config",
                str(cfg),
                "--format",
                fmt,
                "--out",
                str(out),
                "--product",
                "VNA",
                "--version",
                "2.0",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        text = out.read_text()
        assert "VNA1" in text and "VNA 2.0" in text and "Repository Query SCP" not in text
    cfg.write_text("archive = 1\n[limits]\nbogus = 2\n")
    bad = subprocess.run(
        [sys.executable, "-m", "dicom_inventory", "conformance-statement", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "bogus" in bad.stderr


def _serve(tmp_path: Path, **services: object) -> InventoryNode:
    (tmp_path / "archive").mkdir(parents=True, exist_ok=True)
    config = replace(_config(tmp_path, **services), limits=Limits(acse_timeout=5, dimse_timeout=5))
    node = InventoryNode(config)
    node.start()
    return node


def test_check_passes_against_our_node_and_names_each_difference_of_a_misconfigured_one(
    tmp_path: Path,
) -> None:
    from dicom_inventory.conformance import check_node
    from dicom_inventory.scu.peer import Peer

    good = _serve(tmp_path / "good")
    bad = _serve(
        tmp_path / "bad",
        repository_query=False,
        transfer_syntaxes=["ExplicitVRLittleEndian", "ImplicitVRLittleEndian"],
    )
    try:
        assert check_node(good.config, Peer("INV_SCP", "127.0.0.1", good.port), timeout=5) == []
        # the statement of the default configuration, checked against the misconfigured node
        found = check_node(good.config, Peer("INV_SCP", "127.0.0.1", bad.port), timeout=5)
        text = [str(d) for d in found]
        assert any(RepositoryQuery in t and "rejected" in t for t in text), text
        assert any(InventoryCreation in t and DEFLATED in t for t in text), text
        assert not any(InventoryFind in t and f"with {IMPLICIT}:" in t for t in text), text
        assert not any(EXPLICIT + ":" in t for t in text if InventoryFind in t)
        # and the other way round: a node offering more than its statement says
        extra = check_node(bad.config, Peer("INV_SCP", "127.0.0.1", good.port), timeout=5)
        extra_text = [str(d) for d in extra]
        assert any(RepositoryQuery in t and "accepted it" in t for t in extra_text), extra_text
        assert any(
            InventoryCreation in t and DEFLATED in t and "accepted it" in t for t in extra_text
        )
        # the CLI: exit 1 with the differences, exit 0 when none
        cfg = tmp_path / "node.toml"
        cfg.write_text(f'archive = "{tmp_path / "good" / "archive"}"\nae_title = "INV_SCP"\n')
        for port, code in ((good.port, 0), (bad.port, 1)):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dicom_inventory",
                    "conformance-statement",
                    "--config",
                    str(cfg),
                    "--check",
                    f"INV_SCP@127.0.0.1:{port}",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == code, done.stdout + done.stderr
        assert "DIFFERENT" in done.stdout and RepositoryQuery in done.stdout
    finally:
        good.stop()
        bad.stop()


def test_check_reports_an_unreachable_node(tmp_path: Path) -> None:
    from dicom_inventory.conformance import check_node
    from dicom_inventory.scu.peer import Peer

    from tests.scp.raw_peer import free_port

    (found,) = check_node(_config(tmp_path), Peer("X", "127.0.0.1", free_port()), timeout=2)
    assert "did not answer" in str(found) or "refused" in str(found)


def test_html_renders_in_a_real_browser(tmp_path: Path) -> None:
    """Headless Chromium loads the page and draws it: headings, tables, text (not blank)."""
    chromium = require_tool("chromium")
    page = tmp_path / "statement.html"
    page.write_text(to_html(to_docbook(build_statement(_config(tmp_path)))), encoding="utf-8")
    drawn, size = screenshot(chromium, page, tmp_path / "shot.png", (1280, 1600))
    assert drawn > 0.2 and size > 30_000, (drawn, size)
    # the DOM Chromium built has every table
    dom = dump_dom(chromium, page)
    assert dom.count("<table ") == page.read_text().count("<table ") > 20


def test_record_attributes_claimed_cover_what_production_writes(tmp_path: Path) -> None:
    from dicom_inventory import tags
    from dicom_inventory.conformance.statement import RECORD_ATTRIBUTES
    from dicom_inventory.read import InventoryReader, _walk, resolve_tree
    from dicom_inventory.scp.archive import Archive
    from dicom_inventory.scp.archive.synth import synthesize
    from dicom_inventory.scp.production import produce
    from pydicom.datadict import keyword_for_tag

    with Archive(tmp_path / "a", create=True) as a:
        synthesize(a, studies=12, series_per_study=2, instances_per_series=2)
        (root,) = produce(a, tmp_path / "inv", level="INSTANCE", retrieve_ae_title="INV_SCP")
    assert root.path is not None
    seen: dict[str, set[str]] = {k: set() for k in RECORD_ATTRIBUTES}

    def items(ds: dict, tag: int) -> list:  # type: ignore[type-arg]
        el = ds.get(tag)
        return el[1] if el is not None and el[0] == "SQ" else []

    for node in _walk(resolve_tree(root.path)):
        with InventoryReader(node.path) as r:
            for st in r.raw_studies():
                seen["Study"] |= {keyword_for_tag(t) for t in st}
                for se in items(st, tags.InventoriedSeriesSequence):
                    seen["Series"] |= {keyword_for_tag(t) for t in se}
                    for it in items(se, tags.InventoriedInstancesSequence):
                        seen["Instance"] |= {keyword_for_tag(t) for t in it}
                        for fa in items(it, tags.FileAccessSequence):
                            seen["File Access item"] |= {keyword_for_tag(t) for t in fa}
    for level, kws in seen.items():
        assert kws, level
        assert kws <= set(RECORD_ATTRIBUTES[level]), (level, kws - set(RECORD_ATTRIBUTES[level]))
    rows = build_statement(_config(tmp_path)).table("record-attributes").rows
    assert {(r[0], r[1]) for r in rows} >= {(lv, k) for lv, ks in seen.items() for k in ks}


# -------------------------------------------------------------- golden DocBook (PS3.2 split)
#: The DocBook of two configurations, generated by the statement builder as it was before it
#: was split into one function per PS3.2 section; the split must not change a byte. The
#: pynetdicom implementation class UID and version name are placeholders (they follow the
#: installed pynetdicom). After an intended change of the statement, regenerate the files with
#: ``DICOM_INVENTORY_UPDATE_GOLDEN=1 python -m pytest -q tests/conformance/test_statement.py -k golden``
#: and review their diff.
GOLDEN = Path(__file__).parent / "data"
GOLDEN_PRODUCT = Product(
    name="dicom-inventory", version="0.1.0", vendor="The dicom-inventory project", date="2025-01-01"
)


def _golden_config(name: str) -> NodeConfig:
    if name == "default":
        return load_config(archive=Path("/srv/archive"), ae_title="DICOM_INV", port=11112)
    # Inventory Storage off, TLS with client certificates, a peer, an allow-list, limits
    other = load_config(
        archive=Path("/srv/archive"),
        ae_title="VNA1",
        port=104,
        services={"inventory_storage": False},
        peers={"MIG": {"ae_title": "MIGRATOR", "host": "192.0.2.9", "port": 104}},
    )
    return replace(
        other,
        tls=TLS(Path("node.pem"), Path("node.key"), Path("ca.pem")),
        accepted_calling_ae_titles=("MIGRATOR",),
        limits=replace(other.limits, max_associations=3, retention_days=7, max_records=5000),
    )


def _golden_docbook(config: NodeConfig) -> bytes:
    import pynetdicom

    return (
        to_docbook_bytes(build_statement(config, GOLDEN_PRODUCT))
        .replace(
            str(pynetdicom.PYNETDICOM_IMPLEMENTATION_UID).encode(), b"@IMPLEMENTATION_CLASS_UID@"
        )
        .replace(
            str(pynetdicom.PYNETDICOM_IMPLEMENTATION_VERSION).encode(),
            b"@IMPLEMENTATION_VERSION_NAME@",
        )
    )


@pytest.mark.parametrize("name", ["default", "tls-no-inventory-storage"])
def test_golden_docbook_is_byte_identical(name: str) -> None:
    import difflib
    import os

    expected = GOLDEN / f"statement-{name}.xml"
    actual = _golden_docbook(_golden_config(name))
    if os.environ.get("DICOM_INVENTORY_UPDATE_GOLDEN") == "1":
        expected.write_bytes(actual)
    want = expected.read_bytes()
    diff = difflib.unified_diff(
        want.decode().splitlines(), actual.decode().splitlines(), str(expected), "built", n=1
    )
    assert actual == want, (
        f"the DocBook of the {name} configuration differs from {expected} (if intended, "
        "regenerate with DICOM_INVENTORY_UPDATE_GOLDEN=1):\n" + "\n".join(list(diff)[:60])
    )
