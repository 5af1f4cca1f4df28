"""Both processes against a secured Elasticsearch (the secured front: TLS with a private CA, an API key or a user and
password): the indexer's `--once` and `verify`, the worker and the service's routes, with every credential kind; a
wrong credential or an unknown CA stops a one-shot command at once with a line naming it, and the service answers
the contract's 503; no secret ever reaches a log line, stdout or stderr."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import signal
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from elasticsearch import AsyncElasticsearch
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.seeding import free_port
from indexer.collections import VISITORS
from service.settings import Settings
from tests import factories
from tests.conftest import Services
from tests.integration.conftest import service_settings, serving
from tests.integration.indexer_helpers import index_side
from tests.integration.secure_front import SecureFront, secure_front
from tests.processes import process_environment

SEARCH = "/api/v1/omnichannel/contact.search"
CONTACTS_SEARCH = "/api/v1/omnichannel/contacts.search"
AGENT = {"X-User-Id": "agent", "X-Auth-Token": "agent-token"}
WRONG_KEY = base64.b64encode(b"wrong-id:wrong-key-never-printed").decode()
WRONG_PASSWORD = "wrong-password-never-printed"
REFUSED_BODY = {"success": False, "error": "Search backend refused our credentials"}


@pytest.fixture(scope="module")
async def front(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureFront]:
    async with secure_front(services.es_url, tmp_path_factory.mktemp("secured")) as served:
        yield served


async def seed(database: AsyncDatabase[dict[str, Any]]) -> None:
    await factories.grant_view_l_room(database)
    await factories.grant(database, "view-livechat-contact", ["livechat-agent"])
    await factories.add_user(database, "agent", "agent-token", ["livechat-agent"])
    await database[VISITORS.collection].insert_one(
        factories.visitor(_id="v1", visitorEmails=[{"address": "secured.person@example.com"}])
    )


# The shell's own credential (say, from `ES_SECURE=1 deploy/local/stack up`) must not mix with the test's.
SECURITY_SETTINGS = ("ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CA_CERTS", "ES_SSL_FINGERPRINT")
CLEARED: dict[str, object] = {
    name: None
    for name in (*SECURITY_SETTINGS, "ES_URL_FILE", "ES_API_KEY_FILE", "ES_USERNAME_FILE", "ES_PASSWORD_FILE")
}


def environment(front: SecureFront, mongo_url: str, alias: str, **security: str) -> dict[str, str]:
    settings = {**CLEARED, "ES_CONTACTS_INDEX": f"{alias}-lc", "COLLECTIONS": "visitors", "LOG_FORMAT": "json"}
    return process_environment(mongo_url, front.url, alias, **{**settings, "METRICS_PORT": 0, **security})


async def indexer(environ: dict[str, str], *args: str) -> tuple[int, str]:
    """`python -m indexer ARGS`: its exit code and everything it printed (stdout, then stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer", *args, "--no-progress", env=environ, stdout=-1, stderr=-1
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, stdout.decode() + stderr.decode()


def assert_no_secret(front: SecureFront, *outputs: str) -> None:
    printed = "\n".join([*outputs, front.log.read_text()])
    for secret in [*front.secrets, WRONG_KEY, "wrong-key-never-printed", WRONG_PASSWORD]:
        assert secret not in printed


async def lookup(settings: Settings) -> tuple[int, Any, int, Any]:
    """contact.search and contacts.search through the service built from `settings`."""
    async with serving(settings) as client:
        found = await client.get(SEARCH, params={"email": "secured.person@example.com"}, headers=AGENT)
        listed = await client.get(CONTACTS_SEARCH, params={"searchText": "x"}, headers=AGENT)
        return found.status, orjson.loads(await found.read()), listed.status, orjson.loads(await listed.read())


def files(tmp_path: Path, **secrets: str) -> dict[str, str]:
    """Each secret in a file of its own, as a mounted Secret: `{NAME}_FILE` settings."""
    settings = {}
    for name, value in secrets.items():
        (tmp_path / name).write_text(value + "\n")
        settings[f"{name}_FILE"] = str(tmp_path / name)
    return settings


async def test_indexer_and_service_through_an_api_key_and_a_private_ca(
    front: SecureFront,
    services: Services,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(database)
    security = {"ES_API_KEY": front.material.api_key, "ES_CA_CERTS": str(front.material.ca_certs)}
    code, once = await indexer(environment(front, mongo_url, alias, **security), "--once")
    assert code == 0, once
    assert f"{alias}: 1 indexed" in once
    assert list(await index_side(es, alias)) == ["v1"]
    code, verified = await indexer(environment(front, mongo_url, alias, **security), "verify")
    assert code == 0 and "0 missing, 0 extra, 0 different" in verified, verified

    caplog.set_level(logging.INFO)
    settings = service_settings(
        services, mongo_url, alias, es_url=front.url, es_api_key=front.material.api_key,
        es_ca_certs=str(front.material.ca_certs),
    )  # fmt: skip
    status, body, _, _ = await lookup(settings)
    assert (status, body["contact"]["_id"]) == (200, "v1")
    assert_no_secret(front, once, verified, caplog.text)


async def test_indexer_and_service_with_a_user_and_password_from_files_or_in_es_url(
    front: SecureFront,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    es: AsyncElasticsearch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(database)
    security = files(tmp_path, ES_USERNAME=front.material.username, ES_PASSWORD=front.material.password)
    security["ES_CA_CERTS"] = str(front.material.ca_certs)
    environ = environment(front, mongo_url, alias, **security)
    code, once = await indexer(environ, "--once")
    assert code == 0, once
    assert list(await index_side(es, alias)) == ["v1"]

    caplog.set_level(logging.INFO)
    status, body, _, _ = await lookup(Settings.from_env({**environ, "AUTH_CACHE_TTL": "0"}))
    assert (status, body["contact"]["_id"]) == (200, "v1")

    # The same pair written into ES_URL, as before these settings existed.
    in_url = front.url.replace("https://", f"https://{front.material.username}:{front.material.password}@")
    written = environment(front, mongo_url, alias, ES_CA_CERTS=str(front.material.ca_certs)) | {"ES_URL": in_url}
    code, again = await indexer(written, "--once")
    assert code == 0, again
    status, body, _, _ = await lookup(Settings.from_env(written))
    assert (status, body["contact"]["_id"]) == (200, "v1")
    assert_no_secret(front, once, again, caplog.text)


@pytest.mark.parametrize(
    ("credential", "named"),
    [
        ({"ES_API_KEY": WRONG_KEY}, "Elasticsearch refused the API key (ES_API_KEY): 401"),
        (
            {"ES_USERNAME": "contact-search", "ES_PASSWORD": WRONG_PASSWORD},
            "Elasticsearch refused the user and password (ES_USERNAME, ES_PASSWORD): 401",
        ),
        ({}, "Elasticsearch asks for a credential and none is set"),
    ],
)
async def test_a_refused_credential_stops_one_shot_commands_and_is_a_503_naming_its_kind(
    front: SecureFront,
    services: Services,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    credential: dict[str, str],
    named: str,
) -> None:
    await seed(database)
    environ = environment(front, mongo_url, alias, ES_CA_CERTS=str(front.material.ca_certs), **credential)
    outputs = []
    for command in (["--once"], ["verify"], ["reindex"]):
        code, printed = await indexer(environ, *command)
        assert code == 2, printed
        assert f"stopped: {named}" in printed
        outputs.append(printed)

    caplog.set_level(logging.INFO)
    found, body, listed, listed_body = await lookup(Settings.from_env(environ))
    assert (found, body) == (503, REFUSED_BODY)
    assert (listed, listed_body) == (503, REFUSED_BODY)
    assert caplog.text.count(named) >= 2  # the lookup's own client and elasticsearch-py's
    assert_no_secret(front, *outputs, caplog.text)


async def test_an_unknown_ca_is_named_as_a_certificate_problem(
    front: SecureFront,
    mongo_url: str,
    alias: str,
    database: AsyncDatabase[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(database)
    environ = environment(
        front, mongo_url, alias, ES_API_KEY=front.material.api_key, ES_CA_CERTS=str(front.material.other_ca_certs)
    )
    code, printed = await indexer(environ, "--once")
    assert code == 2, printed
    assert "stopped: Elasticsearch's certificate is refused: certificate verify failed" in printed

    caplog.set_level(logging.INFO)
    found, body, _, _ = await lookup(Settings.from_env(environ))
    assert (found, body) == (503, {"success": False, "error": "Search backend is unavailable"})
    assert "Elasticsearch's certificate is refused: certificate verify failed" in caplog.text
    assert_no_secret(front, printed, caplog.text)


async def test_the_worker_says_why_retries_slowly_and_stops_cleanly(
    front: SecureFront, mongo_url: str, alias: str, database: AsyncDatabase[dict[str, Any]]
) -> None:
    await seed(database)
    port = free_port()
    environ = environment(front, mongo_url, alias, ES_API_KEY=WRONG_KEY, ES_CA_CERTS=str(front.material.ca_certs))
    environ["METRICS_PORT"] = str(port)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "indexer", "run", "--no-progress", env=environ, stdout=-1, stderr=-1
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("Elasticsearch refused the API key (ES_API_KEY): 401" in line for line in lines):
                lines.append((await process.stderr.readline()).decode())
                assert lines[-1], "the worker exited: " + "".join(lines)
        assert process.returncode is None  # still running: it retries
        refused = orjson.loads(next(line for line in lines if "refused the API key" in line))
        assert refused["level"] == "ERROR" and "trying again in 30 s" in refused["message"]
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as scraped:
            metrics = await scraped.text()
        assert "contact_search_indexer" in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0
    assert_no_secret(front, "".join(lines), stdout.decode(), stderr.decode(), metrics)


@pytest.mark.parametrize("command", [["service"], ["indexer", "--once"]])
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ES_URL": "htp://user:pw-never-printed@127.0.0.1:9200"}, "must start with http:// or https://"),
        ({"ES_API_KEY": "key-never-printed", "ES_PASSWORD": "pw-never-printed", "ES_USERNAME": "u"}, "give one"),
        ({"ES_URL": "https://127.0.0.1:9200", "ES_CA_CERTS": "/nowhere/ca.pem"}, "ES_CA_CERTS='/nowhere/ca.pem'"),
    ],
)
async def test_contradictory_or_broken_settings_stop_either_process_at_start_without_the_secret(
    command: list[str], settings: dict[str, str], message: str
) -> None:
    environ = process_environment("mongodb://127.0.0.1:1", None, None, **{**CLEARED, **settings})
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", *command, env=environ, stdout=-1, stderr=-1)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    printed = stdout.decode() + stderr.decode()
    assert process.returncode == 1 and message in printed, printed
    assert "never-printed" not in printed and "Traceback" not in printed


async def test_a_pinned_certificate_fingerprint_instead_of_a_ca(
    front: SecureFront, mongo_url: str, alias: str, database: AsyncDatabase[dict[str, Any]]
) -> None:
    await seed(database)
    der = ssl.PEM_cert_to_DER_cert(front.material.server_certificate.read_text())
    pinned = hashlib.sha256(der).hexdigest().upper()
    colons = ":".join(pinned[i : i + 2] for i in range(0, 64, 2))
    environ = environment(front, mongo_url, alias, ES_API_KEY=front.material.api_key, ES_SSL_FINGERPRINT=colons)
    code, printed = await indexer(environ, "--once")
    assert code == 0, printed
    status, body, _, _ = await lookup(Settings.from_env(environ))
    assert (status, body["contact"]["_id"]) == (200, "v1")

    other = environment(front, mongo_url, alias, ES_API_KEY=front.material.api_key, ES_SSL_FINGERPRINT="ab" * 32)
    code, printed = await indexer(other, "--once")
    assert code == 2, printed
    assert (
        "stopped: Elasticsearch's certificate is refused: certificate verify failed: the certificate's SHA-256"
        in printed
    )
    status, body, _, _ = await lookup(Settings.from_env(other))
    assert (status, body) == (503, {"success": False, "error": "Search backend is unavailable"})
