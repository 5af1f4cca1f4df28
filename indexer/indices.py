"""The versioned indices behind an alias: which one serves, and creating the next generation with the spec's mapping."""

from __future__ import annotations

import logging

from elasticsearch import AsyncElasticsearch, NotFoundError

from contact_index import shared
from indexer.specs import Spec

log = logging.getLogger(__name__)


async def current_index(client: AsyncElasticsearch, alias: str) -> str | None:
    """The concrete index the alias points to, or None when the alias does not exist."""
    try:
        found = await client.indices.get_alias(name=alias)
    except NotFoundError:
        return None
    names = sorted(found.body, key=lambda name: shared.generation_of(alias, name) or 0)
    return names[-1] if names else None


async def create_generation(client: AsyncElasticsearch, spec: Spec, generation: int) -> str:
    name = shared.index_name(spec.alias, generation)
    await client.options(ignore_status=400).indices.create(
        index=name, mappings=dict(spec.mapping), settings=dict(spec.settings)
    )
    return name


async def next_generation(client: AsyncElasticsearch, alias: str) -> int:
    """One more than any generation of `alias` that exists, so a leftover of an abandoned reindex is never reused."""
    found = await client.indices.get(index=f"{alias}-v*", expand_wildcards="all")
    generations = [shared.generation_of(alias, name) for name in found.body]
    return max((generation for generation in generations if generation is not None), default=0) + 1


async def add_new_fields(client: AsyncElasticsearch, index: str, spec: Spec) -> None:
    """Give an index of an older mapping generation the spec's new fields, so that this indexer's documents are not
    refused by its strict mapping. Documents written before lack them until `reindex` builds the next generation
    (whose `_meta.version` the service checks before it serves what needs them)."""
    found = await client.indices.get_mapping(index=index)
    version = shared.mapping_version(found.body.get(index, {}).get("mappings", {}))
    if version >= shared.mapping_version(spec.mapping):
        return
    await client.indices.put_mapping(index=index, properties=dict(spec.mapping["properties"]))
    log.warning(
        "index %s has mapping generation %d, older than %d: new fields added; run `python -m indexer reindex "
        "--collection %s` to fill them for the documents indexed before",
        index,
        version,
        shared.mapping_version(spec.mapping),
        spec.name,
    )


async def ensure_alias(client: AsyncElasticsearch, spec: Spec) -> tuple[str, bool]:
    """The index behind the spec's alias (given the spec's new fields if it is of an older mapping generation) and
    whether it had to be created (then it is empty)."""
    existing = await current_index(client, spec.alias)
    if existing is not None:
        await add_new_fields(client, existing, spec)
        return existing, False
    name = await create_generation(client, spec, 1)
    await client.indices.update_aliases(actions=[{"add": {"index": name, "alias": spec.alias}}])
    log.info("created index %s behind alias %s", name, spec.alias)
    return name, True
