"""The handler of `contact.search`: one visitor by email, phone or custom field."""

from __future__ import annotations

from aiohttp import web

from service.handlers import json_response
from service.keys import AUTHENTICATOR, CONTACT_SEARCH, CUSTOM_FIELDS
from service.lookup import query


async def contact_search(request: web.Request) -> web.Response:
    await request.app[AUTHENTICATOR].authorize(request.headers.get("X-User-Id"), request.headers.get("X-Auth-Token"))
    requested = query.parse_criteria(list(request.query.items()))
    criteria = requested.restricted_to(await request.app[CUSTOM_FIELDS].searchable()) if requested.custom else requested
    if criteria.is_empty or not criteria.can_match:
        return json_response({"contact": None, "success": True})
    contact = await request.app[CONTACT_SEARCH].find_contact(criteria)
    return json_response({"contact": contact, "success": True})
