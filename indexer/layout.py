"""Shards and replicas of the indices the indexer creates (`ES_SHARDS`, `ES_REPLICAS`), laid over a spec's settings."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from indexer.specs import Spec

_AUTO_EXPAND = re.compile(r"\d+-(\d+|all)")
# Where a spec may say how many shards and copies it wants, nested (`{"index": {...}}`) or flat (`index.x`).
_LAYOUT_KEYS = ("number_of_shards", "number_of_replicas", "auto_expand_replicas")


@dataclass(frozen=True)
class Layout:
    """`replicas` is a count ("1": one more copy of each shard) or an auto-expand range ("0-1", "0-all")."""

    shards: int
    replicas: str

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError(f"ES_SHARDS must be at least 1, not {self.shards}")
        if not (self.replicas.isdigit() or _AUTO_EXPAND.fullmatch(self.replicas)):
            raise ValueError(
                f"ES_REPLICAS must be a number of replicas (0, 1, ...) or a range such as 0-1 or 0-all, "
                f"not {self.replicas!r}"
            )

    def index_settings(self) -> dict[str, Any]:
        if self.replicas.isdigit():
            return {
                "number_of_shards": self.shards,
                "number_of_replicas": int(self.replicas),
                "auto_expand_replicas": False,
            }
        return {"number_of_shards": self.shards, "auto_expand_replicas": self.replicas}

    def over(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """`settings` (an index's creation settings) with this layout in place of whatever layout they named."""
        laid = {key: value for key, value in settings.items() if key.removeprefix("index.") not in _LAYOUT_KEYS}
        nested = {key: value for key, value in dict(laid.get("index", {})).items() if key not in _LAYOUT_KEYS}
        laid["index"] = nested | self.index_settings()
        return laid


def laid_out(spec: Spec, layout: Layout) -> Spec:
    """`spec` whose indices are created with `layout`: every generation, so a reindex keeps it."""
    return dataclasses.replace(spec, settings=layout.over(spec.settings))
