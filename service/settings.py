"""The service's settings, read from the environment once in `__main__`."""

from __future__ import annotations

from dataclasses import dataclass

from common.settings import SharedSettings
from service.lists.params import Paging

EVENT_LOOPS = ("uvloop", "asyncio")


@dataclass(frozen=True)
class Settings(SharedSettings):
    """The service's own settings, beside those both processes read (`SharedSettings`)."""

    # The workspace's API_Default_Count, API_Upper_Count_Limit and API_Allow_Infinite_Count, as Rocket.Chat.
    api_default_count: int = 50
    api_upper_count_limit: int = 100
    api_allow_infinite_count: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    auth_cache_ttl: float = 2.0
    custom_fields_ttl: float = 2.0
    backend_timeout: float = 5.0
    shutdown_grace: float = 10.0
    keepalive_timeout: float = 75.0
    # The fraction of requests logged at INFO with one `request` line (0: none, 1: every one, 0.01: one in 100).
    request_log: float = 0.0
    # Prometheus `/metrics` on its own port (0: off); with WORKERS=N, worker i listens on METRICS_PORT + i.
    metrics_port: int = 0
    # `uvloop` (when installed) or `asyncio`.
    event_loop: str = "uvloop"
    # Rocket.Chat's own in-cluster address (never the public URL, which routes these paths to us): a request that a
    # backend failure keeps us from answering is forwarded there (empty: off), and Rocket.Chat gets this long.
    rocketchat_url: str = ""
    fallback_timeout: float = 5.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.event_loop not in EVENT_LOOPS:
            raise SystemExit(f"EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}, not {self.event_loop!r}")
        if self.rocketchat_url and not self.rocketchat_url.startswith(("http://", "https://")):
            raise SystemExit("ROCKETCHAT_URL must start with http:// or https://")  # not echoed: it may hold a secret
        if self.fallback_timeout <= 0:
            raise SystemExit("FALLBACK_TIMEOUT must be positive")
        if not 0 <= self.request_log <= 1:
            raise SystemExit(f"REQUEST_LOG must be a fraction from 0 to 1, not {self.request_log}")

    @property
    def read_aliases(self) -> list[str]:
        """Every alias a route reads: what `/readyz?verbose=1` checks."""
        return [self.es_index, self.es_contacts_index]

    @property
    def paging(self) -> Paging:
        return Paging(self.api_default_count, self.api_upper_count_limit, self.api_allow_infinite_count)
