import random

from streams.dedup import EventWindow, is_window_key
from streams.event_ids import event_hash as _h


def _ids(n, start=0):
    return [f"e{i}" for i in range(start, start + n)]


def test_window_remembers_at_least_size_and_at_most_size_plus_chunk():
    w = EventWindow(size=4, chunk=2)
    assert [w.seen_before(0, _h(e)) for e in _ids(3)] == [False] * 3
    assert w.seen_before(0, _h("e0")) and w.seen_before(0, _h("e2"))
    for e in _ids(10, 3):  # e3..e12
        assert not w.seen_before(0, _h(e))
    # 13 ids in chunks of 2: closed [e8 e9] [e10 e11] hold the window, e12 is open; e7 and older forgotten
    assert all(w.seen_before(0, _h(e)) for e in _ids(5, 8))
    assert not w.seen_before(0, _h("e7"))
    # partitions do not share a window
    assert not w.seen_before(1, _h("e10"))


def test_window_off():
    w = EventWindow(size=0)
    assert not w.seen_before(0, _h("a")) and not w.seen_before(0, _h("a"))
    assert list(w.records()) == []


def _save(w, store):
    for p, key, value in w.records():
        assert is_window_key(key) and key.startswith(f"w/{p}/")
        store[key] = value


def test_records_round_trip_through_load_like_a_changelog():
    rng = random.Random(0)
    w = EventWindow(size=50, chunk=8)
    store: dict = {}
    events = [(rng.randrange(3), f"id{i}") for i in range(1000)]
    for i in range(0, len(events), 37):  # batches
        for p, e in events[i : i + 37]:
            w.seen_before(p, _h(e))
        _save(w, store)
    # the ring of slots keeps the changelog bounded
    assert len(store) <= 3 * w.slots
    back = EventWindow(size=50, chunk=8)
    back.load(list(store.items()) + [(5, [1, 2, 3, 4, 5]), (-1, 17)], None)  # state and position keys
    for p in range(3):
        recent = [e for q, e in events if q == p][-50:]
        assert all(back.seen_before(p, _h(e)) for e in recent)
    assert len(back) == len(w)
    # only the partitions asked for
    part = EventWindow(size=50, chunk=8)
    part.load(list(store.items()), {1})
    assert not part.seen_before(0, _h(events[-1][1] if events[-1][0] == 0 else "x"))
    assert all(part.seen_before(1, _h(e)) for e in [e for q, e in events if q == 1][-50:])


def test_load_continues_the_ring_where_it_stopped():
    w = EventWindow(size=6, chunk=2)
    store: dict = {}
    for e in _ids(40):
        w.seen_before(0, _h(e))
        _save(w, store)
    back = EventWindow(size=6, chunk=2)
    back.load(list(store.items()), None)
    for e in _ids(40, 40):  # goes on writing slots after the recovered ones
        back.seen_before(0, _h(e))
        _save(back, store)
    again = EventWindow(size=6, chunk=2)
    again.load(list(store.items()), None)
    assert all(again.seen_before(0, _h(e)) for e in _ids(6, 74))
    assert not again.seen_before(0, _h("e60"))


def test_remember_all_is_seen_before_of_each_id_or_changes_nothing():
    one, many = EventWindow(size=40, chunk=8), EventWindow(size=40, chunk=8)
    ids = [_h(f"e{i}") for i in range(300)]
    rng = random.Random(3)
    at = 0
    while at < len(ids):
        batch = ids[at : at + rng.randrange(1, 30)]
        at += len(batch)
        assert many.remember_all({0: batch[::2], 1: batch[1::2]})
        assert not any(one.seen_before(i % 2, h) for i, h in enumerate(batch))
        assert sorted(many.records()) == sorted(one.records())
        assert len(many) == len(one)
    before = len(many)
    assert not many.remember_all({1: [_h("new")], 0: [batch[0]]})  # seen lately
    assert not many.remember_all({1: [_h("x"), _h("y")], 0: [_h("z"), _h("z")]})  # twice in the batch
    assert len(many) == before  # nothing changed
    assert many.remember_all({1: [_h("new"), _h("x"), _h("y")], 0: [_h("z")]})
    assert many.remember_all({0: ids[:100]})  # forgotten long ago: new again
