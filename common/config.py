"""Settings from the environment: each field of a frozen dataclass read from its upper-case name, parsed by its
type (str, int, float, bool); a field marked `SECRET` may instead come from the file named by `<NAME>_FILE`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, Final, TypeVar

T = TypeVar("T")

# `field(metadata=SECRET)`: readable from `<NAME>_FILE` (a mounted Secret), never echoed in an error.
SECRET: Final = {"secret": True}

_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


def parse_bool(raw: str) -> bool:
    """`true`/`false`/`1`/`0`, any case, spaces around ignored."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(raw)


_PARSERS: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float, "bool": parse_bool}
_TYPE_NAMES: Final = {"str": "str", "int": "int", "float": "float", "bool": "bool (true, false, 1 or 0)"}

# The user-info part of a URL (`scheme://user:password@`), or of a host without a scheme (`user:password@host`).
_USER_INFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*://)?)[^/@]*@")


def redacted(url: str) -> str:
    """`url` with any user name and password replaced by `***`, for messages (pure)."""
    return _USER_INFO.sub(r"\1***@", url)


def es_nodes(es_url: str) -> list[str]:
    """The Elasticsearch nodes in `ES_URL`: one URL or several separated by commas (spaces around them ignored).

    Raises SystemExit with one line for an empty list, an empty entry (`a,,b`, a trailing comma) or an entry without
    `http://` or `https://`, which the client would otherwise reject far from the setting's name. A credential in
    an entry is never repeated in the message.
    """
    entries = [entry.strip() for entry in es_url.split(",")]
    if not any(entries):
        raise SystemExit("ES_URL is empty: give one Elasticsearch URL, or several separated by commas")
    for position, entry in enumerate(entries, start=1):
        if not entry:
            raise SystemExit(f"ES_URL has an empty entry (number {position}): remove the extra comma")
        if not entry.startswith(("http://", "https://")):
            raise SystemExit(f"ES_URL entry {redacted(entry)!r} must start with http:// or https://")
    return entries


def _read_secret_file(name: str, path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SystemExit(f"{name}_FILE={path!r} cannot be read: {error.__class__.__name__}") from None
    # A file written by `echo` or an editor ends with a newline that is not part of the secret.
    return text.removesuffix("\n").removesuffix("\r")


def _raw_value(name: str, secret: bool, environ: Mapping[str, str]) -> str | None:
    raw = environ.get(name)
    path = environ.get(f"{name}_FILE") if secret else None
    if raw is not None and path is not None:
        raise SystemExit(f"{name} and {name}_FILE are both set: give one")
    if path is not None:
        return _read_secret_file(name, path)
    return raw


def from_environment(cls: type[T], environ: Mapping[str, str]) -> T:
    """An instance of the dataclass `cls`; MONGO_URL is required, a bad value stops the process with one line
    (a secret's value is never part of it)."""
    values: dict[str, Any] = {}
    for field in fields(cls):  # type: ignore[arg-type]
        name = field.name.upper()
        secret = bool(field.metadata.get("secret"))
        raw = _raw_value(name, secret, environ)
        if raw is None:
            continue
        kind = str(field.type)
        try:
            values[field.name] = _PARSERS[kind](raw)
        except ValueError:
            shown = "" if secret else f"={raw!r}"
            raise SystemExit(f"{name}{shown} is not a valid {_TYPE_NAMES[kind]}") from None
    if not values.get("mongo_url"):
        raise SystemExit("MONGO_URL is not set (e.g. mongodb://127.0.0.1:27017/rocketchat)")
    return cls(**values)
