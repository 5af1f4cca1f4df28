"""The application factory: routes, middleware, and the clients opened and closed with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from elasticsearch import AsyncElasticsearch
from elasticsearch.serializer import OrjsonSerializer
from pymongo import AsyncMongoClient

from service import handlers, http_server
from service.auth import Authenticator
from service.contacts import CustomFieldRegistry
from service.keys import AUTHENTICATOR, CUSTOM_FIELDS, ELASTICSEARCH, MONGO_DATABASE, SETTINGS
from service.settings import Settings

SEARCH_PATH = "/api/v1/omnichannel/contact.search"
CONTACTS_SEARCH_PATH = "/api/v1/omnichannel/contacts.search"
CONTACTS_GET_PATH = "/api/v1/omnichannel/contacts.get"


async def _clients(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    timeout_ms = int(settings.backend_timeout * 1000)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url, serverSelectionTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms, tz_aware=False
    )
    nodes = settings.es_nodes
    # A request that cannot reach a node (refused, reset) is marked dead and sent to the next one: with one retry
    # per other node, a lookup gets an answer while any node is up. A timeout is not retried, so a lookup still
    # answers 503 within about BACKEND_TIMEOUT when Elasticsearch hangs. A dead node is tried again after 1 s,
    # then 2, 4, ... up to 30 s (elastic-transport's defaults), each try costing one retry of some request.
    es = AsyncElasticsearch(
        nodes,
        request_timeout=settings.backend_timeout,
        max_retries=max(1, len(nodes) - 1),
        retry_on_timeout=False,
        serializer=OrjsonSerializer(),
    )
    database = mongo.get_default_database(default="rocketchat")
    app[ELASTICSEARCH] = es
    app[MONGO_DATABASE] = database
    app[AUTHENTICATOR] = Authenticator(database, settings.auth_cache_ttl)
    app[CUSTOM_FIELDS] = CustomFieldRegistry(database, settings.custom_fields_ttl)
    try:
        yield
    finally:
        await es.close()
        await mongo.close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[handlers.envelope_middleware],
        handler_args=http_server.handler_args(settings),
        client_max_size=http_server.CLIENT_MAX_SIZE,
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_clients)
    app.router.add_get(SEARCH_PATH, handlers.contact_search)
    app.router.add_get(CONTACTS_SEARCH_PATH, handlers.contacts_search)
    app.router.add_get(CONTACTS_GET_PATH, handlers.contacts_get)
    app.router.add_get(SEARCH_PATH + "/openapi.json", handlers.openapi)
    app.router.add_get("/openapi.json", handlers.openapi)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    return app
