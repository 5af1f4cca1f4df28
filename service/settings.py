"""The service's settings, read from the environment once in `__main__`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

_PARSERS: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float}


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
        """Settings from upper-case variables named after the fields; a bad value stops with one line."""
        mongo_url = environ.get("MONGO_URL", "")
        if not mongo_url:
            raise SystemExit("MONGO_URL is not set (e.g. mongodb://127.0.0.1:27017/rocketchat)")
        values: dict[str, Any] = {"mongo_url": mongo_url}
        for field in fields(cls):
            raw = environ.get(field.name.upper())
            if field.name == "mongo_url" or raw is None:
                continue
            try:
                values[field.name] = _PARSERS[str(field.type)](raw)
            except ValueError:
                raise SystemExit(f"{field.name.upper()}={raw!r} is not a valid {field.type}") from None
        return cls(**values)
