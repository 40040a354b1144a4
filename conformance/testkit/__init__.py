"""dicom_inventory.conformance.testkit: the connectathon test kit (issue 9).

:func:`run_scp_battery` judges a vendor's Inventory SCP over real associations,
:class:`ScuKitNode` (an SCP with faults at will) a vendor's SCU, :func:`check_files` a vendor's
inventory files, :func:`run_web_battery` a vendor's DICOMweb ``/inventories`` origin server;
each gives a :class:`Report` that writes JUnit XML, JSON and an HTML page.
"""

from dicom_inventory.conformance.testkit.files import check_files
from dicom_inventory.conformance.testkit.report import Outcome, Report, TestResult
from dicom_inventory.conformance.testkit.scp import ScpKit, run_scp_battery
from dicom_inventory.conformance.testkit.scu import FAULTS, Request, ScuKit, ScuKitNode
from dicom_inventory.conformance.testkit.web import WebKit, run_web_battery

__all__ = [
    "FAULTS",
    "Outcome",
    "Report",
    "Request",
    "ScpKit",
    "ScuKit",
    "ScuKitNode",
    "TestResult",
    "WebKit",
    "check_files",
    "run_scp_battery",
    "run_web_battery",
]
