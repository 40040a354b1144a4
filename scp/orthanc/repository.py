"""A Repository over a running Orthanc, through its REST API only.

Orthanc keeps its index in a SQLite file it locks while it runs, so this adapter reads
nothing but REST (``shared/peers.md``): ``/studies?expand`` pages for the study list,
``/studies/{id}/statistics`` for the counts, ``/studies/{id}/series?expand`` and
``/series/{id}/instances?expand`` for the hierarchy, ``/instances/{id}/metadata?expand`` for
the SOP Class and transfer syntax. Studies come in ascending Study Instance UID (the
protocol's key order): Orthanc lists them by its own identifiers, so the study list is read
once per repository object and sorted (a few hundred bytes a study).

File links. Where the node can read Orthanc's storage area (``orthanc_storage``), each
instance links the attachment file (``<storage>/<uu>/<id>/<uuid>``, from
``/instances/{id}/attachments/dicom/info``), but only when Orthanc stored it uncompressed: a
compressed attachment is not a Part 10 file, so such an instance has no file link. Without
the storage area, records carry no File Access; every study carries Orthanc's AE title
(``/system``) as its Retrieve AE Title and, when the DICOMweb plugin is loaded, its WADO-RS
Retrieve URL (PS3.3 C.38.1.1: the standard allows either way of reaching the object).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from dicom_inventory.scp.archive.archive import ArchiveError
from dicom_inventory.scp.stores.repository import (
    INSTANCE_KEYWORDS,
    SERIES_KEYWORDS,
    STUDY_KEYWORDS,
    InstanceEntry,
    SeriesEntry,
    StoredFile,
    StudyEntry,
    entry_value,
)
from pydicom.datadict import dictionary_VR

__all__ = ["OrthancRepository", "orthanc_base_url"]

_PAGE = 1000


def orthanc_base_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """Split ``orthanc+http://user:pass@host:port/prefix`` into its base URL and credentials.

    Raises
    ------
    ArchiveError
        If `url` is not an ``orthanc+http`` or ``orthanc+https`` URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("orthanc+http", "orthanc+https") or not parts.hostname:
        raise ArchiveError(f"repository {url!r}: expected orthanc+http://HOST:PORT")
    auth = (parts.username or "", parts.password or "") if parts.username else None
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    base = urlunsplit(
        (parts.scheme.removeprefix("orthanc+"), netloc, parts.path.rstrip("/"), "", "")
    )
    return base, auth


def _dt(orthanc_time: str | None) -> str:
    """Orthanc's ``20261203T071500`` as a DICOM DT, ``20261203071500``."""
    return (orthanc_time or "").replace("T", "")[:14]


def _attrs(tags: Mapping[str, Any], keywords: tuple[str, ...]) -> dict[str, Any]:
    """The entry attributes of Orthanc's main DICOM tags (several values joined by a backslash)."""
    out: dict[str, Any] = {}
    for kw in keywords:
        text = tags.get(kw)
        values = text.split("\\") if isinstance(text, str) else [text]
        if (value := entry_value(str(dictionary_VR(kw)), values)) is not None:
            out[kw] = value
    return out


