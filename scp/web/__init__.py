"""The node's DICOMweb origin server (PS3.18): ``/inventories`` over HTTP, next to DIMSE.

:mod:`~dicom_inventory.scp.web.app` (the Starlette application and its routes),
:mod:`~dicom_inventory.scp.web.resources` (the one table of transactions, media types and
parameters), :mod:`~dicom_inventory.scp.web.negotiate` (Accept), ``search``, ``store``,
``capabilities`` (WADL) and :mod:`~dicom_inventory.scp.web.server` (uvicorn in the node's
process).
"""
