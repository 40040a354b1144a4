"""Configuration of an Inventory node: one TOML file, one typed object.

The same :class:`NodeConfig` runs ``dicom-inventory serve`` and feeds the PS3.2
conformance-statement generator, so the statement cannot drift from what the node does.

Example::

    ae_title = "DICOM_INV"
    bind_address = "127.0.0.1"
    port = 11112
    archive = "/data/archive"            # the embedded archive (index + stored files)
    # repository = "postgresql://inv@db/archive"  # the archive index in PostgreSQL instead
    # repository = "orthanc+http://orthanc:8042"    # or inventory a running Orthanc
    # orthanc_storage = "/var/lib/orthanc/db"       # its StorageDirectory: link the files
    inventories = "/data/inventories"    # where Inventory SOP Instances are kept
    accepted_calling_ae_titles = []      # empty: any calling AE title is accepted
    accept_any_called_ae_title = false   # true: answer whatever AE title a peer calls

    [limits]
    max_associations = 10
    max_pdu = 65536
    max_jobs = 2                         # inventory jobs producing at once
    max_pending_jobs = 32                # accepted, not finished; beyond: 0x0213
    retention_days = 30                  # produced inventories are kept this long
    event_attempts = 20                  # N-EVENT-REPORT delivery attempts (back-off doubles)
    acse_timeout = 10                    # TLS handshake + A-ASSOCIATE-RQ, and release
    dimse_timeout = 30
    network_timeout = 60                 # idle association; a PDU stalled half-way

    [peers.MIGRATOR]                     # known peers (event reports, C-MOVE destinations)
    ae_title = "MIGRATOR"
    host = "127.0.0.1"
    port = 11113

    [services]                           # what the node offers (all on by default)
    repository_query = true
    study_root_query_retrieve = true     # the archive's own Study Root FIND/GET/MOVE
    transfer_syntaxes = ["ExplicitVRLittleEndian", "ImplicitVRLittleEndian",
                         "DeflatedExplicitVRLittleEndian"]

    [tls]                                # optional
    certificate = "node.pem"
    private_key = "node.key"
    ca_certificates = "ca.pem"           # optional: verify client certificates against these
    require_client_certificate = true    # with ca_certificates (default true); false: verify
                                         # a certificate only if the client sends one
    minimum_version = "TLSv1.2"          # or "TLSv1.3" (BCP 195: never below TLS 1.2)

    [http]                               # optional: the DICOMweb origin server (PS3.18 12)
    port = 8042
    bind_address = "127.0.0.1"           # default: the node's
    base_path = "/dicomweb"              # the service's base URI path
    public_url = "https://pacs.example.org/dicomweb"   # what Retrieve URL names (default:
                                         # scheme://bind_address:port/base_path)
    certfile = "web.pem"                 # with keyfile: HTTPS only
    keyfile = "web.key"
    bearer_token_file = "token.txt"      # optional: every request needs this bearer token
    store = true                         # offer the Store transaction (POST /inventories)
    repository_query = true              # Repository Query over QIDO-RS (/studies ...)
    max_results = 1000                   # search results per response without a limit
"""

from __future__ import annotations

import socket
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomllib
from dicom_inventory.errors import InventoryError
from dicom_inventory.scp.tls import TLS_VERSIONS
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

__all__ = [
    "ConfigError",
    "HTTP",
    "Limits",
    "NodeConfig",
    "Peer",
    "Services",
    "TLS",
    "is_orthanc",
    "is_postgres",
    "load_config",
]


class ConfigError(InventoryError, ValueError):
    """The configuration file is missing, malformed or has invalid values."""


@dataclass(frozen=True)
class Peer:
    """A known remote node."""

    ae_title: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if not 1 <= len(self.ae_title) <= 16 or "\\" in self.ae_title:
            raise ConfigError(
                f"ae_title {self.ae_title!r}: 1 to 16 characters, no backslash (PS3.5 AE)"
            )
        if not self.host:
            raise ConfigError('host "": expected a host name or address')
        low, high = _PEER_PORTS
        if not low <= self.port <= high:
            raise ConfigError(f"port = {self.port}: expected {low}..{high}")


