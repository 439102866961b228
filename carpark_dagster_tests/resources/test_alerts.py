"""The alert webhook against a real HTTP server on 127.0.0.1: delivered, retried after
failures, given up after timeouts; the URL (which may hold a token) never shows."""

import time

from carpark_dagster.resources.alerts import AlertWebhookResource
from carpark_dagster_tests.webhook_server import HANG, webhook

PAYLOAD = {"event": "carpark.run_failed", "run_id": "r1"}


def _resource(url: str | None, **options) -> AlertWebhookResource:
    return AlertWebhookResource(url=url, **{"backoff_s": 0.05, **options})


def test_a_payload_is_posted_as_json():
    with webhook(200) as hook:
        delivery = _resource(hook.url).post(PAYLOAD)
    assert delivery.delivered
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert hook.received == [PAYLOAD]
    assert "T0KEN" not in delivery.detail


def test_failed_attempts_are_retried_until_one_succeeds():
    with webhook(503, 500, 200) as hook:
        delivery = _resource(hook.url, attempts=3).post(PAYLOAD)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert hook.received == [PAYLOAD] * 3


def test_a_webhook_that_never_answers_fails_after_the_timeout_and_the_retries():
    with webhook(HANG, hang_s=2.0) as hook:
        started = time.monotonic()
        delivery = _resource(hook.url, timeout_s=0.3, attempts=2).post(PAYLOAD)
        took = time.monotonic() - started
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert delivery.detail.startswith("no answer within 0.3s from http://127.0.0.1:")
    assert "T0KEN" not in delivery.detail
    assert len(hook.received) == 2
    assert took < 1.5  # two timeouts and one backoff, not the server's hang


def test_a_client_error_is_not_retried():
    with webhook(404) as hook:
        delivery = _resource(hook.url, attempts=3).post(PAYLOAD)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.detail.startswith("HTTP 404 from http://127.0.0.1:")
    assert len(hook.received) == 1


def test_an_unreachable_webhook_is_retried_then_given_up():
    with webhook(200) as hook:
        url = hook.url  # the server is gone after the block: connection refused
    delivery = _resource(url, attempts=2).post(PAYLOAD)
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert delivery.detail.startswith("unreachable (ConnectionRefusedError)")


def test_without_a_webhook_nothing_is_posted():
    delivery = _resource(None).post(PAYLOAD)
    assert (delivery.status, delivery.attempts) == ("not_configured", 0)
    assert _resource("  ").post(PAYLOAD).status == "not_configured"
