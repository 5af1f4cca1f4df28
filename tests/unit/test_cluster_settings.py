"""ES_URL with several nodes, and the shards and replicas laid over a spec's index settings."""

from __future__ import annotations

from typing import Any

import pytest

from common import config
from contact_index import shared
from indexer import layout
from indexer.collections import LIVECHAT_CONTACTS, VISITORS
from indexer.layout import Layout
from indexer.settings import Settings as IndexerSettings
from service.settings import Settings as ServiceSettings


@pytest.mark.parametrize(
    ("es_url", "nodes"),
    [
        ("http://127.0.0.1:9200", ["http://127.0.0.1:9200"]),
        ("http://a:9200,http://b:9200", ["http://a:9200", "http://b:9200"]),
        (" http://a:9200 , https://b:9243 ,http://c ", ["http://a:9200", "https://b:9243", "http://c"]),
    ],
)
def test_es_url_lists_one_or_more_nodes(es_url: str, nodes: list[str]) -> None:
    assert config.es_nodes(es_url) == nodes


@pytest.mark.parametrize(
    ("es_url", "message"),
    [
        ("", "ES_URL is empty"),
        (" , ", "ES_URL is empty"),
        ("http://a:9200,,http://b:9200", "empty entry \\(number 2\\)"),
        ("http://a:9200,", "empty entry \\(number 2\\)"),
        (",http://a:9200", "empty entry \\(number 1\\)"),
        ("http://a:9200,b:9200", "'b:9200' must start with http:// or https://"),
    ],
)
def test_a_bad_es_url_stops_with_one_line(es_url: str, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        config.es_nodes(es_url)


@pytest.mark.parametrize("settings", [ServiceSettings, IndexerSettings])
def test_both_processes_read_several_nodes_and_refuse_a_bad_list(settings: Any) -> None:
    read = settings.from_env({"MONGO_URL": "mongodb://m", "ES_URL": "http://a:1, http://b:2"})
    assert read.es_nodes == ["http://a:1", "http://b:2"]
    with pytest.raises(SystemExit, match="empty entry"):
        settings.from_env({"MONGO_URL": "mongodb://m", "ES_URL": "http://a:1,"})


@pytest.mark.parametrize(
    ("shards", "replicas", "index"),
    [
        (1, "0-1", {"number_of_shards": 1, "auto_expand_replicas": "0-1"}),
        (3, "0-all", {"number_of_shards": 3, "auto_expand_replicas": "0-all"}),
        (2, "1", {"number_of_shards": 2, "number_of_replicas": 1, "auto_expand_replicas": False}),
        (1, "0", {"number_of_shards": 1, "number_of_replicas": 0, "auto_expand_replicas": False}),
    ],
)
def test_a_layout_replaces_the_specs_shards_and_replicas(shards: int, replicas: str, index: dict[str, Any]) -> None:
    laid = Layout(shards, replicas).over(shared.SETTINGS)
    assert laid == {"index": {"refresh_interval": shared.SETTINGS["index"]["refresh_interval"], **index}}
    assert shared.SETTINGS["index"]["number_of_shards"] == 1  # the spec's own settings are not changed


def test_a_layout_replaces_flat_keys_too_and_keeps_everything_else() -> None:
    spec_settings = {"index.number_of_replicas": 4, "index.codec": "best_compression", "analysis": {"x": 1}}
    assert Layout(2, "1").over(spec_settings) == {
        "index.codec": "best_compression",
        "analysis": {"x": 1},
        "index": {"number_of_shards": 2, "number_of_replicas": 1, "auto_expand_replicas": False},
    }


def test_the_default_layout_is_the_specs_own() -> None:
    defaults = IndexerSettings.from_env({"MONGO_URL": "mongodb://m"})
    assert (defaults.es_shards, defaults.es_replicas) == (1, "0-1")
    assert layout.laid_out(VISITORS, defaults.index_layout).settings == VISITORS.settings


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ES_SHARDS": "0"}, "ES_SHARDS must be at least 1"),
        ({"ES_REPLICAS": "-1"}, "ES_REPLICAS must be a number of replicas"),
        ({"ES_REPLICAS": "one"}, "ES_REPLICAS must be a number of replicas"),
        ({"ES_REPLICAS": "1-"}, "ES_REPLICAS must be a number of replicas"),
    ],
)
def test_a_bad_layout_stops_the_indexer_with_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        IndexerSettings.from_env({"MONGO_URL": "mongodb://m", **environ})


def test_the_indexer_lays_out_every_spec_it_runs_so_reindex_and_verify_create_the_same() -> None:
    from indexer.__main__ import synced_specs

    settings = IndexerSettings.from_env({"MONGO_URL": "mongodb://m", "ES_SHARDS": "4", "ES_REPLICAS": "2"})
    chosen = synced_specs(settings)
    assert {spec.alias for spec in chosen} == {settings.es_index, settings.es_contacts_index}
    for spec in chosen:
        index = spec.settings["index"]
        assert (index["number_of_shards"], index["number_of_replicas"], index["auto_expand_replicas"]) == (4, 2, False)
    contacts = next(spec for spec in chosen if spec.alias == settings.es_contacts_index)
    assert contacts.settings["index"]["max_result_window"] == LIVECHAT_CONTACTS.settings["index"]["max_result_window"]
