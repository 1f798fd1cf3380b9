"""A loopback HTTP server that records what `bt ... --upload` sends (tests of the upload client).

It answers POST /api/v1/crashes as `btengine server` does (docs/server.md): 201 and a JSON body
{"id", "url", "created"} for bytes it has not seen, 200 for the same bytes again, or the status
and error set by the test. The real server's own tests live in tests/server.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional


@dataclass
class Request:
    path: str
    headers: Dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    requests: List[Request] = field(default_factory=list)
    refuse: Optional[int] = None         # answer every POST with this status
    refuse_message: str = "refused by the test"
    _ids: Dict[str, int] = field(default_factory=dict)

    def start(self) -> "RecordingServer":
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                owner.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if owner.refuse:
                    self._answer(owner.refuse, {"error": owner.refuse_message})
                    return
                digest = hashlib.sha256(body).hexdigest()
                created = digest not in owner._ids
                if created:
                    owner._ids[digest] = len(owner._ids) + 1
                cid = owner._ids[digest]
                self._answer(201 if created else 200, {"id": cid, "url": f"/crash/{cid}", "created": created})

            def _answer(self, status: int, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
