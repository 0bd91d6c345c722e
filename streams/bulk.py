"""Bulk delivery: the events topic goes from each Kafka fetch to the video stage as whole batches.

Faust hands every message on its own through the consumer's fetch loop (two asyncio tasks per message),
the conductor, the stream's queue and ``take_events``; at a few thousand events a second that per-message
path is most of the worker's CPU, while the video stage itself works per batch. With
``stream.consumer=bulk`` the app's consumer takes the records of a *bulk topic* out of each fetch before
Faust's loop sees them and awaits the topic's handler on them, ``stream.bulk_batch_size`` records at a time.
Everything else stays Faust's: the consumer group and assignment, the tables, their changelogs and
recovery, the other topics' messages, offset commits.

What Faust's path does for a message, done here once per batch:

- *flow control*: nothing is delivered while Faust suspends the flow (rebalance, recovery) or after the
  consumer generation changed since the fetch; such records are dropped unacknowledged (the input
  positions stored with the state, :mod:`streams.positions`, find the gap and read them again);
- *wait for streams*: one message of each batch is tracked as unacknowledged, so a rebalance or a
  shutdown waits (``Consumer.wait_empty``) until the batch is through before it commits or revokes;
- *acknowledgement*: after the handler returned, every offset of the batch's range (transaction markers
  and other holes included, as Faust's gap tracking does) is acknowledged, so Faust commits it; kept as
  ranges, not one entry per offset, and turned into the offset to commit from them (``_new_offset``);
- *read offsets*: records below the last delivered offset are dropped and a handler's seek is honoured,
  as in Faust's fetch loop.

The handler runs in a task of its own, shielded: stopping the fetcher (shutdown) cannot cut a batch in
half; the shutdown waits for it like for any unacknowledged message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from time import monotonic
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

__all__ = ["Batch", "BulkConsumer", "BulkTransport", "RecordEvent"]


class RecordEvent:
    """What a batch stage reads of a Faust event, over a raw Kafka record: ``message``, ``key``, ``value``.

    ``message`` is the record itself (``topic``, ``partition``, ``offset``, ``timestamp``, ...).
    """

    __slots__ = ("message",)

    def __init__(self, record) -> None:
        self.message = record

    @property
    def key(self):
        return self.message.key

    @property
    def value(self):
        return self.message.value


class Batch(Sequence[RecordEvent]):
    """The records of a bulk topic handed to its handler, read as :class:`RecordEvent` s (made on access;
    ``records`` are the raw records, for stages that take a whole batch at once).

    ``at_end``: the last batch of its fetch, after which its partitions had nothing more to read (the
    reader is up to date, however old the events).
    """

    def __init__(self, records: list | None = None) -> None:
        self.records: list = records if records is not None else []
        self.at_end = False

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [RecordEvent(r) for r in self.records[i]]
        return RecordEvent(self.records[i])


BulkHandler = Callable[[Batch], Awaitable[None]]


class BulkConsumer(faust_aiokafka.Consumer):
    """Faust's Kafka consumer, delivering the transport's bulk topics in batches (see the module)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # tp -> acknowledged offsets of a bulk partition, as sorted, merged [lo, hi] ranges
        self._acked_ranges: dict[Any, list[list[int]]] = {}
        self._revoked: set = set()  # bulk partitions taken away: a batch finishing late acknowledges nothing

    def _may_deliver(self, generation_id: int) -> bool:
        app = self.app
        return (
            self.flow_active
            and app.flow_control.is_active()
            and not app.rebalancing
            and not app.in_recovery
            and app.consumer_generation_id == generation_id
            and not self.should_stop
        )

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        # the one place where a fetch's records are seen together: the bulk topics' records are taken out
        # and delivered here, the rest goes on to Faust's per-message loop
        generation_id = self.app.consumer_generation_id
        records, active = await super()._wait_next_records(timeout)
        handlers = self.transport.bulk_handlers
        if not records or not handlers:
            return records, active
        bulk: dict[str, list] = {}
        for tp in [tp for tp in records if tp.topic in handlers]:
            recs = records.pop(tp)
            if active is None or tp in active or tp in self._buffered_partitions:
                bulk.setdefault(tp.topic, []).append((tp, recs))
        for topic, parts in bulk.items():
            if not self._may_deliver(generation_id):
                break
            await self._deliver(handlers[topic], parts, generation_id)
        return records, active

    async def _deliver(self, handler: BulkHandler, parts: list[tuple[Any, list]], generation_id: int) -> None:
        """Hand ``parts`` (``(tp, records)`` of one topic) to ``handler`` in batches of the batch size."""
        read_offset = self._read_offset
        size = self.transport.bulk_batch_size
        batches: list[tuple[Batch, dict[Any, tuple[int, int]]]] = []  # with the offsets each acknowledges
        batch, done = Batch(), {}
        for tp, recs in parts:
            r_offset = read_offset.get(tp)
            if r_offset is not None and recs and recs[0].offset < r_offset:
                # below the last delivered offset: fetched before a seek took effect (Faust drops these)
                recs = recs[next((i for i, r in enumerate(recs) if r.offset >= r_offset), len(recs)) :]
            if not recs:
                continue
            # from the last delivered offset on: holes in the log (transaction markers) are acknowledged
            first = recs[0].offset if r_offset is None else min(r_offset + 1, recs[0].offset)
            at = 0
            while at < len(recs):
                chunk = recs[at : at + size - len(batch)]
                at += len(chunk)
                hi = chunk[-1].offset
                done[tp] = (first, hi)
                first = hi + 1
                batch.records.extend(chunk)
                if len(batch) >= size:
                    batches.append((batch, done))
                    batch, done = Batch(), {}
        if batch:
            batches.append((batch, done))
        if batches:
            batches[-1][0].at_end = self._at_end(parts)
        for batch, done in batches:
            if not await self._deliver_batch(handler, batch, done, generation_id):
                return

    def _at_end(self, parts: list[tuple[Any, list]]) -> bool:
        """Whether every assigned partition of the topic of ``parts`` has nothing more to read after them."""
        last = {tp: recs[-1].offset for tp, recs in parts if recs}
        try:
            topic = next(iter(last)).topic
            assigned = [tp for tp in self.assignment() if tp.topic == topic]
            highwaters = {tp: self.highwater(tp) for tp in assigned}
        except Exception:  # noqa: BLE001 - unknown: not at the end
            return False
        for tp, highwater in highwaters.items():
            done = last.get(tp, self._read_offset.get(tp))
            if done is None and self._committed_offset.get(tp) is not None:
                done = self._committed_offset[tp] - 1  # nothing read since the start: read up to the commit
            if highwater is None or done is None or done + 1 < highwater:
                return False
        return True

    async def _deliver_batch(self, handler: BulkHandler, batch: Batch, done: dict, generation: int) -> bool:
        if not self._may_deliver(generation):
            return False  # unacknowledged: read again (positions) or redelivered after the rebalance
        for tp, (_, hi) in done.items():
            # before the handler runs: a seek it makes (a rewind) must not be overwritten afterwards
            self._read_offset[tp] = hi
        await self._run(handler, batch, done)
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()
        return True

    async def _run(self, handler: BulkHandler, batch: Batch, done: dict) -> None:
        tp0, (_, hi0) = next(iter(done.items()))
        sentinel = self._to_message(tp0, batch.records[-1])  # keeps wait_empty waiting for the batch
        self._unacked_messages.add(sentinel)
        monitor = self.app.monitor
        now = monotonic()
        for tp, (_, offset) in done.items():
            self._on_message_in(tp, offset, sentinel)
            if monitor is not None:
                monitor.stream_inbound_time[tp] = now

        async def run() -> None:
            try:
                await handler(batch)
            except BaseException:
                # not acknowledged: the batch is read again; only the shutdown must not wait for it
                self._ack_ranges({}, sentinel)
                raise
            self._ack_ranges(done, sentinel)

        # shielded: a stopping fetcher must not cut the batch in half; the batch acknowledges itself
        await asyncio.shield(asyncio.ensure_future(run()))

    def _ack_ranges(self, done: dict, sentinel) -> None:
        # Faust keeps every acknowledged offset in a list and finds the committable one by walking it
        # (~0.5 us an offset); a bulk partition keeps merged ranges instead (``_new_offset``)
        on_message_out = self.app.sensors.on_message_out
        with ack_lock:
            sentinel.acked = True
            self._unacked_messages.discard(sentinel)
            for tp, (lo, hi) in done.items():
                if tp in self._revoked:
                    continue  # its new owner reads it from the committed offset; positions tell what counted
                committed = self._committed_offset.get(tp)
                if committed is not None:
                    lo = max(lo, committed)
                if lo <= hi:
                    self._n_acked += _add_range(self._acked_ranges.setdefault(tp, []), lo, hi)
                    self._acked.setdefault(tp, [])  # lists tp among those Faust's commit asks for an offset
                on_message_out(tp, hi, sentinel)
            notify(self._waiting_for_ack)

    def _new_offset(self, tp) -> int | None:
        ranges = self._acked_ranges.get(tp)
        if ranges is None:
            return super()._new_offset(tp)
        if not ranges:
            return None
        committed = self._committed_offset[tp]
        if committed and ranges[0][0] - committed > 1:
            return None  # a hole at the head: as Faust's, nothing to commit yet
        return ranges.pop(0)[1] + 1

    async def on_partitions_revoked(self, revoked) -> None:
        for tp in revoked:
            self._acked_ranges.pop(tp, None)
        self._revoked.update(revoked)
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned, generation_id: int = 0) -> None:
        self._revoked.difference_update(assigned)
        await super().on_partitions_assigned(assigned, generation_id)


def _add_range(ranges: list[list[int]], lo: int, hi: int) -> int:
    """Add ``[lo, hi]`` to sorted, merged ``ranges``; returns how many offsets are new."""
    if not ranges or lo > ranges[-1][1] + 1:
        ranges.append([lo, hi])  # after everything acknowledged so far, with a hole between
        return hi - lo + 1
    last = ranges[-1]
    if lo >= last[0]:  # the usual case: next to (or over) the last range only
        new = max(0, hi - last[1])
        last[1] += new
        return new
    before = sum(h - lo_ + 1 for lo_, h in ranges)
    merged: list[list[int]] = []
    for r in sorted([*ranges, [lo, hi]]):
        if merged and r[0] <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], r[1])
        else:
            merged.append(list(r))
    ranges[:] = merged
    return sum(h - lo_ + 1 for lo_, h in ranges) - before


class BulkTransport(faust_aiokafka.Transport):
    """Faust's Kafka transport with a :class:`BulkConsumer`; ``bulk_handlers`` maps topic -> handler."""

    Consumer = BulkConsumer

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bulk_handlers: dict[str, BulkHandler] = {}
        self.bulk_batch_size = 8000
