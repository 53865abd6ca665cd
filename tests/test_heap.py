"""The heap keeper (screens/heap.py): it collects and freezes only in pauses of the input, then walks only
what was made since; a full pass reclaims what was frozen and dropped; quitting unfreezes everything."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from tui_helpers import frozen_app, send_burst, settle

from screens.heap import FREEZE_SECONDS, FULL_IDLE_SECONDS, FULL_SECONDS, IDLE_SECONDS, HeapKeeper

PAUSE = IDLE_SECONDS + 0.01
"""A pause in the input just long enough (float sums of the exact one can fall short)."""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    """Leave the test process as it was found: nothing frozen."""
    yield
    gc.unfreeze()


def test_it_waits_for_a_pause_in_the_input() -> None:
    clock = Clock()
    keeper = HeapKeeper(clock)
    keeper.tick()
    assert keeper.quick_passes == 0  # the app just started: no pause yet
    clock.now += PAUSE
    keeper.tick()
    assert keeper.quick_passes == 1 and gc.get_freeze_count() > 0
    keeper.tick()
    assert keeper.quick_passes == 1  # nothing typed since: nothing to do
    keeper.touch()
    clock.now += IDLE_SECONDS / 2
    keeper.tick()
    assert keeper.quick_passes == 1  # still typing
    clock.now += PAUSE
    keeper.tick()
    assert keeper.quick_passes == 2


def test_without_input_it_still_freezes_now_and_then_and_runs_a_full_pass_rarely() -> None:
    clock = Clock()
    keeper = HeapKeeper(clock)
    clock.now += PAUSE
    keeper.tick()
    clock.now += FREEZE_SECONDS / 2
    keeper.tick()
    assert keeper.quick_passes == 1
    clock.now += FREEZE_SECONDS / 2
    keeper.tick()
    assert (keeper.quick_passes, keeper.full_passes) == (2, 0)
    clock.now += FULL_SECONDS
    keeper.touch()
    keeper.tick()
    assert keeper.full_passes == 0  # the input is not quiet
    clock.now += FULL_IDLE_SECONDS + 0.1
    keeper.tick()
    assert keeper.full_passes == 1


def test_a_frozen_cycle_dropped_later_is_reclaimed_by_the_full_pass() -> None:
    clock = Clock()
    keeper = HeapKeeper(clock)

    class Node:
        pass

    node = Node()
    node.me = node  # type: ignore[attr-defined]  # a cycle: only the collector frees it
    alive = weakref.ref(node)
    clock.now += PAUSE
    keeper.tick()
    del node
    gc.collect()
    assert alive() is not None  # frozen: the collections Python runs on its own do not walk it
    clock.now += FULL_SECONDS + FULL_IDLE_SECONDS
    keeper.tick()
    assert keeper.full_passes == 1 and alive() is None


async def test_the_app_collects_in_pauses_and_unfreezes_when_it_quits(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.pause(IDLE_SECONDS + 0.5)
        passes = app.heap.quick_passes
        assert passes >= 1 and gc.get_freeze_count() > 0
        send_burst(app, list("abc"))
        await pilot.pause(IDLE_SECONDS + 0.5)
        assert app.heap.quick_passes > passes
    assert gc.get_freeze_count() == 0
