"""Seeds a small demo Rocket.Chat database for `make run` (visitors when it has none, Rocket.Chat 7 contacts when it
has none); prints the demo token."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import os
import sys
from typing import Any

from pymongo import AsyncMongoClient

from indexer.collections import LIVECHAT_CONTACTS, VISITORS
from service import rocketchat

DEMO_USER_ID = "demo-agent"
DEMO_TOKEN = "demo-token-9HqLlyZOugoStsXCUfD"

CUSTOM_FIELDS: list[dict[str, Any]] = [
    {"_id": "address", "label": "Address", "scope": "visitor", "visibility": "visible", "searchable": True},
    {"_id": "plan", "label": "Plan", "scope": "visitor", "visibility": "visible", "searchable": True},
    {"_id": "internalNote", "label": "Note", "scope": "visitor", "visibility": "hidden", "searchable": False},
    {"_id": "topic", "label": "Topic", "scope": "room", "visibility": "visible", "searchable": True},
]


def _visitors(now: dt.datetime) -> list[dict[str, Any]]:
    people = [
        ("Santa", "santa@example.com", "+5511999999999", "Rocket.Chat street", "premium"),
        ("Ada Lovelace", "ada@example.org", "+442071234567", "12 St James's Square, London", "gold"),
        ("Grace Hopper", "grace@example.net", "+12025550123", "Arlington, Virginia", "premium"),
        ("Alan Turing", "alan@example.co.uk", "+441619998888", "Wilmslow, Cheshire", "basic"),
    ]
    return [
        {
            "_id": f"demo-visitor-{index}",
            "username": f"guest-{index}",
            "ts": now - dt.timedelta(days=30 - index),
            "token": f"visitor-token-{index}",
            "name": name,
            "visitorEmails": [{"address": email}],
            "phone": [{"phoneNumber": phone}],
            "livechatData": {"address": address, "plan": plan, "internalNote": "likes tea"},
            "status": "offline",
            "_updatedAt": now,
        }
        for index, (name, email, phone, address, plan) in enumerate(people, start=1)
    ]


def _contacts(now: dt.datetime) -> list[dict[str, Any]]:
    """Rocket.Chat 7 contacts, in the key order its `createContact` stores."""
    people = [
        ("Ada Lovelace", "ada@example.org", "+442071234567", DEMO_USER_ID),
        ("Grace Hopper", "grace@example.net", "+12025550123", DEMO_USER_ID),
        ("Katherine Johnson", "katherine@example.com", "+17575550199", None),
        ("Margaret Hamilton", "margaret@example.com", "+16175550142", None),
    ]
    contacts: list[dict[str, Any]] = []
    for index, (name, email, phone, manager) in enumerate(people, start=1):
        contact: dict[str, Any] = {
            "_id": f"demo-contact-{index}",
            "createdAt": now - dt.timedelta(days=30 - index),
            "name": name,
            "emails": [{"address": email}],
            "phones": [{"phoneNumber": phone}],
        }
        if manager:
            contact["contactManager"] = manager
        contact.update({"channels": [], "customFields": {}, "unknown": False, "_updatedAt": now})
        contacts.append(contact)
    return contacts


async def seed(mongo_url: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        database = client.get_default_database(default="rocketchat")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if await database[LIVECHAT_CONTACTS.collection].estimated_document_count() == 0:
            await database[rocketchat.PERMISSIONS_COLLECTION].replace_one(
                {"_id": "view-livechat-contact"},
                {"_id": "view-livechat-contact", "roles": ["admin", "livechat-manager", "livechat-agent"]},
                upsert=True,
            )
            await database[LIVECHAT_CONTACTS.collection].insert_many(_contacts(now))
        if await database[VISITORS.collection].estimated_document_count() > 0:
            return
        hashed = base64.b64encode(hashlib.sha256(DEMO_TOKEN.encode()).digest()).decode()
        await database[rocketchat.USERS_COLLECTION].replace_one(
            {"_id": DEMO_USER_ID},
            {
                "_id": DEMO_USER_ID,
                "username": "demo.agent",
                "name": "Demo Agent",
                "active": True,
                "roles": ["user", "livechat-agent"],
                "services": {"resume": {"loginTokens": [{"when": now, "hashedToken": hashed}]}},
            },
            upsert=True,
        )
        await database[rocketchat.PERMISSIONS_COLLECTION].replace_one(
            {"_id": "view-l-room"},
            {"_id": "view-l-room", "roles": ["admin", "livechat-manager", "livechat-monitor", "livechat-agent"]},
            upsert=True,
        )
        for definition in CUSTOM_FIELDS:
            await database[rocketchat.CUSTOM_FIELDS_COLLECTION].replace_one(
                {"_id": definition["_id"]}, definition, upsert=True
            )
        await database[VISITORS.collection].insert_many(_visitors(now))
    finally:
        await client.close()


def main() -> int:
    asyncio.run(seed(os.environ["MONGO_URL"]))
    print(DEMO_TOKEN)  # noqa: T201 - the CLI's output, read by deploy/demo/run
    return 0


if __name__ == "__main__":
    sys.exit(main())
