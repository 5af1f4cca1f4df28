"""ES_SHARDS and ES_REPLICAS reach every index the indexer creates: the first one and each reindex's."""

from __future__ import annotations

from elasticsearch import AsyncElasticsearch

from indexer import indices, layout
from indexer.collections import VISITORS
from indexer.layout import Layout


async def _layout_of(es: AsyncElasticsearch, index: str) -> tuple[str, str, str]:
    found = (await es.indices.get_settings(index=index)).body[index]["settings"]["index"]
    return found["number_of_shards"], found["number_of_replicas"], found.get("auto_expand_replicas", "false")


async def test_the_first_index_and_a_reindex_generation_get_the_configured_layout(
    es: AsyncElasticsearch, alias: str
) -> None:
    spec = layout.laid_out(VISITORS.with_alias(alias), Layout(3, "0"))
    first, created = await indices.ensure_alias(es, spec)
    assert created
    # reindex builds its generation with the same call and the same spec, so it keeps the layout
    second = await indices.create_generation(es, spec, await indices.next_generation(es, alias))
    assert second != first
    for index in (first, second):
        assert await _layout_of(es, index) == ("3", "0", "false")
        assert (await es.indices.get_mapping(index=index)).body[index]["mappings"]["dynamic"] == "strict"


async def test_the_default_layout_is_todays_one_shard_auto_expanding_replicas(
    es: AsyncElasticsearch, alias: str
) -> None:
    spec = layout.laid_out(VISITORS.with_alias(alias), Layout(1, "0-1"))
    index, _ = await indices.ensure_alias(es, spec)
    shards, _, auto_expand = await _layout_of(es, index)
    assert (shards, auto_expand) == ("1", "0-1")
