"""The one read behind every paged list: a page of an index in MongoDB's order with the exact total, read in pages of
`paging.PAGE` documents when more are asked for (count=0, a large negative count)."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch

from service import backend_failures
from service.lists import paging
from service.lists.params import ListRequest
from service.metrics import BackendObserver, timed


async def read(
    client: AsyncElasticsearch,
    alias: str,
    query: dict[str, Any],
    sort: list[dict[str, Any]],
    request: ListRequest,
    source: str,
    max_window: int,
    observer: BackendObserver | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The stored `source` object of each document of the page asked for, and the exact total of `query`; each
    Elasticsearch call timed and its failures counted by `observer` (the lookup's are too)."""
    limit = paging.page_size(request)
    first = min(limit or paging.PAGE, paging.PAGE)
    # A shard that failed on every copy (a node died mid-search) fails the request: no short page or total.
    common: dict[str, Any] = {
        "index": alias,
        "query": query,
        "allow_partial_search_results": False,
        "observer": observer,
    }
    if request.offset > max_window - first:
        # Past any index's end (`from` is a 32-bit integer): only the total is needed.
        response = await search(client, **common, size=0, track_total_hits=True)
        return [], response["hits"]["total"]["value"]
    common.update(sort=sort, source={"includes": [source]})
    response = await search(client, **common, from_=request.offset, size=first, track_total_hits=True)
    total = response["hits"]["total"]["value"]
    hits = response["hits"]["hits"]
    found = [hit["_source"][source] for hit in hits]
    # Every match (count=0), or a MongoDB negative limit larger than a page: the rest after the last hit.
    while len(hits) == paging.PAGE and (limit is None or len(found) < limit):
        wanted = paging.PAGE if limit is None else min(paging.PAGE, limit - len(found))
        response = await search(client, **common, size=wanted, search_after=hits[-1]["sort"], track_total_hits=False)
        hits = response["hits"]["hits"]
        found.extend(hit["_source"][source] for hit in hits)
    return found, total


async def search(
    client: AsyncElasticsearch, observer: BackendObserver | None = None, **arguments: Any
) -> dict[str, Any]:
    """One `_search`; an answer with failed shards or a timeout is the contract's error, never a short page."""
    async with timed(observer, "elasticsearch"):
        answer: dict[str, Any] = (await client.search(**arguments)).body
    refused = backend_failures.for_answer(answer)
    if refused is not None:
        raise refused
    return answer
