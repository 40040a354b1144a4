"""The inventory store on PostgreSQL: files in a (shared) folder, what is visible in a table.

The files are laid out as in the embedded store
(:class:`~dicom_inventory.scp.archive.inventories.FolderInventoryStore`, which this class
extends); what Inventory Q/R lists is the ``inventories`` table, so

* publishing a produced tree is one database transaction: every node sharing the database
  sees all of it or none of it, whatever the shared file system's rename semantics;
* listing reads the table, not a walk of a folder that may hold millions of files.

A publish interrupted between the rename and the commit is finished by the next call
(:meth:`PostgresInventoryStore.publish` is idempotent), so no job is produced twice.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

from dicom_inventory.errors import InventoryReadError
from dicom_inventory.read import read_header
from dicom_inventory.scp.archive.inventories import FolderInventoryStore
from dicom_inventory.scp.postgres.schema import connect, redacted
from dicom_inventory.scp.stores.inventories import StoredInventory

__all__ = ["PostgresInventoryStore"]

LOG = logging.getLogger("dicom_inventory.scp")


class PostgresInventoryStore(FolderInventoryStore):
    """An :class:`~dicom_inventory.scp.stores.inventories.InventoryStore` indexed in PostgreSQL.

    Parameters
    ----------
    dsn : str
        libpq connection string; the schema is created or migrated on open.
    folder : str or Path
        Where the files are (shared storage when several nodes share the database).

    Raises
    ------
    ArchiveError
        If the database cannot be reached or its schema is newer than this code.
    """

    def __init__(self, dsn: str, folder: str | Path) -> None:

        super().__init__(folder)
        self.dsn = dsn
        self.conn = connect(dsn)
        # one connection for the node's threads: a transaction must never take in another
        # thread's statements (nor nest in another thread's transaction)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"PostgresInventoryStore({redacted(self.dsn)!r}, {str(self.folder)!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()

    def keep(self, source: Path, sop_instance_uid: str) -> StoredInventory:
        """Move a received file in and record it (replacing one of the same UID)."""
        kept = super().keep(source, sop_instance_uid)
        with self._lock:
            self._record_kept(sop_instance_uid, kept.path)
        return kept

    def _record_kept(self, sop_instance_uid: str, path: Path) -> None:
        self.conn.execute(
            "INSERT INTO inventories (sop_instance_uid, transaction_uid, path) VALUES (%s, NULL, %s)"
            " ON CONFLICT (sop_instance_uid) DO UPDATE SET path = EXCLUDED.path,"
            " transaction_uid = NULL, kept_at = now()",
            (sop_instance_uid, str(path)),
        )

    def _listed(self) -> list[Path]:
        """The recorded files (kept or published), by path: the table, not a folder walk."""
        with self._lock:
            rows = self.conn.execute("SELECT path FROM inventories ORDER BY path").fetchall()
        return [Path(path) for (path,) in rows]

    def publish(self, transaction_uid: str) -> Path:
        """Rename the staged tree into place and record all its files in one transaction."""
        final = self.folder / transaction_uid
        if self._staged(transaction_uid).is_dir():
            final = super().publish(transaction_uid)
        rows = []
        for path in sorted(p for p in final.rglob("*.dcm") if p.is_file()):
            try:
                rows.append((read_header(path).sop_instance_uid, transaction_uid, str(path)))
            except (InventoryReadError, OSError) as exc:  # never listed, as in a folder store
                LOG.warning("not publishing unreadable inventory %s: %s", path, exc)
        with self._lock, self.conn.transaction():
            for row in rows:
                self.conn.execute(
                    "INSERT INTO inventories (sop_instance_uid, transaction_uid, path)"
                    " VALUES (%s, %s, %s) ON CONFLICT (sop_instance_uid) DO UPDATE"
                    " SET path = EXCLUDED.path, transaction_uid = EXCLUDED.transaction_uid",
                    row,
                )
        return final

    def published(self, transaction_uid: str) -> Path | None:
        """Return the tree's folder if its files are recorded (published)."""
        with self._lock:
            row = self.conn.execute(
                "SELECT 1 FROM inventories WHERE transaction_uid = %s LIMIT 1", (transaction_uid,)
            ).fetchone()
        if row is None:
            final = self.folder / transaction_uid
            if final.is_dir() and not self._staged(transaction_uid).exists():
                # renamed, not yet recorded (interrupted): finish publishing
                return self.publish(transaction_uid)
            return None
        return self.folder / transaction_uid

    def remove(self, transaction_uid: str) -> bool:
        """Forget the tree in one transaction, then delete its files."""
        with self._lock, self.conn.transaction():
            gone = self.conn.execute(
                "DELETE FROM inventories WHERE transaction_uid = %s", (transaction_uid,)
            ).rowcount
        final = self.folder / transaction_uid
        if final.is_dir():
            shutil.rmtree(final, ignore_errors=True)
        return bool(gone)
