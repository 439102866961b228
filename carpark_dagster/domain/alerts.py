"""What an operator is told about a failed run: a short, secret-free summary and the webhook's
JSON payload. Pure: the sensor gathers the facts, a resource stores and posts them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from carpark_dagster.domain.redaction import redact_secrets, redact_url

DEFAULT_UI_URL = "http://127.0.0.1:3000"
# Long enough for a class name and a useful first line; short enough for a chat message.
SUMMARY_LIMIT = 300


def error_summary(class_name: str | None, message: str | None) -> str:
    """`Class: first line of the message`, credentials removed, at most SUMMARY_LIMIT
    characters, control characters turned into spaces."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    first = lines[0] if lines else ""
    name = (class_name or "").strip()
    if name:  # Dagster's messages often repeat the class, with or without its module
        first = re.sub(rf"^(?:[\w.]*\.)?{re.escape(name)}:\s*", "", first)
    text = f"{name}: {first}" if name and first else name or first or "unknown error"
    text = "".join(ch if ch.isprintable() else " " for ch in redact_secrets(text))
    if len(text) > SUMMARY_LIMIT:
        text = text[: SUMMARY_LIMIT - 1].rstrip() + "…"
    return text


def run_url(ui_url: str, run_id: str) -> str:
    """The run's page in the Dagster UI, `<ui_url>/runs/<run_id>` (no credentials)."""
    base = redact_url(ui_url.strip() or DEFAULT_UI_URL).rstrip("/")
    return f"{base}/runs/{quote(run_id, safe='')}"


@dataclass(frozen=True)
class RunFailure:
    """A failed run, as recorded in `carpark.run_failures` and posted to the webhook."""

    run_id: str
    job_name: str
    failed_steps: tuple[str, ...]
    error_summary: str
    failed_at: datetime
    run_url: str


def describe_failure(
    run_id: str,
    job_name: str,
    failed_steps: list[str],
    error_class: str | None,
    error_message: str | None,
    failed_at: datetime,
    ui_url: str,
) -> RunFailure:
    if failed_at.tzinfo is None:
        raise ValueError("failed_at must be timezone-aware")
    return RunFailure(
        run_id=run_id,
        job_name=job_name,
        failed_steps=tuple(dict.fromkeys(failed_steps)),  # in order, once each
        error_summary=error_summary(error_class, error_message),
        failed_at=failed_at,
        run_url=run_url(ui_url, run_id),
    )


def alert_payload(failure: RunFailure) -> dict:
    """The webhook's JSON body. Only the fields below: no environment, no DSN, no raw error."""
    steps = ", ".join(failure.failed_steps) or "no step (the run failed outside its steps)"
    return {
        "event": "carpark.run_failed",
        "text": f"Run of {failure.job_name} failed ({steps}): {failure.error_summary} "
        f"{failure.run_url}",
        "run_id": failure.run_id,
        "job_name": failure.job_name,
        "failed_steps": list(failure.failed_steps),
        "error_summary": failure.error_summary,
        "failed_at": failure.failed_at.isoformat(),
        "run_url": failure.run_url,
    }
