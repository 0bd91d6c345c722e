import random

import numpy as np
import pytest

from streams import counts
from streams.counts import COUNTED, DUPLICATE, apply_event, new_record
from streams.dedup import EventWindow
from streams.event_ids import event_hash
from streams.events import CLICK, EXPOSURE, PUBLISHED, Click, EventColumns, Exposure, VideoPublished

KIND = {Exposure: EXPOSURE, Click: CLICK, VideoPublished: PUBLISHED}


def _apply(rec, ev, offset, partition=0, window=None, half_life=None):
    seen = window.seen_before if window is not None else None
    return apply_event(
        rec, KIND[type(ev)], ev.ts, event_hash(ev.event_id), partition=partition, offset=offset,
        seen_before=seen, half_life_s=half_life,
    )  # fmt: skip


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


def _columns(rows):
    """EventColumns of ``(kind, video, user, ts, id)`` rows."""
    return EventColumns(
        rows=np.arange(len(rows)),
        kind=np.array([r[0] for r in rows], np.int8),
        video=np.array([r[1] for r in rows], np.int64),
        user=np.array([r[2] for r in rows], np.int64),
        ts=np.array([r[3] for r in rows], np.float64),
        hash=np.array([event_hash(r[4]) for r in rows], np.int64),
        published={},
    )


def _batches(seed):
    """Batches of events over 4 partitions; half of them odd: resent ids, redeliveries, moved videos."""
    rng = random.Random(seed)
    offsets = [0] * 4
    for b in range(30):
        rows, parts, offs = [], [], []
        odd = rng.random() < 0.5
        for _ in range(rng.randrange(1, 60)):
            v = rng.randrange(12)
            p = (v + 1) % 4 if odd and rng.random() < 0.02 else v % 4
            kind = rng.choice([EXPOSURE, EXPOSURE, CLICK, PUBLISHED])
            ident = f"e{rng.randrange(400)}" if odd and rng.random() < 0.1 else f"b{b}:{len(rows)}"
            back = odd and rng.random() < 0.05 and offsets[p] > 4
            offset = offsets[p] - rng.randrange(1, 5) if back else offsets[p]
            offsets[p] = max(offsets[p], offset + 1)
            rows.append((kind, v, 1, 1.7e9 + b, ident))
            parts.append(p)
            offs.append(offset)
        yield _columns(rows), np.array(parts), np.array(offs)


@pytest.mark.parametrize("seed", range(6))
def test_count_batch_at_once_is_event_by_event(seed, monkeypatch):
    at_once = ({}, EventWindow(size=50, chunk=8))
    each = ({}, EventWindow(size=50, chunk=8))
    fast = 0
    for events, partitions, offsets in _batches(seed):
        records, window = at_once
        done = counts._count_at_once(records, events, partitions, offsets, window)
        if done is None:
            done = counts._count_each(records, events, partitions, offsets, window, None)
        else:
            fast += 1
        records.update(done.records)
        want = counts._count_each(each[0], events, partitions, offsets, each[1], None)
        each[0].update(want.records)
        assert done.records == want.records
        assert done.counted.tolist() == want.counted.tolist()
        assert sorted(at_once[1].records()) == sorted(each[1].records())
    assert fast > 5  # most batches are counted at once


def test_count_batch_by_hand():
    window = EventWindow(size=10)
    events = _columns([(EXPOSURE, 7, 1, 1.7e9, "a"), (CLICK, 7, 1, 1.7e9, "b"), (EXPOSURE, 8, 1, 1.7e9, "c")])
    stored = {7: (5, 1, None, 0, 9)}  # offsets up to 9 of partition 0 are counted
    done = counts.count_batch(stored, events, np.array([0, 0, 1]), np.array([9, 10, 3]), window=window)
    assert done.records == {7: (5, 2, None, 0, 10), 8: (1, 0, None, 1, 3)}
    assert done.counted.tolist() == [False, True, True]
    assert stored == {7: (5, 1, None, 0, 9)}


def test_count_batch_adds_to_float_counts_one_event_at_a_time():
    # counts left as floats by decay (since turned off) round at every addition, as apply_event adds them
    stored = {7: (7.07353061709981, 0.5, 1.7e9, 0, 5)}
    events = _columns([(EXPOSURE, 7, 1, 1.7e9, f"x{i}") for i in range(31)])
    partitions, offsets = np.zeros(31, np.int64), np.arange(10, 41)
    at_once = counts._count_at_once(stored, events, partitions, offsets, EventWindow(size=100))
    each = counts._count_each(stored, events, partitions, offsets, EventWindow(size=100), None)
    assert at_once is not None and at_once.records == each.records