#: ``[limits]`` settings that are durations (or a number of days) and must be > 0.
_POSITIVE_SECONDS = (
    "acse_timeout",
    "dimse_timeout",
    "network_timeout",
    "event_backoff",
    "event_max_backoff",
    "retention_days",
    "job_lease",
)
#: ``[limits]`` counts and their least value (``max_pdu`` 0: no limit, PS3.8 D.1).
_LEAST = {
    "max_associations": 1,
    "max_pdu": 0,
    "max_jobs": 1,
    "max_pending_jobs": 1,
    "partitions": 1,
    "max_records": 1,
    "event_attempts": 1,
    "repository_query_limit": 1,
}
#: The range of a TCP port a peer listens on (0 is no port one can connect to).
_PEER_PORTS = (1, 65535)


@dataclass(frozen=True)
class Limits:
    """Resource limits and timeouts (seconds)."""

    max_associations: int = 10
    """Associations at once; beyond, A-ASSOCIATE-RJ local-limit-exceeded (PS3.8 9.3.4). As many
    connections again may wait for their A-ASSOCIATE-RQ (:mod:`~dicom_inventory.scp.guard`)."""
    max_pdu: int = 65536
    acse_timeout: float = 10.0
    """Seconds for a connection's TLS handshake and A-ASSOCIATE-RQ (the ARTIM timer, PS3.8
    9.1.5) and for an A-RELEASE-RP. A requester sends its request right after connecting: 10 s
    covers a slow WAN, while a silent or malformed peer holds its waiting place no longer."""
    dimse_timeout: float = 30.0
    """Seconds to wait for a DIMSE response (event reports, C-MOVE/C-GET sub-operations): a
    peer may validate and write a large inventory before answering its C-STORE."""
    network_timeout: float = 60.0
    """Seconds an established association may stay idle, and the longest wait for the rest of
    a PDU that stopped arriving half-way (the association is then aborted). Requests such as a
    Repository Query over a large archive may take this long before their first response."""

    def __post_init__(self) -> None:
        for name in _POSITIVE_SECONDS:
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"[limits] {name} = {value!r}: expected a number > 0")
        if self.production_pace < 0:
            raise ConfigError(f"[limits] production_pace = {self.production_pace}: expected >= 0")
        for name, low in _LEAST.items():
            value = getattr(self, name)
            if value is not None and value < low:
                raise ConfigError(f"[limits] {name} = {value}: expected at least {low}")

    max_jobs: int = 2
    """Inventory Creation jobs producing at the same time; more wait in line."""
    max_pending_jobs: int = 32
    """Jobs accepted and not finished (running, waiting, paused); beyond: 0x0213."""
    production_pace: float = 0.0
    """Seconds to rest after each study record: throttles production so that it leaves the
    archive's I/O to clinical traffic (inventories may take days, PS3.17 YYYY.4.2)."""
    partitions: int = 4
    """Key-range partitions per inventory (each one resumable after a crash)."""
    max_records: int | None = None
    """Records per Inventory SOP Instance before splitting (PS3.3 C.38.2.3); None: no cap."""
    event_attempts: int = 20
    """Attempts to deliver one N-EVENT-REPORT before giving it up."""
    event_backoff: float = 1.0
    """First delay between attempts, doubled after each failure (seconds)."""
    event_max_backoff: float = 300.0
    """Longest delay between attempts (seconds)."""
    retention_days: float = 30.0
    """How long a produced inventory is kept (its Expiration DateTime, PS3.3 C.38.3.1.3)."""
    repository_query_limit: int = 1000
    """Most records in one Repository Query response set (PS3.4 C.6.4.6.2)."""
    job_lease: float = 30.0
    """Seconds a node's claim on a running job lasts unless renewed (a heartbeat renews it
    every third of this); after a node's death, another node sharing the job store takes the
    job over once the claim lapses."""


