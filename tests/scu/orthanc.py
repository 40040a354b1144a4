"""A real Orthanc server for the tests: temp-dir config, free ports, REST upload, stop by PID."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.scp.raw_peer import free_port


class Orthanc:
    def __init__(
        self, binary: str, folder: Path, env: dict[str, str] | None = None, **settings: Any
    ) -> None:
        self.folder = folder
        self.dicom_port = free_port()
        self.http_port = free_port()
        config = {
            "Name": "test",
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "Plugins": [],
            "DicomAet": "ORTHANC",
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowMove": True,
            "DicomAlwaysAllowGet": True,
            "UnknownSopClassAccepted": True,
            "SaveJobs": False,
            **settings,
        }
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = (folder / "orthanc.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, str(folder / "orthanc.json")], stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/system")
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(  # noqa: B904 - the OSError is only "not yet"
                        f"Orthanc did not start: {(folder / 'orthanc.log').read_text()[-2000:]}"
                    )
                time.sleep(0.1)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as r:
            return json.loads(r.read())

    def upload(self, data: bytes) -> None:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/instances",
            data=data,
            headers={"Content-Type": "application/dicom"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert json.loads(r.read())["Status"] in ("Success", "AlreadyStored")

    def delete_instance(self, sop_uid: str) -> None:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/tools/lookup", data=sop_uid.encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            (hit,) = json.loads(r.read())
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{hit['Path']}", method="DELETE"
        )
        urllib.request.urlopen(req, timeout=10).close()

    def sop_instance_uids(self) -> set[str]:
        out = set()
        for iid in self.get("/instances"):
            out.add(self.get(f"/instances/{iid}/simplified-tags")["SOPInstanceUID"])
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
