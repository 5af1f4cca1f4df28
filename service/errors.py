"""Typed failures raised by handlers; the error middleware turns each into the contract's JSON envelope."""

from __future__ import annotations

from typing import Any

UNAUTHORIZED_MESSAGE = "You must be logged in to do this."
FORBIDDEN_MESSAGE = "User does not have the permissions required for this action [error-unauthorized]"


class ApiError(Exception):
    """A failure with a fixed HTTP status and JSON body."""

    status = 500

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": str(self)}


class Unauthorized(ApiError):
    status = 401

    def body(self) -> dict[str, Any]:
        return {
            "success": False,
            "status": "error",
            "message": UNAUTHORIZED_MESSAGE,
            "error": UNAUTHORIZED_MESSAGE,
        }


class Forbidden(ApiError):
    status = 403

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": FORBIDDEN_MESSAGE}


class InvalidParams(ApiError):
    """Bad input: `{"success":false,"error":"[<type>]","errorType":"<type>"}`."""

    status = 400
    error_type = "error-invalid-params"

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": f"[{self.error_type}]", "errorType": self.error_type}


class InvalidCustom(InvalidParams):
    error_type = "error-invalid-params-custom"


class InvalidParamsMessage(ApiError):
    """Rocket.Chat's Ajv validation failure: `{"success":false,"error":"<message> [invalid-params]",...}`."""

    status = 400

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": f"{self} [invalid-params]", "errorType": "invalid-params"}


class InvalidSort(ApiError):
    """`parseJsonQuery`'s refusal of a `sort` parameter; the message quotes the raw parameter back."""

    status = 400

    def body(self) -> dict[str, Any]:
        return {
            "success": False,
            "error": f'Invalid sort parameter provided: "{self}" [error-invalid-sort]',
            "errorType": "error-invalid-sort",
            "details": {"helperMethod": "parseJsonQuery"},
        }


class QueryFailed(ApiError):
    """What Rocket.Chat answers when its route handler throws (MongoDB refuses the query, `JSON.parse` fails): a 400
    with the thrown message."""

    status = 400


class UnsupportedRequest(ApiError):
    """A request Rocket.Chat answers but this service cannot answer faithfully from the index (a sort path it does
    not hold, autocomplete's MongoDB `conditions`): 400 saying so; the proxy may send such requests to Rocket.Chat."""

    status = 400

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": f"{self} [error-not-supported]", "errorType": "error-not-supported"}


class NotFound(ApiError):
    status = 404

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": "Resource not found"}


class BackendUnavailable(ApiError):
    """Elasticsearch or MongoDB cannot be reached, or the index does not exist yet."""

    status = 503


class BackendFailed(ApiError):
    """A backend answered with an error we did not expect."""

    status = 502
