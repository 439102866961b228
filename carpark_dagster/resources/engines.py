"""The only engine-specific code: building the official client and sending a request.

Elasticsearch is spoken to with the `elasticsearch` client, OpenSearch with `opensearch-py`.
Everything else (templates, mappings, bulk actions, queries, aggregations) is plain JSON over
REST paths that both engines share, in `carpark_dagster.resources.search`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from carpark_dagster.domain.redaction import redact_secrets, redact_url

EngineName = Literal["elasticsearch", "opensearch"]


@dataclass(frozen=True)
class ConnectionSettings:
    url: str
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    ca_certs: str | None = None
    verify_certs: bool = True
    request_timeout_s: float = 30.0
    max_retries: int = 3


class EngineError(RuntimeError):
    """A request failed; `status` is the HTTP status when there was an answer."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Engine:
    """A connected client of one engine, reduced to the two things the pipeline needs."""

    name: EngineName

    def __init__(
        self,
        name: EngineName,
        client: Any,
        helpers: Any,
        settings: ConnectionSettings,
        errors: tuple[type[Exception], ...],
    ):
        self.name = name
        self.client = client
        self._helpers = helpers
        self._settings = settings
        # The client's own exception classes: only those become EngineErrors, so a bug in the
        # code that builds the actions is never reported as "the engine is unreachable".
        self._errors = errors

    @property
    def url(self) -> str:
        """The engine's URL without credentials, for messages."""
        return redact_url(self._settings.url)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict | None = None,
        content_type: str = "application/json",
    ) -> dict:
        """`body` is JSON (a dict), or text already in `content_type` (NDJSON for
        `_msearch`: `application/x-ndjson`)."""
        try:
            if self.name == "elasticsearch":
                headers = {"accept": "application/json"}
                if body is not None:
                    headers["content-type"] = content_type
                response = self.client.perform_request(
                    method, path, params=params, headers=headers, body=body
                )
                return response.body if hasattr(response, "body") else response
            headers = {"content-type": content_type} if body is not None else None
            return self.client.transport.perform_request(
                method, path, params=params, body=body, headers=headers
            )
        except Exception as exc:  # both clients raise their own hierarchies
            raise _engine_error(exc, self._settings, f"{method} {path}") from None

    def streaming_bulk(self, actions: Iterable[Any], **options: Any) -> Iterator[tuple[bool, dict]]:
        """The client's `helpers.streaming_bulk`; a failed request raises an EngineError naming
        the URL. The results seen before the failure have already been yielded."""
        try:
            yield from self._helpers.streaming_bulk(self.client, actions, **options)
        except self._errors as exc:
            raise _engine_error(exc, self._settings, "POST /_bulk") from None

    def close(self) -> None:
        self.client.close()


POOL_SIZE = 4


def connect(settings: ConnectionSettings, engine: str = "auto") -> Engine:
    """Connect to `settings.url`; with `engine='auto'` ask the root endpoint which engine it is."""
    if engine == "auto":
        probe = _opensearch(settings)
        try:
            info = probe.request("GET", "/")
        except BaseException:
            probe.close()
            raise
        if info.get("version", {}).get("distribution") == "opensearch":
            return probe  # the probe is already the client this engine needs
        probe.close()
        engine = "elasticsearch"
    if engine == "opensearch":
        return _opensearch(settings)
    if engine == "elasticsearch":
        return _elasticsearch(settings)
    raise ValueError(f"unknown search engine {engine!r}: use auto, elasticsearch or opensearch")


def _elasticsearch(settings: ConnectionSettings) -> Engine:
    import elasticsearch
    from elasticsearch import helpers

    options: dict[str, Any] = {
        "request_timeout": settings.request_timeout_s,
        "max_retries": settings.max_retries,
        "retry_on_timeout": True,
        "verify_certs": settings.verify_certs,
    }
    if settings.ca_certs:
        options["ca_certs"] = settings.ca_certs
    if settings.api_key:
        options["api_key"] = settings.api_key
    elif settings.username:
        options["basic_auth"] = (settings.username, settings.password or "")
    client = elasticsearch.Elasticsearch(settings.url, **options)
    errors = (elasticsearch.ApiError, elasticsearch.TransportError)
    return Engine("elasticsearch", client, helpers, settings, errors)


def _opensearch(settings: ConnectionSettings) -> Engine:
    import opensearchpy
    from opensearchpy import helpers

    options: dict[str, Any] = {
        "timeout": settings.request_timeout_s,
        "max_retries": settings.max_retries,
        "retry_on_timeout": True,
        "verify_certs": settings.verify_certs,
        "ssl_show_warn": settings.verify_certs,
        # Connections kept open to the node: the bulk streams run concurrently
        # (BULK_STREAMS in resources/search.py); with one, every other request opened a
        # connection and threw it away, with a warning. (Elasticsearch's client keeps 10.)
        "pool_maxsize": POOL_SIZE,
    }
    if settings.ca_certs:
        options["ca_certs"] = settings.ca_certs
    if settings.api_key:
        options["headers"] = {"authorization": f"ApiKey {settings.api_key}"}
    elif settings.username:
        options["http_auth"] = (settings.username, settings.password or "")
    client = opensearchpy.OpenSearch(hosts=[settings.url], **options)
    return Engine("opensearch", client, helpers, settings, (opensearchpy.OpenSearchException,))


def _engine_error(exc: Exception, settings: ConnectionSettings, what: str) -> EngineError:
    url = redact_url(settings.url)
    status = getattr(exc, "status_code", None)
    if status is None:
        meta = getattr(exc, "meta", None)
        status = getattr(meta, "status", None)
    if isinstance(status, str):  # opensearch-py reports 'N/A' when there was no answer
        status = None
    detail = getattr(exc, "info", None) or getattr(exc, "body", None) or str(exc)
    if status is None:
        return EngineError(f"search engine at {url} is unreachable ({what}): {type(exc).__name__}")
    # The engine's answer is its own text; it could quote what it was sent.
    message = f"search engine at {url} answered {status} to {what}: {detail}"
    known = (settings.password or "", settings.api_key or "")
    return EngineError(redact_secrets(message, known), status)
