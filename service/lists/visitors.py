"""The I/O behind `livechat/visitors.search` and `livechat/visitors.autocomplete`: the visitors index, served only
once it is of the mapping generation these routes need."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from elasticsearch import AsyncElasticsearch

from contact_index import shared
from contact_index import visitors as fields
from service import backend_failures
from service.cache import TtlCache
from service.errors import BackendFailed, BackendUnavailable
from service.lists import pages, visitor_query
from service.lists.params import ListRequest
from service.metrics import BackendObserver, timed


class VisitorLists:
    """Both routes' reads. The alias's index must be of `LISTS_MAPPING_VERSION` or later (built by `reindex` after
    the upgrade): an older one lacks the tokens for documents indexed before, and would answer short. Its generation
    is read at most once per TTL."""

    def __init__(
        self, client: AsyncElasticsearch, alias: str, ttl: float, observer: BackendObserver | None = None
    ) -> None:
        self._client = client
        self._observer = observer
        self._alias = alias
        self.generations: TtlCache[str, int] = TtlCache(ttl, max_entries=1)

    async def search(self, request: ListRequest, searchable: Iterable[str]) -> dict[str, Any]:
        """Rocket.Chat's `{visitors, count, offset, total, success}`: the page and the exact total."""
        await self._require_generation()
        visitors, total = await pages.read(
            self._client,
            self._alias,
            visitor_query.search_filter(request.search_text, searchable),
            visitor_query.sort_clauses(request),
            request,
            fields.FIELD_VISITOR,
            fields.MAX_RESULT_WINDOW,
            self._observer,
        )
        return visitor_query.search_answer(visitors, request, total)

    async def autocomplete(self, request: visitor_query.Autocomplete) -> dict[str, Any]:
        """Rocket.Chat's `{items, success}`: the first ten visitors by name whose name starts with the prefix."""
        await self._require_generation()
        response = await pages.search(
            self._client,
            self._observer,
            index=self._alias,
            query=visitor_query.autocomplete_query(request),
            sort=visitor_query.autocomplete_sort(),
            size=visitor_query.AUTOCOMPLETE_LIMIT,
            source={"includes": [fields.FIELD_VISITOR]},
            track_total_hits=False,
            allow_partial_search_results=False,
        )
        hits = response["hits"]["hits"]
        items = [visitor_query.autocomplete_item(hit["_source"][fields.FIELD_VISITOR]) for hit in hits]
        return {"items": items, "success": True}

    async def _require_generation(self) -> None:
        generation = await self.generations.get("generation", self._load_generation)
        if generation < fields.LISTS_MAPPING_VERSION:
            raise BackendUnavailable(
                "The visitors index predates this route: run `python -m indexer reindex --collection visitors`"
            )

    async def _load_generation(self) -> int:
        async with timed(self._observer, "elasticsearch"):
            found = await self._client.indices.get_mapping(index=self._alias)
        if not isinstance(found.body, dict) or not all(isinstance(index, dict) for index in found.body.values()):
            raise BackendFailed(backend_failures.FAILED)  # a 200 that is not Elasticsearch's JSON (a proxy's page)
        versions = [shared.mapping_version(index.get("mappings", {})) for index in found.body.values()]
        return min(versions, default=0)
