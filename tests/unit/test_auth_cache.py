"""Token hashing, the user → caller rule, and the TTL cache behind them."""

from __future__ import annotations

import asyncio

import pytest

from service.auth import caller_from_user, hashed_token
from service.cache import TtlCache


def test_hashed_token_matches_rocket_chat() -> None:
    # base64(sha256("abc")), as Accounts._hashLoginToken computes it.
    assert hashed_token("abc") == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="


def user(**fields: object) -> dict[str, object]:
    document: dict[str, object] = {
        "_id": "u1",
        "roles": ["livechat-agent", 3],
        "services": {
            "resume": {"loginTokens": [{"hashedToken": "h1"}, {"hashedToken": "h2", "type": "personalAccessToken"}]}
        },
    }
    document.update(fields)
    return document


@pytest.mark.parametrize("token_hash", ["h1", "h2"])
def test_caller_from_a_known_token(token_hash: str) -> None:
    caller = caller_from_user(user(), token_hash)
    assert caller is not None
    assert caller.roles == frozenset({"livechat-agent"})


@pytest.mark.parametrize(
    "document",
    [
        None,
        user(active=False),
        user(services={}),
        user(services={"resume": {"loginTokens": "h1"}}),
        user(services=None),
    ],
)
def test_no_caller(document: dict[str, object] | None) -> None:
    assert caller_from_user(document, "h1") is None


def test_unknown_token() -> None:
    assert caller_from_user(user(), "h3") is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_cache_expires_after_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(2.0, clock=clock)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    assert await cache.get("k", load) == 1
    clock.now = 1.9
    assert await cache.get("k", load) == 1
    clock.now = 2.1
    assert await cache.get("k", load) == 2


async def test_cache_never_keeps_failures() -> None:
    cache: TtlCache[str, int] = TtlCache(60.0)

    async def fail() -> int:
        raise ConnectionError("down")

    async def succeed() -> int:
        return 7

    with pytest.raises(ConnectionError):
        await cache.get("k", fail)
    assert await cache.get("k", succeed) == 7


async def test_cache_shares_one_load_between_concurrent_misses() -> None:
    cache: TtlCache[str, int] = TtlCache(60.0)
    started = asyncio.Event()
    release = asyncio.Event()
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        started.set()
        await release.wait()
        return 5

    first = asyncio.create_task(cache.get("k", load))
    await started.wait()
    second = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(first, second) == [5, 5]
    assert loads == 1


async def test_cache_is_bounded() -> None:
    cache: TtlCache[int, int] = TtlCache(60.0, max_entries=2)
    loads: list[int] = []

    async def load(key: int) -> int:
        loads.append(key)
        return key

    for key in (1, 2, 3, 1):
        await cache.get(key, lambda key=key: load(key))  # type: ignore[misc]
    assert loads == [1, 2, 3, 1]
