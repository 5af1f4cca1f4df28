"""The shape of what the indexer syncs: one small declarative spec per Rocket.Chat collection.

Every job (backfill, polling, change streams, reconciliation, verify, reindex) takes a spec, so the next collection is
a new module in `indexer/collections/` (its spec beside its transform), not a copy of the machinery. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from contact_index import shared
from indexer import documents

Document = Mapping[str, Any]

# Rocket.Chat 6 moves removed documents here, marked with the collection they came from.
TRASH_COLLECTION: Final = "rocketchat__trash"


@dataclass(frozen=True)
class Spec:
    """One synced collection: where it comes from, what its documents become, and where they go.

    `alias` is the Elasticsearch alias the index is served through; the indexer's checkpoint, lease and dead letters
    are keyed by it. Every index document carries `shared.FIELD_ID` (the printed `_id`, for sorted scans) and
    `shared.FIELD_CONTENT_HASH` (what `verify` compares).
    """

    name: str
    collection: str
    alias: str
    to_document: Callable[[Document], dict[str, Any]]
    content_hash: Callable[[Document], str]
    mapping: Mapping[str, Any]
    settings: Mapping[str, Any] = dataclasses.field(default_factory=lambda: shared.SETTINGS)
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
                return documents.epoch_millis(moment)
        return 1

    def with_alias(self, alias: str) -> Spec:
        return dataclasses.replace(self, alias=alias)
