"""Small but real patient objects (CT/MR images with pixel data) for synthetic archives.

Used by ``archive synth`` (issue 5) and by the tests: every object is a valid PS3.10 file that
pydicom, DCMTK and Orthanc accept.
"""

from __future__ import annotations

from io import BytesIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

__all__ = ["make_image", "to_part10"]

_SOP_CLASSES = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4"}


def make_image(
    *,
    study_uid: str,
    series_uid: str,
    sop_uid: str | None = None,
    patient_id: str = "PID0001",
    patient_name: str = "Doe^Jane",
    modality: str = "CT",
    study_date: str = "20240102",
    instance_number: int = 1,
    series_number: int = 1,
    accession_number: str = "ACC0001",
    size: int = 8,
) -> Dataset:
    """A `size` x `size` 16-bit monochrome image with the usual patient/study/series data."""
    ds = Dataset()
    ds.SOPClassUID = _SOP_CLASSES.get(modality, _SOP_CLASSES["CT"])
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientName, ds.PatientID = patient_name, patient_id
    ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = study_date, "101500", accession_number
    ds.StudyID, ds.StudyDescription, ds.ReferringPhysicianName = "1", "Synthetic", ""
    ds.Modality, ds.SeriesNumber, ds.SeriesDescription = (
        modality,
        series_number,
        f"{modality} series",
    )
    ds.InstanceNumber = instance_number
    ds.ContentDate, ds.ContentTime = study_date, "101500"
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = bytes((i * 7 + instance_number) % 256 for i in range(size * size * 2))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = (
        ds.SOPClassUID,
        ds.SOPInstanceUID,
    )
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def to_part10(ds: Dataset) -> bytes:
    """The data set as PS3.10 file bytes (preamble, ``DICM``, File Meta Information)."""
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
