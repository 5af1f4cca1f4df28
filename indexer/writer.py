"""The one bulk path: every write of every entry point (worker, `--once`, reconciliation, `verify --repair`,
`reindex`) goes through `Writer.write`, with one parser of bulk items and one rule for their outcome:

- acknowledged (2xx), or settled: 409 (the index holds a newer version), 404 on a delete (already gone);
- retried with backoff: 429, 5xx, a request that never got an answer (connection lost, timeout);
- our credential refused (401, or 403 from Elasticsearch's security): raised, never dead-lettered;
- refused (any other status): dead-lettered with Elasticsearch's reason, counted as failed, never as written.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, AsyncElasticsearch
from elasticsearch.helpers import async_streaming_bulk
from pymongo.asynchronous.database import AsyncDatabase

from common import elasticsearch_refusals
from indexer import source
from indexer.changes import Change, Op, upsert
from indexer.dead_letters import DeadLetters
from indexer.metrics import Metrics
from indexer.specs import Spec

log = logging.getLogger(__name__)


class Stopped(Exception):
    """Shutdown was requested while a batch could not be written yet; it stays unacknowledged."""


class IndexMissing(Exception):
    """The live alias points nowhere (the index was deleted): the worker must recreate it and backfill."""


class Outcome(enum.Enum):
    SETTLED = "settled"  # the index holds this write (or a newer one)
    RETRY = "retry"  # a transient failure: send it again
    REFUSED = "refused"  # Elasticsearch refuses this document for good: dead-letter it


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One item of a bulk response, `{op: {"_index", "_id", "status", "error", ...}}`, parsed once."""

    op: str
    status: int | None
    error: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> BulkItem:
        op = next(iter(item), "")
        result = item.get(op)
        if not isinstance(result, Mapping):
            return cls(op, None, {"type": "malformed_bulk_item"})
        status = result.get("status")
        error = result.get("error")
        reason = error if isinstance(error, Mapping) else ({"reason": str(error)} if error else {})
        return cls(op, status if isinstance(status, int) else None, reason)

    @property
    def outcome(self) -> Outcome:
        if self.status is None:  # the request never reached Elasticsearch (connection lost, timeout)
            return Outcome.RETRY
        if self.status < 300 or self.status == 409 or (self.op == "delete" and self.status == 404):
            return Outcome.SETTLED
        if self.status == 429 or self.status >= 500:
            return Outcome.RETRY
        return Outcome.REFUSED

    @property
    def index_missing(self) -> bool:
        return self.error.get("type") == "index_not_found_exception"

    @property
    def reason(self) -> dict[str, Any]:
        """What a dead letter keeps of the error (never the document)."""
        return {key: self.error[key] for key in ("type", "reason", "caused_by") if key in self.error}


def backoff_seconds(attempt: int, initial: float = 0.5, ceiling: float = 30.0) -> float:
    return float(min(ceiling, initial * 2 ** max(0, attempt)))


def document_action(index: str, document_id: str, version: int, document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "_op_type": "index",
        "_index": index,
        "_id": document_id,
        "version": version,
        "version_type": "external_gte",
        "_source": document,
    }


def delete_action(index: str, document_id: str, version: int) -> dict[str, Any]:
    return {
        "_op_type": "delete",
        "_index": index,
        "_id": document_id,
        "version": version,
        "version_type": "external_gte",
    }


def batch_actions(batch: Sequence[Change], targets: Sequence[str]) -> list[dict[str, Any]]:
    """The bulk actions of a batch for each target, in change order (pure)."""
    actions: list[dict[str, Any]] = []
    for change in batch:
        document_id = change.document_id
        for target in targets:
            if change.document is None:  # a delete, or a document excluded by the spec
                actions.append(delete_action(target, document_id, change.version))
            else:
                actions.append(document_action(target, document_id, change.version, change.document))
    return actions


def _raise_refusal(item: Mapping[str, Any]) -> None:
    """A bulk request refused as a whole for our credential (401/403) is not about the documents: it must not
    dead-letter them. The helper turns it into one failed item per action; raise it instead."""
    result = next(iter(item.values()), None)
    failure = result.get("exception") if isinstance(result, Mapping) else None
    if isinstance(failure, ApiError) and elasticsearch_refusals.needs_a_person(failure):
        raise failure
    if isinstance(result, Mapping) and result.get("status") in {401, 403}:
        error = result.get("error")
        if isinstance(error, Mapping) and error.get("type") == "security_exception":
            # One document's index is not ours to write (a missing privilege): the same for every document.
            raise elasticsearch_refusals.CredentialRefused(
                elasticsearch_refusals.describe("credential", int(result["status"]), {"error": error})
            )


