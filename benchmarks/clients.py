"""The benchmarks' Elasticsearch client: the same settings (`ES_URL`, the credential, the CA) and the same factory as
both processes."""

from __future__ import annotations

from elasticsearch import AsyncElasticsearch

from common import elasticsearch_clients
from common.settings import SharedSettings


def benchmark_client(*, request_timeout: float) -> AsyncElasticsearch:
    reach = SharedSettings.from_env().elasticsearch
    return elasticsearch_clients.async_client(
        reach, request_timeout=request_timeout, max_retries=max(3, len(reach.nodes))
    )
