"""The service's settings, read from the environment once in `__main__`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from common import config


@dataclass(frozen=True)
class Settings:
    mongo_url: str
    es_url: str = "http://127.0.0.1:9200"
    es_index: str = "contacts"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    auth_cache_ttl: float = 2.0
    custom_fields_ttl: float = 2.0
    backend_timeout: float = 5.0
    shutdown_grace: float = 10.0
    keepalive_timeout: float = 75.0
    log_level: str = "INFO"
    log_format: str = "json"

    def __post_init__(self) -> None:
        config.es_nodes(self.es_url)  # a bad ES_URL stops the process here, with one line

    @property
    def es_nodes(self) -> list[str]:
        return config.es_nodes(self.es_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return config.from_environment(cls, environ)
