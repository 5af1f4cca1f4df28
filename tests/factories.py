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


def visitor(**fields: Any) -> dict[str, Any]:
    number = next(_sequence)
    document: dict[str, Any] = {
        "_id": f"visitor{number:010d}",
        "username": f"guest-{number}",
        "ts": moment(number % 1000),
        "token": secrets.token_hex(8),
        "_updatedAt": moment(number % 1000, millisecond=512),
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
