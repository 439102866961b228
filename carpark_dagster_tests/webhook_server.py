"""A real HTTP server on 127.0.0.1, in a thread, standing in for an alert webhook: it answers
each POST as scripted (a status, or `HANG` to say nothing for a while) and keeps what it got."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from carpark_dagster_tests.local_http import QuietHandler, serving

HANG = "hang"


@dataclass
class Webhook:
    url: str
    script: list  # what to answer to each request in turn; the last one repeats
    hang_s: float = 3.0
    received: list[dict] = field(default_factory=list)  # every POSTed body, parsed
    raw: list[bytes] = field(default_factory=list)


@contextmanager
def webhook(*script, hang_s: float = 3.0, path: str = "/hooks/T0KEN") -> Iterator[Webhook]:
    hook = Webhook(url="", script=list(script or [200]), hang_s=hang_s)
    lock = threading.Lock()

    class Handler(QuietHandler):
        def do_POST(self):  # the standard library names it
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                turn = len(hook.raw)
                hook.raw.append(body)
                hook.received.append(json.loads(body))
                answer = hook.script[min(turn, len(hook.script) - 1)]
            if answer == HANG:
                time.sleep(hook.hang_s)
                return  # no answer at all: the client times out
            self.send_response(answer)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    with serving(Handler) as base:
        hook.url = f"{base}{path}"
        yield hook
