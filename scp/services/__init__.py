"""The node's DIMSE service handlers, one module per service class.

* :mod:`~dicom_inventory.scp.services.storage`: Inventory Storage (PS3.4 GG) and the archive's
  Storage SCP (PS3.4 B);
* :mod:`~dicom_inventory.scp.services.qr`: Inventory FIND / MOVE / GET (PS3.4 JJ);
* :mod:`~dicom_inventory.scp.services.creation`: Inventory Creation (PS3.4 KK.2);
* :mod:`~dicom_inventory.scp.services.notify`: delivery of its N-EVENT-REPORTs (PS3.4 KK.2.3);
* :mod:`~dicom_inventory.scp.services.studyroot`: Study Root Q/R and Repository Query
  (PS3.4 C, C.6.4).

Handlers take the event and what they serve from (configuration, stores); the node
(:mod:`dicom_inventory.scp.server`) binds them.
"""
