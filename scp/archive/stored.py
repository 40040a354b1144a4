"""Read a stored object back from where the archive keeps it (plain file or container).

Used by the archive's C-GET/C-MOVE, through the one container reader of the IOD library
(:func:`dicom_inventory.containers.read_object`). Paths come from the archive's own index,
never from a request, so nothing here can be pointed outside the archive by a peer.
"""

from __future__ import annotations

from dicom_inventory.containers import read_object
from dicom_inventory.scp.repository import StoredFile

__all__ = ["read_stored"]


def read_stored(loc: StoredFile) -> bytes:
    """The Part 10 bytes of the object at `loc`.

    Raises
    ------
    OSError
        If the file or container is missing or unreadable, or the member is absent
        (:class:`~dicom_inventory.containers.ContainerError`, an ``OSError``).
    """
    return read_object(loc.path, loc.container, loc.member, loc.offset, loc.length)
