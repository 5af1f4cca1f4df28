"""Which contract status an Elasticsearch failure becomes (pure: the mapping in the service's middleware)."""

from __future__ import annotations

from typing import Any

import elasticsearch
import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig

from service import backend_failures
from service.backend_failures import for_exception as _backend_failure
from service.errors import BackendFailed, BackendUnavailable

NODE = NodeConfig("http", "127.0.0.1", 9200)


def api_error(status: int, error_type: str | None) -> elasticsearch.ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.01, NODE)
    body: Any = {"error": {"type": error_type, "reason": "..."}, "status": status} if error_type else "text"
    return elasticsearch.ApiError(error_type or "error", meta, body)


@pytest.mark.parametrize(
    ("failure", "mapped"),
    [
        # allow_partial_search_results=false: shards that failed on every copy (a node died mid-search)
        (api_error(500, "search_phase_execution_exception"), BackendUnavailable),
        (api_error(503, "search_phase_execution_exception"), BackendUnavailable),
        (api_error(429, "es_rejected_execution_exception"), BackendUnavailable),
        (api_error(400, "parsing_exception"), BackendFailed),
        (api_error(500, None), BackendFailed),
        (elasticsearch.ConnectionError("refused"), BackendUnavailable),
    ],
)
def test_elasticsearch_failures_map_to_the_contracts_statuses(failure: Exception, mapped: type) -> None:
    assert type(_backend_failure(failure)) is mapped


@pytest.mark.parametrize(
    ("status", "kind", "mapped", "message"),
    [
        (401, "security_exception", BackendUnavailable, backend_failures.REFUSED),
        (403, "security_exception", BackendUnavailable, backend_failures.REFUSED),
        (404, "index_not_found_exception", BackendUnavailable, backend_failures.INDEX_MISSING),
        (429, "es_rejected_execution_exception", BackendUnavailable, backend_failures.OVERLOADED),
        (503, None, BackendUnavailable, backend_failures.OVERLOADED),
        (503, "no_shard_available_action_exception", BackendUnavailable, backend_failures.UNAVAILABLE),
        (500, "search_phase_execution_exception", BackendUnavailable, backend_failures.UNAVAILABLE),
        (502, None, BackendUnavailable, backend_failures.UNAVAILABLE),
        (504, None, BackendUnavailable, backend_failures.UNAVAILABLE),
        (400, "parsing_exception", BackendFailed, backend_failures.FAILED),
        (500, None, BackendFailed, backend_failures.FAILED),
        (200, None, BackendFailed, backend_failures.FAILED),  # elasticsearch-py: a 200 without the product header
    ],
)
def test_error_answers_map_by_status_then_type(status: int, kind: str | None, mapped: type, message: str) -> None:
    failure = backend_failures.for_status(status, kind)
    assert (type(failure), failure.body()["error"]) == (mapped, message)


@pytest.mark.parametrize(
    ("raw", "mapped"),
    [
        (b'{"timed_out":false,"_shards":{"failed":0},"hits":{"hits":[]}}', None),
        (b'{"hits":{"hits":[]}}', None),  # filter_path may leave out what is absent
        (b'{"timed_out":false,"_shards":{"failed":1},"hits":{"hits":[]}}', BackendUnavailable),
        (b'{"timed_out":true,"_shards":{"failed":0},"hits":{"hits":[]}}', BackendUnavailable),
        (b"<html>a proxy's page</html>", BackendFailed),
        (b"[1, 2]", BackendFailed),
        (b"", BackendFailed),
    ],
)
def test_a_200_is_served_only_when_whole(raw: bytes, mapped: type | None) -> None:
    if mapped is None:
        assert isinstance(backend_failures.parse_answer(raw), dict)
    else:
        with pytest.raises(mapped):
            backend_failures.parse_answer(raw)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"error":{"type":"security_exception"},"status":401}', "security_exception"),
        ({"error": {"type": "x"}}, "x"),
        (b"not json", None),
        ({"error": "a string"}, None),
        ("text", None),
    ],
)
def test_error_type_reads_what_elasticsearch_sends(body: object, kind: str | None) -> None:
    assert backend_failures.error_type(body) == kind
