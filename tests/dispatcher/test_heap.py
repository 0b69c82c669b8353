"""What settling a started service's heap does to the garbage collector
(``dispatcher/heap.py``): startup objects stop being walked, later garbage is still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from dispatcher import heap


class Node:
    """A cycle's member: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The test process's collector as it was: nothing stays frozen after the test."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_is_alive_and_raises_the_young_threshold(restored_gc: None) -> None:
    alive = Node()
    frozen = heap.settle()
    assert frozen == gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    # A frozen cycle is never collected, even when nothing refers to it any more.
    gone = weakref.ref(alive)
    del alive
    gc.collect()
    assert gone() is not None


def test_cycles_made_after_settling_are_still_freed(restored_gc: None) -> None:
    heap.settle()
    later = Node()
    gone = weakref.ref(later)
    del later
    gc.collect()
    assert gone() is None


def test_garbage_of_the_start_is_collected_before_the_freeze(restored_gc: None) -> None:
    dropped = Node()
    gone = weakref.ref(dropped)
    del dropped
    heap.settle()
    assert gone() is None
