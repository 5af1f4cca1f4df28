"""A minimal HTTP/1.1 client for the lookup's one request to Elasticsearch: pooled keep-alive connections (at most
MAX_CONNECTIONS per node), each request written with a single send, the answer parsed as it arrives; the nodes of a
cluster in turn from a random first one, a node that cannot be reached set aside for a while (`node_rotation`).

Why not aiohttp's client (or elastic-transport): under load their Python request path and their two sends per
request (head, then body) cost the service more CPU per lookup than Elasticsearch spent answering it
(docs/benchmarks.md, "Lookups"). This client does only what `POST /<alias>/_search` needs: `Content-Length` or
chunked answers, `Connection: close`, http or https with the credential and TLS trust every client gets from
`common.elasticsearch_clients`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import time
from collections.abc import Callable
from typing import Final, cast
from urllib.parse import urlsplit

from common.backends import ELASTICSEARCH, BackendStates
from common.elasticsearch_clients import Connection
from common.elasticsearch_refusals import FINGERPRINT_MISMATCH
from service.lookup.node_rotation import NodeRotation

log = logging.getLogger(__name__)

# Sockets one process keeps to one node, busy or idle; a lookup beyond them waits for one to be free.
MAX_CONNECTIONS: Final = 64
MAX_HEAD: Final = 64 * 1024


class ProtocolError(Exception):
    """Elasticsearch's answer is not HTTP/1.1 as this client reads it."""


