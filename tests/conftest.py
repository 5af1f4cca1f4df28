"""Test services and per-test isolation.

Integration tests use ES_URL/MONGO_URL when set (`make test` sets them from deploy/local/stack); otherwise,
where a Docker engine answers, Elasticsearch and a MongoDB replica set are started with testcontainers;
otherwise the run stops with one line saying how to start the local stack.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from elasticsearch import AsyncElasticsearch
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from common import config

ES_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:9.5.0"
MONGO_IMAGE = "mongo:7.0"


@dataclass(frozen=True)
class Services:
    es_url: str
    mongo_url: str
    change_streams: bool
    # A wire server with change streams for the stream-mode tests: the local stack's mongo-java-server, or the
    # replica set itself where testcontainers runs one; None where neither is there.
    stream_url: str | None = None


def docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def _containers() -> Iterator[Services]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    es = (
        DockerContainer(ES_IMAGE)
        .with_env("discovery.type", "single-node")
        .with_env("xpack.security.enabled", "false")
        .with_env("ES_JAVA_OPTS", "-Xms1g -Xmx1g")
        .with_exposed_ports(9200)
    )
    mongo = DockerContainer(MONGO_IMAGE).with_command("--replSet rs0 --bind_ip_all").with_exposed_ports(27017)
    with es, mongo:
        wait_for_logs(es, "started", timeout=180)
        wait_for_logs(mongo, "Waiting for connections", timeout=60)
        mongo.exec(
            ["mongosh", "--quiet", "--eval", "rs.initiate({_id:'rs0',members:[{_id:0,host:'localhost:27017'}]})"]
        )
        es_url = f"http://{es.get_container_host_ip()}:{es.get_exposed_port(9200)}"
        mongo_url = f"mongodb://{mongo.get_container_host_ip()}:{mongo.get_exposed_port(27017)}/?directConnection=true"
        yield Services(es_url, mongo_url, change_streams=True, stream_url=mongo_url)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    es_url, mongo_url = os.environ.get("ES_URL"), os.environ.get("MONGO_URL")
    if es_url and mongo_url:
        change_streams = os.environ.get("MONGO_CHANGE_STREAMS") == "1"
        stream_url = os.environ.get("MONGO_STREAM_URL") or (mongo_url if change_streams else None)
        yield Services(es_url, mongo_url, change_streams, stream_url)
        return
    if docker_answers():
        yield from _containers()
        return
    pytest.exit(
        'integration tests need Elasticsearch and MongoDB: run `eval "$(deploy/local/stack up)"` '
        "(or `make test`, which does it), or set ES_URL and MONGO_URL",
        returncode=3,
    )


def with_database(mongo_url: str, database: str) -> str:
    """The same server URL naming another database (kept query string, e.g. replicaSet)."""
    parts = urlsplit(mongo_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def database_name(run_id: str) -> str:
    return f"test_{run_id}"


@pytest.fixture
def alias(run_id: str) -> str:
    return f"test-contacts-{run_id}"


SYNC_MODES = ("poll", "stream")


@pytest.fixture(params=SYNC_MODES)
def sync_mode(request: pytest.FixtureRequest, services: Services) -> str:
    """Runs a test in both sync modes: polling on FerretDB, change streams on a wire server that has them."""
    mode: str = request.param
    if mode == "stream" and services.stream_url is None:
        pytest.skip("no wire server with change streams (`deploy/local/stack up` starts one: MONGO_STREAM_URL)")
    return mode


@pytest.fixture
def mongo_server(request: pytest.FixtureRequest, services: Services) -> str:
    """The Mongo wire server a test's database lives on: FerretDB, or the stream server for stream-mode runs."""
    if "sync_mode" in request.fixturenames and request.getfixturevalue("sync_mode") == "stream":
        assert services.stream_url is not None
        return services.stream_url
    return services.mongo_url


@pytest.fixture
def mongo_url(mongo_server: str, database_name: str) -> str:
    return with_database(mongo_server, database_name)


@pytest.fixture
async def database(mongo_server: str, database_name: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server, tz_aware=False)
    try:
        yield client[database_name]
        await client.drop_database(database_name)
    finally:
        await client.close()


@pytest.fixture
async def es(services: Services, alias: str) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(config.es_nodes(services.es_url), request_timeout=30)
    try:
        yield client
        # Wildcard deletes are refused (action.destructive_requires_name): name each index.
        found = await client.indices.get(index=f"{alias}*", expand_wildcards="all")
        if found.body:
            await client.indices.delete(index=",".join(found.body))
    finally:
        await client.close()
