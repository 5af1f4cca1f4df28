"""The OpenAPI 3.1 description of the endpoint, served at `/openapi.json`."""

from __future__ import annotations

from typing import Any, Final

from service.errors import FORBIDDEN_MESSAGE, UNAUTHORIZED_MESSAGE


def _json(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema, "example": example}}


_FAILURE: Final = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {"success": {"const": False}, "error": {"type": "string"}},
}

_INVALID: Final = {
    "type": "object",
    "required": ["success", "error", "errorType"],
    "properties": {
        "success": {"const": False},
        "error": {"enum": ["[error-invalid-params]", "[error-invalid-params-custom]"]},
        "errorType": {"enum": ["error-invalid-params", "error-invalid-params-custom"]},
    },
}

_CONTACT: Final = {
    "type": "object",
    "description": "The stored visitor as Rocket.Chat prints it: dates ISO-8601 UTC with milliseconds, "
    "ObjectIds as hex strings, absent fields absent.",
    "required": ["_id"],
    "properties": {
        "_id": {"type": "string"},
        "username": {"type": "string"},
        "ts": {"type": "string", "format": "date-time"},
        "_updatedAt": {"type": "string", "format": "date-time"},
        "token": {"type": "string"},
        "name": {"type": "string"},
        "department": {"type": "string"},
        "status": {"type": "string"},
        "phone": {"type": "array", "items": {"type": "object", "properties": {"phoneNumber": {"type": "string"}}}},
        "visitorEmails": {"type": "array", "items": {"type": "object", "properties": {"address": {"type": "string"}}}},
        "livechatData": {"type": "object", "additionalProperties": True},
        "lastChat": {"type": "object"},
        "lastAgent": {"type": "object"},
        "contactManager": {"type": "object"},
    },
    "additionalProperties": True,
}

OPENAPI: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "contact-search",
        "version": "1.0.0",
        "description": "Rocket.Chat's omnichannel contact search, answered from Elasticsearch.",
    },
    "components": {
        "securitySchemes": {
            "authToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
            "userId": {"type": "apiKey", "in": "header", "name": "X-User-Id"},
        }
    },
    "paths": {
        "/api/v1/omnichannel/contact.search": {
            "get": {
                "summary": "Find the oldest contact matching every given criterion",
                "security": [{"authToken": [], "userId": []}],
                "parameters": [
                    {
                        "name": "email",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Exact address, case-insensitive.",
                    },
                    {
                        "name": "phone",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Exact phone number; a leading space stands for an unencoded `+`.",
                    },
                    {
                        "name": "custom",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "JSON object of strings (or `a=1&b=2`): case-insensitive literal substring "
                        "of `livechatData.<field>` for searchable visitor custom fields; other keys are ignored.",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The contact, or null when none matches",
                        "content": _json(
                            {
                                "type": "object",
                                "required": ["contact", "success"],
                                "properties": {
                                    "contact": {"oneOf": [_CONTACT, {"type": "null"}]},
                                    "success": {"const": True},
                                },
                            },
                            {"contact": None, "success": True},
                        ),
                    },
                    "400": {
                        "description": "Invalid parameters",
                        "content": _json(
                            _INVALID,
                            {"success": False, "error": "[error-invalid-params]", "errorType": "error-invalid-params"},
                        ),
                    },
                    "401": {
                        "description": "Missing or invalid credentials",
                        "content": _json(
                            {
                                "type": "object",
                                "required": ["success", "status", "message", "error"],
                                "properties": {
                                    "success": {"const": False},
                                    "status": {"const": "error"},
                                    "message": {"const": UNAUTHORIZED_MESSAGE},
                                    "error": {"const": UNAUTHORIZED_MESSAGE},
                                },
                            },
                            {
                                "success": False,
                                "status": "error",
                                "message": UNAUTHORIZED_MESSAGE,
                                "error": UNAUTHORIZED_MESSAGE,
                            },
                        ),
                    },
                    "403": {
                        "description": "The user lacks the view-l-room permission",
                        "content": _json(_FAILURE, {"success": False, "error": FORBIDDEN_MESSAGE}),
                    },
                    "502": {
                        "description": "A backend answered with an unexpected error",
                        "content": _json(_FAILURE, {"success": False, "error": "Search backend failed"}),
                    },
                    "503": {
                        "description": "Elasticsearch or MongoDB is unreachable, or the index is not built yet",
                        "content": _json(_FAILURE, {"success": False, "error": "Search backend is unavailable"}),
                    },
                },
            }
        },
        "/healthz": {"get": {"summary": "The process is alive", "responses": {"200": {"description": "alive"}}}},
        "/readyz": {
            "get": {
                "summary": "Elasticsearch and MongoDB answer and the index alias exists",
                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
            }
        },
    },
}
