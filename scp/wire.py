"""What pynetdicom 3.0 cannot put on the wire by itself, added through its own event hooks.

Two messages of the Inventory services are beyond pynetdicom 3.0.4's primitives:

* **N-ACTION-RSP with Attribute Identifier List (0000,1005).** PS3.4 KK.2.2.3 requires the
  0xB010 warning to list the scope keys that are not supported for matching, but pynetdicom's
  ``N_ACTION`` primitive has no such parameter and its N-ACTION-RSP command set omits the
  element (it is lost in both directions).
* **Repository Query's final 0xB001.** PS3.4 C.6.4 ends a response set that reached its limit
  with the Warning 0xB001 *as the final response*; pynetdicom's C-FIND SCP treats every Warning
  as non-final and sends another 0x0000 after it (two final responses on the wire).

Both are solved without patching pynetdicom: the handler asks for the change through a
:class:`WireFixes` registry, and an ``evt.EVT_DIMSE_SENT`` handler (which pynetdicom calls with
the encoded-to-be message, before it is split into P-DATA) edits that one message's command
set. For 0xB001 the C-FIND handler yields a private placeholder status that is not in
pynetdicom's FIND status table; pynetdicom sends such a status as a final response and stops
(``ServiceClass._c_find_scp``: "unknown status"), and the hook rewrites it to 0xB001.

The receiving side of (0000,1005) is read the same way in our SCU and in the tests:
``evt.EVT_DIMSE_RECV`` gives the decoded command set with the element intact.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from pydicom.tag import BaseTag, Tag

__all__ = ["B001_PLACEHOLDER", "WireFixes", "quiet_placeholder_warning", "retrieve_failure"]

#: Yielded by the Repository Query C-FIND handler to end a page; sent as 0xB001 (PS3.4 C.6.4).
#: Chosen outside every range pynetdicom's Q/R FIND status table knows.
B001_PLACEHOLDER = 0xB0FE


class WireFixes:
    """Per-node registry of the command-set edits that must happen on the next sent message."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attribute_lists: dict[tuple[int, int], list[BaseTag]] = {}

    def attribute_identifier_list(self, event: Any, tags: Sequence[int]) -> None:
        """Put `tags` in (0000,1005) of the response to the request of `event`."""
        key = (id(event.assoc), int(event.request.MessageID))
        with self._lock:
            self._attribute_lists[key] = [Tag(t) for t in tags]

    def on_sent(self, event: Any) -> None:
        """``evt.EVT_DIMSE_SENT`` handler: apply the pending edit to this message."""
        msg = event.message
        name = type(msg).__name__
        cs = msg.command_set
        if name == "N_ACTION_RSP":
            key = (id(event.assoc), int(cs.MessageIDBeingRespondedTo))
            with self._lock:
                tags = self._attribute_lists.pop(key, None)
            if tags:
                cs.add_new(0x00001005, "AT", tags)
                msg._set_command_group_length()
        elif name == "C_FIND_RSP" and cs.get("Status") == B001_PLACEHOLDER:
            cs.Status = 0xB001  # same length (US): the group length stays right


class _PlaceholderFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return f"0x{B001_PLACEHOLDER:04X}" not in record.getMessage()


def quiet_placeholder_warning() -> None:
    """Silence pynetdicom's "Unknown status value" warning for the 0xB001 placeholder only."""
    logger = logging.getLogger("pynetdicom.service_class")
    if not any(isinstance(f, _PlaceholderFilter) for f in logger.filters):
        logger.addFilter(_PlaceholderFilter())


def retrieve_failure(status: int) -> Iterator[Any]:
    """What a C-MOVE / C-GET handler yields to fail a request before any sub-operation.

    pynetdicom 3.0 answers Success to a handler that announces zero sub-operations and ignores
    whatever it yields next (``QueryRetrieveServiceClass._get_scp``: "nr_suboperations < 1").
    Announcing one sub-operation and yielding the failure status makes pynetdicom send that
    status as the final response, with no C-STORE sent (PS3.4 C.4.2.1.4, C.4.3.1.4).
    """
    yield 1
    yield status, None
