"""The service's settings, read from the environment once in `__main__`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from common import config
from service.lists.params import Paging

EVENT_LOOPS = ("uvloop", "asyncio")


@dataclass(frozen=True)
class Settings:
    mongo_url: str
    es_url: str = "http://127.0.0.1:9200"
    es_index: str = "contacts"
    # Rocket.Chat 7's contacts, served by contacts.search and contacts.get.
    es_contacts_index: str = "livechat_contacts"
    # The workspace's API_Default_Count, API_Upper_Count_Limit and API_Allow_Infinite_Count (1/0), as Rocket.Chat.
    api_default_count: int = 50
    api_upper_count_limit: int = 100
    api_allow_infinite_count: int = 1
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
    # Prometheus `/metrics` on its own port (0: off); with WORKERS=N, worker i listens on METRICS_PORT + i.
    metrics_port: int = 0
    # `uvloop` (when installed) or `asyncio`.
    event_loop: str = "uvloop"

    def __post_init__(self) -> None:
        if self.event_loop not in EVENT_LOOPS:
            raise SystemExit(f"EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}, not {self.event_loop!r}")
        config.es_nodes(self.es_url)  # a bad ES_URL stops the process here, with one line

    @property
    def es_nodes(self) -> list[str]:
        return config.es_nodes(self.es_url)

    @property
    def paging(self) -> Paging:
        return Paging(self.api_default_count, self.api_upper_count_limit, self.api_allow_infinite_count != 0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return config.from_environment(cls, environ)
