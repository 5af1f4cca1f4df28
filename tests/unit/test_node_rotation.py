"""Which node the lookup's client asks next: the turn, the first node, and the back-off of a node set aside, all
through the time passed in."""

from __future__ import annotations

import pytest

from service.lookup.node_rotation import LONGEST_PAUSE, NodeRotation, pause_after


def test_each_request_starts_at_the_next_node_from_the_first_one() -> None:
    rotation = NodeRotation(3, first=1)
    assert [rotation.order(now=0.0) for _ in range(4)] == [[1, 2, 0], [2, 0, 1], [0, 1, 2], [1, 2, 0]]


def test_the_first_node_is_random_per_process_and_always_a_node() -> None:
    firsts = {NodeRotation(4).order(now=0.0)[0] for _ in range(200)}
    assert firsts == {0, 1, 2, 3}  # 200 draws miss one of 4 nodes with a chance below 1e-24


@pytest.mark.parametrize(("failures", "pause"), [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (40, 30.0)])
def test_a_node_is_set_aside_1_2_4_seconds_up_to_30(failures: int, pause: float) -> None:
    assert pause_after(failures) == pause == min(LONGEST_PAUSE, pause)


def test_a_node_set_aside_is_tried_last_until_its_pause_ends_then_in_turn_again() -> None:
    rotation = NodeRotation(3, first=0)
    rotation.failed(0, now=100.0)  # set aside until 101
    assert rotation.back_at(0) == 101.0
    assert rotation.order(now=100.5) == [1, 2, 0]  # its turn, but it is set aside
    assert rotation.order(now=100.5) == [1, 2, 0]
    assert rotation.order(now=101.0) == [2, 0, 1]  # back in turn once the pause is over


def test_failures_in_a_row_double_the_pause_and_a_success_forgets_them() -> None:
    rotation = NodeRotation(2, first=0)
    for now, back_at in ((10.0, 11.0), (11.0, 13.0), (13.0, 17.0)):
        rotation.failed(1, now=now)
        assert rotation.back_at(1) == back_at
    rotation.succeeded(1)
    assert rotation.back_at(1) == 0.0
    rotation.failed(1, now=20.0)
    assert rotation.back_at(1) == 21.0


def test_every_node_set_aside_is_still_tried_the_soonest_back_first() -> None:
    rotation = NodeRotation(3, first=0)
    rotation.failed(0, now=0.0)
    rotation.failed(0, now=0.0)  # back at 2
    rotation.failed(1, now=0.0)  # back at 1
    rotation.failed(2, now=0.0)
    rotation.failed(2, now=0.0)
    rotation.failed(2, now=0.0)  # back at 4
    assert rotation.order(now=0.5) == [1, 0, 2]


def test_a_cluster_has_a_node() -> None:
    with pytest.raises(ValueError, match="at least one node"):
        NodeRotation(0)
