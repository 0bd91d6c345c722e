import pytest

from streams.counts import COUNTED, DUPLICATE, apply_event, new_record
from streams.dedup import EventWindow
from streams.events import Click, Exposure, VideoPublished


def _apply(rec, ev, offset, partition=0, window=None, half_life=None):
    seen = window.seen_before if window is not None else None
    return apply_event(rec, ev, partition=partition, offset=offset, seen_before=seen, half_life_s=half_life)


def test_counts_fence_and_window_by_hand():
    rec = new_record()
    window = EventWindow(size=4, chunk=2)
    assert _apply(rec, VideoPublished("p1", 7, "t", (), 1.7e9), 0, window=window) == COUNTED
    assert _apply(rec, Exposure("x1", 1, 7, 1.7e9), 1, window=window) == COUNTED
    assert _apply(rec, Click("c1", 1, 7, 1.7e9), 2, window=window) == COUNTED
    assert rec[:2] == [1, 1]
    # redelivery after a crash: same offsets
    assert _apply(rec, Exposure("x1", 1, 7, 1.7e9), 1, window=window) == DUPLICATE
    assert _apply(rec, Click("c1", 1, 7, 1.7e9), 2, window=window) == DUPLICATE
    # a producer resent an event: new offset, same id
    assert _apply(rec, Exposure("x1", 1, 7, 1.7e9), 10, window=window) == DUPLICATE
    assert rec[:2] == [1, 1]
    # the same offset on another partition is another event; windows are per partition
    assert _apply(rec, Exposure("x2", 1, 7, 1.7e9), 2, partition=1, window=window) == COUNTED
    # without a window only the fence drops events
    assert _apply(rec, Exposure("x2", 1, 7, 1.7e9), 3, partition=1) == COUNTED
    assert rec[:2] == [3, 1]


def test_decay_in_event_time():
    h = 100.0
    rec = new_record()
    _apply(rec, Exposure("a", 1, 7, 1000.0), 0, half_life=h)
    _apply(rec, Click("b", 1, 7, 1000.0), 1, half_life=h)
    _apply(rec, Exposure("c", 1, 7, 1100.0), 2, half_life=h)  # one half-life later
    assert rec[0] == pytest.approx(1.5) and rec[1] == pytest.approx(0.5)
    _apply(rec, Exposure("d", 1, 7, 1000.0), 3, half_life=h)  # late event: added with its weight
    assert rec[0] == pytest.approx(2.0) and rec[2] == 1100.0
