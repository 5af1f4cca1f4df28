"""The lookup's hot path to Elasticsearch: pre-serialized `_search` bodies posted over pooled connections
(`service.lookup.es_http`), answers trimmed by `filter_path`.

elasticsearch-py stays for everything else (readiness); on this path its transport cost more CPU per lookup than
Elasticsearch's own search (docs/benchmarks.md), so the one request a lookup makes is sent by hand.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final
from urllib.parse import quote

import orjson

from common import elasticsearch_refusals
from contact_index import visitors as visitor_fields
from service import backend_failures
from service.errors import ApiError, BackendFailed, BackendUnavailable
from service.lookup import query
from service.lookup.es_http import ElasticsearchHttp, ProtocolError
from service.metrics import BackendObserver

log = logging.getLogger(__name__)

FIRST_PAGE: Final = 10
LAST_PAGE: Final = 1000
# Only what the lookup reads: each hit's stored visitor and its sort values (for the next page), and what says the
# answer is whole (failed shards, a timeout: `backend_failures.for_answer`).
FILTER_PATH: Final = f"hits.hits._source.{visitor_fields.FIELD_VISITOR},hits.hits.sort,_shards.failed,timed_out"


def search_body(criteria: query.Criteria, size: int, search_after: list[Any] | None) -> bytes:
    """The `_search` request body (pure)."""
    body: dict[str, Any] = {
        "query": query.search_query(criteria),
        "sort": query.SORT,
        "size": size,
        "_source": {"includes": [visitor_fields.FIELD_VISITOR]},
        "track_total_hits": False,
    }
    if search_after is not None:
        body["search_after"] = search_after
    return orjson.dumps(body)


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


class ContactSearch:
    """Finds the first contact (oldest `ts`, then `_id`) matching every criterion through one pooled session."""

    def __init__(self, http: ElasticsearchHttp, alias: str, observer: BackendObserver | None = None) -> None:
        self._http = http
        # A shard whose copies all failed (a node died mid-search) must fail the lookup, not hide its match.
        self._path = f"/{quote(alias, safe='')}/_search?filter_path={FILTER_PATH}&allow_partial_search_results=false"
        self._observer = observer

    async def find_contact(self, criteria: query.Criteria) -> dict[str, Any] | None:
        """The contact, or None. Candidates come in pages that grow, because a long custom value's grams can admit
        false positives that the literal check rejects; usually the first hit is the answer."""
        size = FIRST_PAGE if criteria.custom else 1
        search_after: list[Any] | None = None
        while True:
            hits = await self._search(search_body(criteria, size, search_after))
            contact = query.first_confirmed(hits, criteria)
            if contact is not None or len(hits) < size:
                return contact
            search_after = hits[-1]["sort"]
            size = min(size * 10, LAST_PAGE)

    async def _search(self, body: bytes) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            hits = await self._post(body)
        except ApiError as failure:
            if self._observer is not None:
                self._observer.failed("elasticsearch", type(failure).__name__)
            raise
        if self._observer is not None:
            self._observer.observe("elasticsearch", time.perf_counter() - started)
        return hits

    async def _post(self, body: bytes) -> list[dict[str, Any]]:
        try:
            status, raw = await self._http.post(self._path, body)
        except TimeoutError as failure:
            log.warning("Elasticsearch timed out")
            raise BackendUnavailable(backend_failures.UNAVAILABLE) from failure
        except (OSError, ProtocolError) as failure:
            problem = elasticsearch_refusals.certificate_problem(failure)
            if problem is not None:
                log.error("Elasticsearch's certificate is refused: %s", problem)
            else:
                log.warning("Elasticsearch unreachable: %s", type(failure).__name__)
            raise BackendUnavailable(backend_failures.UNAVAILABLE) from failure
        if status != 200:
            if elasticsearch_refusals.is_refusal(status, _json_or_none(raw)):
                log.error("%s", elasticsearch_refusals.describe(self._http.credential, status, _json_or_none(raw)))
            else:
                log.warning("Elasticsearch answered %d to a lookup", status)
            raise backend_failures.for_status(status, backend_failures.error_type(raw))
        try:
            answer = backend_failures.parse_answer(raw)
        except (BackendUnavailable, BackendFailed):
            log.warning("Elasticsearch answered a lookup with a partial or unreadable 200")
            raise
        hits = answer.get("hits", {}).get("hits", [])
        return hits if isinstance(hits, list) else []
