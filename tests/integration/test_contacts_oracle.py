"""`contacts.search`'s exact total, proven against a brute-force oracle on the real server.

A corpus of contacts with random names, emails and phones (case quirks, regex metacharacters, whitespace, astral
characters) is indexed once; for each drawn search text the service's `total` and the ids of the whole answer
(`count=0`: every match) must be exactly those of Python's case-insensitive regex search of the escaped text over
`name`, every `emails.address` and every `phones.phoneNumber`, the rule Rocket.Chat runs in MongoDB.
"""

from __future__ import annotations

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

from indexer import backfill
from indexer.collections import LIVECHAT_CONTACTS
from service.app import CONTACTS_SEARCH_PATH
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import module_world, service_settings, serving

AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}
ALPHABET = (
    "aAbBsS\u017fkK\u212a\u03c3\u03c2\u03a3iI\u0131\u0130\u00df\u1e9e\ufb05\ufb06\u0390\u1fd3\u00e9\u00c9"
    ".*+?()[]{}|^$\\ -@_0123456789\U0001f600"
)
CORPUS_SIZE = 300


def random_text(rng: random.Random, length: int) -> str:
    return "".join(
        rng.choice(ALPHABET) if rng.random() < 0.9 else chr(rng.randrange(0x20, 0x3000)) for _ in range(length)
    )


def corpus(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    contacts = []
    for _ in range(CORPUS_SIZE):
        emails = [{"address": random_text(rng, rng.randrange(1, 12))} for _ in range(rng.randrange(0, 3))]
        phones = [{"phoneNumber": random_text(rng, rng.randrange(1, 8))} for _ in range(rng.randrange(0, 3))]
        contacts.append(
            factories.livechat_contact(random_text(rng, rng.randrange(0, 10)), emails=emails, phones=phones)
        )
    return contacts


CONTACTS = corpus(seed=20261129)


def searched_values(contact: dict[str, Any]) -> list[str]:
    return [contact["name"], *(e["address"] for e in contact["emails"]), *(p["phoneNumber"] for p in contact["phones"])]


def oracle(needle: str) -> set[str]:
    """Rocket.Chat's filter: an empty text matches every contact with any string there; else a case-insensitive
    regex of the escaped text."""
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    return {contact["_id"] for contact in CONTACTS if any(pattern.search(value) for value in searched_values(contact))}


@pytest.fixture(scope="module")
async def api(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    async with module_world(services, "test-oracle") as own:
        await factories.grant(own.database, "view-livechat-contact", ["livechat-agent"])
        await factories.add_user(own.database, "agent", "agent-token", ["livechat-agent"])
        await own.database[LIVECHAT_CONTACTS.collection].insert_many([dict(contact) for contact in CONTACTS])
        spec = LIVECHAT_CONTACTS.with_alias(own.alias)
        summary = await backfill.index_once(own.database, own.es, spec, 500)
        assert (summary.indexed, summary.refused) == (CORPUS_SIZE, 0)
        async with serving(service_settings(services, own.mongo_url, "unused", es_contacts_index=own.alias)) as client:
            yield client


async def answer(api: TestClient[Any, Any], needle: str) -> tuple[int, set[str]]:
    response = await api.get(f"{CONTACTS_SEARCH_PATH}?{urlencode({'searchText': needle, 'count': '0'})}", headers=AGENT)
    assert response.status == 200
    body = orjson.loads(await response.read())
    ids = [contact["_id"] for contact in body["contacts"]]
    assert len(ids) == len(set(ids))
    return body["total"], set(ids)


def substrings_of_stored_values() -> st.SearchStrategy[str]:
    values = [value for contact in CONTACTS for value in searched_values(contact) if value]
    return st.sampled_from(values).flatmap(
        lambda value: st.tuples(st.integers(0, len(value) - 1), st.integers(1, 6)).map(
            lambda span: value[span[0] : span[0] + span[1]]
        )
    )


# Any text a query string can carry: a lone surrogate cannot be sent as UTF-8.
NEEDLES = substrings_of_stored_values() | st.text(
    alphabet=st.sampled_from(ALPHABET) | st.characters(exclude_categories=["Cs"]), max_size=5
)


@given(needle=NEEDLES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_total_and_matches_are_exactly_the_oracle_s(api: TestClient[Any, Any], needle: str) -> None:
    expected = oracle(needle)
    total, ids = await answer(api, needle)
    assert (total, ids) == (len(expected), expected), needle


async def test_the_corpus_has_hits_and_misses_of_every_length(api: TestClient[Any, Any]) -> None:
    """Guards the property above against a corpus where every needle trivially matches or misses."""
    lengths = {1: 0, 2: 0, 3: 0, 5: 0}
    for contact in CONTACTS[:40]:
        for value in searched_values(contact):
            for length in lengths:
                if len(value) >= length:
                    needle = value[:length]
                    total, ids = await answer(api, needle)
                    assert (total, ids) == (len(oracle(needle)), oracle(needle)) and contact["_id"] in ids
                    lengths[length] += 1
    assert all(count > 0 for count in lengths.values())
    assert (await answer(api, "no such text"))[0] == 0
