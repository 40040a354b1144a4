"""dicom_inventory.scu (see docs/architecture.md)."""
