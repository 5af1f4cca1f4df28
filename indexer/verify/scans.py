"""Both sides in printed-id order, streamed: MongoDB's documents (a merge of sorted passes) and the index's entries
(one point-in-time scan). `verify` and the reconciliation merge-join them (see `drift`); memory stays bounded.

Ordering rule. Ids are compared as Python strings: code-point order, which is also the order of their UTF-8 bytes,
the order of Elasticsearch's `keyword` sort and of MongoDB's (binary) string comparison. MongoDB cannot sort on a
derived string, so its side is a merge of passes, each sorted by the printed id on its own:

- `_id` strings (Rocket.Chat's Meteor ids) print as themselves: one cursor on `{_id: {$type: "string"}}` sorted
  on `_id`;
- ObjectIds print as 24 lowercase hex digits, and hex order is the order of the 12 bytes MongoDB compares: one
  cursor on `{_id: {$type: "objectId"}}` sorted on `_id`;
- any other type (numbers, dates, documents, binary: never made by Rocket.Chat) prints in an order that differs from
  BSON's, so those documents are sorted here: runs of at most `spill_size` sorted in memory and spilled to temporary
  files, then merged. A collection without such ids costs one empty query.
"""

from __future__ import annotations

import heapq
import logging
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import bson
from bson.codec_options import CodecOptions
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from contact_index import shared
from indexer import documents
from indexer.specs import Spec
from indexer.verify.drift import Indexed

log = logging.getLogger(__name__)

SPILL_SIZE: Final = 10_000
KEEP_ALIVE: Final = "5m"
SORTED_BY_SERVER: Final = ("string", "objectId")

T = TypeVar("T")
Sourced = tuple[str, dict[str, Any]]  # (printed id, document)


async def merge_sorted(sources: Sequence[AsyncIterator[T]], key: Callable[[T], str]) -> AsyncGenerator[T, None]:
    """Streams that each ascend by `key` as one ascending stream; equal keys are all kept, earlier sources first.

    One item of each source is held at a time.
    """
    heads: list[tuple[str, int, T]] = []
    for number, source in enumerate(sources):
        first = await anext(source, None)
        if first is not None:
            heapq.heappush(heads, (key(first), number, first))
    while heads:
        _, number, item = heapq.heappop(heads)
        yield item
        following = await anext(sources[number], None)
        if following is not None:
            heapq.heappush(heads, (key(following), number, following))


# MongoDB's side ------------------------------------------------------------------------------------------------


async def _sorted_by_server(
    collection: AsyncCollection[dict[str, Any]], bson_type: str, projection: Mapping[str, Any] | None, batch_size: int
) -> AsyncGenerator[Sourced, None]:
    cursor = collection.find({"_id": {"$type": bson_type}}, projection, batch_size=batch_size).sort("_id", 1)
    async with cursor:
        async for document in cursor:
            yield documents.document_id(document["_id"]), document


def _spill(run: list[Sourced], path: Path, codec: CodecOptions[Any]) -> Path:
    run.sort(key=lambda entry: entry[0])
    with path.open("wb") as spill:
        for document_id, document in run:
            spill.write(bson.encode({"id": document_id, "document": document}, codec_options=codec))
    return path


def _read_run(path: Path, codec: CodecOptions[Any]) -> Iterator[Sourced]:
    with path.open("rb") as spill:
        for entry in bson.decode_file_iter(spill, codec_options=codec):
            yield entry["id"], entry["document"]


