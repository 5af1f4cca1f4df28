"""What every index of this project shares: the id and content-hash fields, the default index settings and the
versioned index names behind an alias (`contacts-v1`, `contacts-v2`, ...).

Pure: no I/O. Both sides import it; neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# The printed Mongo `_id` (for sorted scans) and the digest `verify` compares: in every index document.
FIELD_ID: Final = "id"
FIELD_CONTENT_HASH: Final = "content_hash"

SETTINGS: Final[dict[str, Any]] = {
    "index": {
        "number_of_shards": 1,
        "auto_expand_replicas": "0-1",
        "refresh_interval": "1s",
    }
}


def index_name(alias: str, generation: int) -> str:
    """The concrete index behind `alias` for one mapping generation: contacts-v1, contacts-v2, ..."""
    return f"{alias}-v{generation}"


def generation_of(alias: str, name: str) -> int | None:
    """The generation number of a concrete index name, or None if it is not one of `alias`'s."""
    prefix = f"{alias}-v"
    if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
        return None
    return int(name[len(prefix) :])


def mapping_version(mapping: Mapping[str, Any]) -> int:
    """The generation of a mapping (`_meta.version`); a mapping without one is generation 1."""
    meta = mapping.get("_meta")
    version = meta.get("version") if isinstance(meta, Mapping) else None
    return version if isinstance(version, int) else 1
