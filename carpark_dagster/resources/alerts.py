"""The alert webhook (`CARPARK_ALERT_WEBHOOK_URL`): JSON POSTed with a timeout and a few
retries with backoff, standard library only. The URL is treated as a secret (chat webhooks
carry their token in it): no message, log line or stored detail shows more than its host."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from carpark_dagster.domain.alerts import DEFAULT_UI_URL


@dataclass(frozen=True)
class Delivery:
    """How a post went: `status` is 'delivered', 'failed' or 'not_configured'; `detail` is a
    fixed text (the last attempt's HTTP status or error class), never the URL or a body."""

    status: str
    attempts: int
    detail: str

    @property
    def delivered(self) -> bool:
        return self.status == "delivered"


class AlertWebhookResource(dg.ConfigurableResource):
    """Where failures are posted, and where the Dagster UI is (for the link to a run)."""

    url: str | None = Field(
        default=None, description="Webhook for JSON alerts; unset: alerts are only recorded."
    )
    ui_url: str = Field(default=DEFAULT_UI_URL, description="The Dagster UI, for run links.")
    timeout_s: float = Field(default=5.0, description="Per attempt: connect and answer.")
    attempts: int = Field(default=3, description="Attempts in all (the first and retries).")
    backoff_s: float = Field(default=0.5, description="Wait before the first retry; doubles.")

    @property
    def configured(self) -> bool:
        return bool(self.url and self.url.strip())

    def describe(self) -> str:
        """The webhook's host, for messages (never its path or query: they may hold a token)."""
        if not self.configured:
            return "no webhook"
        parts = urlsplit(self.url or "")
        return f"{parts.scheme}://{parts.hostname or '?'}" + (
            f":{parts.port}" if parts.port else ""
        )

    def post(self, payload: dict) -> Delivery:
        """POST `payload` as JSON; retry on a timeout, a connection error or a 5xx/429 answer,
        up to `attempts` in all, waiting `backoff_s`, then twice that, … between them. A 2xx is
        delivered; any other 4xx is not retried (the request itself is wrong)."""
        if not self.configured:
            return Delivery("not_configured", 0, "CARPARK_ALERT_WEBHOOK_URL is not set")
        body = json.dumps(payload).encode()
        wait = self.backoff_s
        detail = "not attempted"
        attempts = max(1, self.attempts)
        for attempt in range(1, attempts + 1):
            retry, detail = self._attempt(body)
            if detail == "delivered":
                return Delivery("delivered", attempt, f"HTTP 2xx from {self.describe()}")
            if not retry or attempt == attempts:
                return Delivery("failed", attempt, f"{detail} from {self.describe()}")
            time.sleep(wait)
            wait *= 2
        return Delivery("failed", attempts, detail)  # not reached

    def _attempt(self, body: bytes) -> tuple[bool, str]:
        """(worth retrying, what happened) for one POST."""
        request = urllib.request.Request(
            (self.url or "").strip(),
            data=body,
            method="POST",
            headers={"content-type": "application/json", "user-agent": "carpark-alerts"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read(1024)
                return False, "delivered"
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code >= 500 or exc.code == 429, f"HTTP {exc.code}"
        except TimeoutError:
            return True, f"no answer within {self.timeout_s:g}s"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return True, f"no answer within {self.timeout_s:g}s"
            return True, f"unreachable ({type(exc.reason).__name__})"
        except (OSError, ValueError) as exc:  # a reset connection, a malformed URL
            return not isinstance(exc, ValueError), f"unreachable ({type(exc).__name__})"
