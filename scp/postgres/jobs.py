"""The job store on PostgreSQL: Inventory Creation transactions and their outbox (PS3.4 KK.2).

The statements are the embedded job store's
(:class:`~dicom_inventory.scp.archive.jobs.SQLJobStore`); here they run on a database
server, in the tables of schema migration 1, so a node's jobs live beside a vendor's archive
and survive the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from dicom_inventory.scp.archive.jobs import SQLJobStore
from dicom_inventory.scp.postgres.archive import _pg
from dicom_inventory.scp.postgres.schema import connect, redacted

__all__ = ["PostgresJobStore"]


class PostgresJobStore(SQLJobStore):
    """The :class:`~dicom_inventory.scp.stores.jobs.JobStore` in a PostgreSQL database.

    Parameters
    ----------
    dsn : str
        libpq connection string; the schema is created or migrated on open.

    Raises
    ------
    ArchiveError
        If the database cannot be reached or its schema is newer than this code.
    """

    _INSERTION_ORDER = "seq"

    def __init__(self, dsn: str) -> None:
        import psycopg

        super().__init__()
        self._DUPLICATE = (psycopg.errors.UniqueViolation,)
        self.dsn = dsn
        self.conn = connect(dsn)

    def __repr__(self) -> str:
        return f"PostgresJobStore({redacted(self.dsn)!r})"

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(_pg(sql), params)

    def _tx(self) -> AbstractContextManager[Any]:
        return self.conn.transaction()

    def _close(self) -> None:
        self.conn.close()
