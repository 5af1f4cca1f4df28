"""The served OpenAPI (`GET /openapi.json`) fuzzed with schemathesis against the real service and backends.

Every drawn request, schema-valid or not, with valid credentials and without, gets a documented status with a body
of the documented schema and never a 5xx; a request whose query, as sent, matches the schema is never refused.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import pytest
import schemathesis
from aiohttp.test_utils import TestClient
from elasticsearch import AsyncElasticsearch
from hypothesis import HealthCheck, Phase, given, settings
from pymongo.asynchronous.database import AsyncDatabase
from schemathesis import GenerationMode, checks

from indexer import backfill
from indexer.collections import LIVECHAT_CONTACTS, VISITORS
from tests import factories
from tests.integration.conftest import Indexer

SEARCH = "/api/v1/omnichannel/contact.search"
CONTACTS_SEARCH = "/api/v1/omnichannel/contacts.search"
CONTACTS_GET = "/api/v1/omnichannel/contacts.get"
VISITORS_SEARCH = "/api/v1/livechat/visitors.search"
VISITORS_AUTOCOMPLETE = "/api/v1/livechat/visitors.autocomplete"
# What a request the schema accepts is answered with, per route.
ANSWERED = {
    SEARCH: {200},
    CONTACTS_SEARCH: {200},
    CONTACTS_GET: {200, 404},
    VISITORS_SEARCH: {200},
    VISITORS_AUTOCOMPLETE: {200},
}
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}
# Bounded and derandomized: the same requests on every run. Drawing from the patterns of `custom` is most of the
# time (about 0.1 s an example on 2 shared cores); a run that takes longer than RUN_TIMEOUT fails.
EXAMPLES_PER_RUN = 50
RUN_TIMEOUT = 90.0
# schemathesis' own `negative_data_rejection` is left out: it reads an exploded query object's mutation as sent even
# when the query on the wire matches the schema (it flagged `custom={"0":""}&email=&phone=`). The test checks the
# direction the contract needs on the wire instead: a query the schema accepts is answered, one it refuses gets 400.
# (The schema describes one pair of the older `custom` form; strings such as `{"a"=1`, not JSON and so read as a
# pair, are accepted though it refuses them. The drawn data does not contain such strings; a new one would show here.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@dataclass
class Tally:
    """What the service answered, per status, and whether the query matched the schema."""

    statuses: dict[int, int] = field(default_factory=dict)
    wire_valid: dict[bool, int] = field(default_factory=dict)

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def seed(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str, index_visitors: Indexer
) -> None:
    await factories.grant_view_l_room(database)
    await factories.grant(database, "view-livechat-contact", ["livechat-agent"])
    await database[LIVECHAT_CONTACTS.collection].insert_many(
        [
            factories.livechat_contact("Ana", emails=[{"address": "a@b.c"}], phones=[{"phoneNumber": "+1"}]),
            factories.livechat_contact("0", _id="0", contactManager="agent"),
        ]
    )
    await backfill.index_once(database, es, LIVECHAT_CONTACTS.with_alias(f"{alias}-lc"), 500)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    # Short field names too: the fuzzer draws short keys, so some of its custom criteria are searchable.
    for custom_field in ("plan", "address", "0", "a", "A"):
        await factories.define_custom_field(database, custom_field)
    await database[VISITORS.collection].insert_many(
        [
            factories.visitor(visitorEmails=[{"address": "a@b.c"}], livechatData={"plan": "gold", "address": "x st"}),
            factories.visitor(phone=[{"phoneNumber": "+1"}], livechatData={"plan": "0", "a": "0", "0": "0"}),
        ]
    )
    await index_visitors()


def query_matches_schema(url: str, criteria_schema: dict[str, Any]) -> bool:
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    criteria = dict(pairs)
    return len(criteria) == len(pairs) and jsonschema.Draft202012Validator(criteria_schema).is_valid(criteria)


def _typed(raw: str, kind: str) -> Any:
    """A query-string value as the schema's type, or None when it is not one."""
    if kind == "number":
        return float(raw) if re.fullmatch(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", raw) else None
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw)
    return raw


