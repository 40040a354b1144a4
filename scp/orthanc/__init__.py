"""The node over a running Orthanc: a Repository that reads Orthanc's REST API."""

from dicom_inventory.scp.orthanc.repository import OrthancRepository, orthanc_base_url

__all__ = ["OrthancRepository", "orthanc_base_url"]
