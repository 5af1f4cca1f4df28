"""`livechat/visitors.search` and `livechat/visitors.autocomplete` against the real service, indexer, Elasticsearch
and wire server.

Rocket.Chat's own end-to-end cases (apps/meteor/tests/end-to-end/api/livechat/09-visitors.ts and 11-livechat.ts,
7.x) first, rewritten for this world; then what they leave out: exact bodies, the order of the checks, disabled
visitors, searchable custom fields, the autocomplete's limit and `custom_name`, and an index of an older generation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from contact_index import shared
from contact_index import visitors as fields
from indexer import backfill, documents, indices
from indexer.collections import VISITORS
from service.app import VISITORS_AUTOCOMPLETE_PATH, VISITORS_SEARCH_PATH
from service.settings import Settings
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import AGENT, FORBIDDEN, PLAIN, UNAUTHORIZED, module_world, service_settings, serving


def visitor(name: str | None, **extra: Any) -> dict[str, Any]:
    document = factories.visitor(**extra)
    if name is not None:
        document["name"] = name
    return document


JANE = visitor(
    "Jane Roe",
    username="jane-roe-guest",
    visitorEmails=[{"address": "Jane.Roe@example.com"}],
    phone=[{"phoneNumber": "+5511999990000"}],
    livechatData={"address": "Rocket.Chat street", "secret": "hidden value"},
    lastChat={"_id": "room-1", "ts": dt.datetime(2024, 6, 1)},
)
PAST = visitor("VisitorInPast", lastChat={"_id": "room-2", "ts": dt.datetime(2024, 1, 1)})
PRESENT = visitor("VisitorInPresent", lastChat={"_id": "room-3", "ts": dt.datetime(2025, 1, 1)})
NAMELESS = visitor(None)
GONE = visitor("Jane Removed", disabled=True, visitorEmails=[{"address": "Jane.Roe@example.com"}])
ANNAS = [visitor(f"Anna {number:02d}") for number in range(12)]
LISTED = [JANE, PAST, PRESENT, NAMELESS, *ANNAS]


@dataclass
class World:
    client: TestClient[Any, Any]
    settings: Settings

    async def call(self, path: str, query: dict[str, str] | str, headers: dict[str, str] = AGENT) -> tuple[int, Any]:
        text = query if isinstance(query, str) else urlencode(query)
        response = await self.client.get(f"{path}?{text}" if text else path, headers=headers)
        return response.status, orjson.loads(await response.read())

    async def search(self, query: dict[str, str] | str, headers: dict[str, str] = AGENT) -> tuple[int, Any]:
        return await self.call(VISITORS_SEARCH_PATH, query, headers)

    async def autocomplete(self, query: dict[str, str] | str, headers: dict[str, str] = AGENT) -> tuple[int, Any]:
        return await self.call(VISITORS_AUTOCOMPLETE_PATH, query, headers)


@pytest.fixture(scope="module")
async def world(services: Services) -> AsyncIterator[World]:
    async with module_world(services, "test-vl") as own:
        database = own.database
        await factories.grant_view_l_room(database, ["livechat-agent"])
        await factories.add_user(database, "agent", "agent-token", ["user", "livechat-agent"])
        await factories.add_user(database, "plain", "plain-token", ["user"])
        await factories.define_custom_field(database, "address")
        await factories.define_custom_field(database, "secret", searchable=False)
        await database[VISITORS.collection].insert_many([dict(one) for one in [*LISTED, GONE]])
        summary = await backfill.index_once(database, own.es, VISITORS.with_alias(own.alias), 500)
        assert (summary.indexed, summary.refused) == (len(LISTED), 0)
        settings = service_settings(services, own.mongo_url, own.alias)
        async with serving(settings) as client:
            yield World(client, settings)


def projected(stored: dict[str, Any]) -> dict[str, Any]:
    keys = ("_id", "username", "name", "phone", "livechatData", "visitorEmails", "lastChat")
    return {key: value for key, value in documents.to_printable(stored).items() if key in keys}


# --- Rocket.Chat's own cases: visitors.search -------------------------------------------------------------------


async def test_rc_search_fails_without_a_term_or_with_an_unknown_parameter(world: World) -> None:
    status, body = await world.search({"text": "nel"}, PLAIN)
    assert (status, body["success"]) == (400, False)
    status, body = await world.search("")
    assert (status, body) == (
        400,
        {
            "success": False,
            "error": "must have required property 'term' [invalid-params]",
            "errorType": "invalid-params",
        },
    )


async def test_rc_search_does_not_fail_on_an_evil_regex(world: World) -> None:
    status, body = await world.search({"term": "^((ab)*)+$"})
    assert (status, body) == (200, {"visitors": [], "count": 0, "offset": 0, "total": 0, "success": True})


@pytest.mark.parametrize(
    "term",
    ["Jane Roe", "guest", "Jane.Roe@example.com", "+5511999990000"],
    ids=["name", "username", "email", "phone"],
)
async def test_rc_search_finds_a_visitor_by_name_username_email_or_phone(world: World, term: str) -> None:
    term = JANE["username"] if term == "guest" else term
    status, body = await world.search({"term": term})
    assert status == 200 and body["total"] == 1
    assert body["visitors"] == [projected(JANE)]


async def test_rc_search_with_an_empty_term_lists_every_enabled_visitor(world: World) -> None:
    status, body = await world.search({"term": "", "count": "0"})
    assert status == 200 and body["total"] == len(LISTED) == body["count"]
    assert {one["_id"] for one in body["visitors"]} == {one["_id"] for one in LISTED}
    assert set(body["visitors"][0]) >= {"_id", "username"}


async def test_rc_search_sorts_by_last_chat_time(world: World) -> None:
    _, ascending = await world.search({"term": "VisitorIn", "sort": '{"lastChat.ts":1}'})
    _, descending = await world.search({"term": "VisitorIn", "sort": '{"lastChat.ts":-1}'})
    assert [one["name"] for one in ascending["visitors"]] == ["VisitorInPast", "VisitorInPresent"]
    assert [one["name"] for one in descending["visitors"]] == ["VisitorInPresent", "VisitorInPast"]


async def test_rc_search_finds_nothing_for_random_text_and_refuses_a_negative_offset(world: World) -> None:
    assert await world.search({"term": "0.k2j4h5g6"}) == (
        200,
        {"visitors": [], "count": 0, "offset": 0, "total": 0, "success": True},
    )
    status, body = await world.search({"term": "a", "offset": "-1"})
    assert (status, body) == (
        400,
        {"success": False, "error": "BSON field 'skip' value must be >= 0, actual value '-1'"},
    )


# --- Rocket.Chat's own cases: visitors.autocomplete -------------------------------------------------------------


async def test_rc_autocomplete_without_the_permission_is_403(world: World) -> None:
    assert await world.autocomplete({"selector": "xxx"}, PLAIN) == (403, FORBIDDEN)


async def test_rc_autocomplete_needs_a_selector(world: World) -> None:
    assert await world.autocomplete("") == (
        400,
        {
            "success": False,
            "error": "must have required property 'selector' [invalid-params]",
            "errorType": "invalid-params",
        },
    )


async def test_rc_autocomplete_refuses_a_selector_that_is_not_json(world: World) -> None:
    assert await world.autocomplete({"selector": "{invalid"}) == (
        400,
        {"success": False, "error": "Expected property name or '}' in JSON at position 1"},
    )


async def test_rc_autocomplete_lists_the_visitor_by_name(world: World) -> None:
    status, body = await world.autocomplete({"selector": orjson.dumps({"term": JANE["name"]}).decode()})
    assert status == 200 and body["success"] is True
    assert body["items"] == [
        {
            "_id": JANE["_id"],
            "username": JANE["username"],
            "name": "Jane Roe",
            "custom_name": f"{JANE['username']} - Jane Roe",
        }
    ]


# --- What they leave out ----------------------------------------------------------------------------------------


async def test_credentials_come_first_then_parameters_then_the_permission(world: World) -> None:
    assert await world.search({"term": "a"}, {}) == (401, UNAUTHORIZED)
    assert await world.search({"foo": "1"}, {}) == (401, UNAUTHORIZED)
    assert (await world.search({"foo": "1"}, PLAIN))[0] == 400
    assert await world.search({"term": "a"}, PLAIN) == (403, FORBIDDEN)
    assert (await world.search({"term": "a", "sort": "x"}, PLAIN)) == (403, FORBIDDEN)  # the sort is read after
    assert await world.autocomplete({"selector": "{"}, PLAIN) == (403, FORBIDDEN)  # and so is the selector


async def test_a_searchable_custom_field_matches_and_another_does_not(world: World) -> None:
    _, body = await world.search({"term": "rocket.CHAT"})
    assert [one["_id"] for one in body["visitors"]] == [JANE["_id"]]
    _, body = await world.search({"term": "hidden"})
    assert body["total"] == 0


async def test_email_and_phone_are_exact_and_case_sensitive(world: World) -> None:
    assert (await world.search({"term": "jane.roe@example.com"}))[1]["total"] == 0
    assert (await world.search({"term": "+551199999"}))[1]["total"] == 0


async def test_count_is_the_page_s_length_and_total_is_exact(world: World) -> None:
    _, body = await world.search({"term": "anna", "count": "5", "offset": "10", "sort": '{"name":1}'})
    assert (body["count"], body["offset"], body["total"]) == (2, 10, 12)
    assert [one["name"] for one in body["visitors"]] == ["Anna 10", "Anna 11"]


async def test_a_sort_path_the_index_does_not_hold_is_refused_clearly(world: World) -> None:
    status, body = await world.search({"term": "", "sort": '{"token":1}'})
    assert status == 400 and body["errorType"] == "error-not-supported"
    status, body = await world.search({"term": "", "sort": '{"token":"x"}'})
    assert status == 400 and body["errorType"] == "error-invalid-sort"


async def test_autocomplete_takes_ten_by_name_leaves_out_exceptions_and_disabled(world: World) -> None:
    selector = {"term": " an", "exceptions": [ANNAS[0]["_id"]]}
    _, body = await world.autocomplete({"selector": orjson.dumps(selector).decode()})
    assert [item["name"] for item in body["items"]] == [f"Anna {number:02d}" for number in range(1, 11)]
    _, body = await world.autocomplete({"selector": '{"term":"jane"}'})
    assert [item["_id"] for item in body["items"]] == [JANE["_id"]]  # not the disabled "Jane Removed"
    _, body = await world.autocomplete({"selector": '{"term":"roe"}'})
    assert body["items"] == []  # a prefix, not a substring


async def test_autocomplete_refuses_conditions_it_cannot_serve(world: World) -> None:
    status, body = await world.autocomplete({"selector": '{"term":"a","conditions":{"username":"guest-5"}}'})
    assert status == 400 and body["errorType"] == "error-not-supported"
    status, body = await world.autocomplete({"selector": "null"})
    assert (status, body) == (400, {"success": False, "error": "Cannot read properties of null (reading 'exceptions')"})


async def test_an_index_of_the_older_generation_is_given_the_new_fields_but_not_served(services: Services) -> None:
    async with module_world(services, "test-vl-old") as own:
        older = {key: value for key, value in VISITORS.mapping.items() if key not in ("_meta", "_source")}
        older["properties"] = {
            name: kind
            for name, kind in VISITORS.mapping["properties"].items()
            if name in ("id", "ts", "updated_at", "emails", "phones", "custom", "custom_grams", "custom_long")
            or name in ("visitor", "content_hash")
        }
        name = shared.index_name(own.alias, 1)
        await own.es.indices.create(index=name, mappings=older, aliases={own.alias: {}})
        spec = VISITORS.with_alias(own.alias)
        await own.database[VISITORS.collection].insert_one(visitor("Old Index"))
        summary = await backfill.index_once(own.database, own.es, spec, 500)
        assert (summary.indexed, summary.refused) == (1, 0)  # the strict mapping took the new fields
        found = await own.es.indices.get_mapping(index=name)
        assert fields.FIELD_NAME_START in found.body[name]["mappings"]["properties"]
        assert shared.mapping_version(found.body[name]["mappings"]) == 1
        assert (await indices.ensure_alias(own.es, spec))[0] == name
        await factories.grant_view_l_room(own.database, ["livechat-agent"])
        await factories.add_user(own.database, "agent", "agent-token", ["livechat-agent"])
        async with serving(service_settings(services, own.mongo_url, own.alias)) as client:
            response = await client.get(f"{VISITORS_SEARCH_PATH}?term=old", headers=AGENT)
            assert response.status == 503
            assert "reindex" in orjson.loads(await response.read())["error"]


async def test_what_the_index_cannot_serve_goes_to_rocket_chat_when_it_is_configured(
    services: Services, world: World
) -> None:
    """With ROCKETCHAT_URL set, an unsupported sort or `conditions` is Rocket.Chat's to answer (relayed as it is);
    the request's own 4xx errors are not."""
    seen: list[str] = []

    async def rocket_chat(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.json_response({"visitors": [], "from": "rocketchat", "success": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rocket_chat)
    stand_in = TestServer(app)
    await stand_in.start_server()
    try:
        settings = dataclasses.replace(world.settings, rocketchat_url=f"http://127.0.0.1:{stand_in.port}")
        async with serving(settings) as client:
            sort = urlencode({"term": "", "sort": '{"token":1}'})
            sorted_by_token = f"{VISITORS_SEARCH_PATH}?{sort}"
            response = await client.get(sorted_by_token, headers=AGENT)
            assert (response.status, await response.json()) == (
                200,
                {"visitors": [], "from": "rocketchat", "success": True},
            )
            conditions = urlencode({"selector": '{"term":"a","conditions":{"username":"x"}}'})
            response = await client.get(f"{VISITORS_AUTOCOMPLETE_PATH}?{conditions}", headers=AGENT)
            assert response.status == 200
            response = await client.get(f"{VISITORS_SEARCH_PATH}?foo=1", headers=AGENT)
            assert response.status == 400
        assert len(seen) == 2 and seen[0].startswith(VISITORS_SEARCH_PATH)
    finally:
        await stand_in.close()
