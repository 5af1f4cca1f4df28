"""The OpenAPI description of Rocket.Chat 7's `contacts.search` and `contacts.get` (see docs/contacts.md).

The schemas state what is accepted exactly enough that a request they accept is never refused; Rocket.Chat (and so
this service) also accepts some requests they do not describe (`sort={"name":1e0}`, `offset=-0.5`, `count=0x10`).
"""

from __future__ import annotations

from typing import Any, Final

from service import openapi_parts as parts

_SPACE, _STRING = parts.JSON_SPACE, parts.JSON_STRING
_SORT_MEMBER = f"{_STRING}{_SPACE}:{_SPACE}-?1{_SPACE}"
SORT_PATTERN: Final = f"^{_SPACE}\\{{{_SPACE}(?:{_SORT_MEMBER}(?:,{_SPACE}{_SORT_MEMBER})*)?\\}}{_SPACE}$"
# Not only JavaScript's white space (Ajv's `isNotEmpty` trims it).
NOT_BLANK_PATTERN: Final = "[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"


def _invalid(error_type: str, example: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "error", "errorType"],
        "properties": {
            "success": {"const": False},
            "error": {"type": "string", "pattern": f" \\[{error_type}\\]$", "examples": [example]},
            "errorType": {"const": error_type},
        },
    }


_INVALID_PARAMS: Final = _invalid("invalid-params", "must be number [invalid-params]")
_INVALID_SORT: Final = _invalid("error-invalid-sort", 'Invalid sort parameter provided: "{" [error-invalid-sort]')
_INVALID_SORT["required"].append("details")
_INVALID_SORT["properties"]["details"] = {"const": {"helperMethod": "parseJsonQuery"}}

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


def _query(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


_SEARCH_PARAMETERS: Final = [
    _query(
        "searchText",
        {"type": "string"},
        "A literal, case-insensitive substring of `name`, any `emails.address` or any `phones.phoneNumber`; "
        "empty or absent: every contact.",
    ),
    _query("unknown", {"type": "boolean"}, "Only contacts whose `unknown` equals this (default false)."),
    _query(
        "count",
        {"type": "number"},
        "Page size (default API_DEFAULT_COUNT 50, at most API_UPPER_COUNT_LIMIT 100; 0: every match).",
    ),
    _query("offset", {"type": "number", "minimum": 0}, "Contacts to skip (a negative one is refused)."),
    _query(
        "sort",
        {"type": "string", "anyOf": [{"maxLength": 0}, {"pattern": SORT_PATTERN}]},
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
                        {"anyOf": [_INVALID_PARAMS, _INVALID_SORT, parts.FAILURE]},
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
                _query(
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
                        _INVALID_PARAMS,
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
