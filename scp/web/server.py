"""Runs the origin server (uvicorn) in the node's process, next to the DIMSE server.

One process serves DIMSE and HTTP over the same stores: uvicorn runs its event loop in a
thread of the node (:class:`WebServer`), started and stopped with the node. uvicorn installs
no signal handlers outside the main thread; ``dicom-inventory serve`` keeps SIGTERM/SIGINT and
stops both servers.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from dicom_inventory.scp.config import HTTP, NodeConfig
from dicom_inventory.scp.stores.inventories import InventoryStore
from dicom_inventory.scp.stores.repository import Repository
from dicom_inventory.scp.tls import server_context
from dicom_inventory.scp.web.app import web_app

__all__ = ["WebServer", "read_token"]

LOG = logging.getLogger("dicom_inventory.scp.web")


def read_token(path: Path) -> str:
    """The bearer token in `path` (surrounding white space removed).

    Raises
    ------
    ValueError
        If the file cannot be read or holds no token.
    """
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"[http] bearer_token_file {path}: {exc.strerror}") from None
    if not token or any(c.isspace() for c in token):
        raise ValueError(f"[http] bearer_token_file {path}: expected one token, no spaces")
    return token


class WebServer:
    """The DICOMweb origin server of a node, in a background thread.

    Parameters
    ----------
    config : NodeConfig
        With an ``[http]`` section.
    inventories : InventoryStore
        The node's inventory store.
    repository : callable, optional
        Opens the node's repository, for Repository Query over DICOMweb (PS3.18 10.6).
    """

    def __init__(
        self,
        config: NodeConfig,
        inventories: InventoryStore,
        repository: Callable[[], Repository] | None = None,
    ) -> None:
        if config.http is None:
            raise ValueError("WebServer needs a configuration with an [http] section")
        self.config = config
        self.http: HTTP = config.http
        token = read_token(self.http.bearer_token_file) if self.http.bearer_token_file else None
        app = web_app(
            config,
            inventories,
            base_url=lambda: self.base_url,
            token=token,
            repository=repository,
        )
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                app,
                host=self.http.bind_address or config.bind_address,
                port=self.http.port,
                # the node's one BCP 195 TLS context (PS3.15 B.12), not uvicorn's defaults
                ssl_context_factory=self._tls_context if self.http.certfile else None,
                lifespan="off",
                log_level="warning",
                access_log=False,
                server_header=False,
                timeout_graceful_shutdown=5,
            )
        )
        self._thread: threading.Thread | None = None

    def _tls_context(self, _config: Any, _default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        """The server's TLS context: :func:`dicom_inventory.scp.tls.server_context`."""
        assert self.http.certfile is not None
        return server_context(self.http.certfile, self.http.keyfile)

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; return once the socket is bound.

        Raises
        ------
        OSError
            If the server did not start (e.g. the port is taken): uvicorn logs why.
        """
        self._thread = threading.Thread(
            target=self._uvicorn.run, name="dicom-inventory-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(
                    f"the DICOMweb server did not start on "
                    f"{self.http.bind_address or self.config.bind_address}:{self.http.port}"
                )
            time.sleep(0.01)
        LOG.info("DICOMweb origin server at %s", self.base_url)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        for server in self._uvicorn.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.http.port

    @property
    def base_url(self) -> str:
        """The service's base URI: ``[http] public_url``, else where it listens."""
        if self.http.public_url:
            return self.http.public_url.rstrip("/")
        host = self.http.bind_address or self.config.bind_address
        if ":" in host:
            host = f"[{host}]"
        return f"{self.http.scheme}://{host}:{self.port}{self.http.prefix}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting requests, let running ones finish (up to 5 s), and join."""
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
