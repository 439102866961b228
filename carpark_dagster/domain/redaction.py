"""Credentials out of every message: the one place that knows what a secret looks like.

Used wherever text may carry one on its way to a person: run-failure summaries and webhook
payloads (`domain.alerts`), search engine URLs and errors (`resources.engines`), PostgreSQL
connection errors (`resources.postgres`), and the `carpark` command's error line (`cli`).
docs/security.md lists what is redacted where. Pure: no I/O; the caller passes the secret
values it knows (`secret_values`), which are removed wherever they appear, whatever the shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

REDACTED = "***"
# The environment variables the code reads whose values are secrets (a DSN or URL: its
# password part). Compose's own passwords never reach the code; as `NAME_PASSWORD=…` lines
# they go by shape.
SECRET_VARIABLES = (
    "CARPARK_POSTGRES_DSN",
    "CARPARK_ES_PASSWORD",
    "CARPARK_ES_API_KEY",
    "CARPARK_ALERT_WEBHOOK_URL",
)
# Shorter values are too likely to be ordinary words to replace everywhere.
_MIN_SECRET_LENGTH = 4

# user:password@ (or user@) in any URL: scheme://<userinfo>@host
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]*@")
# password=…, api_key: …, token=…, CARPARK_ES_PASSWORD=… (libpq key=value strings, query
# strings, environment files, messages): a quoted value up to its quote, else everything up
# to the next space (rather too much than a password's tail after a character it happened to
# contain).
_SECRET_FIELD = re.compile(
    r"(?P<key>(?<![A-Za-z0-9])(?:[A-Za-z0-9]+_)*"
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key)"
    r"(?![A-Za-z0-9])\s*[=:]\s*)(?:'[^']*'|\"[^\"]*\"|\S+)",
    re.IGNORECASE,
)
# Authorization headers: "ApiKey …", "Bearer …", "Basic …"
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>ApiKey|Bearer|Basic)\s+[A-Za-z0-9+/=._~-]{8,}")


def redact_url(url: str) -> str:
    """The URL without any user:password@ part, for messages."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:  # not parseable as a URL (a bad port, say): the pattern still applies
        return _URL_USERINFO.sub(r"\g<scheme>", url)


def redact_secrets(text: str, known: Iterable[str] = ()) -> str:
    """`text` without credentials: every `known` secret value (and its URL-decoded form)
    wherever it appears, URLs' user:password@ parts, `password=…`-style fields and
    authorization headers' values."""
    for secret in sorted(_variants(known), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _URL_USERINFO.sub(r"\g<scheme>", text)
    text = _SECRET_FIELD.sub(rf"\g<key>{REDACTED}", text)
    return _AUTH_SCHEME.sub(rf"\g<scheme> {REDACTED}", text)


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The secret values set in `environ`: each secret variable's value, and of a DSN or URL
    its password (and the user:password pair) too, so that a message quoting only that part
    loses it as well."""
    values: list[str] = []
    for name in SECRET_VARIABLES:
        value = environ.get(name, "")
        if not value:
            continue
        values.append(value)
        values.extend(_url_password(value))
        values.extend(_keyword_password(value))
    if webhook := environ.get("CARPARK_ALERT_WEBHOOK_URL", ""):
        values.extend(_url_path(webhook))  # chat webhooks carry their token in the path
    return values


def _variants(known: Iterable[str]) -> set[str]:
    found = set()
    for secret in known:
        if secret and len(secret) >= _MIN_SECRET_LENGTH:
            found.add(secret)
            decoded = unquote(secret)
            if len(decoded) >= _MIN_SECRET_LENGTH:
                found.add(decoded)
    return found


def _url_password(value: str) -> list[str]:
    match = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://(?P<user>[^/\s@:]*)(?::(?P<pw>[^/\s@]*))?@", value)
    if not match or not match["pw"]:
        return []
    return [match["pw"], f"{match['user']}:{match['pw']}"]


def _url_path(value: str) -> list[str]:
    try:
        parts = urlsplit(value)
    except ValueError:
        return []
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return [tail] if len(tail.strip("/")) >= _MIN_SECRET_LENGTH else []


def _keyword_password(value: str) -> list[str]:
    match = re.search(r"\bpassword\s*=\s*(?:'(?P<quoted>(?:[^'\\]|\\.)*)'|(?P<bare>\S+))", value)
    if not match:
        return []
    return [match["quoted"] if match["quoted"] is not None else match["bare"]]
