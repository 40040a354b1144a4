"""dicom_inventory.cli (see docs/architecture.md)."""
