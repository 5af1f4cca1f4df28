"""Builders of Rocket.Chat documents for tests: visitors, users with tokens, custom-field definitions."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import secrets
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from service import rocketchat

DEFAULT_ROLES = ["admin", "livechat-manager", "livechat-monitor", "livechat-agent"]
_sequence = itertools.count(1)


def moment(day: int, *, millisecond: int = 0) -> dt.datetime:
    """A fixed, distinct date per `day` (naive UTC, as PyMongo returns them)."""
    return dt.datetime(2024, 5, 1, 10, 31, 7) + dt.timedelta(days=day, milliseconds=millisecond)


def now() -> dt.datetime:
    """The current time as MongoDB stores it (naive UTC, milliseconds): a write newer than any `moment`."""
    current = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


def visitor(**fields: Any) -> dict[str, Any]:
    number = next(_sequence)
    # Dates of the past only (the last one is in 2025): a test that writes a visitor again at "now" must be
    # writing a newer version, whatever the date the suite runs on.
    document: dict[str, Any] = {
        "_id": f"visitor{number:010d}",
        "username": f"guest-{number}",
        "ts": moment(number % 500),
        "token": secrets.token_hex(8),
        "_updatedAt": moment(number % 500, millisecond=512),
    }
    document.update(fields)
    return document


def hashed(token: str) -> str:
    return base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()


async def add_user(
    database: AsyncDatabase[dict[str, Any]],
    user_id: str,
    token: str,
    roles: list[str],
    *,
    active: bool = True,
    token_type: str | None = None,
) -> None:
    login_token: dict[str, Any] = {"when": moment(0), "hashedToken": hashed(token)}
    if token_type:
        login_token["type"] = token_type
    await database[rocketchat.USERS_COLLECTION].insert_one(
        {
            "_id": user_id,
            "username": user_id,
            "active": active,
            "roles": roles,
            "services": {"resume": {"loginTokens": [{"when": moment(0), "hashedToken": "other"}, login_token]}},
        }
    )


async def grant_view_l_room(database: AsyncDatabase[dict[str, Any]], roles: list[str] = DEFAULT_ROLES) -> None:
    await database[rocketchat.PERMISSIONS_COLLECTION].replace_one(
        {"_id": "view-l-room"}, {"_id": "view-l-room", "roles": roles}, upsert=True
    )


async def define_custom_field(
    database: AsyncDatabase[dict[str, Any]], name: str, *, scope: str = "visitor", searchable: bool = True
) -> None:
    await database[rocketchat.CUSTOM_FIELDS_COLLECTION].replace_one(
        {"_id": name},
        {
            "_id": name,
            "label": name.title(),
            "scope": scope,
            "visibility": "visible",
            "searchable": searchable,
            "regexp": "",
            "required": False,
        },
        upsert=True,
    )


async def grant(database: AsyncDatabase[dict[str, Any]], permission: str, roles: list[str]) -> None:
    await database[rocketchat.PERMISSIONS_COLLECTION].replace_one(
        {"_id": permission}, {"_id": permission, "roles": roles}, upsert=True
    )


def livechat_contact(name: str, **fields: Any) -> dict[str, Any]:
    """A Rocket.Chat 7 contact in the key order `createContact` stores: `_id`, `createdAt`, `name`, `emails`,
    `phones`, `contactManager`, `channels`, `customFields`, `unknown`, `_updatedAt`; `fields` replace or append."""
    number = next(_sequence)
    document: dict[str, Any] = {
        "_id": f"contact{number:010d}",
        "createdAt": moment(number % 500),
        "name": name,
        "emails": [],
        "phones": [],
        "channels": [],
        "customFields": {},
        "unknown": False,
        "_updatedAt": moment(number % 500, millisecond=512),
    }
    for key, value in fields.items():
        document[key] = value
    return {key: value for key, value in document.items() if value is not None}
