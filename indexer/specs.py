"""What the indexer syncs: one small declarative spec per Rocket.Chat collection.

Every job (backfill, polling, change streams, reconciliation, verify, reindex) takes a spec, so the next collection is
a new spec here, not a copy of the machinery. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from contact_index import livechat_contacts, schema
from indexer import contact_transform, transform

Document = Mapping[str, Any]

# Rocket.Chat 6 moves removed documents here, marked with the collection they came from.
TRASH_COLLECTION: Final = "rocketchat__trash"


@dataclass(frozen=True)
class Spec:
    """One synced collection: where it comes from, what its documents become, and where they go.

    `alias` is the Elasticsearch alias the index is served through; the indexer's checkpoint, lease and dead letters
    are keyed by it. Every index document carries `schema.FIELD_ID` (the printed `_id`, for sorted scans) and
    `schema.FIELD_CONTENT_HASH` (what `verify` compares).
    """

    name: str
    collection: str
    alias: str
    to_document: Callable[[Document], dict[str, Any]]
    content_hash: Callable[[Document], str]
    mapping: Mapping[str, Any]
    settings: Mapping[str, Any] = dataclasses.field(default_factory=lambda: schema.SETTINGS)
    # The `__collection__` mark of this collection's entries in Rocket.Chat 6's trash; None: it has no trash.
    trash_mark: str | None = None
    # Dates in the document that make its external version (ms), the first present one wins. Rocket.Chat sets
    # `_updatedAt` on every write; polling reads in the order of the first.
    version_fields: tuple[str, ...] = ("_updatedAt",)
    # Documents that must not be indexed (removed from the index when they turn so).
    excluded: Callable[[Document], bool] = lambda document: False

    @property
    def version_field(self) -> str:
        return self.version_fields[0]

    def version_of(self, document: Document) -> int:
        """The external version of a write: the first of `version_fields` that is a date, in ms; else 1."""
        for name in self.version_fields:
            moment = document.get(name)
            if isinstance(moment, dt.datetime):
                return transform.epoch_millis(moment)
        return 1

    def with_alias(self, alias: str) -> Spec:
        return dataclasses.replace(self, alias=alias)


def _visitor_hash(visitor: Document) -> str:
    return transform.content_hash(transform.to_printable(visitor))


# Rocket.Chat's omnichannel visitors, searched by `contact.search`. `disabled: true` is Rocket.Chat's soft removal.
VISITORS: Final = Spec(
    name="visitors",
    collection="rocketchat_livechat_visitor",
    alias="contacts",
    to_document=transform.to_index_document,
    content_hash=_visitor_hash,
    mapping=schema.MAPPING,
    trash_mark="livechat_visitor",
    version_fields=("_updatedAt", "ts"),
    excluded=lambda visitor: not transform.is_searchable(visitor),
)


# Rocket.Chat 7's contacts, searched by `contacts.search` and read by `contacts.get`. Rocket.Chat keeps no trash for
# them: a hard delete is found by the change stream or, when polling, by reconciliation.
LIVECHAT_CONTACTS: Final = Spec(
    name="livechat_contacts",
    collection="rocketchat_livechat_contact",
    alias="livechat_contacts",
    to_document=contact_transform.to_index_document,
    content_hash=contact_transform.content_hash,
    mapping=livechat_contacts.MAPPING,
    settings=livechat_contacts.SETTINGS,
    version_fields=("_updatedAt", "createdAt"),
    excluded=contact_transform.is_disabled,
)
