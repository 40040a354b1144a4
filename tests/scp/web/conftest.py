"""Fixtures of the origin server tests; the node itself is :mod:`tests.web_node`'s ``served``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.web_node import (  # noqa: F401 - the helpers the tests of this folder import
    Served,
    dimse_dataset,
    node_config,
    serve,
    stop,
    wait_for,
)


@pytest.fixture()
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base, timeout=30) as c:
        yield c
