"""Pure translation of a contact.search request into an Elasticsearch query, and of its hits into a contact.

Custom values are matched through the older lower-cased keyword grams with a literal check of the candidates, not the
exact substring scheme the visitor lists use (`custom_search`): those tokens exist only in indices of mapping
generation 2, and contact.search must keep answering from an index built before, until `reindex` has run everywhere
(`contact_index/visitors.py`). Moving it needs that one reindex; then the grams can go.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from contact_index import shared
from contact_index import visitors as visitor_fields
from service.errors import InvalidCustom, InvalidParams

SEARCH_PARAMETERS = frozenset({"email", "phone", "custom"})
SORT: list[dict[str, Any]] = [
    {visitor_fields.FIELD_TS: {"order": "asc", "missing": "_last"}},
    {shared.FIELD_ID: {"order": "asc"}},
]


@dataclass(frozen=True)
class Criteria:
    """What the caller asked for. Empty strings count as not given, like Rocket.Chat's falsy checks."""

    email: str = ""
    phone: str = ""
    custom: Mapping[str, str] = field(default_factory=dict)

    def restricted_to(self, searchable_keys: Iterable[str]) -> Criteria:
        """The same criteria without custom keys that are not searchable visitor fields."""
        keys = frozenset(searchable_keys)
        return Criteria(self.email, self.phone, {key: value for key, value in self.custom.items() if key in keys})

    @property
    def is_empty(self) -> bool:
        return not (self.email or self.phone or self.custom)

    @property
    def can_match(self) -> bool:
        """False when a custom value holds a lone surrogate (JSON `"\\ud800"`): no stored text does."""
        return all(_is_unicode_text(value) for value in self.custom.values())


def _is_unicode_text(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def parse_criteria(pairs: Sequence[tuple[str, str]]) -> Criteria:
    """Validate the query string (as decoded pairs) into criteria; raises the contract's 400 errors."""
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names) or not SEARCH_PARAMETERS.issuperset(names):
        raise InvalidParams("repeated or unknown parameter")
    given = dict(pairs)
    custom = parse_custom(given.get("custom", ""))
    criteria = Criteria(email=given.get("email", ""), phone=normalize_phone(given.get("phone", "")), custom=custom)
    if criteria.is_empty:
        raise InvalidParams("one of email, phone or custom is required")
    return criteria


def normalize_phone(phone: str) -> str:
    """A `+` sent unencoded in a query string arrives as a space: restore it."""
    if phone.startswith(" ") and phone[1:2].isdigit():
        return "+" + phone[1:]
    return phone


def parse_custom(raw: str) -> dict[str, str]:
    """`custom` as a JSON object of strings, or in the older URLSearchParams form `a=1&b=2`."""
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except RecursionError as failure:
        # JSON nested deeper than the interpreter's stack: no object of strings is that deep.
        raise InvalidCustom("custom is nested too deeply") from failure
    except ValueError:
        return _parse_form(raw)
    if not isinstance(decoded, dict) or not all(isinstance(value, str) for value in decoded.values()):
        raise InvalidCustom("custom must be an object of strings")
    return decoded


def _parse_form(raw: str) -> dict[str, str]:
    parts = raw.split("&")
    if not all("=" in part and not part.startswith("=") for part in parts):
        raise InvalidCustom("custom is neither JSON nor name=value pairs")
    pairs = parse_qsl(raw, keep_blank_values=True)
    found = dict(pairs)
    if len(found) != len(pairs) or len(pairs) != len(parts):
        raise InvalidCustom("custom repeats a field")
    return found


def custom_clause(key: str, value: str) -> dict[str, Any]:
    """Candidates whose `livechatData.<key>` may contain `value` (confirmed literally afterwards)."""
    folded = visitor_fields.fold(value)
    if not folded:
        grams: dict[str, Any] = {"term": {visitor_fields.FIELD_CUSTOM_GRAMS: visitor_fields.presence_term(key)}}
    elif len(folded) < visitor_fields.GRAM_SIZE:
        grams = {"prefix": {visitor_fields.FIELD_CUSTOM_GRAMS: visitor_fields.gram_term(key, folded)}}
    elif len(folded) <= visitor_fields.GRAM_WINDOW:
        grams = {
            "bool": {
                "filter": [
                    {"term": {visitor_fields.FIELD_CUSTOM_GRAMS: visitor_fields.gram_term(key, gram)}}
                    for gram in visitor_fields.query_grams(folded)
                ]
            }
        }
    else:
        # Longer than any gram window: only a long value can hold it.
        return {"term": {visitor_fields.FIELD_CUSTOM_LONG: key}}
    return {"bool": {"should": [grams, {"term": {visitor_fields.FIELD_CUSTOM_LONG: key}}], "minimum_should_match": 1}}


def search_query(criteria: Criteria) -> dict[str, Any]:
    """The Elasticsearch query (filter context only: no scoring) for all criteria ANDed."""
    filters: list[dict[str, Any]] = []
    if criteria.email:
        filters.append({"term": {visitor_fields.FIELD_EMAILS: criteria.email}})
    if criteria.phone:
        filters.append({"term": {visitor_fields.FIELD_PHONES: criteria.phone}})
    filters.extend(custom_clause(key, value) for key, value in sorted(criteria.custom.items()))
    return {"bool": {"filter": filters}}


def confirms(contact: Mapping[str, Any], criteria: Criteria) -> bool:
    """The literal substring check of every custom criterion against a candidate contact."""
    livechat_data = contact.get("livechatData")
    if not isinstance(livechat_data, Mapping):
        return not criteria.custom
    return all(visitor_fields.value_contains(livechat_data.get(key), value) for key, value in criteria.custom.items())


def first_confirmed(hits: Iterable[Mapping[str, Any]], criteria: Criteria) -> dict[str, Any] | None:
    """The first hit (in sort order) whose contact passes the literal check."""
    for hit in hits:
        contact = hit.get("_source", {}).get(visitor_fields.FIELD_VISITOR)
        if isinstance(contact, dict) and confirms(contact, criteria):
            return contact
    return None
