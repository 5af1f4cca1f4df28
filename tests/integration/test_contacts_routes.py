"""`contacts.search` and `contacts.get` against the real service, indexer, Elasticsearch and wire server.

Rocket.Chat's own end-to-end cases (apps/meteor/tests/end-to-end/api/livechat/contacts.ts) first, rewritten for
this world; then what they leave out: exact bodies, paging, sort, contact managers, disabled contacts, the order of
the checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from aiohttp.test_utils import TestClient

from indexer import backfill, documents
from indexer.collections import LIVECHAT_CONTACTS
from service.app import CONTACTS_GET_PATH, CONTACTS_SEARCH_PATH
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import AGENT, FORBIDDEN, PLAIN, UNAUTHORIZED, module_world, service_settings, serving

MANAGER = {"_id": "manager", "createdAt": dt.datetime(2024, 1, 1), "username": "maria", "name": "Maria Manager"}
NAMELESS_MANAGER = {"_id": "nameless", "username": "nameless"}

ANA = factories.livechat_contact(
    "Ana Souza",
    emails=[{"address": "ana.souza@example.com"}],
    phones=[{"phoneNumber": "+5511988887777"}],
    contactManager="manager",
    lastChat={"_id": "room-ana", "ts": dt.datetime(2024, 6, 1, 12, 0, 0, 5000)},
)
BRUNO = factories.livechat_contact("bruno", emails=[{"address": "bruno@example.org"}], contactManager="nameless")
CARLA = factories.livechat_contact(
    "Carla",
    phones=[{"phoneNumber": "+4930123456"}],
    contactManager="gone",
    lastChat={"_id": "r", "ts": dt.datetime(2024, 7, 1)},
)
DIEGO = factories.livechat_contact("Diego", contactManager="")
UNKNOWN = factories.livechat_contact("Guest 1234", unknown=True)
DISABLED = factories.livechat_contact("Ana Disabled", enabled=False, emails=[{"address": "ana.souza@example.com"}])
LISTED = [ANA, BRUNO, CARLA, DIEGO]


@dataclass
class World:
    client: TestClient[Any, Any]

    async def call(
        self, path: str, query: dict[str, str] | str = "", headers: dict[str, str] = AGENT
    ) -> tuple[int, bytes]:
        text = query if isinstance(query, str) else urlencode(query)
        response = await self.client.get(f"{path}?{text}" if text else path, headers=headers)
        return response.status, await response.read()

    async def search(self, query: dict[str, str] | str = "", headers: dict[str, str] = AGENT) -> tuple[int, Any]:
        status, body = await self.call(CONTACTS_SEARCH_PATH, query, headers)
        return status, orjson.loads(body)

    async def get(self, query: dict[str, str] | str = "", headers: dict[str, str] = AGENT) -> tuple[int, Any]:
        status, body = await self.call(CONTACTS_GET_PATH, query, headers)
        return status, orjson.loads(body)


@pytest.fixture(scope="module")
async def world(services: Services) -> AsyncIterator[World]:
    async with module_world(services, "test-lc") as own:
        database = own.database
        await factories.grant(database, "view-livechat-contact", ["livechat-agent"])
        await factories.add_user(database, "agent", "agent-token", ["user", "livechat-agent"])
        await factories.add_user(database, "plain", "plain-token", ["user"])
        await database["users"].insert_many([MANAGER, NAMELESS_MANAGER])
        await database[LIVECHAT_CONTACTS.collection].insert_many([*LISTED, UNKNOWN, DISABLED])
        summary = await backfill.index_once(database, own.es, LIVECHAT_CONTACTS.with_alias(own.alias), 500)
        assert (summary.indexed, summary.refused) == (5, 0)
        settings = service_settings(services, own.mongo_url, "unused", es_contacts_index=own.alias)
        async with serving(settings) as client:
            yield World(client)


def printed(contact: dict[str, Any], manager: dict[str, Any] | None = None) -> dict[str, Any]:
    """What contacts.search prints: the stored contact, its manager (if any) as the user, moved last."""
    shaped = documents.to_printable({key: value for key, value in contact.items() if key != "contactManager"})
    if manager is not None:
        shaped["contactManager"] = manager
    return shaped


# --- Rocket.Chat's own cases -----------------------------------------------------------------------------------


async def test_rc_lists_contacts_with_numeric_count_total_offset(world: World) -> None:
    status, body = await world.search()
    assert status == 200 and body["success"] is True
    assert len(body["contacts"]) > 0
    assert all(isinstance(body[key], int) for key in ("count", "total", "offset"))


async def test_rc_known_contacts_by_default_and_unknown_on_request(world: World) -> None:
    _, body = await world.search()
    assert body["contacts"][0]["unknown"] is False
    _, body = await world.search({"unknown": "true"})
    assert [contact["_id"] for contact in body["contacts"]] == [UNKNOWN["_id"]]
    assert body["contacts"][0]["unknown"] is True


@pytest.mark.parametrize(
    "text", ["ana.souza@example.com", "+5511988887777", "Ana Souza"], ids=["email", "phone", "name"]
)
async def test_rc_search_by_email_phone_or_name_finds_exactly_that_contact(world: World, text: str) -> None:
    _, body = await world.search({"searchText": text})
    assert body["total"] == 1
    [found] = body["contacts"]
    assert (found["_id"], found["name"]) == (ANA["_id"], ANA["name"])
    assert found["emails"][0]["address"] == "ana.souza@example.com"
    assert found["phones"][0]["phoneNumber"] == "+5511988887777"


async def test_rc_search_matching_nothing(world: World) -> None:
    assert await world.search({"searchText": "invalid"}) == (
        200,
        {"contacts": [], "count": 50, "offset": 0, "total": 0, "success": True},
    )


async def test_rc_without_the_permission(world: World) -> None:
    assert await world.search(headers=PLAIN) == (403, FORBIDDEN)
    assert await world.get({"contactId": ANA["_id"]}, headers=PLAIN) == (403, FORBIDDEN)


async def test_rc_get_by_id(world: World) -> None:
    status, body = await world.get({"contactId": ANA["_id"]})
    assert status == 200 and body["success"] is True
    contact = body["contact"]
    assert "createdAt" in contact
    assert (contact["_id"], contact["name"]) == (ANA["_id"], ANA["name"])
    assert contact["emails"] == [{"address": "ana.souza@example.com"}]
    assert contact["phones"] == [{"phoneNumber": "+5511988887777"}]
    assert contact["contactManager"] == "manager"  # contacts.get keeps the id
    assert contact["lastChat"] == {"_id": "room-ana", "ts": "2024-06-01T12:00:00.005Z"}


async def test_rc_get_unknown_id_and_no_parameters(world: World) -> None:
    assert await world.get({"contactId": "invalid"}) == (404, {"success": False, "error": "Resource not found"})
    assert await world.get() == (
        400,
        {
            "success": False,
            "error": "must have required property 'contactId' [invalid-params]",
            "errorType": "invalid-params",
        },
    )


# --- beyond Rocket.Chat's cases ----------------------------------------------------------------------------------


async def test_a_page_is_byte_for_byte_rocket_chat_s(world: World) -> None:
    status, raw = await world.call(CONTACTS_SEARCH_PATH, {"sort": '{"name":1}'})
    expected = {
        # Binary order, as MongoDB without collation: capitals first.
        "contacts": [
            printed(ANA, {"_id": "manager", "username": "maria", "name": "Maria Manager"}),
            printed(CARLA),  # its manager is no user any more: the key goes
            printed(DIEGO),  # an empty manager: the key goes
            printed(BRUNO, {"_id": "nameless", "username": "nameless"}),
        ],
        "count": 50,
        "offset": 0,
        "total": 4,
        "success": True,
    }
    assert status == 200
    assert raw == orjson.dumps(expected)


async def test_get_prints_the_stored_contact(world: World) -> None:
    status, raw = await world.call(CONTACTS_GET_PATH, {"contactId": BRUNO["_id"]})
    assert (status, raw) == (200, orjson.dumps({"contact": documents.to_printable(BRUNO), "success": True}))


async def test_disabled_contacts_are_neither_listed_nor_found(world: World) -> None:
    _, body = await world.search({"searchText": "ana.souza"})
    assert [contact["_id"] for contact in body["contacts"]] == [ANA["_id"]]
    assert await world.get({"contactId": DISABLED["_id"]}) == (404, {"success": False, "error": "Resource not found"})


@pytest.mark.parametrize(
    ("query", "ids", "count", "total"),
    [
        ({"count": "2"}, ["ana", "carla"], 2, 4),
        ({"count": "2", "offset": "2"}, ["diego", "bruno"], 2, 4),
        ({"count": "2", "offset": "3"}, ["bruno"], 2, 4),
        ({"offset": "9"}, [], 50, 4),
        ({"offset": "99999999999"}, [], 50, 4),
        ({"count": "0"}, ["ana", "carla", "diego", "bruno"], 0, 4),
        ({"count": "-2"}, ["ana", "carla"], -2, 4),
        ({"count": "-1e20"}, ["ana", "carla", "diego", "bruno"], -(10**20), 4),  # MongoDB: one batch that large
        ({"offset": "1e20"}, [], 50, 4),
        ({"searchText": "a", "count": "1", "offset": "1"}, ["carla"], 1, 3),
    ],
)
async def test_paging(world: World, query: dict[str, str], ids: list[str], count: int, total: int) -> None:
    by_name = {"ana": ANA, "bruno": BRUNO, "carla": CARLA, "diego": DIEGO}
    _, body = await world.search(query)
    assert [contact["_id"] for contact in body["contacts"]] == [by_name[name]["_id"] for name in ids]
    assert (body["count"], body["offset"], body["total"]) == (count, float(query.get("offset", 0)), total)


@pytest.mark.parametrize(
    ("sort", "names"),
    [
        ('{"name":-1}', ["bruno", "Diego", "Carla", "Ana Souza"]),
        # Missing values first ascending, last descending, as MongoDB.
        ('{"lastChat.ts":1}', ["bruno", "Diego", "Ana Souza", "Carla"]),
        ('{"lastChat.ts":-1}', ["Carla", "Ana Souza", "bruno", "Diego"]),
        # The Contact Center's manager column sorts by a path no stored contact has: ties, then `_id`.
        ('{"contactManager.username":1}', ["Ana Souza", "bruno", "Carla", "Diego"]),
        ("{}", ["Ana Souza", "bruno", "Carla", "Diego"]),
    ],
)
async def test_sort(world: World, sort: str, names: list[str]) -> None:
    _, body = await world.search({"sort": sort})
    assert [contact["name"] for contact in body["contacts"]] == names


async def test_a_bad_sort(world: World) -> None:
    assert await world.search({"sort": '{"name":"asc"}'}) == (
        400,
        {
            "success": False,
            "error": 'Invalid sort parameter provided: "{"name":"asc"}" [error-invalid-sort]',
            "errorType": "error-invalid-sort",
            "details": {"helperMethod": "parseJsonQuery"},
        },
    )


@pytest.mark.parametrize(
    ("query", "headers", "status", "body"),
    [
        ("count=abc", {}, 401, UNAUTHORIZED),
        (
            "count=abc",
            PLAIN,
            400,
            {"success": False, "error": "must be number [invalid-params]", "errorType": "invalid-params"},
        ),
        ("sort=%7B", PLAIN, 403, FORBIDDEN),
        (
            "foo=1",
            AGENT,
            400,
            {
                "success": False,
                "error": "must NOT have additional properties [invalid-params]",
                "errorType": "invalid-params",
            },
        ),
        (
            "offset=-1",
            AGENT,
            400,
            {"success": False, "error": "BSON field 'skip' value must be >= 0, actual value '-1'"},
        ),
    ],
)
async def test_order_of_checks(world: World, query: str, headers: dict[str, str], status: int, body: Any) -> None:
    assert await world.search(query, headers=headers) == (status, body)


@pytest.mark.parametrize(
    "contact_id",
    ["x" * 600, "%ED%A0%80", "%20", "a%00b"],
    ids=["longer than any id", "lone surrogate", "blank", "nul"],
)
async def test_get_with_odd_ids_is_a_clear_answer(world: World, contact_id: str) -> None:
    status, body = await world.get(f"contactId={contact_id}")
    assert status in {400, 404}
    assert body["success"] is False
