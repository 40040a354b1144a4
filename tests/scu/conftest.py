"""Fixtures of the SCU tests: the real node with DICOMweb on (from the origin server tests)."""

from tests.scp.web.conftest import served  # noqa: F401 - a real serve process with [http]