class ResponseParser:
    """Incremental parser of one HTTP/1.1 response (pure: feed bytes, read the result when `done`)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._body = bytearray()
        self._position = 0  # how far the body (or its chunks) has been consumed from the buffer
        self._length: int | None = None  # Content-Length; None with chunked transfer coding
        self._chunked = False
        self.status = 0
        self.keep_alive = True
        self.done = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if not self.status:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise ProtocolError("response head too long")
                return
            self._read_head(bytes(self._buffer[:end]).decode("latin-1"))
            self._position = end + 4
        if self._chunked:
            self._read_chunks()
        elif self._length is not None and len(self._buffer) - self._position >= self._length:
            self._body = self._buffer[self._position : self._position + self._length]
            self.done = True

    @property
    def body(self) -> bytes:
        return bytes(self._body)

    def _read_head(self, head: str) -> None:
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError("bad status line")
        self.status = int(parts[1])
        self.keep_alive = parts[0] == "HTTP/1.1"
        for header in header_lines:
            name, _, value = header.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                self._length = int(value)
            elif name == "transfer-encoding":
                self._chunked = value == "chunked"
                if not self._chunked:
                    raise ProtocolError(f"transfer coding {value!r}")
            elif name == "connection":
                self.keep_alive = value == "keep-alive" or (self.keep_alive and value != "close")
        if not self._chunked and self._length is None:
            # A body delimited by the connection's end: read it all, then the connection is done.
            raise ProtocolError("response without a length")

    def _read_chunks(self) -> None:
        while True:
            line_end = self._buffer.find(b"\r\n", self._position)
            if line_end < 0:
                return
            size = int(bytes(self._buffer[self._position : line_end]).split(b";", 1)[0], 16)
            start = line_end + 2
            if size == 0:
                # The last chunk; no trailers are expected from Elasticsearch, only the final CRLF.
                if len(self._buffer) < start + 2:
                    return
                self.done = True
                return
            if len(self._buffer) < start + size + 2:
                return
            self._body += self._buffer[start : start + size]
            self._position = start + size + 2


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = ResponseParser()
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio.Transport, hence no isinstance check).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        answer = self._answer
        if answer is None or answer.done():
            self.close()  # bytes nobody asked for: this connection cannot be trusted any more
            return
        try:
            self._parser.feed(data)
        except (ProtocolError, ValueError) as failure:
            answer.set_exception(ProtocolError(str(failure)))
            self.close()
            return
        if self._parser.done:
            answer.set_result((self._parser.status, self._parser.body))
            if not self._parser.keep_alive:
                self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ConnectionResetError("Elasticsearch closed the connection"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self._parser = ResponseParser()
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer


class NodeHttp:
    """POSTs JSON to one Elasticsearch node over at most `max_connections` pooled connections (a request beyond
    them waits for one, within the timeout); returns the status and the raw body."""

    def __init__(
        self,
        url: str,
        timeout: float,
        *,
        tls: ssl.SSLContext | None = None,
        authorization: str | None = None,
        pinned: Callable[[bytes | None], bool] = lambda _certificate: True,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 9200)
        self._ssl = tls if parts.scheme == "https" else None
        self._pinned = pinned
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        head = [f"Host: {parts.netloc.rpartition('@')[2]}", "Content-Type: application/json"]
        if authorization is not None:
            head.append(f"Authorization: {authorization}")
        self._headers = ("\r\n".join(head) + "\r\n").encode("latin-1")
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots = asyncio.Semaphore(max_connections)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """One request; a reused connection that turns out closed is replaced once. Raises OSError (and
        ConnectionError, ssl.SSLError) when Elasticsearch cannot be reached or its certificate is refused,
        TimeoutError after the timeout (waiting for a free connection included), ProtocolError."""
        request = b"".join(
            (
                f"POST {self._prefix}{path} HTTP/1.1\r\n".encode("latin-1"),
                self._headers,
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )
        async with asyncio.timeout(self._timeout), self._slots:
            while self._idle:
                connection = self._idle.pop()
                if connection.closed:
                    continue
                try:
                    return await self._exchange(connection, request)
                except ConnectionResetError:
                    break  # a keep-alive connection Elasticsearch had closed: once more on a new one
            return await self._exchange(await self._connect(), request)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        transport, connection = await loop.create_connection(_Connection, self._host, self._port, ssl=self._ssl)
        if self._ssl is not None:
            tls = transport.get_extra_info("ssl_object")
            if not self._pinned(tls.getpeercert(binary_form=True) if tls is not None else None):
                connection.close()
                mismatch = ssl.SSLCertVerificationError(FINGERPRINT_MISMATCH)
                mismatch.verify_message = FINGERPRINT_MISMATCH
                raise mismatch
        return connection

    async def _exchange(self, connection: _Connection, request: bytes) -> tuple[int, bytes]:
        try:
            answer = await connection.send(request)
        except BaseException:
            connection.close()  # a timeout or cancellation leaves the connection mid-answer
            raise
        if not connection.closed:
            self._idle.append(connection)  # at most max_connections: each holds a slot while in use
        return answer

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class ElasticsearchHttp:
    """POSTs to the nodes of a cluster in the order `NodeRotation` gives: a node that cannot be reached (refused,
    reset, not HTTP, its certificate refused) is set aside and the request goes on to the next node, as
    elastic-transport does; a timeout is not retried, so a hanging cluster still answers within the timeout."""

    def __init__(
        self,
        reach: Connection,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        rotation: NodeRotation | None = None,
        backends: BackendStates | None = None,
    ) -> None:
        tls = reach.ssl_context()  # one context (the CA read once) for every connection to every node
        self.credential = reach.credential
        self._nodes = [
            NodeHttp(url, timeout, tls=tls, authorization=reach.authorization, pinned=reach.fingerprint_matches)
            for url in reach.nodes
        ]
        self._rotation = rotation or NodeRotation(len(self._nodes))
        self._backends = backends or BackendStates()
        self._clock = clock

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """The answer of the first node that gives one. Raises what the last node tried raised (OSError,
        ProtocolError) when none could be reached, TimeoutError at once."""
        order = self._rotation.order(self._clock())
        for attempt, index in enumerate(order, start=1):
            try:
                answer = await self._nodes[index].post(path, body)
            except TimeoutError:
                self._backends.unreachable(ELASTICSEARCH)
                raise
            except (OSError, ProtocolError) as failure:
                self._rotation.failed(index, self._clock())
                if attempt == len(order):
                    self._backends.unreachable(ELASTICSEARCH)
                    raise
                log.warning("Retrying request after failure on a node (%s), on the next one", type(failure).__name__)
                continue
            self._rotation.succeeded(index)
            self._backends.reached(ELASTICSEARCH)
            return answer
        raise AssertionError("no node to send to")  # unreachable: there is always at least one node

    async def close(self) -> None:
        for node in self._nodes:
            await node.close()
