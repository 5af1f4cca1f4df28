"""Pieces every route's OpenAPI description shares: JSON content, the 401/403 envelopes, the backend failures."""

from __future__ import annotations

from typing import Any, Final

from service.errors import FORBIDDEN_MESSAGE, UNAUTHORIZED_MESSAGE

# Patterns of JSON texts, valid both as ECMA-262 and Python regular expressions.
JSON_SPACE: Final = r"[ \t\n\r]*"
JSON_STRING: Final = r'"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"'

SECURITY: Final[list[dict[str, list[str]]]] = [{"authToken": [], "userId": []}]

FAILURE: Final = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {"success": {"const": False}, "error": {"type": "string"}},
}


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
