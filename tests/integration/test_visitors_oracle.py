"""`livechat/visitors.search` and `visitors.autocomplete` proven against Rocket.Chat's query semantics, run by a small
Python oracle over the same documents, on the real server.

A corpus of visitors (odd names with case quirks, regex metacharacters, white space and astral characters; several
emails and phones; searchable and non-searchable custom fields, and a field scoped to rooms; disabled ones) is written
to the wire server and indexed by the real indexer. For each drawn request the answer must equal the oracle's: the
total, the order, the page and each visitor's projection; for the autocomplete, the items. The oracle shares no code
with the service: it reads the MongoDB filters of `docs/visitors.md` literally (Python's `re` with IGNORECASE on the
escaped term for every regex, `==` for email and phone, MongoDB's sort order with `_id` after it).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer import backfill, documents
from indexer.collections import VISITORS
from service.app import VISITORS_AUTOCOMPLETE_PATH, VISITORS_SEARCH_PATH
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import module_world, service_settings, serving

AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}
ALPHABET = (
    "aAbBsS\u017fkK\u212a\u03c3\u03c2\u03a3iI\u0131\u0130\u00df\u1e9e\ufb05\ufb06\u0390\u1fd3\u00e9\u00c9"
    ".*+?()[]{}|^$\\ -@_0123456789\U0001f600"
)
CORPUS_SIZE = 250
SEARCHABLE = ("address", "plan")  # scope visitor, searchable
NOT_SEARCHED = ("secret", "room_note")  # not searchable; searchable but scoped to rooms
PROJECTION = ("_id", "username", "name", "phone", "livechatData", "visitorEmails", "lastChat")
SORT_PATHS = (
    "ts",
    "_updatedAt",
    "lastChat.ts",
    "name",
    "username",
    "visitorEmails.address",
    "phone.phoneNumber",
    "_id",
)
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # noqa: E501


def random_text(rng: random.Random, length: int) -> str:
    return "".join(
        rng.choice(ALPHABET) if rng.random() < 0.9 else chr(rng.randrange(0x20, 0x3000)) for _ in range(length)
    )


def corpus(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    visitors = []
    for number in range(CORPUS_SIZE):
        fields: dict[str, Any] = {
            "_id": f"v{rng.randrange(10**6):06d}-{number:03d}",
            "username": rng.choice([f"guest-{number}", random_text(rng, rng.randrange(1, 8))]),
            "ts": dt.datetime(2024, 1, 1) + dt.timedelta(minutes=rng.randrange(0, 60)),
            "_updatedAt": dt.datetime(2024, 2, 1) + dt.timedelta(seconds=rng.randrange(0, 10**6)),
        }
        if rng.random() < 0.9:
            fields["name"] = random_text(rng, rng.randrange(0, 10))
        if rng.random() < 0.7:
            fields["visitorEmails"] = [
                {"address": random_text(rng, rng.randrange(1, 10))} for _ in range(rng.randrange(0, 3))
            ]
        if rng.random() < 0.7:
            fields["phone"] = [
                {"phoneNumber": random_text(rng, rng.randrange(1, 7))} for _ in range(rng.randrange(0, 3))
            ]
        if rng.random() < 0.6:
            keys = rng.sample([*SEARCHABLE, *NOT_SEARCHED], rng.randrange(1, 4))
            fields["livechatData"] = {key: random_text(rng, rng.randrange(0, 9)) for key in keys}
        if rng.random() < 0.5:
            fields["lastChat"] = {
                "_id": f"room{number}",
                "ts": dt.datetime(2024, 3, 1) + dt.timedelta(hours=rng.randrange(0, 5)),
            }
        if rng.random() < 0.08:
            fields["disabled"] = True
        visitors.append(factories.visitor(**fields))
    return visitors


VISITORS_CORPUS = corpus(seed=20261206)
ENABLED = [one for one in VISITORS_CORPUS if one.get("disabled") is not True]


# --- the oracle: Rocket.Chat's MongoDB queries, read literally --------------------------------------------------


def strings(document: dict[str, Any], path: str) -> list[Any]:
    """The values MongoDB compares for a dotted path over arrays of subdocuments."""
    head, _, rest = path.partition(".")
    value = document.get(head)
    if not rest:
        return value if isinstance(value, list) else ([] if value is None else [value])
    items = value if isinstance(value, list) else [value]
    return [found for item in items if isinstance(item, dict) for found in strings(item, rest)]


def search_matches(visitor: dict[str, Any], term: str) -> bool:
    """`{$or: [...], disabled: {$ne: true}}`, or `{disabled: {$ne: true}}` with an empty term."""
    if visitor.get("disabled") is True:
        return False
    if not term:
        return True
    pattern = re.compile(re.escape(term), re.IGNORECASE)
    custom = visitor.get("livechatData") or {}
    return (
        term in strings(visitor, "visitorEmails.address")
        or term in strings(visitor, "phone.phoneNumber")
        or any(
            isinstance(value, str) and pattern.search(value) for value in [visitor.get("name"), visitor.get("username")]
        )
        or any(isinstance(custom.get(key), str) and pattern.search(custom[key]) for key in SEARCHABLE)
    )


def mongo_order(sort: list[tuple[str, int]]) -> Any:
    """MongoDB's sort: missing first ascending (last descending), an array by its least value ascending and greatest
    descending, binary string order; `_id` breaks ties (the service's documented choice)."""

    def compare(left: dict[str, Any], right: dict[str, Any]) -> int:
        for path, direction in [*sort, ("_id", 1)]:
            pick = min if direction == 1 else max
            a, b = strings(left, path), strings(right, path)
            key_a = (1, pick(a)) if a else (0,)
            key_b = (1, pick(b)) if b else (0,)
            if key_a != key_b:
                return (-1 if key_a < key_b else 1) * direction
        return 0

    return functools.cmp_to_key(compare)


def search_oracle(term: str, sort: list[tuple[str, int]] | None, count: int, offset: int) -> tuple[int, list[Any]]:
    found = sorted((one for one in VISITORS_CORPUS if search_matches(one, term)), key=mongo_order(sort or [("ts", -1)]))
    page = found[offset:] if count == 0 else found[offset : offset + count]
    printed = [documents.to_printable(one) for one in page]
    return len(found), [{key: value for key, value in one.items() if key in PROJECTION} for one in printed]


def autocomplete_oracle(term: str, exceptions: list[str]) -> list[dict[str, Any]]:
    """`$match {name: /^escaped.trim()/i, _id: {$nin}}`, `$sort {name: 1}`, `$limit 10`, `$project` (disabled
    visitors are left out: Rocket.Chat's removal unsets their name, so none ever matches)."""
    pattern = re.compile("^" + re.escape(term.strip(JS_WHITESPACE)), re.IGNORECASE)
    found = [
        one
        for one in ENABLED
        if isinstance(one.get("name"), str) and pattern.search(one["name"]) and one["_id"] not in exceptions
    ]
    items = []
    for one in sorted(found, key=mongo_order([("name", 1)]))[:10]:
        item = {key: value for key, value in one.items() if key in ("_id", "name", "username")}
        item["custom_name"] = f"{one['username']} - {one['name']}" if isinstance(one.get("username"), str) else None
        items.append(item)
    return items


# --- the real stack ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def api(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    async with module_world(services, "test-vo") as own:
        await factories.grant_view_l_room(own.database, ["livechat-agent"])
        await factories.add_user(own.database, "agent", "agent-token", ["livechat-agent"])
        for key in SEARCHABLE:
            await factories.define_custom_field(own.database, key)
        await factories.define_custom_field(own.database, "secret", searchable=False)
        await factories.define_custom_field(own.database, "room_note", scope="room")
        await own.database[VISITORS.collection].insert_many([dict(one) for one in VISITORS_CORPUS])
        summary = await backfill.index_once(own.database, own.es, VISITORS.with_alias(own.alias), 500)
        assert (summary.indexed, summary.refused) == (len(ENABLED), 0)
        async with serving(service_settings(services, own.mongo_url, own.alias)) as client:
            yield client


def values_of(visitor: dict[str, Any]) -> list[str]:
    found = [visitor.get("name"), visitor.get("username"), *strings(visitor, "visitorEmails.address")]
    found += [*strings(visitor, "phone.phoneNumber"), *(visitor.get("livechatData") or {}).values()]
    return [value for value in found if isinstance(value, str) and value]


STORED = [value for one in VISITORS_CORPUS for value in values_of(one)]
# Terms: whole stored values (exact email/phone equality, in their case and in others), pieces of them, free text,
# and the empty term. A query string cannot carry a lone surrogate.
TERMS = (
    st.sampled_from(STORED)
    | st.sampled_from(STORED).map(str.upper)
    | st.sampled_from(STORED).flatmap(
        lambda value: st.tuples(st.integers(0, len(value) - 1), st.integers(1, 6)).map(
            lambda span: value[span[0] : span[0] + span[1]]
        )
    )
    | st.text(alphabet=st.sampled_from(ALPHABET) | st.characters(exclude_categories=["Cs"]), max_size=5)
)
SORTS = st.none() | st.lists(st.tuples(st.sampled_from(SORT_PATHS), st.sampled_from([1, -1])), min_size=1, max_size=2)


@given(
    term=TERMS,
    sort=SORTS,
    count=st.sampled_from([0, 1, 3, 7, 50]),
    offset=st.integers(0, 60),
)
@settings(max_examples=160, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_visitors_search_is_the_oracle_s_answer(
    api: TestClient[Any, Any], term: str, sort: list[tuple[str, int]] | None, count: int, offset: int
) -> None:
    sort = list(dict(sort).items()) if sort else None  # a JSON object holds each key once
    query = {"term": term, "count": str(count), "offset": str(offset)}
    if sort:
        query["sort"] = orjson.dumps(dict(sort)).decode()
    response = await api.get(f"{VISITORS_SEARCH_PATH}?{urlencode(query)}", headers=AGENT)
    assert response.status == 200
    body = orjson.loads(await response.read())
    total, page = search_oracle(term, sort, count, offset)
    assert body == {"visitors": page, "count": len(page), "offset": offset, "total": total, "success": True}, term


@given(
    term=TERMS.map(lambda text: text[:4]) | st.sampled_from(["", " ", " a", "\u00a0"]),
    excluded=st.lists(st.sampled_from([one["_id"] for one in ENABLED]), max_size=3),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_visitors_autocomplete_is_the_oracle_s_answer(
    api: TestClient[Any, Any], term: str, excluded: list[str]
) -> None:
    selector = orjson.dumps({"term": term, "exceptions": excluded}).decode()
    response = await api.get(f"{VISITORS_AUTOCOMPLETE_PATH}?{urlencode({'selector': selector})}", headers=AGENT)
    assert response.status == 200
    body = orjson.loads(await response.read())
    assert body == {"items": autocomplete_oracle(term, excluded), "success": True}, term


async def test_the_corpus_exercises_every_kind_of_match(api: TestClient[Any, Any]) -> None:
    """Guards the properties above against a corpus where every term trivially matches or misses."""
    emails = [one for one in ENABLED if strings(one, "visitorEmails.address")]
    custom = [one for one in ENABLED if any((one.get("livechatData") or {}).get(key) for key in SEARCHABLE)]
    hidden = [one for one in ENABLED if (one.get("livechatData") or {}).get("secret")]
    assert emails and custom and hidden and len(ENABLED) < CORPUS_SIZE
    for term in [
        strings(emails[0], "visitorEmails.address")[0],
        custom[0]["livechatData"].get("address", ""),
        "zz\u2603",
    ]:
        total, page = search_oracle(term, None, 0, 0)
        response = await api.get(f"{VISITORS_SEARCH_PATH}?{urlencode({'term': term, 'count': '0'})}", headers=AGENT)
        assert orjson.loads(await response.read())["visitors"] == page and len(page) == total
    assert 0 < len(autocomplete_oracle("a", [])) <= 10
