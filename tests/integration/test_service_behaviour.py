"""Service behaviour beyond single requests: runtime changes, backends going away, and random input."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.asynchronous.database import AsyncDatabase

from indexer.collections import VISITORS
from service import rocketchat
from service.keys import SETTINGS
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import Indexer, service_settings, start_client

SEARCH = "/api/v1/omnichannel/contact.search"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}


async def seed_agent(database: AsyncDatabase[dict[str, Any]]) -> None:
    await factories.grant_view_l_room(database)
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])


async def search(client: TestClient[Any, Any], query: str, headers: dict[str, str] = AGENT) -> tuple[int, Any]:
    response = await client.get(f"{SEARCH}?{query}", headers=headers)
    return response.status, orjson.loads(await response.read())


async def eventually(check: Any, expected: Any, within: float = 5.0) -> float:
    """Polls `check()` until it returns `expected`; returns the seconds it took."""
    started = time.monotonic()
    while True:
        result = await check()
        if result == expected:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"still {result!r} after {within} s"
        await asyncio.sleep(0.1)


async def test_custom_field_made_searchable_takes_effect_without_restart(
    api: TestClient[Any, Any], database: AsyncDatabase[dict[str, Any]], index_visitors: Indexer
) -> None:
    await seed_agent(database)
    await factories.define_custom_field(database, "plan", searchable=False)
    await database[VISITORS.collection].insert_one(factories.visitor(_id="v1", livechatData={"plan": "gold"}))
    await index_visitors()
    query = "custom=" + '{"plan":"gold"}'
    assert await search(api, query) == (200, {"contact": None, "success": True})

    await factories.define_custom_field(database, "plan", searchable=True)

    async def found() -> Any:
        status, body = await search(api, query)
        return status, (body["contact"] or {}).get("_id")

    await eventually(found, (200, "v1"))
    await factories.define_custom_field(database, "plan", searchable=False)
    await eventually(lambda: search(api, query), (200, {"contact": None, "success": True}))


async def test_revoked_token_and_removed_role_stop_working_within_seconds(
    api: TestClient[Any, Any], database: AsyncDatabase[dict[str, Any]], index_visitors: Indexer
) -> None:
    await seed_agent(database)
    await factories.add_user(database, "other", "other-token", ["livechat-agent"])
    await index_visitors()
    other = {"X-User-Id": "other", "X-Auth-Token": "other-token"}
    assert (await search(api, "email=a@b.c"))[0] == 200
    assert (await search(api, "email=a@b.c", other))[0] == 200

    users = database[rocketchat.USERS_COLLECTION]
    await users.update_one({"_id": "agent"}, {"$set": {"services.resume.loginTokens": []}})
    await database[rocketchat.USERS_COLLECTION].update_one({"_id": "other"}, {"$set": {"roles": ["user"]}})

    async def status_of(headers: dict[str, str]) -> int:
        return (await search(api, "email=a@b.c", headers))[0]

    assert await eventually(lambda: status_of(AGENT), 401) < 5
    assert await eventually(lambda: status_of(other), 403) < 5


async def test_elasticsearch_unreachable_is_a_503_envelope(
    services: Services, mongo_url: str, alias: str, database: AsyncDatabase[dict[str, Any]]
) -> None:
    await seed_agent(database)
    unreachable = await start_client(
        service_settings(Services("http://127.0.0.1:1", services.mongo_url, False), mongo_url, alias)
    )
    try:
        status, body = await search(unreachable, "email=a@b.c")
        assert status == 503
        assert body == {"success": False, "error": "Search backend is unavailable"}
        response = await unreachable.get("/readyz")  # a shared backend's outage leaves this pod ready
        assert (response.status, await response.json()) == (200, {"ready": True, "draining": False})
    finally:
        await unreachable.close()


async def test_missing_index_is_a_503_and_recovers_once_indexed(
    api: TestClient[Any, Any], database: AsyncDatabase[dict[str, Any]], index_visitors: Indexer
) -> None:
    await seed_agent(database)
    await database[VISITORS.collection].insert_one(factories.visitor(_id="v1", visitorEmails=[{"address": "a@b.c"}]))
    assert await search(api, "email=a@b.c") == (503, {"success": False, "error": "Search index is not available"})
    verbose = await api.get("/readyz?verbose=1")
    assert verbose.status == 200
    assert (await verbose.json())["backends"]["elasticsearch"][api.app[SETTINGS].es_index] == "alias missing"
    await index_visitors()
    status, body = await search(api, "email=a@b.c")
    assert (status, body["contact"]["_id"]) == (200, "v1")
    verbose = await api.get("/readyz?verbose=1")
    assert (await verbose.json())["backends"]["elasticsearch"][api.app[SETTINGS].es_index] == "ok"


async def test_mongo_unreachable_is_a_503_envelope(services: Services, alias: str) -> None:
    settings = service_settings(services, "mongodb://127.0.0.1:1/rocketchat", alias, backend_timeout=0.5)
    client = await start_client(settings)
    try:
        assert await search(client, "email=a@b.c") == (503, {"success": False, "error": "Database is unavailable"})
    finally:
        await client.close()


async def test_operational_endpoints(api: TestClient[Any, Any]) -> None:
    response = await api.get("/healthz")
    assert (response.status, await response.json()) == (200, {"status": "ok"})
    for path in ("/openapi.json", SEARCH + "/openapi.json"):
        response = await api.get(path)
        document = orjson.loads(await response.read())
        assert document["openapi"] == "3.1.0"
        responses = document["paths"][SEARCH]["get"]["responses"]
        assert set(responses) == {"200", "400", "401", "403", "500", "502", "503"}


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
# A client sends `custom` as JSON text, so any JSON number can arrive, also beyond 64 bits: encode with the
# standard library, which prints integers of any size (orjson refuses them and made this strategy flaky).
_custom = st.one_of(
    _text,
    st.dictionaries(st.sampled_from(["plan", "address", "secret", "$regex", "a.b", ""]) | _text, _text, max_size=3).map(
        json.dumps
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | _text, lambda inner: st.lists(inner, max_size=3)
    ).map(json.dumps),
)
_params = st.lists(
    st.tuples(st.sampled_from(["email", "phone", "custom", "other", "EMAIL"]), _text | _custom), max_size=4
)


async def test_random_input_never_gets_a_5xx_or_a_non_contract_body(
    api: TestClient[Any, Any], database: AsyncDatabase[dict[str, Any]], index_visitors: Indexer
) -> None:
    await seed_agent(database)
    for field in ("plan", "address"):
        await factories.define_custom_field(database, field)
    await database[VISITORS.collection].insert_many(
        [
            factories.visitor(visitorEmails=[{"address": "a@b.c"}], livechatData={"plan": "gold", "address": "x st"}),
            factories.visitor(phone=[{"phoneNumber": "+1"}], livechatData={"plan": "Ünï ^((ab)*)+$"}),
        ]
    )
    await index_visitors()
    contract_errors = [
        {"success": False, "error": "[error-invalid-params]", "errorType": "error-invalid-params"},
        {"success": False, "error": "[error-invalid-params-custom]", "errorType": "error-invalid-params-custom"},
    ]
    # Hypothesis drives synchronous functions: draw the inputs first, then send each one.
    drawn: list[list[tuple[str, str]]] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_params)
    def draw(params: list[tuple[str, str]]) -> None:
        drawn.append(params)

    draw()
    for params in drawn:
        status, body = await search(api, urlencode(params))
        assert status in {200, 400}, (params, status, body)
        if status == 400:
            assert body in contract_errors, (params, body)
        else:
            assert set(body) == {"contact", "success"} and body["success"] is True, (params, body)
            assert body["contact"] is None or isinstance(body["contact"]["_id"], str)


async def test_a_lookup_goes_on_to_the_next_node_when_one_cannot_be_reached(
    services: Services,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    index_visitors: Indexer,
    unused_tcp_port_factory: Any,
) -> None:
    await seed_agent(database)
    await database[VISITORS.collection].insert_one(factories.visitor(_id="v1", phone=[{"phoneNumber": "+1"}]))
    await index_visitors()
    nowhere = [f"http://127.0.0.1:{unused_tcp_port_factory()}" for _ in range(2)]
    # Two nodes nobody listens on beside the real one: every lookup is answered, whichever node its turn starts at.
    client = await start_client(
        service_settings(services, mongo_url, alias, es_url=",".join([*nowhere, services.es_url]))
    )
    try:
        for _ in range(6):
            assert await search(client, "phone=%2B1") == (200, {"contact": await _stored(database), "success": True})
    finally:
        await client.close()
    # No node answers: the contract's 503, not a 5xx of another kind.
    client = await start_client(service_settings(services, mongo_url, alias, es_url=",".join(nowhere)))
    try:
        assert await search(client, "phone=%2B1") == (503, {"success": False, "error": "Search backend is unavailable"})
    finally:
        await client.close()


async def _stored(database: AsyncDatabase[dict[str, Any]]) -> Any:
    from indexer import documents

    return documents.to_printable(await database[VISITORS.collection].find_one({"_id": "v1"}))
