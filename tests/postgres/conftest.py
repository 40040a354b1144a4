"""PostgreSQL fixtures: one server per test session, one empty database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dicom_inventory.scp.postgres.throwaway import PostgresServer, find_bin

from tests.conftest import _INSTALL, missing_peer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on a unix socket in a temporary folder, stopped by PID at the end."""
    bin_dir = find_bin()
    if bin_dir is None:
        missing_peer(f"PostgreSQL server not installed ({_INSTALL['postgresql']})")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing_peer("psycopg is not installed (pip install 'psycopg[binary]')")
    assert bin_dir is not None
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except Exception as exc:
        server.stop()
        missing_peer(f"PostgreSQL did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_dsn(pg_server: PostgresServer) -> str:
    """The connection string of a new, empty database."""
    return pg_server.new_database()
