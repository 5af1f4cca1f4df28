"""The pure rules every paged list shares: MongoDB's sort order as Elasticsearch sorts, the size of a page, and
numbers printed as JavaScript holds them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contact_index import shared
from service.errors import UnsupportedRequest
from service.lists.params import ListRequest

# Documents read per Elasticsearch request; count=0 (API_Allow_Infinite_Count) and large negative counts read several.
PAGE: Final = 1000

Sort = tuple[tuple[str, int], ...]


def sort_clauses(
    sort: Sort | None, default: Sort, fields: Mapping[str, tuple[str, str]], *, unknown_ties: bool
) -> list[dict[str, Any]]:
    """MongoDB's order for `sort` (None: the route's `default`; empty: natural order, here `_id`), over the index
    `fields` of each sortable path: missing values first ascending and last descending, an array by its least value
    ascending and greatest descending; then `_id`, so that pages never overlap (MongoDB leaves ties unordered).

    A path outside `fields` is skipped when no stored document can have it (`unknown_ties`: every document ties on
    it), else refused: its order cannot be given from the index."""
    clauses: list[dict[str, Any]] = []
    for path, direction in default if sort is None else sort:
        known = fields.get(path)
        if known is None:
            if unknown_ties:
                continue
            raise UnsupportedRequest(f"Sorting by {path!r} is not served here; sortable: {', '.join(fields)}")
        ascending = direction == 1
        clauses.append(
            {
                known[0]: {
                    "order": "asc" if ascending else "desc",
                    "missing": "_first" if ascending else "_last",
                    "mode": "min" if ascending else "max",
                }
            }
        )
    if not any(shared.FIELD_ID in clause for clause in clauses):
        clauses.append({shared.FIELD_ID: {"order": "asc"}})
    return clauses


def page_size(request: ListRequest) -> int | None:
    """How many documents one page holds; None: all of them (count=0). MongoDB's negative limit is one batch of that
    many."""
    return None if request.count == 0 else abs(request.count)


def printable(number: int) -> int | float:
    """JSON has one number type; past 64 bits (a count or offset of 1e20 was asked for) print it as a float, as
    JavaScript holds it (its digits differ: `1e+20` here, `100000000000000000000` there)."""
    return number if -(2**63) <= number < 2**63 else float(number)
