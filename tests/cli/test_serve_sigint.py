"""Ctrl-C stops ``serve`` as SIGTERM does: cleanly, with an association open (issue 21).

The node runs for real on a pseudo-terminal in its own process group; an SCU holds an
association open; SIGINT goes to the group, as Ctrl-C sends it. The node must end that
association, say ``stopped``, exit 0 with no traceback and free its port.
"""

from __future__ import annotations

import socket
from pathlib import Path

from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.cli.terminal import Terminal
from tests.scp.raw_peer import free_port, wait_listening


def test_ctrl_c_stops_the_node_cleanly(tmp_path: Path) -> None:
    port = free_port()
    t = Terminal("serve", "--archive", tmp_path / "arch", "--create", "--port", port)
    t.wait_for(t.shows("listening as"), "the node listening")
    wait_listening(port)
    ae = AE(ae_title="SIGINT_SCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="DICOM_INV")
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0
    t.ctrl_c()  # with the association still open
    code = t.finish()
    assert code == 0, t.text
    assert "Traceback" not in t.text, t.text
    assert t.text.rstrip().endswith("stopped"), t.text
    assoc.release()  # the node has ended it already: nothing to release
    assert not assoc.is_established
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