def query_matches_parameters(url: str, parameters: list[dict[str, Any]]) -> bool:
    """Each parameter given once, each declared, the required ones present, each value of its schema."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    given_ = dict(pairs)
    declared = {parameter["name"]: parameter for parameter in parameters}
    if len(given_) != len(pairs) or not set(given_) <= set(declared):
        return False
    if any(parameter.get("required") and name not in given_ for name, parameter in declared.items()):
        return False
    for name, raw in given_.items():
        schema = declared[name]["schema"]
        value = _typed(raw, schema["type"])
        if value is None or not jsonschema.Draft202012Validator(schema).is_valid(value):
            return False
    return True


def fuzz(base_url: str, path: str, mode: GenerationMode, headers: dict[str, str]) -> Tally:
    """Draws and sends requests to one route; blocking, so it runs in a thread beside the service's event loop."""
    api = schemathesis.openapi.from_url(base_url + "/openapi.json")
    parameters = api.raw_schema["paths"][path]["get"]["parameters"]
    tally = Tally()

    @settings(
        max_examples=EXAMPLES_PER_RUN,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    # Given credentials are fixed, so that negative data mutates the query; without them, the fuzzer draws its own.
    @given(api[path]["GET"].as_strategy(generation_mode=mode, headers=headers or None))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        tally.count(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)
        assert response.headers.get("cache-control") == ["no-store"], response.headers
        if not headers:
            assert response.status_code == 401, (response.request.headers, response.text)
            return
        if path == SEARCH:
            valid = query_matches_schema(response.request.url, parameters[0]["schema"])
        else:
            valid = query_matches_parameters(response.request.url, parameters)
        tally.wire_valid[valid] = tally.wire_valid.get(valid, 0) + 1
        if valid:
            assert response.status_code in ANSWERED[path], (response.request.url, response.text)
        elif path == SEARCH:
            # The first route's schema is exact: what it refuses, the service refuses. Rocket.Chat 7's routes
            # also accept some requests their schemas do not describe (`count=0x10`).
            assert response.status_code == 400, (response.request.url, response.text)

    run()
    return tally


async def run_fuzzer(api: TestClient[Any, Any], path: str, mode: GenerationMode, headers: dict[str, str]) -> Tally:
    base_url = str(api.make_url("")).rstrip("/")
    return await asyncio.wait_for(asyncio.to_thread(fuzz, base_url, path, mode, headers), RUN_TIMEOUT)


ROUTES = pytest.mark.parametrize(
    "path", [SEARCH, CONTACTS_SEARCH, CONTACTS_GET, VISITORS_SEARCH, VISITORS_AUTOCOMPLETE]
)


@pytest.fixture
async def seeded(
    database: AsyncDatabase[dict[str, Any]], es: AsyncElasticsearch, alias: str, index_visitors: Indexer
) -> None:
    await seed(database, es, alias, index_visitors)


@ROUTES
async def test_schema_valid_requests_are_answered_as_documented(
    api: TestClient[Any, Any], seeded: None, path: str
) -> None:
    tally = await run_fuzzer(api, path, GenerationMode.POSITIVE, AGENT)
    assert sum(tally.statuses.get(status, 0) for status in ANSWERED[path]) >= EXAMPLES_PER_RUN // 2, tally
    assert set(tally.wire_valid) == {True}, tally


@ROUTES
async def test_schema_invalid_requests_are_refused_as_documented(
    api: TestClient[Any, Any], seeded: None, path: str
) -> None:
    tally = await run_fuzzer(api, path, GenerationMode.NEGATIVE, AGENT)
    assert tally.wire_valid.get(False, 0) >= EXAMPLES_PER_RUN // 4, tally


@ROUTES
async def test_requests_without_credentials_are_refused_as_documented(
    api: TestClient[Any, Any], seeded: None, path: str
) -> None:
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        tally = await run_fuzzer(api, path, mode, {})
        assert set(tally.statuses) == {401}, tally
