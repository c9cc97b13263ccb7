"""Request ids, access logs and /metrics, on the real Falcon app over in-memory ports."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from im_http.observability.logs import JsonFormatter
from tests.e2e.conftest import Stack


def scrape(stack: Stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by name and labels."""
    result = stack.api.get("/metrics")
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(result.text)
            for sample in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_every_answer_carries_a_fresh_request_id_when_none_is_given(
    memory_stack: Stack,
) -> None:
    ids = {memory_stack.api.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(0 < len(i) <= 128 for i in ids)


@pytest.mark.parametrize(("path", "status"), [
    ("/healthz", 200), ("/nowhere", 404), ("/v1/contacts", 401)])
def test_a_valid_request_id_from_the_caller_comes_back_errors_included(
    memory_stack: Stack, path: str, status: int
) -> None:
    result = memory_stack.api.get(path, headers={"X-Request-Id": "trace-42 from the LB"})
    assert result.status_code == status
    assert result.headers["x-request-id"] == "trace-42 from the LB"


@pytest.mark.parametrize("given", ["x" * 129, "tab\there", "caf\u00e9", " "])
def test_an_invalid_request_id_is_replaced_by_a_fresh_one(memory_stack: Stack,
                                                          given: str) -> None:
    result = memory_stack.api.client.simulate_get("/healthz",
                                                  headers={"X-Request-Id": given})
    answered = result.headers["x-request-id"]
    assert answered != given
    assert 0 < len(answered) <= 128 and answered.isprintable()


def test_an_error_raised_by_the_app_also_carries_the_request_id(memory_stack: Stack) -> None:
    result = memory_stack.api.post("/v1/login", {"uid": "bad uid!"},
                                   headers={"X-Request-Id": "r-1"})
    assert result.status_code == 400
    assert result.headers["x-request-id"] == "r-1"


def test_the_access_log_names_method_route_status_and_id_but_never_tokens_or_bodies(
    memory_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    api = memory_stack.api
    with caplog.at_level(logging.INFO, logger="im_http.access"):
        alice, bob = api.login("alice"), api.login("bob")
        api.send(alice, "bob", "secret plans", client_msg_id="m-1")
        api.get("/v1/messages/history", params={"peer": "alice"}, token=bob,
                headers={"X-Request-Id": "hist-1"})
    lines = [r for r in caplog.records if r.name == "im_http.access"]
    assert len(lines) == 4
    history = lines[-1]
    assert history.getMessage().startswith("GET /v1/messages/history 200 ")
    assert history.getMessage().endswith(" id=hist-1")
    assert (history.method, history.route, history.status) == (  # type: ignore[attr-defined]
        "GET", "/v1/messages/history", 200)
    assert history.duration_ms >= 0  # type: ignore[attr-defined]
    everything = caplog.text + "".join(JsonFormatter().format(r) for r in lines)
    for secret in (alice, bob, "secret plans", "peer=alice"):
        assert secret not in everything


def test_json_log_lines_carry_the_access_fields_and_the_request_id(
    memory_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="im_http.access"):
        memory_stack.api.get("/nowhere", headers={"X-Request-Id": "j-1"})
    (record,) = [r for r in caplog.records if r.name == "im_http.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "INFO" and line["logger"] == "im_http.access"
    assert (line["method"], line["status"]) == ("GET", 404)
    assert "route" not in line  # no route matched: nothing, rather than null
    assert line["message"].endswith("id=j-1")


def test_metrics_count_requests_by_route_template_and_status(memory_stack: Stack) -> None:
    api = memory_stack.api
    alice = api.login("alice")
    api.login("bob")
    for uid in ("bob", "nobody"):
        api.request("PUT", f"/v1/contacts/{uid}", token=alice)
    samples = scrape(memory_stack)
    assert value(samples, "im_http_requests_total", method="PUT",
                 route="/v1/contacts/{uid}", status="204") == 1
    assert value(samples, "im_http_requests_total", method="PUT",
                 route="/v1/contacts/{uid}", status="404") == 1
    assert value(samples, "im_http_requests_total", method="POST", route="/v1/login",
                 status="200") == 2
    assert value(samples, "im_http_request_duration_seconds_count",
                 route="/v1/login") == 2
    assert value(samples, "im_http_errors_total", code="unknown_user") == 1
    assert value(samples, "im_logins_total") == 2


def test_metrics_count_messages_sent_once_and_delivered_as_pulled(memory_stack: Stack) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    api.send(alice, "bob", "one", client_msg_id="m-1")
    api.send(alice, "bob", "one", client_msg_id="m-1")  # a retry: stored once
    api.send(alice, "bob", "two")
    api.heartbeat(bob)                                  # pulls both
    api.heartbeat(bob, ack=None)                        # pulls both again: not acked
    samples = scrape(memory_stack)
    assert value(samples, "im_messages_sent_total") == 2
    assert value(samples, "im_messages_delivered_total") == 4


def test_metrics_count_errors_by_their_api_code(memory_stack: Stack) -> None:
    api = memory_stack.api
    api.get("/v1/contacts")
    api.get("/v1/contacts", token="nonsense")
    api.post("/v1/heartbeat", {"wait": "soon"}, token=api.login("alice"))
    samples = scrape(memory_stack)
    assert value(samples, "im_http_errors_total", code="session_expired") == 2
    assert value(samples, "im_http_errors_total", code="invalid_request") == 1


def test_sessions_active_counts_distinct_sessions_and_forgets_a_logout(
    memory_stack: Stack,
) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    for token in (alice, bob, alice):
        api.heartbeat(token)
    assert value(scrape(memory_stack), "im_sessions_active") == 2
    api.post("/v1/logout", token=bob)
    assert value(scrape(memory_stack), "im_sessions_active") == 1


def test_long_polls_waiting_counts_a_held_heartbeat_until_it_is_answered(
    memory_stack: Stack,
) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    held = threading.Thread(target=lambda: api.post("/v1/heartbeat", {"wait": 5}, token=bob))
    held.start()
    try:
        deadline = time.monotonic() + 5
        while value(scrape(memory_stack), "im_long_polls_waiting") != 1:
            assert time.monotonic() < deadline, "the long-poll was never counted"
            time.sleep(0.02)
    finally:
        api.send(alice, "bob", "wake up")
        held.join(timeout=10)
    assert not held.is_alive()
    assert value(scrape(memory_stack), "im_long_polls_waiting") == 0


def test_metrics_is_in_the_openapi_document_as_text(memory_stack: Stack) -> None:
    from im_http.api.openapi import openapi_document

    content = openapi_document()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]
