"""Pure translation of a `contacts.search` request into an Elasticsearch search, and of its hits into Rocket.Chat's
answer (with each contact manager's id replaced by the user, as Rocket.Chat 7's `getContacts` does)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from contact_index import livechat_contacts as fields
from contact_index import shared, substring
from service.lists.params import ListRequest

DEFAULT_SORT: Final = (("name", 1),)
# Contacts read per Elasticsearch request; count=0 (API_Allow_Infinite_Count) and large negative counts read several.
PAGE: Final = 1000
MANAGER: Final = "contactManager"


def search_filter(request: ListRequest) -> dict[str, Any]:
    """Rocket.Chat's `$or` of three case-insensitive regexes, `unknown` equality and `enabled: {$ne: false}` (disabled
    contacts are not indexed)."""
    text = substring.query(fields.FIELD_SEARCH, request.search_text)
    matches = text if text is not None else {"term": {fields.FIELD_HAS_TEXT: True}}
    return {"bool": {"filter": [matches, {"term": {fields.FIELD_UNKNOWN: request.unknown}}]}}


def sort_clauses(request: ListRequest) -> list[dict[str, Any]]:
    """MongoDB's order: missing values first ascending and last descending, an array by its least value ascending
    and greatest descending; then `_id`, so that pages never overlap (MongoDB leaves ties unordered)."""
    clauses: list[dict[str, Any]] = []
    for path, direction in DEFAULT_SORT if request.sort is None else request.sort:
        known = fields.SORT_FIELDS.get(path)
        if known is None:
            continue  # a path no stored contact has: every contact ties
        ascending = direction == 1
        clauses.append(
            {
                known[0]: {
                    "order": "asc" if ascending else "desc",
                    "missing": "_first" if ascending else "_last",
                    "mode": "min" if ascending else "max",
                }
            }
        )
    if not any(shared.FIELD_ID in clause for clause in clauses):
        clauses.append({shared.FIELD_ID: {"order": "asc"}})
    return clauses


def page_size(request: ListRequest) -> int | None:
    """How many contacts one page holds; None: all of them (count=0). MongoDB's negative limit is one batch of that
    many."""
    return None if request.count == 0 else abs(request.count)


def manager_ids(contacts: Iterable[Mapping[str, Any]]) -> list[str]:
    """The contact managers to look up in `users`, each once, in first-seen order."""
    return list(dict.fromkeys(contact[MANAGER] for contact in contacts if isinstance(contact.get(MANAGER), str)))


def with_manager(contact: dict[str, Any], managers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`{...contact, contactManager: user}`: the key moves last; it goes when empty or when the user is gone."""
    manager_id = contact.pop(MANAGER, None)
    if manager_id and isinstance(manager_id, str) and manager_id in managers:
        contact[MANAGER] = managers[manager_id]
    return contact


def answer(contacts: list[dict[str, Any]], request: ListRequest, total: int) -> dict[str, Any]:
    return {
        "contacts": contacts,
        "count": _printable(request.count),
        "offset": _printable(request.offset),
        "total": total,
        "success": True,
    }


def _printable(number: int) -> int | float:
    """JSON has one number type; past 64 bits (a count or offset of 1e20 was asked for) print it as a float, as
    JavaScript holds it (its digits differ: `1e+20` here, `100000000000000000000` there)."""
    return number if -(2**63) <= number < 2**63 else float(number)
