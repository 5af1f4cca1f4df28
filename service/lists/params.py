"""Pure validation of the paged lists' query strings (`contacts.search`, `contacts.get`, `livechat/visitors.search`,
`livechat/visitors.autocomplete`), exactly as Rocket.Chat 7 does it.

Rocket.Chat parses the query string with `qs` (a repeated key or `key[...]` becomes an array or object), validates
it with Ajv (`coerceTypes: true`, first error only, no path in the message), then pages with `getPaginationItems`
and sorts with `parseJsonQuery`. Each step's JavaScript rule is written out here; `docs/contacts.md` has the sources.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from service.errors import InvalidParamsMessage, InvalidSort, QueryFailed
from service.lists.js import JS_WHITESPACE, js_number, js_parse_int_of

# Schema order: Ajv checks the properties in this order, whatever the order of the query string.
SEARCH_PROPERTIES: Final = {
    "count": "number",
    "offset": "number",
    "sort": "string",
    "searchText": "string",
    "unknown": "boolean",
}
GET_PROPERTIES: Final = {"contactId": "string"}
# `livechat/visitors.search`: every property `nullable`, `term` required.
VISITORS_SEARCH_PROPERTIES: Final = {"count": "number", "offset": "number", "sort": "string", "term": "string"}
VISITORS_AUTOCOMPLETE_PROPERTIES: Final = {"selector": "string"}


@dataclass(frozen=True)
class Paging:
    """Rocket.Chat's workspace settings API_Default_Count, API_Upper_Count_Limit, API_Allow_Infinite_Count."""

    default_count: int = 50
    upper_count_limit: int = 100
    allow_infinite_count: bool = True


@dataclass(frozen=True)
class ListRequest:
    search_text: str = ""
    unknown: bool = False
    # As Rocket.Chat prints it back; 0: every match (API_Allow_Infinite_Count); negative: MongoDB's limit(-n),
    # one batch of n.
    count: int = 50
    offset: int = 0
    # (path, 1 | -1) in order; None: the route's default (`{name: 1}`, `{ts: -1}`); empty: no sort (natural order).
    sort: tuple[tuple[str, int], ...] | None = None
    raw_sort: str = ""


def qs_key(name: str) -> tuple[str, bool]:
    """The top-level key `qs` files a query-string name under, and whether it nests (`a[b]`, `a[]`)."""
    opening = name.find("[")
    if opening < 0 or "]" not in name[opening:]:
        return name, False
    if opening == 0:
        closing = name.index("]")
        return name[1:closing], len(name) > closing + 1
    return name[:opening], True


def _qs_parse(pairs: Sequence[tuple[str, str]]) -> dict[str, str | None]:
    """Each top-level key with its string value, or None where `qs` makes an array or object of it."""
    parsed: dict[str, str | None] = {}
    for name, value in pairs:
        key, nested = qs_key(name)
        if not key:
            continue  # qs drops a pair without a name
        parsed[key] = None if nested or key in parsed else value
    return parsed


def _validate(
    parsed: dict[str, str | None], properties: dict[str, str], required: tuple[str, ...], nullable: bool = False
) -> dict[str, Any]:
    """Ajv's first error, in its order: required, additionalProperties, then each property in schema order. With
    `nullable` (every property of the schema), an empty value that is not a string coerces to null (None), as Ajv's
    `coerceTypes` does for the type list `[<type>, "null"]`; the message still names only the type."""
    for name in required:
        if name not in parsed:
            raise InvalidParamsMessage(f"must have required property '{name}'")
    if not set(parsed) <= set(properties):
        raise InvalidParamsMessage("must NOT have additional properties")
    values: dict[str, Any] = {}
    for name, kind in properties.items():
        if name not in parsed:
            continue
        raw = parsed[name]
        if raw is None:
            raise InvalidParamsMessage(f"must be {kind}")
        if nullable and raw == "" and kind != "string":
            values[name] = None
        elif kind == "number":
            # Ajv coerces a non-empty string that equals its own Number().
            number = js_number(raw) if raw else None
            if number is None or not math.isfinite(number):
                # Infinity passes Ajv but pages as NaN in Rocket.Chat; refused here.
                raise InvalidParamsMessage("must be number")
            values[name] = number
        elif kind == "boolean":
            if raw not in ("true", "false"):
                raise InvalidParamsMessage("must be boolean")
            values[name] = raw == "true"
        else:
            values[name] = raw
    return values


