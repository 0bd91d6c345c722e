"""Input positions stored with the state: skip what the state holds, rewind once when commits ran ahead."""

import asyncio
import random

import numpy as np
import pytest

from streams.positions import Positions, position_key, state_items


def _run(coro):
    return asyncio.run(coro)


class _Seeks:
    def __init__(self):
        self.calls = []

    async def __call__(self, partition, offset):
        self.calls.append((partition, offset))


def _admitted(pos, events):
    taken = [(p, o) for p, o in events if pos.admit(p, o)]
    _run(pos.seek_pending())
    return taken


def test_position_records_are_negative_keys_and_left_out_of_state():
    items = [(7, "a"), (position_key(0), 10), (position_key(3), 4), ("w/0/1", [1, ""]), (0, "b")]
    assert position_key(0) == -1 and position_key(3) == -4
    assert list(state_items(items)) == [(7, "a"), (0, "b")]


def test_redelivered_events_before_the_position_are_skipped():
    seeks = _Seeks()
    pos = Positions(seek=seeks)
    pos.load([(position_key(0), 10)], {0, 1})
    got = _admitted(pos, [(0, 8), (0, 9), (0, 10), (0, 11), (1, 0), (1, 1)])
    assert got == [(0, 10), (0, 11), (1, 0), (1, 1)]
    assert seeks.calls == [] and pos.skipped == 2


def test_commits_ahead_of_the_state_rewind_once_and_drop_stale_fetches():
    seeks = _Seeks()
    pos = Positions(seek=seeks)
    pos.load([(position_key(2), 100)], {2})
    # the consumer resumed at 120 (committed beyond the state): 120..122 were fetched before the seek
    got = _admitted(pos, [(2, 120), (2, 121), (2, 122), (2, 100), (2, 101), (2, 102)])
    assert seeks.calls == [(2, 100)]
    assert got == [(2, 100), (2, 101), (2, 102)]
    assert pos.rewinds == 1


def test_a_real_gap_is_accepted_after_one_rewind():
    seeks = _Seeks()
    pos = Positions(seek=seeks)
    pos.load([(position_key(0), 5)], {0})
    # offsets 5..49 are gone from the log (retention): after the seek the log starts at 50
    got = _admitted(pos, [(0, 50), (0, 51), (0, 50), (0, 51), (0, 52)])
    assert seeks.calls == [(0, 5)]
    assert got == [(0, 50), (0, 51), (0, 52)]


def test_events_of_partitions_not_owned_are_dropped():
    pos = Positions(seek=_Seeks())
    pos.load([], {1})
    assert _admitted(pos, [(0, 0), (1, 0), (3, 7)]) == [(1, 0)]


def test_an_owned_partition_without_a_record_starts_at_zero():
    seeks = _Seeks()
    pos = Positions(seek=seeks)
    pos.load([], {2})
    # the first 345 events were skipped before they reached the stage
    assert _admitted(pos, [(2, 345), (2, 346), (2, 0), (2, 1)]) == [(2, 0), (2, 1)]
    assert seeks.calls == [(2, 0)]


def test_a_gap_in_the_middle_rewinds_once_and_moved_reports_new_positions():
    seeks = _Seeks()
    pos = Positions(seek=seeks)
    pos.load([], None)
    got = _admitted(pos, [(0, 0), (0, 1), (0, 5), (0, 6), (0, 2), (0, 3), (0, 4), (0, 5)])
    assert got == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]
    assert seeks.calls == [(0, 2)]
    assert pos.moved() == {0: 6} and pos.moved() == {}


def test_without_gap_checks_only_the_start_of_an_assignment_rewinds():
    seeks = _Seeks()
    pos = Positions(seek=seeks, gaps=False)
    pos.load([(position_key(0), 3)], {0})
    got = _admitted(pos, [(0, 3), (0, 5), (0, 7)])  # transaction markers at 4 and 6
    assert got == [(0, 3), (0, 5), (0, 7)] and seeks.calls == []


def test_a_rewind_is_retried_until_its_first_re_read_event_arrives():
    seeks = _Seeks()
    pos = Positions(seek=seeks)
    pos.load([(position_key(1), 4)], {1})
    assert _admitted(pos, [(1, 9), (1, 10)]) == []
    _run(pos.retry_rewinds())
    assert seeks.calls == [(1, 4), (1, 4)]
    assert _admitted(pos, [(1, 4)]) == [(1, 4)]
    _run(pos.retry_rewinds())
    assert seeks.calls == [(1, 4), (1, 4)]


def test_stalled_partitions_rewind_to_their_position_once_per_position():
    seeks = _Seeks()
    pos = Positions(seek=seeks)
    pos.load([(position_key(0), 10)], {0, 1})  # 1 has no record: its events count from offset 0
    _run(pos.rewind_stalled([0, 1]))
    _run(pos.rewind_stalled([0, 1]))  # the same positions again: a real gap, left alone
    assert seeks.calls == [(0, 10), (1, 0)] and pos.rewinds == 2
    assert _admitted(pos, [(0, 10), (1, 0)]) == [(0, 10), (1, 0)]
    _run(pos.rewind_stalled([0]))  # a new position: may rewind again
    assert seeks.calls[-1] == (0, 11)


def _state(pos):
    return (pos.next, pos._checked, pos._rewinding, pos._rewound_at, pos._moved, pos._pending, pos.skipped)


@pytest.mark.parametrize("seed", range(8))
def test_admit_batch_is_admit_of_every_event(seed):
    rng = random.Random(seed)
    one, many = (Positions(seek=_Seeks(), gaps=seed % 2 == 0) for _ in range(2))
    stored = [(position_key(0), 5), (position_key(2), 3)]
    for pos in (one, many):
        pos.load(stored, {0, 1, 2} if seed % 3 else None)
    ahead = {p: 0 for p in range(4)}
    for _ in range(40):
        batch = []
        for _ in range(rng.randrange(1, 30)):
            p = rng.randrange(4)
            r = rng.random()
            offset = ahead[p] + (rng.randrange(1, 4) if r < 0.05 else -rng.randrange(1, 6) if r < 0.1 else 0)
            ahead[p] = max(ahead[p], offset + 1)
            batch.append((p, max(offset, 0)))
        want = [one.admit(p, o) for p, o in batch]
        got = many.admit_batch(np.array([p for p, _ in batch]), np.array([o for _, o in batch]))
        assert got.tolist() == want
        assert _state(many) == _state(one)
