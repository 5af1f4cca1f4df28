"""The indexer's settings, read from the environment once in `__main__`."""

from __future__ import annotations

from dataclasses import dataclass

from common.settings import SharedSettings
from indexer.layout import Layout

SYNC_MODES = ("auto", "stream", "poll")
COLLECTIONS = ("visitors", "livechat_contacts")


@dataclass(frozen=True)
class Settings(SharedSettings):
    """The indexer's own settings, beside those both processes read (`SharedSettings`)."""

    # Which collections the indexer syncs, comma-separated: visitors (contact.search), livechat_contacts.
    collections: str = "visitors,livechat_contacts"
    # Every index the indexer creates (the first one and each reindex) gets these, over its spec's own settings.
    es_shards: int = 1
    # A number of replicas, or an auto-expand range such as "0-1" (as many as the nodes allow, at most 1).
    es_replicas: str = "0-1"
    batch_size: int = 500
    poll_interval: float = 1.0
    metrics_port: int = 9108
    # auto: change streams where the server has them (a replica set), polling otherwise.
    sync_mode: str = "auto"
    # Polling re-reads writes this much older than the newest one seen, for writes that commit out of order.
    overlap_window: float = 10.0
    # Polling mode: how often hard deletes are looked for by merging the ids of both sides.
    reconcile_interval: float = 300.0
    # The writer lease: a dead leader is replaced after at most this long.
    lease_ttl: float = 10.0
    # /healthz turns 503 after this long without progress.
    stall_after: float = 120.0
    # The checkpoint is saved at most this often (0: after every batch); a crash repeats at most this much work,
    # which versioned writes make harmless. Fewer saves keep long read cursors fast on the database server.
    checkpoint_interval: float = 1.0
    # Batches read ahead of the writer (the bounded queue between them).
    queue_depth: int = 4
    # `reindex`: how long to wait for the worker to start writing to the new index, and how long the old index
    # stays after the alias moved (lookups in flight finish on it).
    reindex_ack_timeout: float = 60.0
    reindex_grace: float = 5.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sync_mode not in SYNC_MODES:
            raise SystemExit(f"SYNC_MODE must be one of {', '.join(SYNC_MODES)}, not {self.sync_mode!r}")
        if self.batch_size < 1 or self.queue_depth < 1 or self.lease_ttl <= 0:
            raise SystemExit("BATCH_SIZE, QUEUE_DEPTH and LEASE_TTL must be positive")
        if not self.collection_names or not set(self.collection_names) <= set(COLLECTIONS):
            raise SystemExit(f"COLLECTIONS must name some of {', '.join(COLLECTIONS)}, not {self.collections!r}")
        if self.checkpoint_interval < 0:
            raise SystemExit("CHECKPOINT_INTERVAL must not be negative")
        try:
            Layout(self.es_shards, self.es_replicas)
        except ValueError as error:
            raise SystemExit(str(error)) from None

    @property
    def index_layout(self) -> Layout:
        return Layout(self.es_shards, self.es_replicas)

    @property
    def collection_names(self) -> list[str]:
        names = [name.strip() for name in self.collections.split(",")]
        return list(dict.fromkeys(name for name in names if name))
