"""Names and mapping of the Rocket.Chat 7 contacts index (`rocketchat_livechat_contact`), served by
`contacts.search` and `contacts.get`: what the indexer writes and the service reads.

Pure: no I/O. Both sides import it; neither imports the other.
"""

from __future__ import annotations

from typing import Any, Final

from contact_index import shared, substring

# The stored contact as Rocket.Chat's JSON prints it, in stored key order: what both routes answer with.
FIELD_CONTACT: Final = "contact"
# Substring tokens (see `substring`) of `name`, every `emails.address` and every `phones.phoneNumber`.
FIELD_SEARCH: Final = "search"
# True when one of those paths holds a string at all: Rocket.Chat's empty search text (the regex '') matches
# exactly such contacts.
FIELD_HAS_TEXT: Final = "has_text"
# Every boolean `unknown` holds (Mongo's equality also matches an array's elements).
FIELD_UNKNOWN: Final = "unknown"

# The paths a caller may sort by, each with the index field holding its values (strings as keyword, dates as
# dates). Mongo sorts ascending by an array's least value and descending by its greatest: `mode` min/max does
# the same. Any other path is absent from every stored contact, so sorting by it changes nothing.
SORT_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "_id": (shared.FIELD_ID, "keyword"),
    "name": ("sort_name", "keyword"),
    "emails.address": ("sort_emails", "keyword"),
    "phones.phoneNumber": ("sort_phones", "keyword"),
    "contactManager": ("sort_contact_manager", "keyword"),
    "createdAt": ("sort_created_at", "date"),
    "_updatedAt": ("sort_updated_at", "date"),
    "lastChat.ts": ("sort_last_chat_ts", "date"),
    "channels.lastChat.ts": ("sort_channels_last_chat_ts", "date"),
}

MAPPING: Final[dict[str, Any]] = {
    "dynamic": "strict",
    # The tokens are only for searching; `verify` compares content hashes and reindex reads MongoDB.
    "_source": {"excludes": [FIELD_SEARCH]},
    "properties": {
        shared.FIELD_ID: {"type": "keyword"},
        shared.FIELD_CONTENT_HASH: {"type": "keyword", "index": False, "doc_values": False},
        FIELD_CONTACT: {"type": "object", "enabled": False},
        FIELD_SEARCH: substring.mapping(),
        FIELD_HAS_TEXT: {"type": "boolean"},
        FIELD_UNKNOWN: {"type": "boolean"},
        **{field: {"type": kind} for field, kind in SORT_FIELDS.values() if field != shared.FIELD_ID},
    },
}

# Deep pages are Rocket.Chat's skip(): Elasticsearch keeps at most from+size hits per shard, never more than the
# shard holds, so the window can be as large as `from` allows.
MAX_RESULT_WINDOW: Final = 2_147_483_647

SETTINGS: Final[dict[str, Any]] = {
    "index": {**shared.SETTINGS["index"], "max_result_window": MAX_RESULT_WINDOW},
}
