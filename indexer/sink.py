"""Elasticsearch writes of the indexer: index creation behind the alias and bulk writes with external versions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any

from elastic_transport import TransportError
from elasticsearch import AsyncElasticsearch, NotFoundError
from elasticsearch.helpers import async_streaming_bulk

from indexer import schema, transform

log = logging.getLogger(__name__)


def index_action(index: str, visitor: Mapping[str, Any]) -> dict[str, Any]:
    """The bulk action that makes the index hold this visitor as of its version (or drop it if disabled)."""
    document_id, version = transform.document_id(visitor.get("_id")), transform.version_of(visitor)
    if not transform.is_searchable(visitor):
        return delete_action(index, document_id, version)
    return document_action(index, document_id, version, transform.to_index_document(visitor))


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


def is_settled(result: Mapping[str, Any]) -> bool:
    """Whether a bulk item leaves the index as the action intended.

    A version conflict means the index already holds a newer write; a 404 on delete means it is gone.
    """
    status = int(result.get("status", 0))
    op = next(iter(result), "")
    return status < 300 or status == 409 or (op == "delete" and status == 404)


async def current_index(client: AsyncElasticsearch, alias: str) -> str | None:
    """The concrete index the alias points to, or None when the alias does not exist."""
    try:
        found = await client.indices.get_alias(name=alias)
    except NotFoundError:
        return None
    names = sorted(found.body, key=lambda name: schema.generation_of(alias, name) or 0)
    return names[-1] if names else None


async def create_generation(client: AsyncElasticsearch, alias: str, generation: int) -> str:
    name = schema.index_name(alias, generation)
    await client.options(ignore_status=400).indices.create(
        index=name, mappings=schema.MAPPING, settings=schema.SETTINGS
    )
    return name


async def ensure_index(client: AsyncElasticsearch, alias: str) -> str:
    """The index behind `alias`, creating generation 1 and the alias when neither exists yet."""
    name, _ = await ensure_alias(client, alias)
    return name


async def ensure_alias(client: AsyncElasticsearch, alias: str) -> tuple[str, bool]:
    """The index behind `alias` and whether it had to be created (then it is empty)."""
    existing = await current_index(client, alias)
    if existing is not None:
        return existing, False
    name = await create_generation(client, alias, 1)
    await client.indices.update_aliases(actions=[{"add": {"index": name, "alias": alias}}])
    log.info("created index %s behind alias %s", name, alias)
    return name, True


async def bulk_results(
    client: AsyncElasticsearch, actions: list[dict[str, Any]], *, require_alias: bool
) -> list[dict[str, Any]]:
    """One bulk pass over `actions`; the response item of each, in order, without raising.

    A request that fails as a whole (connection lost, timeout, 5xx) gives every item a non-numeric status, so the
    caller retries them; `changes.classify` sorts the items out.
    """
    results: list[dict[str, Any]] = []
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
            results.append(item)
    except TransportError as error:  # ApiErrors are turned into items by the helper; these are not
        log.warning("bulk request failed: %s", type(error).__name__)
        unreached = {"status": None, "error": {"type": type(error).__name__}}
        return [{action.get("_op_type", "index"): unreached} for action in actions]
    return results


async def write(
    client: AsyncElasticsearch,
    actions: Iterable[dict[str, Any]] | AsyncIterable[dict[str, Any]],
    *,
    chunk_size: int = 500,
) -> tuple[int, list[dict[str, Any]]]:
    """Send `actions` in bulk; returns how many settled and the items Elasticsearch rejected.

    429s are retried by the helper with backoff; other failures are returned, never dropped silently.
    """
    settled = 0
    rejected: list[dict[str, Any]] = []
    async for ok, item in async_streaming_bulk(
        client,
        actions,
        chunk_size=chunk_size,
        raise_on_error=False,
        raise_on_exception=True,
        max_retries=8,
        initial_backoff=1,
        max_backoff=30,
    ):
        if ok or is_settled(item):
            settled += 1
        else:
            rejected.append(item)
    return settled, rejected
