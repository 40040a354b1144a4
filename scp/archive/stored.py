"""Read a stored object back from where the archive keeps it (plain file or container).

Used by the archive's C-GET/C-MOVE. Paths come from the archive's own index, never from a
request, so nothing here can be pointed outside the archive by a peer.
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile

from dicom_inventory.enum import ContainerFileType
from dicom_inventory.scp.repository import StoredFile

__all__ = ["read_stored"]


def read_stored(loc: StoredFile) -> bytes:
    """The Part 10 bytes of the object at `loc`.

    Raises
    ------
    OSError
        If the file or container is missing or unreadable, or the member is absent.
    """
    kind = loc.container
    if kind is None or kind is ContainerFileType.BLOB:
        with open(loc.path, "rb") as f:
            f.seek(loc.offset or 0)
            return f.read() if loc.length is None else f.read(loc.length)
    if kind is ContainerFileType.GZIP:
        with gzip.open(loc.path, "rb") as g:
            return g.read()
    if kind is ContainerFileType.ZIP:
        with zipfile.ZipFile(loc.path) as z:
            try:
                return z.read(loc.member or "")
            except KeyError as exc:
                raise OSError(f"{loc.path}: no member {loc.member!r}") from exc
    with (
        tarfile.open(loc.path, "r:gz")
        if kind is ContainerFileType.TARGZIP
        else tarfile.open(loc.path, "r:")
    ) as t:
        try:
            member = t.extractfile(loc.member or "")
        except KeyError as exc:
            raise OSError(f"{loc.path}: no member {loc.member!r}") from exc
        if member is None:
            raise OSError(f"{loc.path}: {loc.member!r} is not a file")
        data: bytes = member.read()
        return data
