"""streams.bulk: a fetch's records of a bulk topic go to its handler in batches, with Faust's bookkeeping.

No broker: a real Faust app and consumer, whose fetch (``_getmany``) returns the records a test gives it.
"""

from __future__ import annotations

import asyncio

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams.bulk import BulkTransport, _add_range

EVENTS, OTHER = "ev", "other"


def record(partition: int, offset: int, topic: str = EVENTS) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"v%d" % offset, None, 1, 2, ())


class Fetch:
    """A bulk consumer over a fake fetch; ``batches`` are the offsets each handler call got."""

    def __init__(self, *, batch_size: int = 8000) -> None:
        self.app = faust.App("bulk-test", broker="kafka://127.0.0.1:1", web_enabled=False)
        self.app.flow_control.resume()
        transport = BulkTransport(self.app.conf.broker_consumer, self.app)
        transport.bulk_batch_size = batch_size
        transport.bulk_handlers[EVENTS] = self.handle

        async def nothing(*args, **kwargs) -> None:
            return None

        self.consumer = transport.create_consumer(
            callback=nothing, on_partitions_revoked=nothing, on_partitions_assigned=nothing
        )
        self.records: dict = {}
        self.consumer._getmany = self._getmany
        self.consumer._active_partitions = {TP(EVENTS, 0), TP(EVENTS, 1), TP(OTHER, 0)}
        self.batches: list[list[tuple[int, int]]] = []
        self.unacked_during: list[int] = []
        self.fail = False
        self.during_fetch = lambda: None

    async def _getmany(self, active_partitions, timeout):
        self.during_fetch()
        records, self.records = self.records, {}
        return records

    async def handle(self, events) -> None:
        self.unacked_during.append(len(self.consumer._unacked_messages))
        self.batches.append([(e.message.partition, e.message.offset) for e in events])
        assert all(e.value == b"v%d" % e.message.offset and e.key == b"k" for e in events)
        if self.fail:
            raise RuntimeError("batch failed")

    async def fetch(self, records: dict) -> dict:
        self.records = records
        rest, _ = await self.consumer._wait_next_records(1.0)
        return rest

    def acked(self, partition: int) -> list[int]:
        ranges = self.consumer._acked_ranges.get(TP(EVENTS, partition), [])
        return [o for lo, hi in ranges for o in range(lo, hi + 1)]


def test_bulk_topic_goes_in_batches_and_every_offset_of_its_range_is_acknowledged():
    f = Fetch(batch_size=3)
    other = [record(0, 0, OTHER)]
    rest = asyncio.run(
        f.fetch(
            {
                TP(EVENTS, 0): [record(0, o) for o in (5, 6, 8, 9)],  # 7: a transaction marker
                TP(EVENTS, 1): [record(1, 0)],
                TP(OTHER, 0): other,
            }
        )
    )
    assert rest == {TP(OTHER, 0): other}  # Faust's own loop takes the rest
    assert f.batches == [[(0, 5), (0, 6), (0, 8)], [(0, 9), (1, 0)]]
    assert f.acked(0) == [5, 6, 7, 8, 9]
    assert f.acked(1) == [0]
    assert f.consumer._read_offset[TP(EVENTS, 0)] == 9
    assert f.unacked_during == [1, 1]  # a rebalance's wait_empty waits for a running batch
    assert not f.consumer._unacked_messages


def test_records_below_the_read_offset_are_dropped_and_the_range_starts_after_it():
    f = Fetch()
    f.consumer._read_offset[TP(EVENTS, 0)] = 10  # e.g. the last delivered offset, or a seek's target
    asyncio.run(f.fetch({TP(EVENTS, 0): [record(0, o) for o in (8, 9, 10, 13)]}))
    assert f.batches == [[(0, 10), (0, 13)]]
    assert f.acked(0) == [10, 11, 12, 13]


def test_committed_offsets_are_not_acknowledged_again():
    f = Fetch()
    f.consumer._committed_offset[TP(EVENTS, 0)] = 3
    asyncio.run(f.fetch({TP(EVENTS, 0): [record(0, o) for o in range(0, 5)]}))
    assert f.acked(0) == [3, 4]


@pytest.mark.parametrize(
    "stop", ["flow", "flow_control", "rebalancing", "recovery", "generation", "inactive"]
)
def test_nothing_is_delivered_or_acknowledged_while_faust_holds_the_flow(stop):
    f = Fetch()
    c, app = f.consumer, f.app

    def hold() -> None:  # Faust stops the flow while the fetch is out
        if stop == "flow":
            c.stop_flow()
        elif stop == "flow_control":
            app.flow_control.suspend()
        elif stop == "rebalancing":
            app.rebalancing = True
        elif stop == "recovery":
            app.in_recovery = True
        elif stop == "generation":
            app.consumer_generation_id += 1
        else:
            c._active_partitions.discard(TP(EVENTS, 0))

    f.during_fetch = hold
    asyncio.run(f.fetch({TP(EVENTS, 0): [record(0, 0), record(0, 1)]}))
    assert f.batches == []
    assert f.acked(0) == []


