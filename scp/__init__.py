"""dicom_inventory.scp (see docs/architecture.md)."""