#: Transfer syntaxes the Inventory services can be configured with (PS3.5 A.2, A.5): the
#: default Implicit VR Little Endian, Explicit VR Little Endian and its deflated form.
SUPPORTED_TRANSFER_SYNTAXES = {
    "ImplicitVRLittleEndian": str(ImplicitVRLittleEndian),
    "ExplicitVRLittleEndian": str(ExplicitVRLittleEndian),
    "DeflatedExplicitVRLittleEndian": str(DeflatedExplicitVRLittleEndian),
}


@dataclass(frozen=True)
class Services:
    """Which services the node offers; the presentation contexts follow from this alone.

    They follow in :mod:`dicom_inventory.scp.contexts`, for the server and for its conformance
    statement.
    """

    verification: bool = True
    """C-ECHO (the health check)."""
    inventory_creation: bool = True
    """Inventory Creation SCP (PS3.4 KK): N-ACTION, N-EVENT-REPORT."""
    inventory_storage: bool = True
    """Inventory Storage SCP: receive inventories from other systems (PS3.4 GG)."""
    inventory_query_retrieve: bool = True
    """Inventory FIND / MOVE / GET SCP (PS3.4 JJ)."""
    repository_query: bool = True
    """Repository Query SCP (PS3.4 C.6.4)."""
    archive_storage: bool = True
    """The embedded archive's Storage SCP for patient objects (always off over an Orthanc,
    which receives its objects itself: neither the server nor the statement offers it)."""
    study_root_query_retrieve: bool = True
    """The embedded archive's Study Root FIND / MOVE / GET SCP."""
    transfer_syntaxes: tuple[str, ...] = (
        str(ExplicitVRLittleEndian),
        str(ImplicitVRLittleEndian),
        str(DeflatedExplicitVRLittleEndian),
    )
    """For the Inventory, Verification and query contexts, in order of preference (UIDs;
    the TOML file may name them by keyword)."""

    def __post_init__(self) -> None:
        uids = []
        for ts in self.transfer_syntaxes:
            uid = SUPPORTED_TRANSFER_SYNTAXES.get(ts, ts)
            if uid not in SUPPORTED_TRANSFER_SYNTAXES.values():
                raise ConfigError(
                    f"[services] transfer_syntaxes: {ts!r} is not one of "
                    f"{', '.join(SUPPORTED_TRANSFER_SYNTAXES)} (or their UIDs)"
                )
            if uid not in uids:
                uids.append(uid)
        if str(ImplicitVRLittleEndian) not in uids:
            raise ConfigError(
                "[services] transfer_syntaxes: ImplicitVRLittleEndian is missing; it is the "
                "default transfer syntax every node must accept (PS3.5 10.1), so a peer that "
                "proposes only it could not talk to this node"
            )
        object.__setattr__(self, "transfer_syntaxes", tuple(uids))


@dataclass(frozen=True)
class TLS:
    """TLS for all associations (PS3.15 B.1 / BCP 195 profiles)."""

    certificate: Path
    private_key: Path
    ca_certificates: Path | None = None
    """CA certificates that client certificates are verified against."""
    require_client_certificate: bool | None = None
    """With `ca_certificates`: refuse a client without a valid certificate (the default);
    ``False``: verify one only if the client sends it."""
    minimum_version: str = "TLSv1.2"
    """Lowest TLS version negotiated: ``TLSv1.2`` or ``TLSv1.3`` (PS3.15 B.12: servers support
    TLS 1.2 and prefer 1.3; BCP 195 forbids older versions)."""

    def __post_init__(self) -> None:
        if self.require_client_certificate not in (None, True, False):
            raise ConfigError(
                f"[tls] require_client_certificate {self.require_client_certificate!r}: "
                "expected true or false"
            )
        if self.minimum_version not in TLS_VERSIONS:
            raise ConfigError(
                f"[tls] minimum_version {self.minimum_version!r}: expected one of "
                f"{', '.join(TLS_VERSIONS)} (BCP 195: never below TLS 1.2)"
            )
        if self.require_client_certificate and self.ca_certificates is None:
            raise ConfigError(
                "[tls] require_client_certificate needs ca_certificates (the CA certificates "
                "client certificates are verified against)"
            )

    @property
    def verify_clients(self) -> bool:
        """Whether client certificates are checked at all (`ca_certificates` given)."""
        return self.ca_certificates is not None

    @property
    def client_certificate_required(self) -> bool:
        """Whether a client without a valid certificate is refused."""
        return self.verify_clients and self.require_client_certificate is not False


