"""The response parser of the lookup's HTTP client: bodies by length or chunks, in any split, and bad answers."""

from __future__ import annotations

import pytest

from service.lookup.es_http import ProtocolError, ResponseParser

CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5\r\n{"a":\r\n3\r\n1}\n\r\n0\r\n\r\n'
)
LENGTH = b'HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\n{"x":1}'


def parse(pieces: list[bytes]) -> ResponseParser:
    parser = ResponseParser()
    for piece in pieces:
        assert not parser.done
        parser.feed(piece)
    return parser


@pytest.mark.parametrize(
    ("response", "status", "body", "keep_alive"),
    [
        (CHUNKED, 200, b'{"a":1}\n', True),
        (LENGTH, 404, b'{"x":1}', True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 200, b"{}", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, b"{}", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}", 200, b"{}", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\n{}\r\n0\r\n\r\n", 200, b"{}", True),
    ],
)
def test_a_response_parses_whole_and_in_every_split(
    response: bytes, status: int, body: bytes, keep_alive: bool
) -> None:
    for cut in range(1, len(response)):
        parser = parse([response[:cut], response[cut:]])
        assert (parser.done, parser.status, parser.body, parser.keep_alive) == (True, status, body, keep_alive)
    byte_by_byte = parse([response[index : index + 1] for index in range(len(response))])
    assert (byte_by_byte.status, byte_by_byte.body) == (status, body)


def test_an_unfinished_response_is_not_done() -> None:
    assert not parse([CHUNKED[:-2]]).done
    assert not parse([LENGTH[:-1]]).done


@pytest.mark.parametrize(
    "response",
    [
        b"SPDY/3 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n{}",
    ],
)
def test_what_this_client_cannot_read_is_a_protocol_error(response: bytes) -> None:
    with pytest.raises(ProtocolError):
        ResponseParser().feed(response)
