"""Generative fuzzing of every DIMSE handler of the node over real associations.

One node per module (in process, on a free port, a small synthetic archive and one stored
inventory); many mutated requests per service on a few associations (re-made when the node
aborts one). For each request the oracle (:func:`tests.fuzz.dimse.judge_answer`) wants a final
response with a status within the DIMSE timeout, no generic 0xC311/0x0110-style failure and no
traceback in the node's log; after each service's run the node must answer a C-ECHO and a good
request. DIMSE reproducers (``tests/fuzz/reproducers/dimse-<service>/``) are replayed here too.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dicom_inventory import InventoryLevel, encode_inventory, synthetic_studies
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.status import Status
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.fuzz.corpus import header
from tests.fuzz.dimse import SERVICES, RawPeer, TracebackWatch, judge_answer
from tests.fuzz.harness import Findings, fuzz_settings
from tests.fuzz.known import reason_for
from tests.fuzz.mutate import KINDS, Mutation, apply
from tests.fuzz.replay import REPRODUCERS, reproducers
from tests.scp.raw_peer import Requester, free_port

# pydicom warns about odd values while decoding a request; under pytest's "warnings are errors"
# those warnings would be raised inside the node's handler threads, which a real node never does.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

INVENTORY_UID = "2.25.4243"
mutations = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1)),
    min_size=1,
    max_size=3,
)
#: Cases per service in the default run (the long run multiplies).
PER_SERVICE = {
    "find": 25,
    "get": 15,
    "move": 10,
    "repository-query": 25,
    "studyroot-find": 15,
    "studyroot-get": 10,
    "studyroot-move": 10,
    "action": 30,
    "store": 15,
}


@pytest.fixture(scope="module")
def requester() -> Iterator[Requester]:
    r = Requester(ae_title="FUZZER").listen()
    yield r
    r.close()


@pytest.fixture(scope="module")
def node(
    tmp_path_factory: pytest.TempPathFactory, requester: Requester
) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("dimse")
    archive = base / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=3, series_per_study=1, instances_per_series=1)
        study = next(iter(a.iter_studies())).study_instance_uid
    config = load_config(
        archive=archive,
        port=0,
        ae_title="INV_SCP",
        peers={
            "REQ": {"ae_title": requester.ae_title, "host": "127.0.0.1", "port": requester.port},
            "STORE": {"ae_title": "STORESCP", "host": "127.0.0.1", "port": free_port()},
        },
        limits={
            "acse_timeout": 5,
            "dimse_timeout": 5,
            "network_timeout": 10,
            "event_backoff": 0.2,
            "event_attempts": 2,
            "max_pending_jobs": 1000,
        },
    )
    config.inventories.mkdir(parents=True, exist_ok=True)
    level = InventoryLevel.SERIES
    (config.inventories / f"{INVENTORY_UID}.dcm").write_bytes(
        encode_inventory(header(level, INVENTORY_UID), synthetic_studies(2, level=level))
    )
    n = InventoryNode(config)
    n.start()
    yield {
        "node": n,
        "uids": {"inventory": INVENTORY_UID, "transaction": "2.25.31", "study": study},
    }
    n.stop()
    shutil.rmtree(base, ignore_errors=True)


def _alive(peer: RawPeer, uids: dict[str, str]) -> None:
    """The node answers a C-ECHO and a good Inventory FIND after the fuzzing."""
    assert peer.echo() == Status.SUCCESS
    good = SERVICES["find"].seeds(uids)[0]
    answer = peer.send("find", good)
    assert answer.problem is None and answer.statuses[-1] == Status.SUCCESS, answer


@pytest.mark.parametrize("service", sorted(PER_SERVICE))
def test_mutated_requests(service: str, node: dict[str, Any], tmp_path: Path) -> None:
    uids = node["uids"]
    seeds = SERVICES[service].seeds(uids)
    peer = RawPeer(node["node"].port, timeout=10)
    findings = Findings(tmp_path / "found")
    target = f"dimse-{service}"

    @fuzz_settings(PER_SERVICE[service])
    @given(
        seed=st.integers(0, len(seeds) - 1),
        muts=mutations,
        action_type=st.sampled_from([11, 11, 12, 13, 14, 15]),
    )
    def case(seed: int, muts: list[Mutation], action_type: int) -> None:
        data = apply(seeds[seed], muts, start=0)
        # An empty data set is not sent at all by pynetdicom while the command announces one:
        # the node then waits for it until its network timeout, as it must. Not a request.
        assume(data)
        with TracebackWatch() as watch:
            answer = peer.send(service, data, action_type)
        outcome = judge_answer(target, answer, watch.lines)
        suffix = f".{action_type}.bin" if service == "action" else ".bin"
        findings.record(outcome, data, [m[0] for m in muts], suffix=suffix)

    try:
        case()
        _alive(peer, uids)
    finally:
        peer.close()
    findings.check()


def _dimse_params() -> list[Any]:
    out = []
    for path in reproducers("dimse-"):
        if path.parent.name.startswith("dimse-deflated-"):
            continue  # test_dimse_bombs.py: a node of its own, its memory measured
        rel = path.relative_to(REPRODUCERS).as_posix()
        reason = reason_for(rel)
        marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
        out.append(pytest.param(path, id=rel, marks=marks))
    return out or [pytest.param(None, marks=pytest.mark.skip(reason="no DIMSE reproducers"))]


@pytest.mark.parametrize("path", _dimse_params())
def test_dimse_reproducer(path: Path, node: dict[str, Any]) -> None:
    """``dimse-<service>/<name>.bin`` is the data set as sent (``.bin.gz``: gzipped, for the
    large ones); for ``action``, the name ends in ``.<Action Type ID>.bin``."""
    service = path.parent.name.removeprefix("dimse-")
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    name = path.name.removesuffix(".gz")
    action_type = int(name.split(".")[-2]) if service == "action" else 11
    peer = RawPeer(node["node"].port, timeout=10)
    try:
        with TracebackWatch() as watch:
            answer = peer.send(service, data, action_type)
        outcome = judge_answer(path.parent.name, answer, watch.lines)
        why = path.with_name(path.name + ".txt").read_text().strip()
        assert outcome.ok, f"{outcome.failure}\n  reproducer: {path.name}: {why}"
        _alive(peer, node["uids"])
    finally:
        peer.close()
