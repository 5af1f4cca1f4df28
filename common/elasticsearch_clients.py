"""How every client reaches Elasticsearch, built once from the settings: the nodes, the credential (an API key, a
user and password, or one written into `ES_URL`), the TLS trust (a private CA, a certificate fingerprint, or the
system's CAs), and the `AsyncElasticsearch` of both processes, of `verify`, `reindex` and the benchmarks.

The service's lookup client (`es_http`) takes the same nodes, `Authorization` header and `ssl.SSLContext`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import ssl
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from elastic_transport import AsyncTransport
from elasticsearch import AsyncElasticsearch
from elasticsearch.serializer import OrjsonSerializer

from common import config

NO_CREDENTIAL: Final = "no credential"
API_KEY: Final = "API key (ES_API_KEY)"
USER_PASSWORD: Final = "user and password (ES_USERNAME, ES_PASSWORD)"
URL_USER_PASSWORD: Final = "user and password written in ES_URL"

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


class ElasticsearchSettings(Protocol):
    """The settings a connection is built from (`common.settings.SharedSettings` has them)."""

    @property
    def es_url(self) -> str: ...
    @property
    def es_api_key(self) -> str: ...
    @property
    def es_username(self) -> str: ...
    @property
    def es_password(self) -> str: ...
    @property
    def es_ca_certs(self) -> str: ...
    @property
    def es_ssl_fingerprint(self) -> str: ...


@dataclass(frozen=True)
class Connection:
    """Everything a client needs to reach the cluster. `credential` names the kind of credential for messages
    (never its value)."""

    nodes: tuple[str, ...]
    credential: str = NO_CREDENTIAL
    api_key: str = field(default="", repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    ca_certs: str = ""
    fingerprint: str = ""  # 64 lower-case hex digits, or empty

    @property
    def uses_tls(self) -> bool:
        return self.nodes[0].startswith("https://")

    @property
    def authorization(self) -> str | None:
        """The `Authorization` header's value, or None without a credential."""
        if self.api_key:
            return f"ApiKey {self.api_key}"
        if self.basic_auth is not None:
            user, password = self.basic_auth
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS trust of every https connection, or None for http nodes. With a fingerprint, the certificate
        chain is not verified; `fingerprint_matches` is checked on the server's certificate instead.

        Raises ValueError naming ES_CA_CERTS when the file cannot be read as PEM certificates.
        """
        if not self.uses_tls:
            return None
        if self.fingerprint:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            try:
                context = ssl.create_default_context(cafile=self.ca_certs or None)
            except (OSError, ssl.SSLError) as error:
                reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or type(error).__name__
                raise ValueError(f"ES_CA_CERTS={self.ca_certs!r} cannot be used as a CA file: {reason}") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def fingerprint_matches(self, certificate: bytes | None) -> bool:
        """Whether the server's certificate (DER) is the pinned one; always true without a pin."""
        if not self.fingerprint:
            return True
        return certificate is not None and hashlib.sha256(certificate).hexdigest() == self.fingerprint


def _split_user_info(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without `user:password@`, and that pair when present (percent-decoded)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc)), (unquote(parts.username), unquote(parts.password or ""))


def connection(settings: ElasticsearchSettings) -> Connection:
    """The connection the settings describe (pure). Raises ValueError with one line, no secret in it, for settings
    that contradict each other: two credentials, half a user/password pair, a CA or a fingerprint for http nodes."""
    nodes: list[str] = []
    in_url: set[tuple[str, str]] = set()
    for entry in config.es_nodes(settings.es_url):
        node, pair = _split_user_info(entry)
        nodes.append(node)
        if pair is not None:
            in_url.add(pair)
    schemes = {node.split("://", 1)[0] for node in nodes}
    if len(schemes) > 1:
        raise ValueError("ES_URL mixes http:// and https:// nodes: give them all the same scheme")
    tls = schemes == {"https"}
    fingerprint = settings.es_ssl_fingerprint.replace(":", "").strip().lower()
    if fingerprint and not _FINGERPRINT.match(fingerprint):
        raise ValueError("ES_SSL_FINGERPRINT must be a SHA-256 fingerprint: 64 hex digits, colons allowed")
    if (settings.es_ca_certs or fingerprint) and not tls:
        raise ValueError("ES_CA_CERTS and ES_SSL_FINGERPRINT need https:// nodes in ES_URL")
    if settings.es_ca_certs and fingerprint:
        raise ValueError("ES_CA_CERTS and ES_SSL_FINGERPRINT are both set: give one")
    given = [name for name in ("ES_API_KEY", "ES_USERNAME", "ES_PASSWORD") if getattr(settings, name.lower())]
    if in_url and given:
        raise ValueError(f"ES_URL holds a user and password, and {', '.join(given)} is set too: give one credential")
    if len(in_url) > 1:
        raise ValueError("the nodes of ES_URL hold different users or passwords: give one credential")
    if settings.es_api_key and (settings.es_username or settings.es_password):
        raise ValueError("ES_API_KEY and ES_USERNAME/ES_PASSWORD are both set: give one credential")
    if bool(settings.es_username) != bool(settings.es_password):
        raise ValueError("ES_USERNAME and ES_PASSWORD go together: set both, or neither")
    credential, api_key, basic_auth = NO_CREDENTIAL, "", None
    if settings.es_api_key:
        credential, api_key = API_KEY, settings.es_api_key
    elif settings.es_username:
        credential, basic_auth = USER_PASSWORD, (settings.es_username, settings.es_password)
    elif in_url:
        credential, basic_auth = URL_USER_PASSWORD, in_url.pop()
    return Connection(tuple(nodes), credential, api_key, basic_auth, settings.es_ca_certs, fingerprint)


def async_client(
    reach: Connection,
    *,
    request_timeout: float,
    max_retries: int,
    retry_on_timeout: bool = False,
    transport_class: type[AsyncTransport] = AsyncTransport,
) -> AsyncElasticsearch:
    """An `AsyncElasticsearch` over every node, with the connection's credential and TLS trust (`transport_class`:
    elastic-transport's, or one that observes it, `common.backends.observed_transport`)."""
    tls: dict[str, Any] = {}
    if reach.uses_tls:
        tls["ssl_context"] = reach.ssl_context()
        if reach.fingerprint:
            tls["ssl_assert_fingerprint"] = reach.fingerprint
    return AsyncElasticsearch(
        list(reach.nodes),
        api_key=reach.api_key or None,
        basic_auth=reach.basic_auth,
        request_timeout=request_timeout,
        max_retries=max_retries,
        retry_on_timeout=retry_on_timeout,
        serializer=OrjsonSerializer(),
        transport_class=transport_class,
        **tls,
    )
