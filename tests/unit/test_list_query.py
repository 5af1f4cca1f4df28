"""The pure part of `contacts.search`: the filter, MongoDB's order as Elasticsearch sorts, paging, manager shaping."""

from __future__ import annotations

from typing import Any

import pytest

from service.errors import UnsupportedRequest
from service.lists import paging
from service.lists import query as list_query
from service.lists.params import ListRequest


def test_no_search_text_matches_every_contact_with_text_and_the_unknown_filter_always_applies() -> None:
    assert list_query.search_filter(ListRequest(unknown=True)) == {
        "bool": {"filter": [{"term": {"has_text": True}}, {"term": {"unknown": True}}]}
    }
    phrase = list_query.search_filter(ListRequest(search_text="Ana"))["bool"]["filter"][0]
    assert phrase == {"match_phrase": {"search": {"query": "61.6e.61.", "analyzer": "whitespace"}}}


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, [{"sort_name": {"order": "asc", "missing": "_first", "mode": "min"}}, {"id": {"order": "asc"}}]),
        ((), [{"id": {"order": "asc"}}]),
        (
            (("lastChat.ts", -1), ("name", 1)),
            [
                {"sort_last_chat_ts": {"order": "desc", "missing": "_last", "mode": "max"}},
                {"sort_name": {"order": "asc", "missing": "_first", "mode": "min"}},
                {"id": {"order": "asc"}},
            ],
        ),
        ((("contactManager.username", 1),), [{"id": {"order": "asc"}}]),
        ((("_id", -1),), [{"id": {"order": "desc", "missing": "_last", "mode": "max"}}]),
    ],
)
def test_sort_clauses(sort: tuple[tuple[str, int], ...] | None, expected: list[dict[str, Any]]) -> None:
    assert list_query.sort_clauses(ListRequest(sort=sort)) == expected


@pytest.mark.parametrize(("count", "size"), [(50, 50), (0, None), (-3, 3)])
def test_page_size(count: int, size: int | None) -> None:
    assert paging.page_size(ListRequest(count=count)) == size


def test_a_path_that_stored_documents_may_hold_but_the_index_does_not_sort_by_is_refused() -> None:
    fields = {"name": ("sort_name", "keyword")}
    with pytest.raises(UnsupportedRequest, match="'phone'"):
        paging.sort_clauses((("phone", 1),), (), fields, unknown_ties=False)
    assert paging.sort_clauses((("phone", 1),), (), fields, unknown_ties=True) == [{"id": {"order": "asc"}}]


def test_managers_are_looked_up_once_and_moved_last() -> None:
    contacts: list[dict[str, Any]] = [
        {"_id": "a", "contactManager": "m1", "name": "A"},
        {"_id": "b", "contactManager": "m1"},
        {"_id": "c", "contactManager": "gone", "name": "C"},
        {"_id": "d", "contactManager": "", "name": "D"},
        {"_id": "e", "contactManager": {"odd": 1}},
        {"_id": "f", "name": "F"},
    ]
    assert list_query.manager_ids(contacts) == ["m1", "gone", ""]
    managers = {"m1": {"_id": "m1", "username": "maria"}}
    shaped = [list_query.with_manager(dict(contact), managers) for contact in contacts]
    assert [list(contact) for contact in shaped] == [
        ["_id", "name", "contactManager"],
        ["_id", "contactManager"],
        ["_id", "name"],
        ["_id", "name"],
        ["_id"],
        ["_id", "name"],
    ]
    assert shaped[0]["contactManager"] == {"_id": "m1", "username": "maria"}