class OrthancRepository:
    """The content of one Orthanc as a :class:`~dicom_inventory.scp.stores.repository.Repository`.

    Parameters
    ----------
    url : str
        ``orthanc+http://[user:password@]host:port`` (or ``orthanc+https``).
    storage : str or Path, optional
        Orthanc's ``StorageDirectory`` as this node sees it: instances link their files there.
    timeout : float
        Seconds for each REST call.

    Raises
    ------
    ArchiveError
        If Orthanc does not answer ``/system``.
    """

    def __init__(self, url: str, *, storage: str | Path | None = None, timeout: float = 30) -> None:
        base, auth = orthanc_base_url(url)
        self.url = url
        self.storage = Path(storage) if storage is not None else None
        self._http = httpx.Client(base_url=base, auth=auth, timeout=timeout)
        try:
            system = self._call("/system")
            plugins = self._call("/plugins")
        except ArchiveError:
            self._http.close()
            raise
        self.ae_title = str(system.get("DicomAet") or "ORTHANC")
        self._wado = f"{base}/dicom-web" if "dicom-web" in plugins else None
        self._studies: list[tuple[str, dict[str, Any]]] | None = None
        # the series of the study production is in (iter_studies needs them for Modalities in
        # Study, iter_series and iter_instances right after): one study at a time
        self._cached: tuple[str, list[dict[str, Any]]] = ("", [])  # (Orthanc study ID, series)
        self._current: tuple[str, dict[str, Any]] = ("", {})

    def __repr__(self) -> str:
        return f"OrthancRepository({str(self._http.base_url)!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> OrthancRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self, path: str, *, missing: bool = False, lookup: str | None = None, **params: Any
    ) -> Any:
        """GET `path` (POST `lookup` to it) and return the JSON answer.

        With `missing`, a 404 (gone since it was listed) gives ``None``; any other HTTP or
        connection failure is an :class:`ArchiveError` naming the call.
        """
        verb = "POST" if lookup is not None else "GET"
        try:
            if lookup is not None:
                r = self._http.post(path, content=lookup.encode())
            else:
                r = self._http.get(path, params=params or None)
            if missing and r.status_code == 404:
                return None
            r.raise_for_status()
            return r.json()
        except httpx.HTTPError as exc:
            raise ArchiveError(f"Orthanc at {self._http.base_url}: {verb} {path}: {exc}") from exc

    # -- Repository protocol ----------------------------------------------------------------
    def _study_list(self) -> list[tuple[str, dict[str, Any]]]:
        if self._studies is None:
            found: dict[str, dict[str, Any]] = {}
            since = 0
            while True:  # expanded pages: one request per thousand studies
                page = self._call("/studies", expand="", limit=_PAGE, since=since)
                found.update((s["ID"], s) for s in page)
                if len(page) < _PAGE:
                    break
                since += _PAGE
            # paging is by offset: a study deleted meanwhile shifts the pages and hides another
            # one; the plain list of identifiers shows what the pages missed
            for missed in set(self._call("/studies")) - set(found):
                study = self._call(f"/studies/{missed}", missing=True)
                if study is not None:
                    found[missed] = study
            self._studies = sorted(
                ((s["MainDicomTags"].get("StudyInstanceUID", ""), s) for s in found.values()),
                key=lambda x: (x[0], x[1]["ID"]),
            )
        return self._studies

    def study_key_bounds(self, parts: int) -> list[str]:
        """Keys cutting the studies into `parts` similar ranges."""
        keys = [k for k, _ in self._study_list()]
        n = len(keys)
        return sorted({keys[k * n // parts - 1] for k in range(1, max(parts, 1)) if k * n // parts})

    def iter_studies(
        self, *, after: str | None = None, upto: str | None = None
    ) -> Iterator[StudyEntry]:
        """Orthanc's studies with `after` < Study Instance UID <= `upto`, ascending."""
        for uid, study in self._study_list():
            if (after is not None and uid <= after) or (upto is not None and uid > upto):
                continue
            stats = self._call(f"/studies/{study['ID']}/statistics", missing=True)
            if stats is None:
                # deleted since the list was read: "Studies deleted during production might not
                # be included, at the discretion of the implementation" (PS3.17 YYYY.3.2)
                continue
            self._current = (uid, study)
            tags = {**study.get("PatientMainDicomTags", {}), **study["MainDicomTags"]}
            yield StudyEntry(
                uid,
                _attrs(tags, STUDY_KEYWORDS) | {"ModalitiesInStudy": self._modalities_in(uid)},
                _dt(study.get("LastUpdate")) or datetime.datetime.now().strftime("%Y%m%d%H%M%S"),
                int(stats.get("CountSeries", 0)),
                int(stats.get("CountInstances", 0)),
                retrieve_ae_titles=(self.ae_title,),
                retrieve_url=f"{self._wado}/studies/{uid}" if self._wado else None,
            )

    def _modalities_in(self, study_instance_uid: str) -> list[str]:
        series = self._series_of(study_instance_uid)
        return sorted({m for s in series if (m := s["MainDicomTags"].get("Modality"))})

    def _series_of(self, study_instance_uid: str) -> list[dict[str, Any]]:
        # the study iter_studies yields now (Orthanc may hold two studies with one UID, under
        # two patients: each gets its own series), else the first of that UID
        current = self._current if self._current[0] == study_instance_uid else None
        study = (
            current[1]
            if current
            else next((s for u, s in self._study_list() if u == study_instance_uid), None)
        )
        key = study["ID"] if study else ""
        if self._cached[0] != key:
            series = self._call(f"/studies/{key}/series", expand="") if study else []
            self._cached = (key, series)
        return self._cached[1]

    def iter_series(self, study_instance_uid: str) -> Iterator[SeriesEntry]:
        """The study's series in ascending Series Instance UID."""
        series = self._series_of(study_instance_uid)
        for s in sorted(series, key=lambda s: s["MainDicomTags"].get("SeriesInstanceUID", "")):
            tags = s["MainDicomTags"]
            yield SeriesEntry(tags.get("SeriesInstanceUID", ""), _attrs(tags, SERIES_KEYWORDS))

    def _series_id(self, series_instance_uid: str) -> str | None:
        for s in self._cached[1]:
            if s["MainDicomTags"].get("SeriesInstanceUID") == series_instance_uid:
                return str(s["ID"])
        # a series of another study than the current one
        found = self._call("/tools/lookup", lookup=series_instance_uid)
        return next((str(x["ID"]) for x in found if x.get("Type") == "Series"), None)

    def iter_instances(self, series_instance_uid: str) -> Iterator[InstanceEntry]:
        """The series' instances in ascending SOP Instance UID, with their stored files."""
        series_id = self._series_id(series_instance_uid)
        if series_id is None:
            return
        instances = self._call(f"/series/{series_id}/instances", expand="")
        for inst in sorted(instances, key=lambda i: i["MainDicomTags"].get("SOPInstanceUID", "")):
            meta = self._call(f"/instances/{inst['ID']}/metadata", expand="")
            yield InstanceEntry(
                inst["MainDicomTags"].get("SOPInstanceUID", ""),
                str(meta.get("SopClassUid", "")),
                _attrs(inst["MainDicomTags"], INSTANCE_KEYWORDS),
                self._files(inst["ID"], str(meta.get("TransferSyntax", ""))),
            )

    def _files(self, instance_id: str, transfer_syntax: str) -> tuple[StoredFile, ...]:
        if self.storage is None:
            return ()
        info = self._call(f"/instances/{instance_id}/attachments/dicom/info")
        uuid = str(info.get("Uuid", ""))
        if info.get("CompressionType", 0) not in (0, "none") or (
            info.get("CompressedSize") != info.get("UncompressedSize")
        ):
            return ()  # a compressed attachment is not a Part 10 file: no link
        path = self.storage / uuid[:2] / uuid[2:4] / uuid
        return (StoredFile(str(path), transfer_syntax, length=int(info["UncompressedSize"])),)
