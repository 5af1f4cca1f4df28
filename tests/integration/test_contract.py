"""Every row of docs/contract.md, against the real service, indexer, Elasticsearch and Mongo wire server.

One read-only world is seeded and indexed for the module; each case is a request and its exact answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from aiohttp.test_utils import TestClient
from bson import ObjectId

from indexer import backfill
from indexer.collections import VISITORS
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import module_world, service_settings, serving

UNAUTHORIZED = {
    "success": False,
    "status": "error",
    "message": "You must be logged in to do this.",
    "error": "You must be logged in to do this.",
}
FORBIDDEN = {
    "success": False,
    "error": "User does not have the permissions required for this action [error-unauthorized]",
}
INVALID = {"success": False, "error": "[error-invalid-params]", "errorType": "error-invalid-params"}
INVALID_CUSTOM = {
    "success": False,
    "error": "[error-invalid-params-custom]",
    "errorType": "error-invalid-params-custom",
}
NO_CONTACT = {"contact": None, "success": True}

AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}
LONG_VALUE = "x" * 1500 + " The Needle In The Tail"

SANTA: dict[str, Any] = {
    "_id": ObjectId("5d9e00000000000000000001"),
    "username": "guest-1",
    "ts": dt.datetime(2024, 5, 2, 10, 31, 7, 512000),
    "token": "santa-token",
    "department": "sales",
    "name": "Santa",
    "phone": [{"phoneNumber": "+5511999999999"}],
    "visitorEmails": [{"address": "santa@example.com"}],
    "lastChat": {"_id": "room1", "ts": dt.datetime(2024, 5, 3, 8, 0, 0, 1000)},
    "status": "online",
    "lastAgent": {"agentId": "agent", "username": "agent", "ts": dt.datetime(2024, 5, 3, 8, 0, 0)},
    "livechatData": {"address": "Rocket.Chat street", "plan": "premium", "secret": "hidden", "topic": "roomy"},
    "contactManager": {"username": "manager"},
    "activity": ["2024-05"],
    "_updatedAt": dt.datetime(2024, 5, 2, 10, 31, 7, 512000),
}
SANTA_PRINTED: dict[str, Any] = {
    "_id": "5d9e00000000000000000001",
    "username": "guest-1",
    "ts": "2024-05-02T10:31:07.512Z",
    "token": "santa-token",
    "department": "sales",
    "name": "Santa",
    "phone": [{"phoneNumber": "+5511999999999"}],
    "visitorEmails": [{"address": "santa@example.com"}],
    "lastChat": {"_id": "room1", "ts": "2024-05-03T08:00:00.001Z"},
    "status": "online",
    "lastAgent": {"agentId": "agent", "username": "agent", "ts": "2024-05-03T08:00:00.000Z"},
    "livechatData": {"address": "Rocket.Chat street", "plan": "premium", "secret": "hidden", "topic": "roomy"},
    "contactManager": {"username": "manager"},
    "activity": ["2024-05"],
    "_updatedAt": "2024-05-02T10:31:07.512Z",
}

CONTRACT_VISITORS = [
    SANTA,
    factories.visitor(_id="gold-newer", ts=factories.moment(20), livechatData={"plan": "Gold"}),
    factories.visitor(_id="gold-older", ts=factories.moment(10), livechatData={"plan": "gold plus"}),
    factories.visitor(_id="tie-b", ts=factories.moment(30), livechatData={"plan": "tied"}),
    factories.visitor(_id="tie-a", ts=factories.moment(30), livechatData={"plan": "tied"}),
    factories.visitor(_id="disabled", disabled=True, visitorEmails=[{"address": "gone@example.com"}]),
    factories.visitor(_id="mixed-case", visitorEmails=[{"address": "MiXeD@Example.com"}]),
    factories.visitor(_id="regex", livechatData={"address": "literally ^((ab)*)+$ here"}),
    factories.visitor(_id="aaaa", livechatData={"address": "a" * 40 + "!"}),
    factories.visitor(_id="long", livechatData={"address": LONG_VALUE}),
    factories.visitor(_id="both", visitorEmails=[{"address": "both@example.com"}], phone=[{"phoneNumber": "+100"}]),
    factories.visitor(
        _id="other-phone", visitorEmails=[{"address": "solo@example.com"}], phone=[{"phoneNumber": "+200"}]
    ),
    factories.visitor(_id="unicode", livechatData={"address": "Straße Ünïcødé 東京"}),
]


@dataclass(frozen=True)
class World:
    client: TestClient[Any, Any]


@pytest.fixture(scope="module")
async def world(services: Services) -> AsyncIterator[World]:
    async with module_world(services, "test-contacts") as own:
        database = own.database
        await factories.grant_view_l_room(database)
        await factories.add_user(database, "agent", "agent-token", ["user", "livechat-agent"])
        await factories.add_user(
            database, "bot", "pat-token", ["bot", "livechat-manager"], token_type="personalAccessToken"
        )
        await factories.add_user(database, "plain", "plain-token", ["user"])
        await factories.add_user(database, "retired", "retired-token", ["livechat-agent"], active=False)
        for field in ("address", "plan"):
            await factories.define_custom_field(database, field)
        await factories.define_custom_field(database, "secret", searchable=False)
        await factories.define_custom_field(database, "topic", scope="room")
        await database[VISITORS.collection].insert_many([dict(visitor) for visitor in CONTRACT_VISITORS])
        await backfill.index_once(database, own.es, VISITORS.with_alias(own.alias), 500)
        async with serving(service_settings(services, own.mongo_url, own.alias)) as client:
            yield World(client)


def custom(value: dict[str, Any] | str) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return "custom=" + quote(text, safe="")


@dataclass(frozen=True)
class Case:
    name: str
    query: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None = None


def contact(visitor_id: str) -> dict[str, Any]:
    """Marks an expected 200 whose contact is the visitor with this id (its whole shape is tested elsewhere)."""
    return {"contact": {"_id": visitor_id}, "success": True}


CASES = [
    # 401, before anything else
    Case("no headers", "email=santa@example.com", 401, UNAUTHORIZED, headers={}),
    Case("no token", "email=santa@example.com", 401, UNAUTHORIZED, headers={"X-User-Id": "agent"}),
    Case("no user id", "email=santa@example.com", 401, UNAUTHORIZED, headers={"X-Auth-Token": "agent-token"}),
    Case("wrong token", "email=santa@example.com", 401, UNAUTHORIZED, headers={**AGENT, "X-Auth-Token": "nope"}),
    Case("unknown user", "email=santa@example.com", 401, UNAUTHORIZED, headers={**AGENT, "X-User-Id": "ghost"}),
    Case(
        "token of another user",
        "email=santa@example.com",
        401,
        UNAUTHORIZED,
        headers={"X-User-Id": "agent", "X-Auth-Token": "plain-token"},
    ),
    Case(
        "deactivated user",
        "email=santa@example.com",
        401,
        UNAUTHORIZED,
        headers={"X-User-Id": "retired", "X-Auth-Token": "retired-token"},
    ),
    Case(
        "operator injection in user id",
        "email=santa@example.com",
        401,
        UNAUTHORIZED,
        headers={"X-User-Id": '{"$ne":null}', "X-Auth-Token": "agent-token"},
    ),
    Case("401 before 400", "bogus=1", 401, UNAUTHORIZED, headers={}),
    # 403, before validation
    Case(
        "no view-l-room",
        "email=santa@example.com",
        403,
        FORBIDDEN,
        headers={"X-User-Id": "plain", "X-Auth-Token": "plain-token"},
    ),
    Case("403 before 400", "bogus=1", 403, FORBIDDEN, headers={"X-User-Id": "plain", "X-Auth-Token": "plain-token"}),
    Case(
        "personal access token",
        "email=santa@example.com",
        200,
        contact("5d9e00000000000000000001"),
        headers={"X-User-Id": "bot", "X-Auth-Token": "pat-token"},
    ),
    # 400 error-invalid-params
    Case("no parameters", "", 400, INVALID),
    Case("empty email", "email=", 400, INVALID),
    Case("empty phone and email", "email=&phone=", 400, INVALID),
    Case("empty custom object", custom({}), 400, INVALID),
    Case("empty custom string", "custom=", 400, INVALID),
    Case("repeated email", "email=a@b.c&email=d@e.f", 400, INVALID),
    Case("unknown parameter", "email=santa@example.com&count=1", 400, INVALID),
    Case("unknown parameter alone", "query=santa", 400, INVALID),
    # 400 error-invalid-params-custom
    Case("custom not json", "custom=" + quote("{not json", safe=""), 400, INVALID_CUSTOM),
    Case("custom plain word", "custom=premium", 400, INVALID_CUSTOM),
    Case("custom array", custom([1, 2]), 400, INVALID_CUSTOM),
    Case("custom number value", custom({"plan": 1}), 400, INVALID_CUSTOM),
    Case("custom null value", custom({"plan": None}), 400, INVALID_CUSTOM),
    Case("custom nested value", custom({"plan": {"$regex": "."}}), 400, INVALID_CUSTOM),
    Case("custom json string", custom('"premium"'), 400, INVALID_CUSTOM),
    Case("custom json null", custom("null"), 400, INVALID_CUSTOM),
    Case("custom integer beyond 64 bits", custom('{"plan":18446744073709551616}'), 400, INVALID_CUSTOM),
    Case("custom integer of 5000 digits", custom("[" + "9" * 5000 + "]"), 400, INVALID_CUSTOM),
    Case("custom nested deeper than the parser's stack", custom("[" * 1200), 400, INVALID_CUSTOM),
    Case("custom value with a lone surrogate", custom('{"plan":"\\ud800"}'), 200, NO_CONTACT),
    Case("email and a lone surrogate", "email=santa@example.com&" + custom('{"plan":"p\\udfff"}'), 200, NO_CONTACT),
    Case("custom bad before email", "email=santa@example.com&" + custom("[]"), 400, INVALID_CUSTOM),
    # custom keys that do not take part
    Case("not searchable", custom({"secret": "hidden"}), 200, NO_CONTACT),
    Case("room scope", custom({"topic": "roomy"}), 200, NO_CONTACT),
    Case("undefined field", custom({"nosuch": "x"}), 200, NO_CONTACT),
    Case("operator key", custom({"$where": "1"}), 200, NO_CONTACT),
    Case(
        "dropped key next to a real one",
        custom({"secret": "nothing", "plan": "premium"}),
        200,
        contact("5d9e00000000000000000001"),
    ),
    # email
    Case("email", "email=santa@example.com", 200, contact("5d9e00000000000000000001")),
    Case("email upper case query", "email=SANTA@EXAMPLE.COM", 200, contact("5d9e00000000000000000001")),
    Case("email stored mixed case", "email=mixed@example.com", 200, contact("mixed-case")),
    Case("email is exact, not substring", "email=santa@example", 200, NO_CONTACT),
    Case("email no match", "email=nobody@example.com", 200, NO_CONTACT),
    Case("email of disabled visitor", "email=gone@example.com", 200, NO_CONTACT),
    # phone
    Case("phone encoded plus", "phone=%2B5511999999999", 200, contact("5d9e00000000000000000001")),
    Case("phone unencoded plus", "phone=+5511999999999", 200, contact("5d9e00000000000000000001")),
    Case("phone is exact", "phone=%2B551199999999", 200, NO_CONTACT),
    # AND
    Case("email and phone agree", "email=both@example.com&phone=%2B100", 200, contact("both")),
    Case("email and phone disagree", "email=both@example.com&phone=%2B200", 200, NO_CONTACT),
    Case("email and custom disagree", "email=santa@example.com&" + custom({"plan": "gold"}), 200, NO_CONTACT),
    Case("empty email ignored next to phone", "email=&phone=%2B200", 200, contact("other-phone")),
    # custom substring, case-insensitive, literal
    Case("custom substring", custom({"address": "rocket.chat"}), 200, contact("5d9e00000000000000000001")),
    Case(
        "custom whole value other case",
        custom({"address": "ROCKET.CHAT STREET"}),
        200,
        contact("5d9e00000000000000000001"),
    ),
    Case("custom dot is literal", custom({"address": "rocket chat"}), 200, NO_CONTACT),
    Case("custom one char", custom({"plan": "m"}), 200, contact("5d9e00000000000000000001")),
    Case("custom two chars at the end", custom({"plan": "um"}), 200, contact("5d9e00000000000000000001")),
    Case("custom regex is literal text", custom({"address": "^((ab)*)+$"}), 200, contact("regex")),
    Case("custom regex is not run", custom({"address": "^rocket"}), 200, NO_CONTACT),
    Case("custom grams present but not adjacent", custom({"address": "a" * 41}), 200, NO_CONTACT),
    Case("custom repeated grams", custom({"address": "a" * 39 + "!"}), 200, contact("aaaa")),
    Case("custom in the tail of a long value", custom({"address": "needle in the tail"}), 200, contact("long")),
    Case("custom longer than the gram window", custom({"address": LONG_VALUE[-1100:]}), 200, contact("long")),
    Case("custom unicode", custom({"address": "straße ünïcødé"}), 200, contact("unicode")),
    Case(
        "custom url-search-params form",
        "custom=" + quote("plan=premium", safe=""),
        200,
        contact("5d9e00000000000000000001"),
    ),
    Case(
        "custom url-search-params two fields",
        "custom=" + quote("plan=prem&address=street", safe=""),
        200,
        contact("5d9e00000000000000000001"),
    ),
    Case("custom two fields disagree", custom({"plan": "premium", "address": "nowhere"}), 200, NO_CONTACT),
    # which contact
    Case("oldest ts first", custom({"plan": "gold"}), 200, contact("gold-older")),
    Case("same ts: smallest _id", custom({"plan": "tied"}), 200, contact("tie-a")),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_contract_case(world: World, case: Case) -> None:
    headers = AGENT if case.headers is None else case.headers
    response = await world.client.get("/api/v1/omnichannel/contact.search?" + case.query, headers=headers)
    body = orjson.loads(await response.read())
    assert response.status == case.status, body
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    if case.status == 200 and case.body["contact"] is not None:
        assert body["success"] is True
        assert body["contact"]["_id"] == case.body["contact"]["_id"]
    else:
        assert body == case.body


async def test_contact_is_printed_like_rocket_chat(world: World) -> None:
    response = await world.client.get("/api/v1/omnichannel/contact.search?email=santa@example.com", headers=AGENT)
    assert await response.read() == orjson.dumps({"contact": SANTA_PRINTED, "success": True})


async def test_unknown_route_is_a_json_404(world: World) -> None:
    response = await world.client.get("/api/v1/omnichannel/contact.nothing", headers=AGENT)
    assert response.status == 404
    assert orjson.loads(await response.read()) == {"success": False, "error": "Not Found"}
