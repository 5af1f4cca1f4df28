"""Rocket.Chat's REST authentication and permissions (`view-l-room`, `view-livechat-contact`), read from its MongoDB."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from service import rocketchat
from service.cache import TtlCache
from service.errors import Forbidden, Unauthorized

PERMISSION = "view-l-room"
# Rocket.Chat 7's `contacts.search` and `contacts.get`.
CONTACTS_PERMISSION = "view-livechat-contact"


def hashed_token(token: str) -> str:
    """How Rocket.Chat stores a login token: base64 of its SHA-256 (`Accounts._hashLoginToken`)."""
    return base64.b64encode(hashlib.sha256(token.encode("utf-8")).digest()).decode("ascii")


@dataclass(frozen=True)
class Caller:
    user_id: str
    roles: frozenset[str]


def caller_from_user(user: Mapping[str, Any] | None, token_hash: str) -> Caller | None:
    """The caller a user document proves, or None when the token is not one of its login tokens."""
    if not user or user.get("active") is False:
        return None
    resume = (user.get("services") or {}).get("resume") or {}
    tokens = resume.get("loginTokens") if isinstance(resume, Mapping) else None
    if not isinstance(tokens, list):
        return None
    if not any(isinstance(entry, Mapping) and entry.get("hashedToken") == token_hash for entry in tokens):
        return None
    roles = user.get("roles")
    return Caller(
        str(user["_id"]),
        frozenset(role for role in roles if isinstance(role, str)) if isinstance(roles, list) else frozenset(),
    )


class Authenticator:
    """Resolves `X-User-Id`/`X-Auth-Token` to a caller allowed to search, with short-lived caches."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], ttl: float) -> None:
        self._users = database[rocketchat.USERS_COLLECTION]
        self._permissions = database[rocketchat.PERMISSIONS_COLLECTION]
        self._callers: TtlCache[tuple[str, str], Caller | None] = TtlCache(ttl)
        self._permitted_roles: TtlCache[str, frozenset[str]] = TtlCache(ttl, max_entries=16)

    async def authorize(self, user_id: str | None, token: str | None, permission: str = PERMISSION) -> Caller:
        """The caller, or Unauthorized (401) / Forbidden (403), in that order."""
        caller = await self.authenticate(user_id, token)
        await self.require(caller, permission)
        return caller

    async def authenticate(self, user_id: str | None, token: str | None) -> Caller:
        """The caller, or Unauthorized (401)."""
        if not user_id or not token:
            raise Unauthorized("missing credentials")
        token_hash = hashed_token(token)
        caller = await self._callers.get((user_id, token_hash), lambda: self._load_caller(user_id, token_hash))
        if caller is None:
            raise Unauthorized("unknown user or token")
        return caller

    async def require(self, caller: Caller, permission: str) -> None:
        """Forbidden (403) unless one of the caller's roles has `permission`."""
        allowed = await self._permitted_roles.get(permission, lambda: self._load_permitted_roles(permission))
        if not caller.roles & allowed:
            raise Forbidden(permission)

    async def _load_caller(self, user_id: str, token_hash: str) -> Caller | None:
        # Filtering on `_id` alone uses the primary key everywhere; the token is checked here.
        user = await self._users.find_one(
            {"_id": user_id}, projection={"services.resume.loginTokens.hashedToken": 1, "roles": 1, "active": 1}
        )
        return caller_from_user(user, token_hash)

    async def _load_permitted_roles(self, permission: str) -> frozenset[str]:
        found = await self._permissions.find_one({"_id": permission}, projection={"roles": 1})
        roles = (found or {}).get("roles")
        return frozenset(role for role in roles if isinstance(role, str)) if isinstance(roles, list) else frozenset()
