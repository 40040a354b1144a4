"""dicom_inventory.conformance (see docs/architecture.md)."""
