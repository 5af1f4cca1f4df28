"""The I/O behind `contacts.search` and `contacts.get`: the contacts index (Elasticsearch) and the contact managers
(MongoDB `users`)."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import livechat_contacts as fields
from service import backend_failures, rocketchat
from service.errors import BackendFailed, NotFound
from service.lists import pages
from service.lists import query as list_query
from service.lists.params import ListRequest
from service.metrics import BackendObserver, timed

MAX_ID_BYTES = 512


async def search(
    client: AsyncElasticsearch,
    database: AsyncDatabase[dict[str, Any]],
    alias: str,
    request: ListRequest,
    observer: BackendObserver | None = None,
) -> dict[str, Any]:
    """Rocket.Chat's `{contacts, count, offset, total, success}` for one request: the page and the exact total.
    Each Elasticsearch call is timed and its failures counted by `observer`, as the lookup's are."""
    contacts, total = await pages.read(
        client,
        alias,
        list_query.search_filter(request),
        list_query.sort_clauses(request),
        request,
        fields.FIELD_CONTACT,
        fields.MAX_RESULT_WINDOW,
        observer,
    )
    managers = await _managers(database, list_query.manager_ids(contacts))
    return list_query.answer([list_query.with_manager(contact, managers) for contact in contacts], request, total)


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
