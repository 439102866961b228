"""Kibana's and OpenSearch Dashboards' saved-objects import API, over the standard library's
HTTP client (two requests; no client library needed).

Errors name the URL without credentials and never echo the server's body beyond the fields
of the import answer we read (object type, id, error type).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from carpark_dagster.domain.redaction import redact_url

Product = Literal["kibana", "opensearch-dashboards"]
IMPORT_PATH = "/api/saved_objects/_import?overwrite=true"
STATUS_PATH = "/api/status"
# Each product refuses a write without its own anti-CSRF header (any value).
XSRF_HEADERS: dict[str, str] = {"kibana": "kbn-xsrf", "opensearch-dashboards": "osd-xsrf"}
# The header each product puts on every answer, even a 401.
NAME_HEADERS: dict[str, Product] = {"osd-name": "opensearch-dashboards", "kbn-name": "kibana"}
DEFAULT_TIMEOUT_S = 30.0


class DashboardsError(Exception):
    """The dashboards server could not be reached or refused the request as a whole."""


class DashboardsUsageError(ValueError):
    """A URL or option the user can correct."""


@dataclass(frozen=True)
class ImportOutcome:
    success: bool
    imported: int
    errors: list[str] = field(default_factory=list)  # one line per object that failed


@dataclass(frozen=True)
class DashboardsServer:
    url: str
    username: str | None = None
    password: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DashboardsUsageError("--url must be an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise DashboardsUsageError(
                "--url must not hold credentials: use --user and CARPARK_DASHBOARDS_PASSWORD"
            )

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    def detect_product(self) -> Product:
        """Kibana or OpenSearch Dashboards, from the name header of its status answer."""
        request = urllib.request.Request(self._url(STATUS_PATH), headers=self._auth())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                headers = answer.headers
        except urllib.error.HTTPError as exc:  # a 401 or 503 still names the product
            headers = exc.headers
        except (urllib.error.URLError, OSError) as exc:
            raise DashboardsError(f"{self.shown_url} is unreachable ({_reason(exc)})") from None
        for name, product in NAME_HEADERS.items():
            if headers.get(name) is not None:
                return product
        raise DashboardsError(
            f"{self.shown_url} answers neither as Kibana nor as OpenSearch Dashboards; "
            "pass --product"
        )

    def import_objects(self, product: Product, ndjson: bytes) -> ImportOutcome:
        """POST the bundle to the import API (overwriting objects with the same ids)."""
        boundary = f"carpark-{uuid.uuid4().hex}"
        body = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="file"; filename="carpark.ndjson"\r\n'
                "Content-Type: application/ndjson\r\n\r\n"
            ).encode()
            + ndjson
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {
            **self._auth(),
            XSRF_HEADERS[product]: "true",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        }
        request = urllib.request.Request(
            self._url(IMPORT_PATH), data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise DashboardsError(
                f"{self.shown_url} refused the import: HTTP {exc.code}{_hint(exc.code)}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DashboardsError(f"{self.shown_url} is unreachable ({_reason(exc)})") from None
        try:
            result = json.loads(raw)
        except ValueError:
            raise DashboardsError(f"{self.shown_url} answered the import with no JSON") from None
        if not isinstance(result, dict):
            raise DashboardsError(f"{self.shown_url} answered the import with unexpected JSON")
        return ImportOutcome(
            success=result.get("success") is True,
            imported=int(result.get("successCount") or 0),
            errors=[_error_line(e) for e in result.get("errors") or []],
        )

    def _url(self, path: str) -> str:
        return self.url.rstrip("/") + path

    def _auth(self) -> dict[str, str]:
        if self.username is None:
            return {}
        token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


def _error_line(error: object) -> str:
    """`<type> <id>: <error type>`, plus the missing references' ids for that error."""
    if not isinstance(error, dict):
        return "an object: unexpected error entry"
    detail = error.get("error") if isinstance(error.get("error"), dict) else {}
    line = f"{error.get('type', '?')} {error.get('id', '?')}: {detail.get('type', 'error')}"
    missing = [
        f"{r.get('type', '?')} {r.get('id', '?')}"
        for r in detail.get("references") or []
        if isinstance(r, dict)
    ]
    return line + (f" ({', '.join(missing)})" if missing else "")


def _hint(status: int) -> str:
    return {
        401: " (wrong or missing --user / CARPARK_DASHBOARDS_PASSWORD)",
        403: " (the user may not import saved objects)",
        404: " (no saved objects API at this URL: check --url and the product)",
    }.get(status, "")


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", exc)
    return type(reason).__name__ if not isinstance(reason, str) else "connection failed"
