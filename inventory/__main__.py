"""``python -m dicom_inventory``: the same as the ``dicom-inventory`` command."""

from dicom_inventory.cli import main

main()
