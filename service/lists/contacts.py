"""The I/O behind `contacts.search` and `contacts.get`: the contacts index (Elasticsearch) and the contact managers
(MongoDB `users`)."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import livechat_contacts as fields
from service import backend_failures, rocketchat
from service.errors import BackendFailed, NotFound
from service.lists import query as list_query
from service.lists.params import ListRequest
from service.metrics import BackendObserver, timed

MAX_ID_BYTES = 512
_SOURCE = {"includes": [fields.FIELD_CONTACT]}


async def search(
    client: AsyncElasticsearch,
    database: AsyncDatabase[dict[str, Any]],
    alias: str,
    request: ListRequest,
    observer: BackendObserver | None = None,
) -> dict[str, Any]:
    """Rocket.Chat's `{contacts, count, offset, total, success}` for one request: the page and the exact total.
    Each Elasticsearch call is timed and its failures counted by `observer`, as the lookup's are."""
    query = list_query.search_filter(request)
    limit = list_query.page_size(request)
    first = min(limit or list_query.PAGE, list_query.PAGE)
    # A shard that failed on every copy (a node died mid-search) fails the request: no short page or total.
    common: dict[str, Any] = {
        "index": alias,
        "query": query,
        "allow_partial_search_results": False,
        "observer": observer,
    }
    if request.offset > fields.MAX_RESULT_WINDOW - first:
        # Past any index's end (`from` is a 32-bit integer): only the total is needed.
        response = await _search(client, **common, size=0, track_total_hits=True)
        return list_query.answer([], request, response["hits"]["total"]["value"])
    common.update(sort=list_query.sort_clauses(request), source=_SOURCE)
    response = await _search(client, **common, from_=request.offset, size=first, track_total_hits=True)
    total = response["hits"]["total"]["value"]
    hits = response["hits"]["hits"]
    contacts = [hit["_source"][fields.FIELD_CONTACT] for hit in hits]
    # Every match (count=0), or a MongoDB negative limit larger than a page: the rest after the last hit.
    while len(hits) == list_query.PAGE and (limit is None or len(contacts) < limit):
        wanted = list_query.PAGE if limit is None else min(list_query.PAGE, limit - len(contacts))
        response = await _search(client, **common, size=wanted, search_after=hits[-1]["sort"], track_total_hits=False)
        hits = response["hits"]["hits"]
        contacts.extend(hit["_source"][fields.FIELD_CONTACT] for hit in hits)
    managers = await _managers(database, list_query.manager_ids(contacts))
    return list_query.answer([list_query.with_manager(contact, managers) for contact in contacts], request, total)


async def _search(client: AsyncElasticsearch, observer: BackendObserver | None, **arguments: Any) -> dict[str, Any]:
    """One `_search`; an answer with failed shards or a timeout is the contract's error, never a short page."""
    async with timed(observer, "elasticsearch"):
        answer: dict[str, Any] = (await client.search(**arguments)).body
    refused = backend_failures.for_answer(answer)
    if refused is not None:
        raise refused
    return answer


async def _managers(database: AsyncDatabase[dict[str, Any]], ids: list[str]) -> dict[str, dict[str, Any]]:
    """`Users.findByIds(ids, {projection: {name: 1, username: 1}})`, by id."""
    if not ids:
        return {}
    cursor = database[rocketchat.USERS_COLLECTION].find({"_id": {"$in": ids}}, projection={"name": 1, "username": 1})
    return {user["_id"]: user async for user in cursor}


async def get(
    client: AsyncElasticsearch, alias: str, contact_id: str, observer: BackendObserver | None = None
) -> dict[str, Any]:
    """`{contact, success}` for an enabled contact (a realtime get: a write is visible before the next refresh)."""
    if not _possible_id(contact_id):
        raise NotFound("no such contact")
    async with timed(observer, "elasticsearch"):
        try:
            found = await client.get(index=alias, id=contact_id, source_includes=[fields.FIELD_CONTACT])
        except NotFoundError as failure:
            if not (isinstance(failure.body, dict) and failure.body.get("found") is False):
                raise  # the index itself is missing: the middleware's 503
            found = None  # an answer, not a failed call
    if found is None:
        raise NotFound("no such contact")
    if not isinstance(found.body, dict):
        raise BackendFailed(backend_failures.FAILED)  # a 200 that is not Elasticsearch's JSON (a proxy's page)
    return {"contact": found["_source"][fields.FIELD_CONTACT], "success": True}


def _possible_id(contact_id: str) -> bool:
    """Elasticsearch ids are valid UTF-8 of at most 512 bytes; no indexed contact has another."""
    try:
        return len(contact_id.encode()) <= MAX_ID_BYTES
    except UnicodeEncodeError:
        return False
