"""Settings from the environment: each field of a frozen dataclass read from its upper-case name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")

_PARSERS: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float}


def es_nodes(es_url: str) -> list[str]:
    """The Elasticsearch nodes in `ES_URL`: one URL or several separated by commas (spaces around them ignored).

    Raises SystemExit with one line for an empty list, an empty entry (`a,,b`, a trailing comma) or an entry without
    `http://` or `https://`, which the client would otherwise reject far from the setting's name.
    """
    entries = [entry.strip() for entry in es_url.split(",")]
    if not any(entries):
        raise SystemExit("ES_URL is empty: give one Elasticsearch URL, or several separated by commas")
    for position, entry in enumerate(entries, start=1):
        if not entry:
            raise SystemExit(f"ES_URL={es_url!r} has an empty entry (number {position}): remove the extra comma")
        if not entry.startswith(("http://", "https://")):
            raise SystemExit(f"ES_URL entry {entry!r} must start with http:// or https://")
    return entries


def from_environment(cls: type[T], environ: Mapping[str, str]) -> T:
    """An instance of the dataclass `cls`; MONGO_URL is required, a bad value stops the process with one line."""
    mongo_url = environ.get("MONGO_URL", "")
    if not mongo_url:
        raise SystemExit("MONGO_URL is not set (e.g. mongodb://127.0.0.1:27017/rocketchat)")
    values: dict[str, Any] = {"mongo_url": mongo_url}
    for field in fields(cls):  # type: ignore[arg-type]
        raw = environ.get(field.name.upper())
        if field.name == "mongo_url" or raw is None:
            continue
        try:
            values[field.name] = _PARSERS[str(field.type)](raw)
        except ValueError:
            raise SystemExit(f"{field.name.upper()}={raw!r} is not a valid {field.type}") from None
    return cls(**values)
