"""The OpenAPI 3.1 description of the service, served at `/openapi.json`; the Rocket.Chat 7 contacts routes are
described in `openapi_contacts`."""

from __future__ import annotations

from typing import Any, Final

from service import openapi_contacts, openapi_visitors
from service import openapi_parts as parts
from service.http_server import MAX_LINE_SIZE

_json = parts.json_content

_INVALID: Final = {
    "type": "object",
    "required": ["success", "error", "errorType"],
    "properties": {
        "success": {"const": False},
        "error": {"enum": ["[error-invalid-params]", "[error-invalid-params-custom]"]},
        "errorType": {"enum": ["error-invalid-params", "error-invalid-params-custom"]},
    },
}

_ALIVE: Final = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"const": "ok"}},
    "additionalProperties": False,
}

_READY: Final = {
    "type": "object",
    "required": ["ready", "checks"],
    "properties": {
        "ready": {"type": "boolean"},
        "checks": {
            "type": "object",
            "required": ["elasticsearch", "mongo"],
            "additionalProperties": {"type": "string"},
        },
    },
    "additionalProperties": False,
}
_READY_EXAMPLE: Final = {"ready": True, "checks": {"elasticsearch": "ok", "mongo": "ok"}}

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

# What `custom` may hold, as patterns (valid both as ECMA-262 and Python regular expressions): a JSON object of
# string values, or one `name=value` pair of the older URLSearchParams form. The pair cannot start like a JSON text
# (`"`, `[`, `{`, white space), which would be read as JSON. Several pairs with different names are accepted too; a
# pattern cannot say "different", so it describes one.
_JSON_SPACE = parts.JSON_SPACE
_JSON_STRING = parts.JSON_STRING
_JSON_MEMBER = f"{_JSON_STRING}{_JSON_SPACE}:{_JSON_SPACE}{_JSON_STRING}{_JSON_SPACE}"
_JSON_MEMBERS = f"{_JSON_MEMBER}(?:,{_JSON_SPACE}{_JSON_MEMBER})*"
CUSTOM_JSON_PATTERN: Final = f"^{_JSON_SPACE}\\{{{_JSON_SPACE}(?:{_JSON_MEMBERS})?\\}}{_JSON_SPACE}$"
CUSTOM_NON_EMPTY_JSON_PATTERN: Final = f"^{_JSON_SPACE}\\{{{_JSON_SPACE}{_JSON_MEMBERS}\\}}{_JSON_SPACE}$"
CUSTOM_PAIR_PATTERN: Final = r'^[^&="\[{ \t\n\r][^&=]*=[^&]*$'

_CRITERIA: Final = {
    "type": "object",
    "properties": {
        "email": {"type": "string", "description": "Exact address, case-insensitive."},
        "phone": {"type": "string", "description": "Exact phone number; a leading space stands for an unencoded `+`."},
        "custom": {
            "type": "string",
            "description": 'A JSON object of strings, e.g. `{"plan":"gold"}` (or `plan=gold`): each value is a '
            "case-insensitive literal substring of `livechatData.<field>`. Only searchable visitor custom fields "
            "count; other keys are ignored, and if none is left the answer is 200 with `contact: null`. An empty "
            "value or `{}` counts as not given. Anything else is refused with 400 `error-invalid-params-custom`.",
            "anyOf": [{"maxLength": 0}, {"pattern": CUSTOM_JSON_PATTERN}, {"pattern": CUSTOM_PAIR_PATTERN}],
        },
    },
    "additionalProperties": False,
    "anyOf": [
        {"required": ["email"], "properties": {"email": {"minLength": 1}}},
        {"required": ["phone"], "properties": {"phone": {"minLength": 1}}},
        {
            "required": ["custom"],
            "properties": {
                "custom": {"anyOf": [{"pattern": CUSTOM_NON_EMPTY_JSON_PATTERN}, {"pattern": CUSTOM_PAIR_PATTERN}]}
            },
        },
    ],
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
                "security": parts.SECURITY,
                "parameters": [
                    {
                        "name": "criteria",
                        "in": "query",
                        "required": True,
                        "style": "form",
                        "explode": True,
                        "description": "The search criteria, each a query parameter of its own, ANDed. At least one of "
                        "a non-empty `email`, a non-empty `phone` or a non-empty `custom` is required; any other "
                        "parameter, or one given twice, is refused with 400 `error-invalid-params`.",
                        "schema": _CRITERIA,
                    }
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
                        "description": "Invalid parameters (JSON). A request line or header longer than "
                        f"{MAX_LINE_SIZE} bytes, or a malformed request, is refused before it is routed (plain text).",
                        "content": _json(
                            _INVALID,
                            {"success": False, "error": "[error-invalid-params]", "errorType": "error-invalid-params"},
                        )
                        | {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": parts.unauthorized(),
                    "403": parts.forbidden("view-l-room"),
                    **parts.failures(),
                },
            }
        },
        **openapi_contacts.PATHS,
        **openapi_visitors.PATHS,
        "/healthz": {
            "get": {
                "summary": "The process is alive",
                "responses": {"200": {"description": "alive", "content": _json(_ALIVE, {"status": "ok"})}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Elasticsearch and MongoDB answer and the index alias exists",
                "responses": {
                    "200": {"description": "ready", "content": _json(_READY, _READY_EXAMPLE)},
                    "503": {
                        "description": "not ready: each check says why",
                        "content": _json(
                            _READY, {"ready": False, "checks": {"elasticsearch": "alias missing", "mongo": "ok"}}
                        ),
                    },
                },
            }
        },
    },
}
