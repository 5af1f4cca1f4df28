"""The OpenAPI description of Rocket.Chat 7's `contacts.search` and `contacts.get` (see docs/contacts.md).

The schemas state what is accepted exactly enough that a request they accept is never refused; Rocket.Chat (and so
this service) also accepts some requests they do not describe (`sort={"name":1e0}`, `offset=-0.5`, `count=0x10`).
"""

from __future__ import annotations

from typing import Any, Final

from service import openapi_parts as parts

# Not only JavaScript's white space (Ajv's `isNotEmpty` trims it).
NOT_BLANK_PATTERN: Final = "[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"

_CONTACT: Final[dict[str, Any]] = {
    "type": "object",
    "description": "The stored contact as Rocket.Chat prints it, in stored key order: dates ISO-8601 UTC with "
    "milliseconds, absent fields absent.",
    "required": ["_id"],
    "properties": {
        "_id": {"type": "string"},
        "name": {"type": "string"},
        "emails": {"type": "array", "items": {"type": "object", "properties": {"address": {"type": "string"}}}},
        "phones": {"type": "array", "items": {"type": "object", "properties": {"phoneNumber": {"type": "string"}}}},
        "unknown": {"type": "boolean"},
        "channels": {"type": "array"},
        "createdAt": {"type": "string", "format": "date-time"},
        "_updatedAt": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": True,
}

_MANAGER: Final = {
    "type": "object",
    "description": "The contact manager, read from `users` (Rocket.Chat's `{_id, name, username}`); the key moves "
    "last, and is absent when the contact has no manager or the user no longer exists.",
    "required": ["_id"],
    "properties": {"_id": {"type": "string"}, "name": {"type": "string"}, "username": {"type": "string"}},
    "additionalProperties": False,
}


_SEARCH_PARAMETERS: Final = [
    parts.query_parameter(
        "searchText",
        {"type": "string"},
        "A literal, case-insensitive substring of `name`, any `emails.address` or any `phones.phoneNumber`; "
        "empty or absent: every contact.",
    ),
    parts.query_parameter("unknown", {"type": "boolean"}, "Only contacts whose `unknown` equals this (default false)."),
    parts.query_parameter(
        "count",
        {"type": "number"},
        "Page size (default API_DEFAULT_COUNT 50, at most API_UPPER_COUNT_LIMIT 100; 0: every match).",
    ),
    parts.query_parameter("offset", {"type": "number", "minimum": 0}, "Contacts to skip (a negative one is refused)."),
    parts.query_parameter(
        "sort",
        {"type": "string", "anyOf": [{"maxLength": 0}, {"pattern": parts.SORT_PATTERN}]},
        'A JSON object of paths and 1 or -1, e.g. `{"name":1}` (the default); `{}`: no order.',
    ),
]

_COMMON: Final = {"401": parts.unauthorized(), "403": parts.forbidden("view-livechat-contact"), **parts.failures()}

PATHS: Final[dict[str, Any]] = {
    "/api/v1/omnichannel/contacts.search": {
        "get": {
            "summary": "Rocket.Chat 7's contact list: one page, in order, with the exact total",
            "security": parts.SECURITY,
            "parameters": _SEARCH_PARAMETERS,
            "responses": {
                "200": {
                    "description": "The page; `count` is the page size asked for, `total` every match",
                    "content": parts.json_content(
                        {
                            "type": "object",
                            "required": ["contacts", "count", "offset", "total", "success"],
                            "properties": {
                                "contacts": {
                                    "type": "array",
                                    "items": {
                                        **_CONTACT,
                                        "properties": {**_CONTACT["properties"], "contactManager": _MANAGER},
                                    },
                                },
                                "count": {"type": "integer"},
                                "offset": {"type": "integer"},
                                "total": {"type": "integer", "minimum": 0},
                                "success": {"const": True},
                            },
                        },
                        {"contacts": [], "count": 50, "offset": 0, "total": 0, "success": True},
                    ),
                },
                "400": {
                    "description": "An invalid parameter (Ajv's first message), an invalid sort, or a negative offset "
                    "(MongoDB's message, as Rocket.Chat passes it on)",
                    "content": parts.json_content(
                        {"anyOf": [parts.INVALID_PARAMS, parts.INVALID_SORT, parts.FAILURE]},
                        {"success": False, "error": "must be number [invalid-params]", "errorType": "invalid-params"},
                    ),
                },
                **_COMMON,
            },
        }
    },
    "/api/v1/omnichannel/contacts.get": {
        "get": {
            "summary": "One enabled Rocket.Chat 7 contact by id",
            "security": parts.SECURITY,
            "parameters": [
                parts.query_parameter(
                    "contactId",
                    {"type": "string", "pattern": NOT_BLANK_PATTERN},
                    "The contact's `_id`.",
                    required=True,
                )
            ],
            "responses": {
                "200": {
                    "description": "The stored contact (`contactManager` is the user id, as stored)",
                    "content": parts.json_content(
                        {
                            "type": "object",
                            "required": ["contact", "success"],
                            "properties": {"contact": _CONTACT, "success": {"const": True}},
                        },
                        {"contact": {"_id": "6740f0c1e4b0a1b2c3d4e5f6", "name": "Ana"}, "success": True},
                    ),
                },
                "400": {
                    "description": "A missing, blank or repeated `contactId`, or another parameter",
                    "content": parts.json_content(
                        parts.INVALID_PARAMS,
                        {
                            "success": False,
                            "error": "must have required property 'contactId' [invalid-params]",
                            "errorType": "invalid-params",
                        },
                    ),
                },
                "404": {
                    "description": "No such contact, or it is disabled",
                    "content": parts.json_content(
                        {
                            "type": "object",
                            "required": ["success", "error"],
                            "properties": {"success": {"const": False}, "error": {"const": "Resource not found"}},
                        },
                        {"success": False, "error": "Resource not found"},
                    ),
                },
                **_COMMON,
            },
        }
    },
}
