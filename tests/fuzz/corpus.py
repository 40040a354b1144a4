"""Seed inputs of the fuzz harness: our own encoder's output, and a synthetic archive's files.

Inventories come from :func:`dicom_inventory.synthetic_studies` (fixed seeds, every level,
both transfer syntaxes the encoder writes) and from the hypothesis record strategies of
:mod:`tests.inventory.strategies` (:func:`inventories`). Patient objects for ingest come from
:func:`dicom_inventory.scp.archive.synth.synthesize` (plain files and every container type).
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path

from dicom_inventory import (
    ContainerFileType,
    FileAccess,
    InventoryHeader,
    InventoryLevel,
    encode_inventory,
    synthetic_studies,
)
from dicom_inventory.scp.archive import Archive
from dicom_inventory.scp.archive.synth import synthesize
from hypothesis import strategies as st
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from tests.inventory.strategies import studies

__all__ = [
    "EDGE_INTEGERS",
    "archive_seeds",
    "edge_inventories",
    "header",
    "inventories",
    "inventory_seeds",
]

SYNTAXES = (str(ExplicitVRLittleEndian), str(DeflatedExplicitVRLittleEndian))


def header(level: InventoryLevel, uid: str = "2.25.4242") -> InventoryHeader:
    return InventoryHeader(
        sop_instance_uid=uid,
        inventory_level=level,
        content_date="20261124",
        content_time="101500",
        inventory_purpose="fuzz seed",
    )


@functools.cache
def inventory_seeds() -> tuple[tuple[str, bytes], ...]:
    """Named seed inventories: each level, Explicit VR LE and Deflated."""
    out = []
    for level in InventoryLevel:
        for ts in SYNTAXES:
            recs = synthetic_studies(
                3, series_per_study=2, instances_per_series=2, level=level, seed=7
            )
            tag = "deflated" if ts == SYNTAXES[1] else "explicit"
            out.append(
                (
                    f"{level.value.lower()}-{tag}",
                    encode_inventory(header(level), recs, transfer_syntax=ts),
                )
            )
    return tuple(out)


@st.composite
def inventories(draw: st.DrawFn) -> bytes:
    """An inventory the encoder writes from records drawn by the round-trip strategies."""
    level = draw(st.sampled_from(list(InventoryLevel)))
    recs = draw(st.lists(studies(level, max_series=2, max_instances=2), max_size=2))
    ts = draw(st.sampled_from(SYNTAXES))
    return encode_inventory(header(level), recs, transfer_syntax=ts)


@functools.cache
def archive_seeds() -> tuple[tuple[str, bytes], ...]:
    """Named stored files of a small synthetic archive: ``.dcm``, ``.zip``, ``.tar``,
    ``.tar.gz``, ``.dcm.gz`` and ``.blob``, one of each (names keep the suffix: ingest goes by
    it)."""
    with tempfile.TemporaryDirectory() as tmp:
        with Archive(Path(tmp) / "a", create=True) as a:
            synthesize(a, studies=6, series_per_study=1, instances_per_series=2)
        found: dict[str, bytes] = {}
        for p in sorted((Path(tmp) / "a" / "store").rglob("*")):
            if not p.is_file():
                continue
            suffix = "".join(p.suffixes[-2:]) if p.name.endswith(".gz") else p.suffix
            found.setdefault(suffix, p.read_bytes())
    return tuple(sorted(found.items()))


#: Values at the edges of the integer VRs: UV (File Offset/Length in Container, PS3.5 6.2)
#: reaches 2^64 - 1, beyond Python's comfortable int64.
EDGE_INTEGERS = (0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1)


@st.composite
def edge_inventories(draw: st.DrawFn) -> bytes:
    """An instance-level inventory whose BLOB links use offsets and lengths at the edges."""
    study = next(synthetic_studies(1, series_per_study=1, instances_per_series=2, seed=3))
    series = next(iter(study.series))
    instances = []
    for inst in series.instances:
        fa = FileAccess(
            uri="file:///archive/edge.blob",
            container_type=ContainerFileType.BLOB,
            offset=draw(st.sampled_from(EDGE_INTEGERS)),
            length=draw(st.sampled_from(EDGE_INTEGERS[1:])),
            transfer_syntax_uid=str(ExplicitVRLittleEndian),
        )
        instances.append(dataclasses.replace(inst, file_access=(fa,)))
    series = dataclasses.replace(series, instances=instances)
    study = dataclasses.replace(study, series=[series])
    ts = draw(st.sampled_from(SYNTAXES))
    return encode_inventory(header(InventoryLevel.INSTANCE), [study], transfer_syntax=ts)
