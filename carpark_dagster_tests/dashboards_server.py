"""A real HTTP server on 127.0.0.1, in a thread, standing in for Kibana or OpenSearch
Dashboards: it names itself as the product does (`kbn-name` / `osd-name` on every answer),
checks what the saved-objects import API checks (its anti-CSRF header, basic auth, a multipart
body with an NDJSON `file` part) and answers as scripted; it keeps what it got."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from carpark_dagster_tests.local_http import QuietHandler, serving

XSRF = {"kibana": "kbn-xsrf", "opensearch-dashboards": "osd-xsrf"}
NAME = {"kibana": "kbn-name", "opensearch-dashboards": "osd-name"}


@dataclass
class Dashboards:
    product: str
    url: str = ""
    answer: dict | None = None  # the import's JSON answer; None: success for every object
    credentials: tuple[str, str] | None = None  # required basic auth, if any
    imports: list[dict] = field(default_factory=list)  # path, headers, file name, objects
    raw: list[bytes] = field(default_factory=list)


def _file_part(content_type: str, body: bytes) -> tuple[str | None, bytes] | None:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_filename(), part.get_payload(decode=True)
    return None


@contextmanager
def dashboards(product: str, **options) -> Iterator[Dashboards]:
    server_state = Dashboards(product=product, **options)
    lock = threading.Lock()

    class Handler(QuietHandler):
        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header(NAME[product], "test-node")
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if server_state.credentials is None:
                return True
            user, password = server_state.credentials
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            return self.headers.get("authorization") == f"Basic {token}"

        def do_GET(self):  # the standard library names it
            if not self._authorised():
                return self._send(401, {"statusCode": 401, "error": "Unauthorized"})
            if self.path != "/api/status":
                return self._send(404, {"statusCode": 404})
            self._send(200, {"status": {"overall": {"level": "available"}}})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                server_state.raw.append(body)
            if not self._authorised():
                return self._send(401, {"statusCode": 401, "error": "Unauthorized"})
            if self.path != "/api/saved_objects/_import?overwrite=true":
                return self._send(404, {"statusCode": 404})
            if self.headers.get(XSRF[product]) is None:
                return self._send(
                    400,
                    {
                        "statusCode": 400,
                        "message": f"Request must contain a {XSRF[product]} header.",
                    },
                )
            part = _file_part(self.headers.get("content-type", ""), body)
            if part is None:
                return self._send(415, {"statusCode": 415})
            filename, content = part
            objects = [json.loads(line) for line in content.decode().splitlines() if line]
            with lock:
                server_state.imports.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "filename": filename,
                        "objects": objects,
                    }
                )
            answer = server_state.answer or {
                "success": True,
                "successCount": len(objects),
                "successResults": [{"type": o["type"], "id": o["id"]} for o in objects],
            }
            self._send(200, answer)

    with serving(Handler) as base:
        server_state.url = base
        yield server_state
