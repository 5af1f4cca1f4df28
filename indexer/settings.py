"""The indexer's settings, read from the environment once in `__main__`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    mongo_url: str
    es_url: str = "http://127.0.0.1:9200"
    es_index: str = "contacts"
    batch_size: int = 500
    poll_interval: float = 1.0
    metrics_port: int = 9108
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
            batch_size=int(environ.get("BATCH_SIZE", cls.batch_size)),
            poll_interval=float(environ.get("POLL_INTERVAL", cls.poll_interval)),
            metrics_port=int(environ.get("METRICS_PORT", cls.metrics_port)),
            log_level=environ.get("LOG_LEVEL", cls.log_level),
            log_format=environ.get("LOG_FORMAT", cls.log_format),
        )
