"""Pieces every route's OpenAPI description shares: JSON content, the 401/403 envelopes, the backend failures."""

from __future__ import annotations

from typing import Any, Final

from service.errors import FORBIDDEN_MESSAGE, UNAUTHORIZED_MESSAGE

# Patterns of JSON texts, valid both as ECMA-262 and Python regular expressions.
JSON_SPACE: Final = r"[ \t\n\r]*"
JSON_STRING: Final = r'"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"'

_SPACE, _STRING = JSON_SPACE, JSON_STRING


def sort_pattern(key: str = _STRING) -> str:
    """A JSON object whose members (keys matching `key`) are all 1 or -1: `parseJsonQuery`'s accepted sorts."""
    member = f"{key}{_SPACE}:{_SPACE}-?1{_SPACE}"
    return f"^{_SPACE}\\{{{_SPACE}(?:{member}(?:,{_SPACE}{member})*)?\\}}{_SPACE}$"


SORT_PATTERN: Final = sort_pattern()

SECURITY: Final[list[dict[str, list[str]]]] = [{"authToken": [], "userId": []}]

FAILURE: Final = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {"success": {"const": False}, "error": {"type": "string"}},
}


def invalid(error_type: str, example: str) -> dict[str, Any]:
    """A 400 of Rocket.Chat's `{success: false, error: "<message> [<type>]", errorType}` shape."""
    return {
        "type": "object",
        "required": ["success", "error", "errorType"],
        "properties": {
            "success": {"const": False},
            "error": {"type": "string", "pattern": f" \\[{error_type}\\]$", "examples": [example]},
            "errorType": {"const": error_type},
        },
    }


INVALID_PARAMS: Final = invalid("invalid-params", "must be number [invalid-params]")
INVALID_SORT: Final = invalid("error-invalid-sort", 'Invalid sort parameter provided: "{" [error-invalid-sort]')
INVALID_SORT["required"].append("details")
INVALID_SORT["properties"]["details"] = {"const": {"helperMethod": "parseJsonQuery"}}
NOT_SUPPORTED: Final = invalid("error-not-supported", "Sorting by 'token' is not served here [error-not-supported]")


def query_parameter(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def json_content(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema, "example": example}}


def unauthorized() -> dict[str, Any]:
    body = {"success": False, "status": "error", "message": UNAUTHORIZED_MESSAGE, "error": UNAUTHORIZED_MESSAGE}
    schema = {
        "type": "object",
        "required": ["success", "status", "message", "error"],
        "properties": {
            "success": {"const": False},
            "status": {"const": "error"},
            "message": {"const": UNAUTHORIZED_MESSAGE},
            "error": {"const": UNAUTHORIZED_MESSAGE},
        },
    }
    return {"description": "Missing or invalid credentials", "content": json_content(schema, body)}


def forbidden(permission: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["success", "error"],
        "properties": {"success": {"const": False}, "error": {"const": FORBIDDEN_MESSAGE}},
    }
    return {
        "description": f"The user lacks the {permission} permission",
        "content": json_content(schema, {"success": False, "error": FORBIDDEN_MESSAGE}),
    }


def failures() -> dict[str, Any]:
    """The 5xx answers: a bug, a backend's unexpected error, a backend unreachable."""
    return {
        "500": {
            "description": "An unexpected failure in the service (a bug: it is logged)",
            "content": json_content(FAILURE, {"success": False, "error": "Internal server error"}),
        },
        "502": {
            "description": "A backend answered with an unexpected error",
            "content": json_content(FAILURE, {"success": False, "error": "Search backend failed"}),
        },
        "503": {
            "description": "Elasticsearch or MongoDB is unreachable, or the index is not built yet",
            "content": json_content(FAILURE, {"success": False, "error": "Search backend is unavailable"}),
        },
    }
