"""The application factory: routes, middleware, and the clients opened and closed with the app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pymongo import AsyncMongoClient

from common import elasticsearch_clients
from common.backends import BackendStates, MongoTopologyListener, observed_transport
from service import fallback, handlers, http_server, metrics, probes
from service.auth import Authenticator
from service.custom_fields import CustomFieldRegistry
from service.keys import (
    AUTHENTICATOR,
    BACKENDS,
    CONTACT_SEARCH,
    CUSTOM_FIELDS,
    ELASTICSEARCH,
    MONGO_DATABASE,
    SETTINGS,
    VISITOR_LISTS,
)
from service.lists import handlers as list_handlers
from service.lists.visitors import VisitorLists
from service.lookup import handler as lookup_handler
from service.lookup import search
from service.lookup.es_http import ElasticsearchHttp
from service.settings import Settings

SEARCH_PATH = "/api/v1/omnichannel/contact.search"
CONTACTS_SEARCH_PATH = "/api/v1/omnichannel/contacts.search"
CONTACTS_GET_PATH = "/api/v1/omnichannel/contacts.get"
VISITORS_SEARCH_PATH = "/api/v1/livechat/visitors.search"
VISITORS_AUTOCOMPLETE_PATH = "/api/v1/livechat/visitors.autocomplete"


async def _clients(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    timeout_ms = int(settings.backend_timeout * 1000)
    observed = app.get(metrics.METRICS)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        tz_aware=False,
        event_listeners=[MongoTopologyListener(app[BACKENDS]), *([observed.mongo_listener] if observed else [])],
    )
    reach = settings.elasticsearch
    # A request that cannot reach a node (refused, reset) is marked dead and sent to the next one: with one retry
    # per other node, a lookup gets an answer while any node is up. A timeout is not retried, so a lookup still
    # answers 503 within about BACKEND_TIMEOUT when Elasticsearch hangs. A dead node is tried again after 1 s,
    # then 2, 4, ... up to 30 s (elastic-transport's defaults), each try costing one retry of some request.
    es = elasticsearch_clients.async_client(
        reach,
        request_timeout=settings.backend_timeout,
        max_retries=max(1, len(reach.nodes) - 1),
        transport_class=observed_transport(app[BACKENDS]),
    )
    lookups = ElasticsearchHttp(reach, settings.backend_timeout, backends=app[BACKENDS])
    database = mongo.get_default_database(default="rocketchat")
    app[ELASTICSEARCH] = es
    app[MONGO_DATABASE] = database
    app[AUTHENTICATOR] = Authenticator(database, settings.auth_cache_ttl)
    app[CUSTOM_FIELDS] = CustomFieldRegistry(database, settings.custom_fields_ttl)
    app[VISITOR_LISTS] = VisitorLists(
        es, settings.es_index, settings.custom_fields_ttl, observed.backend if observed else None
    )
    app[CONTACT_SEARCH] = search.ContactSearch(lookups, settings.es_index, observed.backend if observed else None)
    try:
        async with contextlib.AsyncExitStack() as served:
            if observed is not None:
                observed.watch_caches({"auth": app[AUTHENTICATOR].callers, "custom_fields": app[CUSTOM_FIELDS].cache})
                await served.enter_async_context(metrics.serve(observed, settings.host, settings.metrics_port))
            yield
    finally:
        await lookups.close()
        await es.close()
        await mongo.close()


def create_app(settings: Settings) -> web.Application:
    backends = BackendStates()  # what the clients saw of each backend: the backend_up gauges
    observed = metrics.ServiceMetrics(backends) if settings.metrics_port else None
    # Outermost first: the metrics count every answer; the envelope turns failures into JSON; inside it, a backend
    # failure goes to Rocket.Chat first when ROCKETCHAT_URL is set.
    middlewares = [handlers.envelope(settings.request_log), fallback.fallback_middleware]
    app = web.Application(
        middlewares=[observed.middleware, *middlewares] if observed else middlewares,
        handler_args=http_server.handler_args(settings),
        client_max_size=http_server.CLIENT_MAX_SIZE,
    )
    app[SETTINGS] = settings
    app[BACKENDS] = backends
    if observed is not None:
        app[metrics.METRICS] = observed
    app.cleanup_ctx.append(_clients)
    if settings.rocketchat_url:
        counted = observed.fell_back if observed is not None else (lambda route: None)
        app[fallback.FALLBACK] = fallback.RocketChat(settings.rocketchat_url, settings.fallback_timeout, counted)
        app.cleanup_ctx.append(fallback.session_ctx)
    app.router.add_get(SEARCH_PATH, lookup_handler.contact_search)
    app.router.add_get(CONTACTS_SEARCH_PATH, list_handlers.contacts_search)
    app.router.add_get(CONTACTS_GET_PATH, list_handlers.contacts_get)
    app.router.add_get(VISITORS_SEARCH_PATH, list_handlers.visitors_search)
    app.router.add_get(VISITORS_AUTOCOMPLETE_PATH, list_handlers.visitors_autocomplete)
    app.router.add_get(SEARCH_PATH + "/openapi.json", handlers.openapi)
    app.router.add_get("/openapi.json", handlers.openapi)
    probes.install(app)
    return app
