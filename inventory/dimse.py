"""What both ends do to every pynetdicom association they open, in one place.

The node (its event sender) and the client (:meth:`dicom_inventory.scu.peer.Peer.associate`)
open associations as requestors; both need :func:`keep_responses_for_caller`. This module
touches only the association object it is given and imports no network code, so the SCP and
the SCU, which may not import each other, can share it.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["keep_responses_for_caller"]


def keep_responses_for_caller(assoc: Any) -> None:
    """Leave every DIMSE response on an association to the call that waits for it.

    pynetdicom 3.0.4 has two readers of an association's queue of received DIMSE messages:
    the ``send_c_find``/``send_c_echo``/``send_n_event_report``... call that waits for its
    responses, and the association's own thread, which takes whatever is at the head of the
    queue and serves it as a request. The call pauses that thread before sending its request,
    but the pause has a race (``Association._run_reactor`` sets ``_is_paused`` just before it
    waits on the checkpoint, so a thread that has already passed the wait counts as paused):
    when the association's thread loses the processor there and the peer answers quickly
    (TCP_NODELAY, a peer on the same host), it takes the response, logs "Received unexpected
    C-FIND service message" and drops it; the caller then waits for the DIMSE timeout and
    aborts (pynetdicom issue #875). Here the association's thread takes only requests (a
    C-STORE or N-EVENT-REPORT the peer sends), atomically; a response stays at the head of the
    queue for the caller. Measured: 1 to 8 lost responses in 1,400 to 3,000 queries of a loaded
    run before, none after (``tests/scu/test_find_response_race.py``).

    Parameters
    ----------
    assoc : pynetdicom.association.Association
        An established association this process requested.
    """
    dimse = getattr(assoc, "dimse", None)
    messages = getattr(dimse, "msg_queue", None)
    if dimse is None or messages is None:
        return
    take = dimse.get_msg

    def get_msg(block: bool = False) -> Any:
        if block or threading.current_thread() is not assoc:
            return take(block)  # the waiting caller (or a handler on its own thread)
        with messages.mutex:  # the association's own loop: a request, or nothing
            if not messages.queue or _is_response(messages.queue[0][1]):
                return None, None
            item = messages.queue.popleft()
            messages.not_full.notify()
        return item

    dimse.get_msg = get_msg


def _is_response(msg: Any) -> bool:
    """A DIMSE response answers a Message ID (PS3.7 9.3, 10.3: Message ID Being Responded To)."""
    return getattr(msg, "MessageIDBeingRespondedTo", None) is not None
