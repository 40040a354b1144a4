"""dicom-inventory: the DICOM Inventory IOD library (PS3.3 A.88, C.38).

This root package holds the IOD library only (model, encoder, reader, validator): no
networking and no archive. The SCP, SCU, conformance-statement generator and the command line
live in the subpackages ``dicom_inventory.scp``, ``.scu``, ``.conformance`` and ``.cli``.
"""

from dicom_inventory.encode import (
    InventoryWriter,
    StudyEncoder,
    WrittenInstance,
    encode_inventory,
    file_access_attributes,
    to_dataset,
    write_inventory,
)
from dicom_inventory.enum import (
    ContainerFileType,
    ExtendedMatchingMechanism,
    InstanceAvailability,
    InventoryCompletionStatus,
    InventoryLevel,
    ReasonForAttributeModification,
    RemovedFromOperationalUse,
)
from dicom_inventory.errors import (
    InventoryEncodeError,
    InventoryError,
    InventoryReadError,
    NotDicomError,
)
from dicom_inventory.model import (
    AccessEndPoints,
    AttributeValue,
    Code,
    Equipment,
    FileAccess,
    FileSetAccess,
    InstanceRecord,
    InventoryHeader,
    InventoryReference,
    OriginalAttributes,
    SeriesRecord,
    StudyRecord,
)
from dicom_inventory.policy import ReadPolicy
from dicom_inventory.read import (
    InventoryReader,
    iter_inventory,
    read_dataset,
    read_header,
    resolve_tree,
    tree_paths,
)
from dicom_inventory.rows import (
    CHANGE_FIELDS,
    COLUMN_KINDS,
    EXPORT_COLUMNS,
    FLAG_VALUES,
    INTEGER_COLUMNS,
    ROW_COLUMNS,
    UNSIGNED_COLUMNS,
    iter_raw_rows,
    iter_rows,
)
from dicom_inventory.scope import ScopeOfInventory, check_scope_item
from dicom_inventory.status import Status, is_failure, is_pending
from dicom_inventory.synthetic import synthetic_studies
from dicom_inventory.validate import (
    RULES,
    Finding,
    Rule,
    Severity,
    Validator,
    validate_dataset,
    validate_file,
    validate_files,
)

__version__ = "0.1.0"

__all__ = [
    "AccessEndPoints",
    "AttributeValue",
    "CHANGE_FIELDS",
    "COLUMN_KINDS",
    "Code",
    "ContainerFileType",
    "EXPORT_COLUMNS",
    "Equipment",
    "ExtendedMatchingMechanism",
    "FLAG_VALUES",
    "FileAccess",
    "FileSetAccess",
    "Finding",
    "INTEGER_COLUMNS",
    "InstanceAvailability",
    "InstanceRecord",
    "InventoryCompletionStatus",
    "InventoryEncodeError",
    "InventoryError",
    "InventoryHeader",
    "InventoryLevel",
    "InventoryReadError",
    "InventoryReader",
    "InventoryReference",
    "InventoryWriter",
    "NotDicomError",
    "OriginalAttributes",
    "ROW_COLUMNS",
    "RULES",
    "ReadPolicy",
    "ReasonForAttributeModification",
    "RemovedFromOperationalUse",
    "Rule",
    "ScopeOfInventory",
    "SeriesRecord",
    "Severity",
    "Status",
    "StudyEncoder",
    "StudyRecord",
    "UNSIGNED_COLUMNS",
    "Validator",
    "WrittenInstance",
    "check_scope_item",
    "encode_inventory",
    "file_access_attributes",
    "is_failure",
    "is_pending",
    "iter_inventory",
    "iter_raw_rows",
    "iter_rows",
    "read_dataset",
    "read_header",
    "resolve_tree",
    "synthetic_studies",
    "to_dataset",
    "tree_paths",
    "validate_dataset",
    "validate_file",
    "validate_files",
    "write_inventory",
]
