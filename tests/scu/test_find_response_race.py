"""No DIMSE response is lost on an association this client keeps for many queries.

pynetdicom 3.0.4 lets two threads read an association's queue of received DIMSE messages:
the ``send_c_find`` call that waits for its responses, and the association's own thread,
which serves whatever it takes as a request. ``send_c_find`` pauses that thread before it
sends, but the pause races (``Association._run_reactor`` says "paused" just before it waits):
if the association's thread is held up there while a fast peer answers, it takes the
response, logs "Received unexpected C-FIND service message" and drops it, and the query waits
for the DIMSE timeout. A crawl sends hundreds of small queries on one association, with
TCP_NODELAY, to a node on the same host: the reviewer lost 2 crawls in 26 that way.

Here many associations, each opened through ``Peer.associate`` as every command opens them,
query a real node in the same process (the node's own threads, its guard and replay socket
included, compete for the interpreter and so widen the race) for a few seconds; before the fix
1 to 8 of the 1,400 to 3,000 queries of a run were lost (10 runs of 10, each loss with
pynetdicom's warning), after it none (12 runs).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from dicom_inventory.scp.config import load_config
from dicom_inventory.scp.server import InventoryNode
from dicom_inventory.scu.crawl import CrawlError, StudyFinder
from dicom_inventory.scu.peer import Peer
from pynetdicom import AE
from pynetdicom.sop_class import Verification

#: Associations querying at once, and for how long (seconds): enough threads that the
#: association's own thread is often held up between its checkpoint and its queue.
ASSOCIATIONS = 16
SECONDS = 8.0
#: The interpreter's default thread switch interval, set in case another test changed it.
SWITCH_INTERVAL = 0.005


def _node(tmp_path: Path) -> InventoryNode:
    archive = tmp_path / "archive"
    with Archive(archive, create=True) as a:
        synthesize(a, studies=2, series_per_study=1, instances_per_series=1)
    config = load_config(
        archive=archive,
        port=0,
        ae_title="INV_SCP",
        limits={"max_associations": 2 * ASSOCIATIONS},
    )
    node = InventoryNode(config)
    node.start()
    return node


def test_no_response_is_lost_on_a_kept_association(tmp_path: Path) -> None:
    node = _node(tmp_path)
    peer = Peer("INV_SCP", "127.0.0.1", node.port)
    lost: list[str] = []
    sent: list[int] = []

    def guarded(work: Callable[[int], None], i: int) -> None:
        try:
            work(i)
        except Exception as exc:  # said in the assertion, not as a thread's traceback
            lost.append(f"association {i}: {type(exc).__name__}: {exc}")

    def echoes(i: int) -> None:
        ae = AE(ae_title=f"RACE{i:02d}")
        ae.add_requested_context(Verification)
        ae.acse_timeout = ae.network_timeout = 20  # 16 associations opened at once, 2 cores
        ae.dimse_timeout = 2  # a lost response costs this long
        assoc = peer.associate(ae)
        n = 0
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            if not assoc.is_established:  # a lost response aborts the association
                assoc = peer.associate(ae)
            n += 1
            status = assoc.send_c_echo()
            if not status or status.Status != 0:
                lost.append(f"association {i}: C-ECHO {n} has no response")
        assoc.release()
        sent.append(n)

    def finds(i: int) -> None:  # the crawl's own finder, as `crawl` uses it
        finder = StudyFinder(peer, f"CRAWL{i:02d}", None, 5)
        n = 0
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            n += 1
            try:
                finder.find("STUDY", {"PatientID": f"P{n % 10}*"}, ("StudyInstanceUID",), "q")
            except CrawlError as exc:
                lost.append(f"finder {i}: C-FIND {n}: {exc}")
                finder.abort()
                finder.assoc = None
        finder.close()
        sent.append(n)

    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        threads = [
            threading.Thread(target=guarded, args=(finds if i % 4 == 0 else echoes, i))
            for i in range(ASSOCIATIONS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(before)
        node.stop()
    assert not lost, f"{len(lost)} of {sum(sent)} queries failed: {lost[:3]}"
    assert len(sent) == ASSOCIATIONS