async def send(client: AsyncElasticsearch, actions: list[dict[str, Any]], *, require_alias: bool) -> list[BulkItem]:
    """One bulk request for `actions`; the parsed item of each, in order, without raising.

    A request that fails as a whole (connection lost, timeout) gives every item no status, so they are retried.
    """
    items: list[BulkItem] = []
    try:
        async for _, item in async_streaming_bulk(
            client,
            actions,
            chunk_size=max(1, len(actions)),
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=0,
            require_alias=require_alias,
        ):
            _raise_refusal(item)
            items.append(BulkItem.parse(item))
    except TransportError as error:  # ApiErrors are turned into items by the helper; these are not
        log.warning("bulk request failed: %s", type(error).__name__)
        return [
            BulkItem(str(action.get("_op_type", "index")), None, {"type": type(error).__name__}) for action in actions
        ]
    return items


@dataclass
class Targets:
    """Where writes go: the live alias, and the next one while a reindex builds it."""

    alias: str
    next_alias: str | None = None

    def all(self) -> list[str]:
        return [self.alias] if self.next_alias is None else [self.alias, self.next_alias]


class Writer:
    """Writes batches of changes of one spec until each is settled in every target or dead-lettered."""

    def __init__(
        self,
        es: AsyncElasticsearch,
        database: AsyncDatabase[dict[str, Any]],
        spec: Spec,
        metrics: Metrics,
        stop: asyncio.Event,
        *,
        target: str | None = None,
        may_write: Callable[[], None] = lambda: None,
        on_conflict: Callable[[str, int], None] = lambda document_id, version: None,
    ) -> None:
        self.es = es
        self.database = database
        self.spec = spec
        self.metrics = metrics
        self.stop = stop
        self.may_write = may_write  # raises LeaseLost when this process may no longer write
        # Told of each write to the live alias that a newer version (or delete tombstone) beat: `verify --repair`
        # must know when its write did not land.
        self.on_conflict = on_conflict
        self.targets = Targets(target or spec.alias)
        self.dead_letters = DeadLetters(database, spec.alias)

    async def _resolve_lookups(self, batch: Sequence[Change]) -> list[Change]:
        """Replace LOOKUP records by the document as it is now; drop those deleted since (their delete event
        follows in the stream)."""
        lookups = [change.source_id for change in batch if change.op is Op.LOOKUP]
        if not lookups:
            return list(batch)
        found = await source.by_ids(self.database, self.spec, lookups)
        resolved: list[Change] = []
        for change in batch:
            if change.op is not Op.LOOKUP:
                resolved.append(change)
            elif (document := found.get(change.document_id)) is not None:
                resolved.append(upsert(self.spec, document, change.position))
        return resolved

    async def write(self, batch: Sequence[Change]) -> None:
        """Return once every change of `batch` is settled in every target or dead-lettered.

        Raises LeaseLost when this process may no longer write, Stopped on shutdown during retries, IndexMissing
        when the live alias has no index.
        """
        batch = await self._resolve_lookups(batch)
        pending = batch_actions(batch, self.targets.all())
        live = self.targets.alias
        attempt = 0
        while pending:
            self.may_write()
            items = await send(self.es, pending, require_alias=True)
            retry: list[dict[str, Any]] = []
            written: list[tuple[str, int]] = []
            refused: list[tuple[dict[str, Any], BulkItem]] = []
            for action, item in zip(pending, items, strict=True):
                outcome = item.outcome
                if action["_index"] == live and item.index_missing:
                    raise IndexMissing(f"alias {live} has no index")
                if outcome is Outcome.REFUSED and action["_index"] != live and item.status == 404:
                    outcome = Outcome.SETTLED  # the reindex finished or was abandoned meanwhile
                if outcome is Outcome.SETTLED:
                    if action["_index"] == live:
                        self.metrics.count_settled(action["_op_type"])
                        if item.status == 409:
                            self.on_conflict(action["_id"], action["version"])
                        if item.status is not None and item.status < 300:
                            written.append((action["_id"], action["version"]))
                elif outcome is Outcome.RETRY:
                    retry.append(action)
                else:
                    refused.append((action, item))
            # Settled first: a refusal by the next index must outlive the same write acknowledged by the live one.
            self.metrics.dead_letters -= await self.dead_letters.settle(written)
            for action, item in refused:
                await self._dead_letter(action, item)
            if retry:
                self.metrics.retried += len(retry)
                delay = backoff_seconds(attempt)
                # Retrying is the loop going round, and so is its backoff: liveness means "a restart would help",
                # which it would not while Elasticsearch is away (backend_up and the retry counter say so).
                self.metrics.waiting(delay)
                log.warning("%d bulk items failed transiently; retrying in %.1fs", len(retry), delay)
                attempt += 1
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
                else:
                    raise Stopped("shutdown while Elasticsearch was failing")
            pending = retry

    async def _dead_letter(self, action: dict[str, Any], item: BulkItem) -> None:
        reason = item.reason
        if action["_index"] == self.targets.alias:
            self.metrics.failed += 1
        log.error(
            "Elasticsearch refused document %s of %s (%s): dead-lettered",
            action["_id"],
            self.spec.name,
            reason.get("type"),
        )
        if await self.dead_letters.add(action["_id"], action["version"], action["_index"], reason):
            self.metrics.dead_letters += 1
