"""What both processes read from the environment, declared once: MongoDB, Elasticsearch (nodes, aliases, the
credential and the CA) and logging. `service.settings` and `indexer.settings` extend it with their own."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from common import config, elasticsearch_clients
from common.config import SECRET


@dataclass(frozen=True)
class SharedSettings:
    # Secrets (and URLs that may hold one) stay out of the dataclass's repr, so no log line can print them.
    mongo_url: str = field(repr=False, metadata=SECRET)
    es_url: str = field(default="http://127.0.0.1:9200", repr=False, metadata=SECRET)
    # The visitors' alias (contact.search).
    es_index: str = "contacts"
    # The alias of Rocket.Chat 7's contacts (`rocketchat_livechat_contact`): contacts.search, contacts.get.
    es_contacts_index: str = "livechat_contacts"
    # The `encoded` value of Elasticsearch's create-API-key answer, sent as `Authorization: ApiKey <value>`.
    es_api_key: str = field(default="", repr=False, metadata=SECRET)
    es_username: str = field(default="", repr=False, metadata=SECRET)
    es_password: str = field(default="", repr=False, metadata=SECRET)
    # A PEM file: the CA that signs the cluster's HTTP certificate (Elasticsearch's `http_ca.crt`).
    es_ca_certs: str = ""
    # The SHA-256 fingerprint of the nodes' HTTP certificate, instead of a CA.
    es_ssl_fingerprint: str = ""
    log_level: str = "INFO"
    log_format: str = "json"

    def __post_init__(self) -> None:
        if self.es_index == self.es_contacts_index:
            raise SystemExit("ES_INDEX and ES_CONTACTS_INDEX must be different aliases")
        try:
            elasticsearch_clients.connection(self).ssl_context()  # the CA file is read and checked at start
        except ValueError as error:
            raise SystemExit(str(error)) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Self:
        """Read once, in `__main__`; a bad or contradictory value stops the process with one line."""
        return config.from_environment(cls, environ)

    @property
    def es_nodes(self) -> list[str]:
        return config.es_nodes(self.es_url)

    @property
    def elasticsearch(self) -> elasticsearch_clients.Connection:
        """How every client of this process reaches Elasticsearch (nodes, credential, TLS)."""
        return elasticsearch_clients.connection(self)
