"""The pure part of `livechat/visitors.search` and `livechat/visitors.autocomplete`: Rocket.Chat's filters as
Elasticsearch queries over the visitors index, the autocomplete's `selector` read as JavaScript reads it, and each
answer's shape (`docs/visitors.md` has the sources)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from contact_index import shared, substring
from contact_index import visitors as fields
from service.errors import QueryFailed, UnsupportedRequest
from service.lists import js, js_json, paging
from service.lists.params import ListRequest

# `sort || {ts: -1}`
DEFAULT_SORT: Final = (("ts", -1),)
# `projection: {username, name, phone, livechatData, visitorEmails, lastChat}` (and `_id`), in stored key order.
PROJECTION: Final = frozenset({"_id", "username", "name", "phone", "livechatData", "visitorEmails", "lastChat"})
AUTOCOMPLETE_SORT: Final = (("name", 1),)
AUTOCOMPLETE_LIMIT: Final = 10


def search_filter(term: str, searchable: Iterable[str]) -> dict[str, Any]:
    """`findPaginatedVisitorsByEmailOrPhoneOrNameOrUsernameOrCustomField`: no term is every enabled visitor (with
    searchable fields too: their `undefined` clauses are dropped by the driver); else the `$or` of exact email, exact
    phone, and the escaped term as a case-insensitive substring of name, username or a searchable custom field.
    Disabled visitors are not in the index."""
    if not term:
        return {"match_all": {}}
    term = utf8(term)
    clauses: list[dict[str, Any] | None] = [
        {"term": {fields.FIELD_EMAIL_ADDRESSES: term}},
        {"term": {fields.FIELD_PHONES: term}},
        substring.query(fields.FIELD_SEARCH, term),
        *(substring.query(fields.FIELD_CUSTOM_SEARCH, term, substring.namespace(key)) for key in sorted(searchable)),
    ]
    return {"bool": {"should": [clause for clause in clauses if clause is not None], "minimum_should_match": 1}}


def sort_clauses(request: ListRequest) -> list[dict[str, Any]]:
    """The visitors' order; a path the index does not sort by is refused (visitors may hold it)."""
    return paging.sort_clauses(request.sort, DEFAULT_SORT, fields.SORT_FIELDS, unknown_ties=False)


def projected(visitor: Mapping[str, Any]) -> dict[str, Any]:
    """A stored visitor as the projection prints it: the listed keys, in the stored order."""
    return {key: value for key, value in visitor.items() if key in PROJECTION}


def search_answer(visitors: list[dict[str, Any]], request: ListRequest, total: int) -> dict[str, Any]:
    """`{visitors, count: visitors.length, offset, total, success}`: unlike `contacts.search`, the page's length."""
    return {
        "visitors": [projected(visitor) for visitor in visitors],
        "count": len(visitors),
        "offset": paging.printable(request.offset),
        "total": total,
        "success": True,
    }


@dataclass(frozen=True)
class Autocomplete:
    """What the autocomplete's `selector` asks for: a case-insensitive prefix of `name`, and ids left out."""

    prefix: str = ""
    exceptions: frozenset[str] = frozenset()


def parse_selector(raw: str) -> Autocomplete:
    """`findVisitorsToAutocomplete({selector: JSON.parse(selector)})` up to its query: JSON.parse's and the
    destructuring's errors as Rocket.Chat's 400s; `conditions` refused."""
    try:
        selector = js_json.parse(raw)
    except js_json.JsonSyntaxError as failure:
        raise QueryFailed(str(failure)) from None
    if selector is None:
        raise QueryFailed("Cannot read properties of null (reading 'exceptions')")
    properties: dict[str, Any] = selector if isinstance(selector, dict) else {}
    if _spreads_keys(properties.get("conditions")):
        raise UnsupportedRequest(
            "The autocomplete's MongoDB 'conditions' are not served here (deprecated in Rocket.Chat 8.8, gone in 9.0)"
        )
    exceptions = properties.get("exceptions", [])
    listed = exceptions if isinstance(exceptions, list) else [exceptions]
    term = properties.get("term")
    # escapeRegExp's `toString(x) = x ? "" + x : ""`; the escaped pattern is then trimmed (escapes add no space).
    text = js.js_string(term) if js.is_truthy(term) else ""
    return Autocomplete(
        prefix=utf8(js.js_trim(text)),
        exceptions=frozenset(utf8(item) for item in listed if isinstance(item, str)),
    )


def _spreads_keys(conditions: Any) -> bool:
    """Whether `{...conditions}` adds any key: a non-empty object, array or string does; null, numbers, booleans,
    `{}`, `[]` and `""` add none."""
    return isinstance(conditions, dict | list | str) and len(conditions) > 0


def utf8(text: str) -> str:
    """The text as Node's UTF-8 encoder sends it to MongoDB: a lone surrogate becomes U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(char) < 0xE000 else char for char in text)


def autocomplete_query(request: Autocomplete) -> dict[str, Any]:
    """`$match {name: /^prefix/i, _id: {$nin: exceptions}}` (disabled visitors are not in the index)."""
    query: dict[str, Any] = {
        "bool": {"filter": [substring.query(fields.FIELD_NAME_START, request.prefix, anchored=True)]}
    }
    if request.exceptions:
        query["bool"]["must_not"] = [{"terms": {shared.FIELD_ID: sorted(request.exceptions)}}]
    return query


def autocomplete_sort() -> list[dict[str, Any]]:
    """`$sort {name: 1}`, then `_id` for ties (MongoDB leaves them unordered)."""
    return paging.sort_clauses(AUTOCOMPLETE_SORT, AUTOCOMPLETE_SORT, fields.SORT_FIELDS, unknown_ties=False)


def autocomplete_item(visitor: Mapping[str, Any]) -> dict[str, Any]:
    """`$project {custom_name: {$concat: ['$username', ' - ', '$name']}, _id: 1, name: 1, username: 1}`: the included
    keys in stored order, then `custom_name` (null when an operand is missing or not a string)."""
    item = {key: value for key, value in visitor.items() if key in ("_id", "name", "username")}
    username, name = visitor.get("username"), visitor.get("name")
    item["custom_name"] = f"{username} - {name}" if isinstance(username, str) and isinstance(name, str) else None
    return item