@dataclass(frozen=True)
class HTTP:
    """The DICOMweb origin server of the node (PS3.18): where and how it listens."""

    port: int = 8042
    bind_address: str | None = None
    """Default: the node's ``bind_address``."""
    base_path: str = "/dicomweb"
    """The path of the service's base URI (PS3.18 8.2); the resources are under it."""
    public_url: str | None = None
    """The base URI others reach the service at (behind a proxy), named in Retrieve URL
    (0008,1190); default ``scheme://bind_address:port`` + `base_path`."""
    certfile: Path | None = None
    keyfile: Path | None = None
    """With `certfile`: the server speaks HTTPS only (TLS, BCP 195)."""
    bearer_token_file: Path | None = None
    """A file holding one token; every request must carry ``Authorization: Bearer <token>``
    (RFC 6750), else 401. The token is read once, at start."""
    store: bool = True
    """Offer the optional Store transaction (``POST /inventories``, PS3.18 12)."""
    repository_query: bool = True
    """Offer Repository Query over QIDO-RS (``/studies``, ``/series``, ``/instances``)."""
    max_results: int = 1000
    """Most results of one search response; beyond it the response says more remain."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"[http] port = {self.port}: expected 0..65535")
        if (
            not self.base_path.startswith("/")
            or self.base_path.endswith("/")
            and self.base_path != "/"
        ):
            raise ConfigError(
                f"[http] base_path {self.base_path!r}: a path starting with / and not ending "
                "with / (e.g. /dicomweb)"
            )
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError("[http] certfile and keyfile go together (HTTPS needs both)")
        if self.max_results < 1:
            raise ConfigError(f"[http] max_results {self.max_results}: expected at least 1")

    @property
    def scheme(self) -> str:
        """``https`` when a certificate is configured, else ``http``."""
        return "https" if self.certfile is not None else "http"

    @property
    def prefix(self) -> str:
        """`base_path` as a route prefix ("" for the root)."""
        return "" if self.base_path == "/" else self.base_path


def is_postgres(url: str | None) -> bool:
    """Whether `url` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def is_orthanc(url: str | None) -> bool:
    """Whether `url` names an Orthanc server (``orthanc+http://`` or ``orthanc+https://``)."""
    return bool(url) and str(url).startswith(("orthanc+http://", "orthanc+https://"))