def test_a_generation_change_during_a_fetch_drops_the_rest_unacknowledged():
    f = Fetch(batch_size=1)

    async def handle(events) -> None:
        f.batches.append([(e.message.partition, e.message.offset) for e in events])
        f.app.consumer_generation_id += 1  # a rebalance began while the batch ran

    f.consumer.transport.bulk_handlers[EVENTS] = handle
    asyncio.run(f.fetch({TP(EVENTS, 0): [record(0, 0), record(0, 1)]}))
    assert f.batches == [[(0, 0)]]
    assert f.acked(0) == [0]
    assert f.consumer._read_offset[TP(EVENTS, 0)] == 0  # offset 1 is fetched again, not skipped


def test_a_failed_batch_is_not_acknowledged_and_does_not_hold_up_a_shutdown():
    f = Fetch()
    f.fail = True
    with pytest.raises(RuntimeError, match="batch failed"):
        asyncio.run(f.fetch({TP(EVENTS, 0): [record(0, 0), record(0, 1)]}))
    assert f.acked(0) == []
    assert not f.consumer._unacked_messages


def test_acknowledged_ranges_merge_and_commit_up_to_the_first_hole():
    f = Fetch()
    c, tp = f.consumer, TP(EVENTS, 0)
    ranges: list = []
    assert [_add_range(ranges, lo, hi) for lo, hi in [(0, 4), (5, 9), (20, 29), (12, 15), (8, 13)]] == [
        5,
        5,
        10,
        4,
        2,
    ]
    assert ranges == [[0, 15], [20, 29]]
    c._acked_ranges[tp] = ranges
    c._committed_offset[tp] = None
    assert c._new_offset(tp) == 16  # then the hole at 16..19 holds the rest back
    c._committed_offset[tp] = 16
    assert c._new_offset(tp) is None and ranges == [[20, 29]]
    asyncio.run(c.on_partitions_revoked({tp}))
    assert tp not in c._acked_ranges


def test_the_last_batch_of_a_fetch_that_reaches_the_highwater_is_at_the_end(monkeypatch):
    f = Fetch(batch_size=2)
    got = []

    async def handle(events) -> None:
        got.append((len(events), events.at_end))

    f.consumer.transport.bulk_handlers[EVENTS] = handle
    highwater = {TP(EVENTS, 0): 3, TP(EVENTS, 1): 1, TP(EVENTS, 2): 7}
    assigned = {TP(EVENTS, 0), TP(EVENTS, 1), TP(OTHER, 0)}
    monkeypatch.setattr(f.consumer, "highwater", lambda tp: highwater[tp])
    monkeypatch.setattr(f.consumer, "assignment", lambda: assigned)
    asyncio.run(f.fetch({TP(EVENTS, 0): [record(0, o) for o in range(3)], TP(EVENTS, 1): [record(1, 0)]}))
    assert got == [(2, False), (2, True)]
    highwater[TP(EVENTS, 1)] = 5  # partition 1 has more to read
    asyncio.run(f.fetch({TP(EVENTS, 1): [record(1, 1)]}))
    assert got[-1] == (1, False)
    asyncio.run(f.fetch({TP(EVENTS, 1): [record(1, o) for o in range(2, 5)]}))
    assert got[-1] == (1, True)  # partition 0, not in this fetch, was read to its end before
    assigned.add(TP(EVENTS, 2))  # a partition with events never read, committed at 5 of 7
    f.consumer._committed_offset[TP(EVENTS, 2)] = 5
    highwater[TP(EVENTS, 1)] = 6
    asyncio.run(f.fetch({TP(EVENTS, 1): [record(1, 5)]}))
    assert got[-1] == (1, False)


def test_a_batch_that_ends_after_its_partition_was_revoked_acknowledges_nothing():
    f = Fetch()
    tp = TP(EVENTS, 0)

    async def handle(events) -> None:
        await f.consumer.on_partitions_revoked({tp})  # a rebalance took the partition meanwhile

    f.consumer.transport.bulk_handlers[EVENTS] = handle
    asyncio.run(f.fetch({tp: [record(0, 0), record(0, 1)]}))
    assert f.acked(0) == [] and tp not in f.consumer._acked_ranges