def _sort_keys_in_js_order(sort: dict[str, Any]) -> list[str]:
    """JavaScript enumerates integer-like keys first, ascending, then the others in insertion order."""
    indices = [key for key in sort if _is_array_index(key)]
    return sorted(indices, key=int) + [key for key in sort if key not in indices]


def _is_array_index(key: str) -> bool:
    canonical = key.isascii() and key.isdigit() and (key == "0" or not key.startswith("0"))
    return canonical and int(key) < 2**32 - 1


def parse_sort(raw: str) -> tuple[tuple[str, int], ...] | None:
    """`parseJsonQuery`'s sort: JSON whose values are all 1 or -1; anything else is InvalidSort."""
    if not raw:
        return None
    try:
        decoded = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidSort(raw) from None
    if decoded is None:
        raise InvalidSort(raw)  # Object.entries(null) throws
    if isinstance(decoded, dict):
        entries = [(key, decoded[key]) for key in _sort_keys_in_js_order(decoded)]
    elif isinstance(decoded, list):
        entries = [(str(index), value) for index, value in enumerate(decoded)]
    elif isinstance(decoded, str):
        entries = [(str(index), char) for index, char in enumerate(decoded)]
    else:
        entries = []  # a number or boolean has no entries
    if not all(type(value) in (int, float) and value in (1, -1) for _, value in entries):
        raise InvalidSort(raw)
    if not isinstance(decoded, dict):
        return ()  # passes Rocket.Chat's check but is no sort document: natural order
    return tuple((key, 1 if value == 1 else -1) for key, value in entries)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_search(pairs: Sequence[tuple[str, str]], paging: Paging) -> ListRequest:
    """A `contacts.search` query string as Rocket.Chat's validator reads it, or its 400. The sort is read by
    `with_sort`, after the permission check, as in Rocket.Chat."""
    parsed = _qs_parse(pairs)
    values = _validate(parsed, SEARCH_PROPERTIES, ())
    return ListRequest(
        search_text=values.get("searchText", ""),
        unknown=values.get("unknown", False),
        count=_count(values.get("count"), paging),
        offset=_offset(values.get("offset")),
        raw_sort=values.get("sort", ""),
    )


def with_sort(request: ListRequest) -> ListRequest:
    """The request with its sort parsed (InvalidSort), then refused as MongoDB refuses a negative skip."""
    sorted_request = dataclasses.replace(request, sort=parse_sort(request.raw_sort))
    if request.offset < 0:
        # Rocket.Chat passes it to MongoDB's skip(), which refuses it; its message comes back as a plain 400.
        raise QueryFailed(f"BSON field 'skip' value must be >= 0, actual value '{request.offset}'")
    return sorted_request


def _count(count: float | None, paging: Paging) -> int:
    """`getPaginationItems`' count."""
    default = paging.default_count if paging.default_count > 0 else 50
    upper = paging.upper_count_limit if paging.upper_count_limit > 0 else 100
    value = default if count is None else js_parse_int_of(count)
    value = min(value, upper)
    if value == 0 and not paging.allow_infinite_count:
        value = default
    return value


def _offset(offset: float | None) -> int:
    return js_parse_int_of(offset) if offset else 0


def parse_visitors_search(pairs: Sequence[tuple[str, str]], paging: Paging) -> ListRequest:
    """A `livechat/visitors.search` query string as Rocket.Chat's validator reads it, or its 400 (`term` required;
    `count=` and `offset=` are null, which pages as absent)."""
    values = _validate(_qs_parse(pairs), VISITORS_SEARCH_PROPERTIES, ("term",), nullable=True)
    return ListRequest(
        search_text=values["term"],
        count=_count(values.get("count"), paging),
        offset=_offset(values.get("offset")),
        raw_sort=values.get("sort", ""),
    )


def parse_autocomplete(pairs: Sequence[tuple[str, str]]) -> str:
    """The `selector` of a `livechat/visitors.autocomplete` query string (still JSON text), or its 400."""
    return str(_validate(_qs_parse(pairs), VISITORS_AUTOCOMPLETE_PROPERTIES, ("selector",))["selector"])


def parse_get(pairs: Sequence[tuple[str, str]]) -> str:
    """The `contactId` of a `contacts.get` query string, or its 400 (Ajv's custom `isNotEmpty` keyword)."""
    contact_id = str(_validate(_qs_parse(pairs), GET_PROPERTIES, ("contactId",))["contactId"])
    if not contact_id.strip(JS_WHITESPACE):
        raise InvalidParamsMessage('must pass "isNotEmpty" keyword validation')
    return contact_id
