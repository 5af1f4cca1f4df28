"""The pure visitor → printed contact → index document conversion."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from bson import Decimal128, ObjectId

from contact_index import shared, substring
from contact_index import visitors as visitor_fields
from indexer import documents
from indexer.collections import VISITORS
from indexer.collections import visitors as visitors_collection


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (dt.datetime(2024, 5, 2, 10, 31, 7, 512999), "2024-05-02T10:31:07.512Z"),
        (dt.datetime(2024, 5, 2, 10, 31, 7), "2024-05-02T10:31:07.000Z"),
        (dt.datetime(999, 1, 2, 3, 4, 5, 6000), "0999-01-02T03:04:05.006Z"),  # JavaScript pads the year too
        ((1, ObjectId("5d9e00000000000000000001")), [1, "5d9e00000000000000000001"]),
        ({1: "non-string key"}, {"1": "non-string key"}),
        (dt.datetime(2024, 5, 2, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2024-05-02T10:00:00.000Z"),
        (ObjectId("5d9e00000000000000000001"), "5d9e00000000000000000001"),
        (Decimal128("1.50"), "1.50"),
        (b"\x00\x01", "AAE="),
        ({"a": [dt.datetime(2024, 1, 1), {"b": None}]}, {"a": ["2024-01-01T00:00:00.000Z", {"b": None}]}),
        (True, True),
        (3, 3),
    ],
)
def test_to_printable(value: Any, printed: Any) -> None:
    assert documents.to_printable(value) == printed


def test_index_document_of_a_full_visitor() -> None:
    visitor = {
        "_id": "abc",
        "ts": dt.datetime(2024, 5, 2, 10, 31, 7, 512000),
        "_updatedAt": dt.datetime(2024, 5, 3),
        "visitorEmails": [{"address": "Santa@Example.com"}, {"nope": 1}, "junk"],
        "phone": [{"phoneNumber": "+5511"}],
        "livechatData": {"address": "Ab", "tags": ["x", 1], "count": 3, "": "empty key", "a..b": "dots"},
    }
    document = visitors_collection.to_index_document(visitor)
    assert document[shared.FIELD_ID] == "abc"
    assert document[visitor_fields.FIELD_EMAILS] == ["Santa@Example.com"]
    assert document[visitor_fields.FIELD_PHONES] == ["+5511"]
    assert document[visitor_fields.FIELD_TS] == 1714645867512
    assert document[visitor_fields.FIELD_UPDATED_AT] == 1714694400000
    assert document[visitor_fields.FIELD_CUSTOM] == {"address": ["Ab"], "tags": ["x"]}
    assert set(document[visitor_fields.FIELD_CUSTOM_GRAMS]) == {
        "address:",
        "address:ab\x03",
        "address:b\x03\x03",
        "tags:",
        "tags:x\x03\x03",
        ":",
        ":emp",
        ":mpt",
        ":pty",
        ":ty ",
        ":y k",
        ": ke",
        ":key",
        ":ey\x03",
        ":y\x03\x03",
        "a..b:",
        "a..b:dot",
        "a..b:ots",
        "a..b:ts\x03",
        "a..b:s\x03\x03",
    }
    assert document[visitor_fields.FIELD_CUSTOM_LONG] == []
    assert document[visitor_fields.FIELD_VISITOR]["ts"] == "2024-05-02T10:31:07.512Z"
    assert "disabled" not in document[visitor_fields.FIELD_VISITOR]


def test_long_values_are_marked_and_their_grams_bounded() -> None:
    document = visitors_collection.to_index_document(
        {"_id": "x", "livechatData": {"note": "ab" * visitor_fields.GRAM_WINDOW}}
    )
    assert document[visitor_fields.FIELD_CUSTOM_LONG] == ["note"]
    assert len(document[visitor_fields.FIELD_CUSTOM_GRAMS]) == 1 + 4  # presence, "aba", "bab", and the padded tail
    assert set(document[visitor_fields.FIELD_CUSTOM_GRAMS]) == {
        "note:",
        "note:aba",
        "note:bab",
        "note:ab\x03",
        "note:b\x03\x03",
    }


def test_version_prefers_updated_at() -> None:
    assert VISITORS.version_of({"_updatedAt": dt.datetime(2024, 1, 1), "ts": dt.datetime(2020, 1, 1)}) == 1704067200000
    assert VISITORS.version_of({"ts": dt.datetime(2020, 1, 1)}) == 1577836800000
    assert VISITORS.version_of({}) == 1


def test_disabled_visitors_are_not_searchable() -> None:
    assert visitors_collection.is_searchable({"disabled": False})
    assert not visitors_collection.is_searchable({"disabled": True})


def test_document_id_of_object_ids_and_odd_ids() -> None:
    assert documents.document_id(ObjectId("5d9e00000000000000000001")) == "5d9e00000000000000000001"
    assert documents.document_id(42) == "42"


def test_content_hash_ignores_key_order() -> None:
    assert documents.content_hash({"a": 1, "b": 2}) == documents.content_hash({"b": 2, "a": 1})
    assert documents.content_hash({"a": 1}) != documents.content_hash({"a": 2})


def test_the_visitor_lists_fields_follow_mongodb_paths() -> None:
    """Generation 2: exact emails as stored, phones and sort values through arrays, tokens of name and username,
    anchored name tokens, every custom key's tokens under its namespace."""
    visitor = {
        "_id": "v",
        "name": "Ab",
        "username": "g-1",
        "visitorEmails": [{"address": "Santa@Example.com"}, {"address": ["x@y", 3]}, "junk"],
        "phone": {"phoneNumber": "+55"},
        "livechatData": {"plan": "Go", "tags": ["x", 1], "count": 3},
        "lastChat": {"ts": dt.datetime(2024, 1, 1)},
    }
    document = visitors_collection.to_index_document(visitor)
    assert document[visitor_fields.FIELD_EMAIL_ADDRESSES] == ["Santa@Example.com", "x@y"]
    assert document[visitor_fields.FIELD_PHONES] == ["+55"]
    assert document[visitor_fields.FIELD_SEARCH] == [substring.value_tokens("Ab"), substring.value_tokens("g-1")]
    assert document[visitor_fields.FIELD_NAME_START] == [substring.value_tokens("Ab", anchored=True)]
    assert document[visitor_fields.FIELD_CUSTOM_SEARCH] == [
        substring.value_tokens("Go", substring.namespace("plan")),
        substring.value_tokens("x", substring.namespace("tags")),
    ]
    assert document["sort_name"] == ["Ab"] and document["sort_emails"] == ["Santa@Example.com", "x@y"]
    assert document["sort_last_chat_ts"] == [1704067200000] and document["sort_phones"] == ["+55"]
