"""Study Root C-FIND peers that misbehave the ways a real PACS does, on real sockets.

Written with raw pynetdicom (not our SCP) so the crawl meets a foreign peer:

* :func:`rejecting_scp`: rejects every calling AE title but one (A-ASSOCIATE-RJ, rejected
  permanent, service user, calling AE title not recognised: PS3.8 7.1.1.9);
* :func:`mute_listener`: a TCP socket that accepts and never sends a byte;
* :func:`silent_find_scp`: accepts the association, then never answers a C-FIND;
* :func:`listing_scp`: answers Study Root C-FIND from a small fixed archive, at every level;
* :func:`failing_scp`: answers every C-FIND with a failure status.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from tests.scp.raw_peer import free_port

FIND = StudyRootQueryRetrieveInformationModelFind
#: A CT image's SOP Class (the instances :func:`listing_scp` lists).
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
#: The one calling AE title :func:`rejecting_scp` accepts.
KNOWN_CALLER = "SOMEONE_ELSE"
#: How long a silent peer's handler may sleep before the fixture ends it.
SLEEP_LIMIT = 120.0


def _scp(
    handlers: list[Any], tls: ssl.SSLContext | None = None, **ae_settings: Any
) -> tuple[Any, int]:
    ae = AE(ae_title="PACS")
    ae.add_supported_context(FIND)
    for name, value in ae_settings.items():
        setattr(ae, name, value)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=handlers, ssl_context=tls
    )
    return server, port


@contextmanager
def rejecting_scp() -> Iterator[int]:
    """:func:`listing_scp` knowing only :data:`KNOWN_CALLER` as calling AE; yields its port."""
    with listing_scp(known_callers=[KNOWN_CALLER]) as port:
        yield port


@contextmanager
def mute_listener() -> Iterator[tuple[int, threading.Event]]:
    """A TCP listener that accepts connections and never answers.

    Yields its port and an event set when a connection has been accepted (the client is then
    waiting for its association to be answered).
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    accepted: list[socket.socket] = []
    stop, connected = threading.Event(), threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue
            connected.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1]), connected
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        sock.close()


@contextmanager
def silent_find_scp() -> Iterator[tuple[int, threading.Event]]:
    """An SCP that accepts the association and never answers C-FIND.

    Yields its port and an event set when the first C-FIND has arrived (the peer is then
    holding the query: a test may interrupt the client).
    """
    release, asked = threading.Event(), threading.Event()

    def handle(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        asked.set()
        release.wait(SLEEP_LIMIT)
        yield 0x0000, None

    server, port = _scp([(evt.EVT_C_FIND, handle)])
    try:
        yield port, asked
    finally:
        release.set()
        server.shutdown()


@contextmanager
def failing_scp(status: int) -> Iterator[int]:
    """An SCP that answers every C-FIND with the final `status` and no match; yields its port."""

    def handle(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        yield status, None

    server, port = _scp([(evt.EVT_C_FIND, handle)])
    try:
        yield port
    finally:
        server.shutdown()


def _study(n: int) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = f"2.25.7100.{n}"
    ds.PatientID = f"P{n:03d}"
    ds.PatientName = f"Doe^{n}"
    ds.StudyDate = f"2020010{n + 1}"
    ds.StudyTime = "120000"
    return ds


#: The archive :func:`listing_scp` answers from: study -> series -> instances.
ARCHIVE = {
    f"2.25.7100.{n}": {f"2.25.7100.{n}.1": [f"2.25.7100.{n}.1.{k}" for k in range(2)]}
    for n in range(3)
}


@contextmanager
def listing_scp(
    known_callers: list[str] | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[int]:
    """A Study Root FIND SCP listing :data:`ARCHIVE` (every study query matches all studies).

    With `known_callers`, it rejects any other calling AE title; with `tls` (a server
    context), it speaks TLS only.
    """

    def handle(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        q = event.identifier
        level = q.QueryRetrieveLevel
        for n, (study, series) in enumerate(ARCHIVE.items()):
            if level == "STUDY":
                yield 0xFF00, _with_level(_study(n), level)
                continue
            if q.StudyInstanceUID != study:
                continue
            for se, sops in series.items():
                if level == "SERIES":
                    ds = Dataset()
                    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = study, se, "CT"
                    yield 0xFF00, _with_level(ds, level)
                elif level == "IMAGE" and q.SeriesInstanceUID == se:
                    for k, sop in enumerate(sops):
                        ds = Dataset()
                        ds.SOPInstanceUID, ds.SOPClassUID, ds.InstanceNumber = sop, CT_IMAGE, k + 1
                        yield 0xFF00, _with_level(ds, level)
        yield 0x0000, None

    settings = {"require_calling_aet": known_callers} if known_callers else {}
    server, port = _scp([(evt.EVT_C_FIND, handle)], tls, **settings)
    try:
        yield port
    finally:
        server.shutdown()


def _with_level(ds: Dataset, level: str) -> Dataset:
    ds.QueryRetrieveLevel = level
    return ds
