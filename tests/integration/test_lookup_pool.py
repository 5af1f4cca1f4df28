"""The lookup client's bounded pool, against a real socket server that holds every answer until told: however many
lookups run at once, one process opens at most `max_connections` sockets to a node, and every lookup is answered."""

from __future__ import annotations

import asyncio

from service.lookup.es_http import NodeHttp

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
