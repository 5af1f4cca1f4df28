"""The lookup client against real sockets: its bounded pool (a server that holds every answer until told: however many
lookups run at once, one process opens at most `max_connections` sockets to a node, and every lookup is answered),
and its failover driven by the clock it is given (a node that refuses connections is set aside, then tried again)."""

from __future__ import annotations

import asyncio
import socket

from common.elasticsearch_clients import Connection
from service.lookup.es_http import ElasticsearchHttp, NodeHttp
from service.lookup.node_rotation import NodeRotation

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class HoldingServer:
    """Counts open connections; answers the requests it holds only when `release` is set."""

    def __init__(self) -> None:
        self.open = 0
        self.most_open = 0
        self.waiting = 0
        self.release = asyncio.Event()
        self.held = asyncio.Condition()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while await reader.readuntil(b"\r\n\r\n"):  # the request head; the body is "{}" (Content-Length: 2)
                await reader.readexactly(2)
                async with self.held:
                    self.waiting += 1
                    self.held.notify_all()
                await self.release.wait()
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


async def test_concurrent_lookups_past_the_cap_wait_for_a_connection_and_all_are_answered() -> None:
    holding = HoldingServer()
    server = await asyncio.start_server(holding.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    node = NodeHttp(f"http://127.0.0.1:{port}", timeout=60, max_connections=3)
    try:
        lookups = [asyncio.create_task(node.post("/contacts/_search", b"{}")) for _ in range(10)]
        async with holding.held:
            await holding.held.wait_for(lambda: holding.waiting >= 3)  # three requests are held on three sockets
        await asyncio.sleep(0)  # the seven others had every chance to open a socket of their own
        assert (holding.open, holding.most_open, holding.waiting) == (3, 3, 3)
        holding.release.set()
        assert await asyncio.gather(*lookups) == [(200, b"{}")] * 10
        assert holding.most_open == 3  # the seven waited and reused the three
    finally:
        await node.close()
        server.close()
        await server.wait_closed()


def refused_port() -> int:
    """A port on which nothing listens (bound, then closed, never listened on)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_refusing_node_is_set_aside_until_the_clock_passes_its_pause() -> None:
    answering = HoldingServer()
    answering.release.set()
    server = await asyncio.start_server(answering.serve, "127.0.0.1", 0)
    nodes = (f"http://127.0.0.1:{refused_port()}", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    now = [1000.0]
    rotation = NodeRotation(2, first=0)
    cluster = ElasticsearchHttp(Connection(nodes), timeout=30, clock=lambda: now[0], rotation=rotation)
    try:
        assert await cluster.post("/contacts/_search", b"{}") == (200, b"{}")  # node 0 refused, node 1 answered
        assert rotation.back_at(0) == 1001.0
        now[0] = 1000.5
        for _ in range(2):  # node 1's turn, then node 0's: set aside until 1001, it is not tried
            assert await cluster.post("/contacts/_search", b"{}") == (200, b"{}")
        assert rotation.back_at(0) == 1001.0  # a try would have set it aside again, until 1001.5 or later
        now[0] = 1001.0
        for _ in range(2):  # node 1's turn, then node 0's: back from its pause, tried again, refused again
            assert await cluster.post("/contacts/_search", b"{}") == (200, b"{}")
        assert rotation.back_at(0) == 1003.0  # a second failure in a row: 2 s
    finally:
        await cluster.close()
        server.close()
        await server.wait_closed()
