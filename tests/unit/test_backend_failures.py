"""Which contract status an Elasticsearch failure becomes (pure: the mapping in the service's middleware)."""

from __future__ import annotations

from typing import Any

import elasticsearch
import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig

from service.errors import BackendFailed, BackendUnavailable
from service.backend_failures import for_exception as _backend_failure

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
