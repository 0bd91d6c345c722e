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
  and other holes included, as Faust's gap tracking does) is acknowledged, so Faust commits it;
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

__all__ = ["BulkConsumer", "BulkTransport", "RecordEvent"]


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


BulkHandler = Callable[[Sequence[RecordEvent]], Awaitable[None]]


class BulkConsumer(faust_aiokafka.Consumer):
    """Faust's Kafka consumer, delivering the transport's bulk topics in batches (see the module)."""

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
        tps: dict[int, Any] = {}
        first: dict[Any, int] = {}  # tp -> first offset the next batch acknowledges
        events: list[RecordEvent] = []
        for tp, recs in parts:
            r_offset = read_offset.get(tp)
            if r_offset is not None:
                # below the last delivered offset: fetched before a seek took effect (Faust drops these)
                recs = [r for r in recs if r.offset >= r_offset]
                if not recs:
                    continue
            tps[tp.partition] = tp
            # from the last delivered offset on: holes in the log (transaction markers) are acknowledged
            first[tp] = recs[0].offset if r_offset is None else min(r_offset + 1, recs[0].offset)
            events.extend(map(RecordEvent, recs))
        size = self.transport.bulk_batch_size
        for start in range(0, len(events), size):
            if not self._may_deliver(generation_id):
                return  # unacknowledged: read again (positions) or redelivered after the rebalance
            batch = events[start : start + size]
            last: dict[int, int] = {}
            for ev in batch:
                last[ev.message.partition] = ev.message.offset
            done = {}
            for p, hi in last.items():
                tp = tps[p]
                done[tp] = (first[tp], hi)
                first[tp] = hi + 1
                # before the handler runs: a seek it makes (a rewind) must not be overwritten afterwards
                read_offset[tp] = hi
            await self._run(handler, batch, done)
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()

    async def _run(self, handler: BulkHandler, batch: list[RecordEvent], done: dict) -> None:
        tp0, (_, hi0) = next(iter(done.items()))
        sentinel = self._to_message(tp0, batch[-1].message)  # keeps wait_empty waiting for the batch
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
        on_message_out = self.app.sensors.on_message_out
        with ack_lock:
            sentinel.acked = True
            self._unacked_messages.discard(sentinel)
            for tp, (lo, hi) in done.items():
                committed = self._committed_offset.get(tp)
                if committed is not None:
                    lo = max(lo, committed)
                index = self._acked_index[tp]
                new = [o for o in range(lo, hi + 1) if o not in index]
                index.update(new)
                self._acked[tp].extend(new)
                self._n_acked += len(new)
                on_message_out(tp, hi, sentinel)
            notify(self._waiting_for_ack)


class BulkTransport(faust_aiokafka.Transport):
    """Faust's Kafka transport with a :class:`BulkConsumer`; ``bulk_handlers`` maps topic -> handler."""

    Consumer = BulkConsumer

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bulk_handlers: dict[str, BulkHandler] = {}
        self.bulk_batch_size = 8000