async def _sorted_here(
    collection: AsyncCollection[dict[str, Any]], projection: Mapping[str, Any] | None, batch_size: int, spill_size: int
) -> AsyncGenerator[Sourced, None]:
    """Documents whose `_id` is neither a string nor an ObjectId, sorted by printed id through an external sort."""
    codec: CodecOptions[Any] = collection.codec_options
    cursor = collection.find({"_id": {"$not": {"$type": list(SORTED_BY_SERVER)}}}, projection, batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="contact-search-scan-") as name:
        directory = Path(name)
        runs: list[Path] = []
        run: list[Sourced] = []
        async with cursor:
            async for document in cursor:
                run.append((documents.document_id(document.get("_id")), document))
                if len(run) >= spill_size:
                    runs.append(_spill(run, directory / f"run-{len(runs)}.bson", codec))
                    run = []
        if runs:
            if run:
                runs.append(_spill(run, directory / f"run-{len(runs)}.bson", codec))
            log.info("sorted documents with other _id types through %d spilled runs", len(runs))
            merged: Iterable[Sourced] = heapq.merge(*(_read_run(path, codec) for path in runs), key=lambda e: e[0])
        else:
            merged = sorted(run, key=lambda entry: entry[0])
        for entry in merged:
            yield entry


def source_passes(
    database: AsyncDatabase[dict[str, Any]],
    spec: Spec,
    *,
    ids_only: bool,
    batch_size: int,
    spill_size: int = SPILL_SIZE,
) -> list[AsyncGenerator[Sourced, None]]:
    """The sorted passes over the spec's collection, to be merged with `merge_sorted` (key: the printed id).

    The external sort reads its whole pass when first asked, so it comes first, before the other cursors open.
    """
    collection = database[spec.collection]
    projection = {"_id": 1} if ids_only else None
    passes = [_sorted_here(collection, projection, batch_size, spill_size)]
    passes += [_sorted_by_server(collection, bson_type, projection, batch_size) for bson_type in SORTED_BY_SERVER]
    return passes


# Elasticsearch's side ------------------------------------------------------------------------------------------


async def point_in_time_scan(
    client: AsyncElasticsearch,
    index: str,
    query: Mapping[str, Any],
    sort: list[Any],
    size: int,
    source: Mapping[str, Any] | bool = False,
) -> AsyncGenerator[dict[str, Any], None]:
    """Every hit of `query` in `sort` order with its version, through a point in time (a stable snapshot) and
    `search_after`."""
    opened = await client.open_point_in_time(index=index, keep_alive=KEEP_ALIVE)
    pit_id: str = opened["id"]
    try:
        after: list[Any] | None = None
        while True:
            response = await client.search(
                pit={"id": pit_id, "keep_alive": KEEP_ALIVE},
                query=dict(query),
                sort=sort,
                search_after=after,
                size=size,
                source=source if isinstance(source, bool) else dict(source),
                version=True,
                track_total_hits=False,
            )
            pit_id = response.body.get("pit_id", pit_id)
            hits: list[dict[str, Any]] = response["hits"]["hits"]
            for hit in hits:
                yield hit
            if len(hits) < size:
                return
            after = hits[-1]["sort"]
    finally:
        await client.close_point_in_time(id=pit_id)


def _indexed(hit: Mapping[str, Any], key: str) -> Indexed:
    content_hash = (hit.get("_source") or {}).get(shared.FIELD_CONTENT_HASH)
    document_id = hit["_id"]
    return Indexed(
        key,
        content_hash if isinstance(content_hash, str) else None,
        int(hit.get("_version", 0)),
        None if document_id == key else document_id,
    )


async def index_entries(
    client: AsyncElasticsearch, index: str, size: int, *, hashes: bool = True
) -> AsyncGenerator[Indexed, None]:
    """Every document of `index` that has an `id` field, ascending by it."""
    source: Mapping[str, Any] | bool = {"includes": [shared.FIELD_CONTENT_HASH]} if hashes else False
    query = {"exists": {"field": shared.FIELD_ID}}
    async for hit in point_in_time_scan(client, index, query, [{shared.FIELD_ID: "asc"}], size, source):
        yield _indexed(hit, hit["sort"][0])


async def entries_without_id(client: AsyncElasticsearch, index: str, size: int) -> AsyncGenerator[Indexed, None]:
    """Documents lacking the `id` field (never written by the indexer): extra by definition."""
    query = {"bool": {"must_not": [{"exists": {"field": shared.FIELD_ID}}]}}
    async for hit in point_in_time_scan(client, index, query, ["_shard_doc"], size):
        yield _indexed(hit, hit["_id"])
