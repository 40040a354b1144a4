"""The node's stores on PostgreSQL: archive (repository), job store and inventory store.

:class:`PostgresArchive` is the archive index in a database server; the job store and the
inventory store keep the node's state in the same database, so several ``serve`` processes
can share it. The schema is versioned (:mod:`~dicom_inventory.scp.postgres.schema`).
"""

from dicom_inventory.scp.postgres.archive import PostgresArchive
from dicom_inventory.scp.postgres.inventories import PostgresInventoryStore
from dicom_inventory.scp.postgres.jobs import PostgresJobStore
from dicom_inventory.scp.postgres.schema import MIGRATIONS, SCHEMA_VERSION, migrate, redacted

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "PostgresArchive",
    "PostgresInventoryStore",
    "PostgresJobStore",
    "migrate",
    "redacted",
]
