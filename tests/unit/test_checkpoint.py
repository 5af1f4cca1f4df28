"""The typed checkpoint: its document layout (the one earlier versions wrote, so an upgrade resumes), and how
acknowledged positions advance it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from indexer.checkpoint import Checkpoint, Position

STARTED = dt.datetime(2026, 11, 1, 8, 0, 0)
TOKEN = {"_data": "8266F1C3A7000000012B022C0100296E5A1004"}


@pytest.mark.parametrize(
    ("document", "checkpoint"),
    [
        ({}, Checkpoint()),
        (
            {"backfill": {"done": False, "after": "v9", "reconcile": True, "started_at": STARTED}},
            Checkpoint(backfill_done=False, backfill_after="v9", backfill_reconcile=True, backfill_started_at=STARTED),
        ),
        (
            {"backfill": {"done": True, "after": None}, "poll": {"updated_at": 5, "trash_at": 7}, "synced_at": STARTED},
            Checkpoint(backfill_done=True, poll_updated_at=5, poll_trash_at=7, synced_at=STARTED),
        ),
        ({"backfill": {"done": True}, "stream": {"resume_token": TOKEN}}, Checkpoint(True, resume_token=TOKEN)),
    ],
    ids=["empty", "backfilling", "polling", "streaming"],
)
def test_a_checkpoint_reads_the_stored_layout_and_writes_it_back(
    document: dict[str, Any], checkpoint: Checkpoint
) -> None:
    assert Checkpoint.from_document({"_id": "contacts", "lease": {"token": 3}, **document}) == checkpoint
    assert Checkpoint.from_document(checkpoint.to_document()) == checkpoint
    assert "lease" not in checkpoint.to_document()  # the lease's fields are never overwritten by a save
    assert ("synced_at" in checkpoint.to_document()) == (checkpoint.synced_at is not None)


def test_acknowledged_positions_advance_only_the_fields_they_carry() -> None:
    checkpoint = Checkpoint(backfill_done=True, poll_updated_at=5, poll_trash_at=7)
    moved = checkpoint.advanced(Position(poll_updated_at=9))
    assert (moved.poll_updated_at, moved.poll_trash_at, moved.backfill_done) == (9, 7, True)
    assert checkpoint.advanced(Position()) is checkpoint
    assert checkpoint.advanced(Position(backfill_after=None)).backfill_after is None


def test_positions_merge_in_order_and_an_empty_one_is_false() -> None:
    merged = Position(backfill_after="a", poll_trash_at=1).merged(Position(backfill_after="b"))
    assert merged == Position(backfill_after="b", poll_trash_at=1)
    assert not Position()
    assert Position(resume_token=None)  # a None token is a position too
