"""The handlers of the paged lists: Rocket.Chat 7's `contacts.search` and `contacts.get`, and `livechat/visitors.search`
and `livechat/visitors.autocomplete`."""

from __future__ import annotations

from aiohttp import web

from service import auth
from service.handlers import json_response
from service.keys import AUTHENTICATOR, CUSTOM_FIELDS, ELASTICSEARCH, MONGO_DATABASE, SETTINGS, VISITOR_LISTS
from service.lists import contacts as contact_list
from service.lists import params as list_params
from service.lists import visitor_query
from service.metrics import METRICS, BackendObserver


def _observer(request: web.Request) -> BackendObserver | None:
    metrics = request.app.get(METRICS)
    return metrics.backend if metrics is not None else None


async def contacts_search(request: web.Request) -> web.Response:
    """Rocket.Chat 7's `contacts.search`: 401, then the parameters (400), then the permission (403), then the sort."""
    authenticator = request.app[AUTHENTICATOR]
    caller = await authenticator.authenticate(request.headers.get("X-User-Id"), request.headers.get("X-Auth-Token"))
    settings = request.app[SETTINGS]
    requested = list_params.parse_search(list(request.query.items()), settings.paging)
    await authenticator.require(caller, auth.CONTACTS_PERMISSION)
    body = await contact_list.search(
        request.app[ELASTICSEARCH],
        request.app[MONGO_DATABASE],
        settings.es_contacts_index,
        list_params.with_sort(requested),
        _observer(request),
    )
    return json_response(body)


async def contacts_get(request: web.Request) -> web.Response:
    """Rocket.Chat 7's `contacts.get`: one enabled contact by `contactId`, or 404."""
    authenticator = request.app[AUTHENTICATOR]
    caller = await authenticator.authenticate(request.headers.get("X-User-Id"), request.headers.get("X-Auth-Token"))
    contact_id = list_params.parse_get(list(request.query.items()))
    await authenticator.require(caller, auth.CONTACTS_PERMISSION)
    body = await contact_list.get(
        request.app[ELASTICSEARCH], request.app[SETTINGS].es_contacts_index, contact_id, _observer(request)
    )
    return json_response(body)


async def visitors_search(request: web.Request) -> web.Response:
    """`livechat/visitors.search`: 401, then the parameters (400), then `view-l-room` (403), then the sort."""
    authenticator = request.app[AUTHENTICATOR]
    caller = await authenticator.authenticate(request.headers.get("X-User-Id"), request.headers.get("X-Auth-Token"))
    requested = list_params.parse_visitors_search(list(request.query.items()), request.app[SETTINGS].paging)
    await authenticator.require(caller, auth.PERMISSION)
    sorted_request = list_params.with_sort(requested)
    searchable = await request.app[CUSTOM_FIELDS].searchable() if sorted_request.search_text else frozenset()
    return json_response(await request.app[VISITOR_LISTS].search(sorted_request, searchable))


async def visitors_autocomplete(request: web.Request) -> web.Response:
    """`livechat/visitors.autocomplete`: 401, then the parameters (400), then `view-l-room` (403), then the
    `selector`'s JSON (400)."""
    authenticator = request.app[AUTHENTICATOR]
    caller = await authenticator.authenticate(request.headers.get("X-User-Id"), request.headers.get("X-Auth-Token"))
    selector = list_params.parse_autocomplete(list(request.query.items()))
    await authenticator.require(caller, auth.PERMISSION)
    return json_response(await request.app[VISITOR_LISTS].autocomplete(visitor_query.parse_selector(selector)))
