"""The service's settings, read from the environment once in `__main__`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


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
    log_level: str = "INFO"
    log_format: str = "json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        mongo_url = environ.get("MONGO_URL", "")
        if not mongo_url:
            raise SystemExit("MONGO_URL is not set (e.g. mongodb://127.0.0.1:27017/rocketchat)")
        return cls(
            mongo_url=mongo_url,
            es_url=environ.get("ES_URL", cls.es_url),
            es_index=environ.get("ES_INDEX", cls.es_index),
            host=environ.get("HOST", cls.host),
            port=int(environ.get("PORT", cls.port)),
            workers=int(environ.get("WORKERS", cls.workers)),
            auth_cache_ttl=float(environ.get("AUTH_CACHE_TTL", cls.auth_cache_ttl)),
            custom_fields_ttl=float(environ.get("CUSTOM_FIELDS_TTL", cls.custom_fields_ttl)),
            backend_timeout=float(environ.get("BACKEND_TIMEOUT", cls.backend_timeout)),
            shutdown_grace=float(environ.get("SHUTDOWN_GRACE", cls.shutdown_grace)),
            log_level=environ.get("LOG_LEVEL", cls.log_level),
            log_format=environ.get("LOG_FORMAT", cls.log_format),
        )
