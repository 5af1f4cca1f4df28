"""The OpenAPI description of `livechat/visitors.search` and `livechat/visitors.autocomplete` (see docs/visitors.md).

The schemas state what is accepted exactly enough that a request they accept is never refused; Rocket.Chat (and so
this service) also accepts requests they do not describe (`count=`, any JSON `selector`)."""

from __future__ import annotations

import re
from typing import Any, Final

from contact_index import visitors as fields
from service import openapi_parts as parts

_SPACE, _STRING = parts.JSON_SPACE, parts.JSON_STRING
_SORT_KEY = '"(?:' + "|".join(re.escape(path) for path in fields.SORT_FIELDS) + ')"'
SORT_PATTERN: Final = parts.sort_pattern(_SORT_KEY)
_STRINGS = f"\\[{_SPACE}(?:{_STRING}(?:{_SPACE},{_SPACE}{_STRING})*)?{_SPACE}\\]"
_EXCEPTIONS = f'"exceptions"{_SPACE}:{_SPACE}{_STRINGS}'
_TERM = f'"term"{_SPACE}:{_SPACE}{_STRING}{_SPACE}'
SELECTOR_PATTERN: Final = f"^{_SPACE}\\{{{_SPACE}(?:{_TERM}(?:,{_SPACE}{_EXCEPTIONS}{_SPACE})?)?\\}}{_SPACE}$"

_VISITOR: Final[dict[str, Any]] = {
    "type": "object",
    "description": "The stored visitor's `_id`, `username`, `name`, `phone`, `livechatData`, `visitorEmails` and "
    "`lastChat`, in stored key order, as Rocket.Chat prints them (dates ISO-8601 UTC with milliseconds).",
    "required": ["_id"],
    "properties": {
        "_id": {"type": "string"},
        "username": {"type": "string"},
        "name": {"type": "string"},
        "phone": {"type": "array", "items": {"type": "object", "properties": {"phoneNumber": {"type": "string"}}}},
        "visitorEmails": {"type": "array", "items": {"type": "object", "properties": {"address": {"type": "string"}}}},
        "livechatData": {"type": "object"},
        "lastChat": {"type": "object"},
    },
    "additionalProperties": False,
}

_ITEM: Final = {
    "type": "object",
    "required": ["_id", "custom_name"],
    "properties": {
        "_id": {"type": "string"},
        "name": {"type": "string"},
        "username": {"type": "string"},
        "custom_name": {"type": ["string", "null"], "description": "`<username> - <name>`; null without a username"},
    },
    "additionalProperties": False,
}

_COMMON: Final = {"401": parts.unauthorized(), "403": parts.forbidden("view-l-room"), **parts.failures()}

PATHS: Final[dict[str, Any]] = {
    "/api/v1/livechat/visitors.search": {
        "get": {
            "summary": "Rocket.Chat's visitor list: one page, in order, with the exact total",
            "security": parts.SECURITY,
            "parameters": [
                parts.query_parameter(
                    "term",
                    {"type": "string"},
                    "Exactly an `visitorEmails.address` or a `phone.phoneNumber` (case-sensitive), or a literal, "
                    "case-insensitive substring of `name`, `username` or a searchable custom field; empty: every "
                    "enabled visitor.",
                    required=True,
                ),
                parts.query_parameter(
                    "count",
                    {"type": "number"},
                    "Page size (default API_DEFAULT_COUNT 50, at most API_UPPER_COUNT_LIMIT 100; 0: every match; "
                    "empty: the default).",
                ),
                parts.query_parameter("offset", {"type": "number", "minimum": 0}, "Visitors to skip."),
                parts.query_parameter(
                    "sort",
                    {"type": "string", "anyOf": [{"maxLength": 0}, {"pattern": SORT_PATTERN}]},
                    'A JSON object of paths and 1 or -1 (default `{"ts":-1}`; `{}`: no order). Served paths: '
                    + ", ".join(f"`{path}`" for path in fields.SORT_FIELDS)
                    + "; another path is refused (400 `error-not-supported`).",
                ),
            ],
            "responses": {
                "200": {
                    "description": "The page; `count` is its length, `total` every match",
                    "content": parts.json_content(
                        {
                            "type": "object",
                            "required": ["visitors", "count", "offset", "total", "success"],
                            "properties": {
                                "visitors": {"type": "array", "items": _VISITOR},
                                "count": {"type": "integer", "minimum": 0},
                                "offset": {"type": "integer"},
                                "total": {"type": "integer", "minimum": 0},
                                "success": {"const": True},
                            },
                        },
                        {"visitors": [], "count": 0, "offset": 0, "total": 0, "success": True},
                    ),
                },
                "400": {
                    "description": "An invalid parameter (Ajv's first message), an invalid sort, a sort path not "
                    "served here, or a negative offset (MongoDB's message, as Rocket.Chat passes it on)",
                    "content": parts.json_content(
                        {"anyOf": [parts.INVALID_PARAMS, parts.INVALID_SORT, parts.NOT_SUPPORTED, parts.FAILURE]},
                        {
                            "success": False,
                            "error": "must have required property 'term' [invalid-params]",
                            "errorType": "invalid-params",
                        },
                    ),
                },
                **_COMMON,
            },
        }
    },
    "/api/v1/livechat/visitors.autocomplete": {
        "get": {
            "summary": "The first ten visitors by name whose name starts with a term (the visitor picker)",
            "security": parts.SECURITY,
            "parameters": [
                parts.query_parameter(
                    "selector",
                    {"type": "string", "pattern": SELECTOR_PATTERN},
                    'JSON: `{"term": <prefix of name, case-insensitive, trimmed>, "exceptions": [<_id>, ...]}`. '
                    "Any JSON is read as Rocket.Chat's JavaScript reads it; a non-empty `conditions` is refused.",
                    required=True,
                )
            ],
            "responses": {
                "200": {
                    "description": "At most ten items, by name",
                    "content": parts.json_content(
                        {
                            "type": "object",
                            "required": ["items", "success"],
                            "properties": {
                                "items": {"type": "array", "maxItems": 10, "items": _ITEM},
                                "success": {"const": True},
                            },
                        },
                        {
                            "items": [
                                {"_id": "v1", "username": "guest-5", "name": "Jane", "custom_name": "guest-5 - Jane"}
                            ],
                            "success": True,
                        },
                    ),
                },
                "400": {
                    "description": "A missing or repeated `selector` or another parameter (Ajv's message), a selector "
                    "that is not JSON (V8's message) or is null, or `conditions`",
                    "content": parts.json_content(
                        {"anyOf": [parts.INVALID_PARAMS, parts.NOT_SUPPORTED, parts.FAILURE]},
                        {"success": False, "error": "Expected property name or '}' in JSON at position 1"},
                    ),
                },
                **_COMMON,
            },
        }
    },
}
