"""The origin server's tables are complete: every status it answers is in HTTP_STATUSES (which
the conformance statement prints), and the routes are the transactions of resources.py."""

from __future__ import annotations

import re
from pathlib import Path

from dicom_inventory.scp.config import HTTP, load_config
from dicom_inventory.scp.web import app as app_module
from dicom_inventory.scp.web.resources import HTTP_STATUSES, transactions

WEB = Path(app_module.__file__).parent


def test_every_status_answered_is_tabulated() -> None:
    used: set[int] = set()
    for path in WEB.glob("*.py"):
        text = path.read_text()
        # WebError(404, ...), status_code=204, and the Store outcome "code = 200 if ... else 202 ..."
        pattern = r"(?:WebError\(\s*|status_code=|code = |else )(\d{3})\b"
        used |= {int(c) for c in re.findall(pattern, text)}
    tabulated = {code for code, _, _ in HTTP_STATUSES}
    assert used and used <= tabulated, used - tabulated


def test_the_routes_are_the_transactions(tmp_path: Path) -> None:
    for store in (True, False):
        http = HTTP(port=0, store=store)
        config = load_config(archive=tmp_path, http=http)
        app = app_module.web_app(config, None, base_url=lambda: "http://x")  # type: ignore[arg-type]
        routes = {(r.path, m) for r in app.routes for m in r.methods if m != "HEAD"}  # type: ignore[attr-defined]
        expected = {
            (("/dicomweb" + t.path) if t.path != "/" else "/dicomweb", t.method)
            for t in transactions(http)
        }
        assert expected <= routes
        assert routes - expected == {("/dicomweb/", "OPTIONS")}
        assert (("/dicomweb/inventories", "POST") in routes) is store
