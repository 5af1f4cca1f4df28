"""Pure translation of a `contacts.search` request into an Elasticsearch search, and of its hits into Rocket.Chat's
answer (with each contact manager's id replaced by the user, as Rocket.Chat 7's `getContacts` does)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from contact_index import livechat_contacts as fields
from contact_index import substring
from service.lists import paging
from service.lists.params import ListRequest

DEFAULT_SORT: Final = (("name", 1),)
MANAGER: Final = "contactManager"


def search_filter(request: ListRequest) -> dict[str, Any]:
    """Rocket.Chat's `$or` of three case-insensitive regexes, `unknown` equality and `enabled: {$ne: false}` (disabled
    contacts are not indexed)."""
    text = substring.query(fields.FIELD_SEARCH, request.search_text)
    matches = text if text is not None else {"term": {fields.FIELD_HAS_TEXT: True}}
    return {"bool": {"filter": [matches, {"term": {fields.FIELD_UNKNOWN: request.unknown}}]}}


def manager_ids(contacts: Iterable[Mapping[str, Any]]) -> list[str]:
    """The contact managers to look up in `users`, each once, in first-seen order."""
    return list(dict.fromkeys(contact[MANAGER] for contact in contacts if isinstance(contact.get(MANAGER), str)))


def with_manager(contact: dict[str, Any], managers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`{...contact, contactManager: user}`: the key moves last; it goes when empty or when the user is gone."""
    manager_id = contact.pop(MANAGER, None)
    if manager_id and isinstance(manager_id, str) and manager_id in managers:
        contact[MANAGER] = managers[manager_id]
    return contact


def sort_clauses(request: ListRequest) -> list[dict[str, Any]]:
    """The contacts' order (any path outside `SORT_FIELDS` no stored contact has: every contact ties on it)."""
    return paging.sort_clauses(request.sort, DEFAULT_SORT, fields.SORT_FIELDS, unknown_ties=True)


def answer(contacts: list[dict[str, Any]], request: ListRequest, total: int) -> dict[str, Any]:
    return {
        "contacts": contacts,
        "count": paging.printable(request.count),
        "offset": paging.printable(request.offset),
        "total": total,
        "success": True,
    }
