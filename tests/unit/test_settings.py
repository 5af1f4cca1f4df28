"""Settings read from the environment."""

from __future__ import annotations

import pytest

from service.settings import Settings


def test_defaults_and_overrides() -> None:
    settings = Settings.from_env({"MONGO_URL": "mongodb://m/rc", "PORT": "9000", "AUTH_CACHE_TTL": "0.5"})
    assert (settings.mongo_url, settings.port, settings.auth_cache_ttl) == ("mongodb://m/rc", 9000, 0.5)
    assert (settings.es_index, settings.host, settings.workers) == ("contacts", "127.0.0.1", 1)
    assert Settings.from_env({"MONGO_URL": "m", "KEEPALIVE_TIMEOUT": "5"}).keepalive_timeout == 5.0
    assert (settings.rocketchat_url, settings.fallback_timeout) == ("", 5.0)  # the fallback is off unless set
    assert settings.request_log == 0.0  # the per-request line is opt-in
    assert Settings.from_env({"MONGO_URL": "m", "REQUEST_LOG": "0.01"}).request_log == 0.01


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "MONGO_URL is not set"),
        ({"MONGO_URL": "mongodb://m", "PORT": "http"}, "PORT='http' is not a valid int"),
        ({"MONGO_URL": "mongodb://m", "BACKEND_TIMEOUT": "soon"}, "BACKEND_TIMEOUT='soon' is not a valid float"),
        (
            {"MONGO_URL": "m", "ROCKETCHAT_URL": "rocketchat:3000"},
            "^ROCKETCHAT_URL must start with http:// or https://$",
        ),
        ({"MONGO_URL": "m", "ROCKETCHAT_URL": "http://rc:3000", "FALLBACK_TIMEOUT": "0"}, "FALLBACK_TIMEOUT must be"),
        ({"MONGO_URL": "mongodb://m", "REQUEST_LOG": "2"}, "REQUEST_LOG must be a fraction from 0 to 1, not 2.0"),
        ({"MONGO_URL": "mongodb://m", "REQUEST_LOG": "-0.5"}, "REQUEST_LOG must be a fraction from 0 to 1"),
    ],
)
def test_bad_settings_stop_with_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        Settings.from_env(environ)
