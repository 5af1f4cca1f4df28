"""The settings both processes read (typed loader, `<NAME>_FILE`, the aliases) and the Elasticsearch connection
built from them: credentials, CA, fingerprint, and the contradictions refused at start."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from common import config, elasticsearch_clients
from common.elasticsearch_clients import API_KEY, NO_CREDENTIAL, URL_USER_PASSWORD, USER_PASSWORD
from indexer.settings import Settings as IndexerSettings
from service.settings import Settings as ServiceSettings

BOTH = [ServiceSettings, IndexerSettings]
MONGO = {"MONGO_URL": "mongodb://m"}


@pytest.mark.parametrize(
    ("raw", "value"),
    [("true", True), ("1", True), ("TRUE", True), (" false ", False), ("0", False), ("False", False)],
)
def test_booleans_read_true_false_one_zero(raw: str, value: bool) -> None:
    assert ServiceSettings.from_env({**MONGO, "API_ALLOW_INFINITE_COUNT": raw}).paging.allow_infinite_count is value


@pytest.mark.parametrize("raw", ["yes", "", "2", "on"])
def test_a_bad_boolean_stops_with_one_line(raw: str) -> None:
    with pytest.raises(SystemExit, match=r"API_ALLOW_INFINITE_COUNT=.* is not a valid bool"):
        ServiceSettings.from_env({**MONGO, "API_ALLOW_INFINITE_COUNT": raw})


@pytest.mark.parametrize("settings", BOTH)
def test_both_processes_refuse_one_alias_for_both_collections(settings: Any) -> None:
    with pytest.raises(SystemExit, match="ES_INDEX and ES_CONTACTS_INDEX must be different"):
        settings.from_env({**MONGO, "ES_INDEX": "same", "ES_CONTACTS_INDEX": "same"})


@pytest.mark.parametrize("settings", BOTH)
def test_secrets_come_from_files_without_their_trailing_newline(settings: Any, tmp_path: Path) -> None:
    (tmp_path / "key").write_text("a2V5OnNlY3JldA==\n")
    (tmp_path / "mongo").write_text("mongodb://user:pw@m/rc\r\n")
    read = settings.from_env({"MONGO_URL_FILE": str(tmp_path / "mongo"), "ES_API_KEY_FILE": str(tmp_path / "key")})
    assert (read.mongo_url, read.es_api_key) == ("mongodb://user:pw@m/rc", "a2V5OnNlY3JldA==")
    assert read.elasticsearch.authorization == "ApiKey a2V5OnNlY3JldA=="


def test_a_secret_and_its_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("p")
    environ = {**MONGO, "ES_PASSWORD": "p", "ES_PASSWORD_FILE": str(tmp_path / "password")}
    with pytest.raises(SystemExit, match="ES_PASSWORD and ES_PASSWORD_FILE are both set"):
        ServiceSettings.from_env(environ)


def test_an_unreadable_secret_file_names_the_setting_and_path() -> None:
    with pytest.raises(SystemExit, match="ES_PASSWORD_FILE='/nowhere/password' cannot be read"):
        ServiceSettings.from_env({**MONGO, "ES_USERNAME": "u", "ES_PASSWORD_FILE": "/nowhere/password"})


def test_no_secret_in_the_settings_repr() -> None:
    read = ServiceSettings.from_env(
        {
            "MONGO_URL": "mongodb://u:mongo-secret@m",
            "ES_URL": "https://u:url-secret@es:9200",
        }
    )
    shown = repr(read) + repr(read.elasticsearch)
    assert "mongo-secret" not in shown and "url-secret" not in shown
    keyed = ServiceSettings.from_env({**MONGO, "ES_API_KEY": "key-secret"})
    assert "key-secret" not in repr(keyed) + repr(keyed.elasticsearch)


@pytest.mark.parametrize(
    "es_url",
    ["htp://user:pw-secret@es:9200", "user:pw-secret@es:9200", "http://a:1,,https://user:pw-secret@b"],
)
def test_a_malformed_es_url_never_repeats_its_password(es_url: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        ServiceSettings.from_env({**MONGO, "ES_URL": es_url})
    assert "pw-secret" not in str(stopped.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@h:9200/x", "https://***@h:9200/x"),
        ("u:p@h", "***@h"),
        ("http://h:9200/a@b", "http://h:9200/a@b"),
        ("http://h", "http://h"),
    ],
)
def test_redacted_hides_user_info_only(url: str, shown: str) -> None:
    assert config.redacted(url) == shown


def _connection(**environ: str) -> elasticsearch_clients.Connection:
    return ServiceSettings.from_env({**MONGO, **environ}).elasticsearch


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("environ", "nodes", "credential", "authorization"),
    [
        ({}, ("http://127.0.0.1:9200",), NO_CREDENTIAL, None),
        ({"ES_API_KEY": "abc=="}, ("http://127.0.0.1:9200",), API_KEY, "ApiKey abc=="),
        (
            {"ES_USERNAME": "indexer", "ES_PASSWORD": "pw"},
            ("http://127.0.0.1:9200",),
            USER_PASSWORD,
            _basic("indexer", "pw"),
        ),
        (
            {"ES_URL": "https://u%40x:p%3Aw@a:9200,https://u%40x:p%3Aw@b:9200"},
            ("https://a:9200", "https://b:9200"),
            URL_USER_PASSWORD,
            _basic("u@x", "p:w"),
        ),
    ],
)
def test_one_credential_becomes_one_authorization_header(
    environ: dict[str, str], nodes: tuple[str, ...], credential: str, authorization: str | None
) -> None:
    reach = _connection(**environ)
    assert (reach.nodes, reach.credential, reach.authorization) == (nodes, credential, authorization)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ES_API_KEY": "k", "ES_USERNAME": "u", "ES_PASSWORD": "p"}, "ES_API_KEY and ES_USERNAME/ES_PASSWORD"),
        ({"ES_USERNAME": "u"}, "ES_USERNAME and ES_PASSWORD go together"),
        ({"ES_PASSWORD": "p"}, "ES_USERNAME and ES_PASSWORD go together"),
        ({"ES_URL": "http://u:p@a:9200", "ES_API_KEY": "k"}, "ES_URL holds a user and password, and ES_API_KEY"),
        ({"ES_URL": "http://u:p@a:9200,http://v:q@b:9200"}, "different users or passwords"),
        ({"ES_URL": "http://a:9200,https://b:9200"}, "mixes http:// and https://"),
        ({"ES_CA_CERTS": "/ca.pem"}, "need https:// nodes"),
        ({"ES_URL": "https://a", "ES_SSL_FINGERPRINT": "12:34"}, "64 hex digits"),
        ({"ES_URL": "https://a", "ES_CA_CERTS": "/nowhere/ca.pem"}, "ES_CA_CERTS='/nowhere/ca.pem' cannot be used"),
    ],
)
def test_contradictory_or_broken_security_settings_stop_at_start(environ: dict[str, str], message: str) -> None:
    for settings in BOTH:
        with pytest.raises(SystemExit, match=message) as stopped:
            settings.from_env({**MONGO, **environ})
        assert "p@" not in str(stopped.value) and ":p" not in str(stopped.value)


def test_a_file_that_is_not_pem_is_refused_as_a_ca(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    with pytest.raises(SystemExit, match="cannot be used as a CA file"):
        _connection(ES_URL="https://a", ES_CA_CERTS=str(tmp_path / "ca.pem"))


def test_a_fingerprint_pins_the_certificate_instead_of_a_ca() -> None:
    certificate = b"der bytes of the node's certificate"
    digest = hashlib.sha256(certificate).hexdigest()
    pinned = _connection(ES_URL="https://a", ES_SSL_FINGERPRINT=":".join(digest[i : i + 2] for i in range(0, 64, 2)))
    assert pinned.fingerprint == digest
    assert pinned.fingerprint_matches(certificate) and not pinned.fingerprint_matches(b"another")
    context = pinned.ssl_context()
    assert context is not None and not context.check_hostname
    assert _connection().ssl_context() is None
    verified = _connection(ES_URL="https://a").ssl_context()
    assert verified is not None and verified.check_hostname