@dataclass(frozen=True)
class NodeConfig:
    """Everything that decides how the node behaves on the network."""

    archive: Path
    inventories: Path
    ae_title: str = "DICOM_INV"
    bind_address: str = "127.0.0.1"
    port: int = 11112
    accepted_calling_ae_titles: tuple[str, ...] = ()
    accept_any_called_ae_title: bool = False
    """``False``: an association request must call the node by `ae_title`, else A-ASSOCIATE-RJ
    called-AE-title-not-recognized (PS3.8 9.3.4); ``True``: any called AE title is answered
    (for peers that cannot be configured with the node's title)."""
    peers: dict[str, Peer] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    services: Services = field(default_factory=Services)
    tls: TLS | None = None
    http: HTTP | None = None
    """The DICOMweb origin server; ``None``: the node speaks DIMSE only."""
    node_id: str | None = None
    """This node's name among several serving one job store (PostgreSQL); default
    ``AE_TITLE@HOST:PORT``. A restarted node with the same name takes its jobs back at once."""
    repository: str | None = None
    """A PostgreSQL URL (the archive index and job store live there; ``archive`` then keeps
    only files) or an Orthanc URL, ``orthanc+http://[user:password@]host:port`` (the node
    inventories that Orthanc's content). ``None``: the embedded archive, or
    ``$DICOM_INVENTORY_DSN`` if set."""
    orthanc_storage: Path | None = None
    """Orthanc's StorageDirectory as this node sees it: records then link the stored files."""

    def __post_init__(self) -> None:
        if self.repository is not None and not (
            is_postgres(self.repository) or is_orthanc(self.repository)
        ):
            raise ConfigError(
                f"repository {self.repository!r}: expected a PostgreSQL URL "
                "(postgresql://user@host/database) or an Orthanc URL (orthanc+http://host:port)"
            )
        if is_orthanc(self.repository) and self.services.archive_storage:
            # the node reads an Orthanc and cannot store into it: the contexts, the handler
            # and the conformance statement all follow from this one setting
            object.__setattr__(self, "services", replace(self.services, archive_storage=False))
        if not 1 <= len(self.ae_title) <= 16 or "\\" in self.ae_title:
            raise ConfigError(
                f"ae_title {self.ae_title!r}: 1 to 16 characters, no backslash (PS3.5 AE)"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port = {self.port}: expected 0..65535")
        if not isinstance(self.accept_any_called_ae_title, bool):
            raise ConfigError(
                f"accept_any_called_ae_title {self.accept_any_called_ae_title!r}: expected "
                "true or false"
            )

    @property
    def owner(self) -> str:
        """Return the name this node claims jobs and events under (``node_id``)."""
        return self.node_id or f"{self.ae_title}@{socket.gethostname()}:{self.port}"

    def peer(self, ae_title: str | bytes) -> Peer | None:
        """Return the configured peer with AE title `ae_title` (padding ignored), or ``None``.

        The node knows a peer's address only from ``[peers]``: where an event goes, where a
        C-MOVE sends its sub-operations.
        """
        if isinstance(ae_title, bytes):
            ae_title = ae_title.decode(errors="replace")
        name = ae_title.strip()
        return next((p for p in self.peers.values() if p.ae_title == name), None)


#: ``[tls]`` settings that name files (relative to the configuration file).
_TLS_PATHS = ("certificate", "private_key", "ca_certificates")


def _expected(hint: Any) -> tuple[tuple[type, ...], str] | None:
    """The TOML value types a field of type `hint` takes, and their name in a message.

    ``None`` for a field that holds a table (a nested setting, built on its own).
    """
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and len(args) == 1:
        return _expected(args[0])  # X | None: None is what leaving the key out gives
    if hint is bool:
        return (bool,), "true or false"
    if hint is int:
        return (int,), "an integer"
    if hint is float:
        return (int, float), "a number"
    if hint is str:
        return (str,), "a string"
    if hint is Path:
        return (str, Path), "a path (a string)"
    if typing.get_origin(hint) is tuple:
        return (list, tuple), "a list of strings"
    return None


def _type_problem(hint: Any, value: Any) -> str | None:
    """What is wrong with the type of `value` for a field of type `hint`, or ``None``."""
    expected = _expected(hint)
    if expected is None or value is None:
        return None
    kinds, name = expected
    if isinstance(value, bool) and bool not in kinds:  # TOML true is no number
        return name
    if not isinstance(value, kinds):
        return name
    if isinstance(value, list | tuple) and not all(isinstance(v, str) for v in value):
        return name
    return None


def _toml(value: Any) -> str:
    """`value` as it would be written in the TOML file (for messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value) if not isinstance(value, dict) else "a table"


def _check(cls: type, data: dict[str, Any], where: str) -> None:
    """Refuse unknown keys and values of the wrong type for `cls` (nested tables aside).

    Raises
    ------
    ConfigError
        Naming the file, the table, the key, what it holds and what was expected.
    """
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; "
            f"expected some of {', '.join(sorted(known))}"
        )
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        problem = _type_problem(hints[name], value)
        if problem is not None:
            raise ConfigError(f"{where}: {name} = {_toml(value)}: expected {problem}")


def _table(value: Any, where: str, key: str) -> dict[str, Any]:
    """The settings of TOML table `key` of file `where`; ConfigError if it is no table."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {key} = {_toml(value)}: expected a table, [{key}]")
    return dict(value)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """`cls` made of the settings `data`, each checked first (see :func:`_check`).

    Raises
    ------
    ConfigError
        An unknown or missing setting, or one of the wrong type or value.
    """
    _check(cls, data, where)
    missing = [
        f.name
        for f in fields(cls)
        if f.name not in data and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)} (required)")
    try:
        return cls(**data)
    except ConfigError as exc:  # a value out of its range: named with the file (and table)
        message = str(exc)
        named = where.split(" [")[0] if message.startswith("[") else where
        raise ConfigError(f"{named}: {message}") from exc
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def load_config(path: str | Path | None = None, **overrides: Any) -> NodeConfig:
    """Read a TOML configuration; `overrides` (e.g. from command-line flags) win.

    Relative paths in the file are relative to the file's folder.

    Raises
    ------
    ConfigError
        On a missing or malformed file, unknown settings or invalid values.
    """
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read configuration {p}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
        base = p.parent
    data.update({k: v for k, v in overrides.items() if v is not None})
    where = str(path or "configuration")
    _check(NodeConfig, {k: v for k, v in data.items() if k != "http_port"}, where)
    try:
        for key in ("archive", "inventories", "orthanc_storage"):
            if key in data:
                data[key] = (base / Path(data[key])).resolve()
        if "inventories" not in data and "archive" in data:
            data["inventories"] = Path(data["archive"]) / "inventories"
        if "archive" not in data:
            raise ConfigError(f"{where}: 'archive' (the archive folder) is required")
        data["peers"] = {
            name: v
            if isinstance(v, Peer)
            else _build(Peer, _table(v, where, f"peers.{name}"), f"{where} [peers.{name}]")
            for name, v in _table(data.get("peers", {}), where, "peers").items()
        }
        if not isinstance(data.get("limits"), Limits):
            limits = _table(data.get("limits", {}), where, "limits")
            data["limits"] = _build(Limits, limits, f"{where} [limits]")
        if not isinstance(data.get("services"), Services):
            services = _table(data.get("services", {}), where, "services")
            if "transfer_syntaxes" in services:
                services["transfer_syntaxes"] = tuple(services["transfer_syntaxes"])
            data["services"] = _build(Services, services, f"{where} [services]")
        if "tls" in data and not isinstance(data["tls"], TLS):
            tls = _table(data["tls"], where, "tls")
            _check(TLS, tls, f"{where} [tls]")  # the paths are strings before they are paths
            tls = {k: (base / Path(v)).resolve() if k in _TLS_PATHS else v for k, v in tls.items()}
            data["tls"] = _build(TLS, tls, f"{where} [tls]")
        if "http" in data and not isinstance(data["http"], HTTP):
            web = _table(data["http"], where, "http")
            _check(HTTP, web, f"{where} [http]")
            for key in ("certfile", "keyfile", "bearer_token_file"):
                if key in web:
                    web[key] = (base / Path(web[key])).resolve()
            data["http"] = _build(HTTP, web, f"{where} [http]")
        if overrides.get("http_port") is not None:
            data["http"] = replace(data.get("http") or HTTP(), port=data.pop("http_port"))
        data.pop("http_port", None)
        data["accepted_calling_ae_titles"] = tuple(data.get("accepted_calling_ae_titles", ()))
        result: NodeConfig = _build(NodeConfig, data, where)
        return result
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from exc
