"""The video stage: validated events -> exact per-video counts -> partition candidates -> topic queues.

One batch (``stream.take_events``, or a bulk fetch: :mod:`streams.bulk`) of the video-keyed events topic:

1. the input positions decide which records to take (:meth:`streams.positions.Positions.admit_batch`);
   they are parsed together (:func:`streams.events.parse_batch`: columns, not an object per event);
   rejects go to the dead-letter topic;
2. exposures and clicks are counted into the stage's copy of the ``video_counts`` table
   (:func:`streams.counts.count_batch`: offset fence against redelivery, the partition's event-id window
   (:mod:`streams.dedup`) against resent events, optional decay; one step per video when the order of
   the events cannot matter, else event by event);
3. published videos get topics (:class:`streams.topics.TopicResolver`: topic model, batched, pushed to
   Feast; else the topics file / Feast);
4. clicks go to the user stage, repartitioned by user (:mod:`streams.users`).

Then the writes (:meth:`VideoStage.flush`): after every batch while the stage is up to date, once per
``stream.catch_up_flush_s`` for all the batches of that time while it is behind (:mod:`streams.flush`):

1. every changed record, then the window's changed chunks, then the input positions go to the table's
   changelog on the partition of their events;
2. every changed video gets its place in each of its topics (ranked, fresh or removed) under the prior of
   the current epoch; what moved goes to Redis and each touched topic's queue is merged
   (:class:`streams.queue_store.QueueStore`), so a write costs O(videos changed), not O(topic size);
   per-partition totals and counters go along;
3. per-video stats go to Feast's ``video_stats`` in one push.

A timer (:meth:`VideoStage.refresh`, every ``stream.full_refresh_s``) refits the Beta prior to the totals
of *all* partitions (every worker's, from Redis) and, when it moved, rewrites every owned candidate set
whole; it also rewrites a partition whose liveness mark vanished from Redis (a wipe), so derived state is
rebuilt from the tables without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict

import numpy as np
import orjson

from mtl.errors import first_line
from mtl.settings import Settings
from streams.counts import PARTITION, C, E, count_batch
from streams.dedup import EventWindow
from streams.events import CLICK, PUBLISHED, dead_letter, parse_batch
from streams.flush import WriteSchedule, produced_s
from streams.positions import Positions, cannot_seek, position_key, state_items
from streams.queue_store import CellChanges, QueueStore
from streams.queues import Candidates, Entry, Prior, candidates, entry, fit_prior, smoothed_ctr
from streams.tables import put
from streams.topics import TopicResolver

log = logging.getLogger("streams.videos")

Cell = tuple[int, int]  # (topic, partition)
# ~60 B a click: a message stays far below Kafka's 1 MB request limit, whatever the batch size
CLICKS_PER_MESSAGE = 4096


class VideoStage:
    """Consumes batches of raw events; owns the ``video_counts`` table of its partitions.

    ``send_dead_letter(key, value)`` and ``send_clicks(partition, value, timestamp)`` are coroutines that
    produce to the dead-letter and the user-clicks topics.
    """

    def __init__(
        self,
        *,
        table,
        settings: Settings,
        redis_client,
        send_dead_letter,
        send_clicks,
        owned=None,
        seek=None,
        resolver=None,
    ) -> None:
        self.table = table
        self.settings = settings
        self.s = settings.stream
        self.redis = redis_client
        self.queues = QueueStore(redis_client, self.s)
        self.topics = resolver or TopicResolver(settings)
        self.send_dead_letter = send_dead_letter
        self.send_clicks = send_clicks
        self.owned = owned  # () -> active partitions; None: every key of the table
        self.positions = Positions(
            seek=seek or cannot_seek, gaps=self.s.processing_guarantee == "at_least_once"
        )
        self.window = EventWindow(size=self.s.dedup_window)
        self.records: dict[int, list] = {}  # video -> count record, loaded from the table after recovery
        self.entries: dict[tuple[int, int], Entry] = {}  # (topic, video) -> what Redis holds
        self.totals: dict[int, list] = defaultdict(lambda: [0, 0])
        self.prior: Prior | None = None
        self.indexed = False
        self.batches_since_refresh = 0
        self.counters: Counter[str] = Counter()
        self.dirty: dict[int, None] = {}  # videos counted since the last write, in order
        self.writes = WriteSchedule(self.s)
        self.lock = asyncio.Lock()  # a batch's writes and a refresh's rewrite never interleave
        self.index_lock = asyncio.Lock()  # the first batch and the watchdog may both find no index

    # -- index ---------------------------------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild the in-memory index from the table when a rebalance reset it (first batch or watchdog)."""
        async with self.index_lock:
            if not self.indexed:
                await self._reindex()

    async def _reindex(self) -> None:
        # our own copy: Faust's store can be written behind our back by a late changelog echo (seen with
        # two workers: hot videos' counts went back in time), so it is read only here, after recovery
        owned = self.owned() if self.owned is not None else None
        items = list(self.table.data.items())
        self.positions.load(items, owned)
        self.window.load(items, owned)
        self.records = {
            v: tuple(rec) for v, rec in state_items(items) if owned is None or rec[PARTITION] in owned
        }
        data = self.records
        await asyncio.to_thread(self.topics.resolve, list(data.keys()))
        self.totals = partition_totals(data)
        self.entries = {}
        # counted after the recovered positions: those events are read again, and counted then
        self.dirty, self.counters = {}, Counter()
        self.indexed = True
        if self.prior is None:
            self.prior = await asyncio.to_thread(self._global_prior)
        await self._rewrite(set(self.totals))

    def _global_prior(self) -> Prior:
        e, c = self.queues.read_totals()
        if e <= 0:  # nothing in Redis yet: this worker's own partitions
            e = sum(t[0] for t in self.totals.values())
            c = sum(t[1] for t in self.totals.values())
        return fit_prior(e, c, self.s.prior_strength)

    # -- batches -------------------------------------------------------------------------------------

    async def handle(self, events) -> None:
        with self.writes.batch():
            await self._count(events)
        if self.writes.due(events):
            await self.flush()

    async def _count(self, events) -> None:
        """Count a batch into the in-memory state; clicks go to the user stage at once."""
        if not self.indexed:
            await self.load()
        # the raw records: a bulk batch hands them over as they are (no object per event)
        messages = getattr(events, "records", None) or [ev.message for ev in events]
        partitions = np.array([m.partition for m in messages], np.int64)
        offsets = np.array([m.offset for m in messages], np.int64)
        taken = np.flatnonzero(self.positions.admit_batch(partitions, offsets))
        self.counters["redelivered"] += len(messages) - len(taken)
        kept = messages if len(taken) == len(messages) else [messages[i] for i in taken.tolist()]
        parsed, rejected = parse_batch(
            [m.value for m in kept],  # the topic's serializer is raw: the bytes as sent
            max_bytes=self.s.max_event_bytes,
            max_skew_s=self.s.max_clock_skew_s,
            now=time.time(),
        )
        for row, reason in rejected:
            msg = kept[row]
            self.counters["bad"] += 1
            await self.send_dead_letter(
                msg.key if isinstance(msg.key, bytes) else None,
                dead_letter(reason, topic=msg.topic, partition=msg.partition, offset=msg.offset),
            )
        await self.positions.seek_pending()
        at = taken[parsed.rows]
        data = self.records
        changed, counted = count_batch(
            data, parsed, partitions[at], offsets[at], window=self.window, half_life_s=self.s.half_life_s
        )
        good = int(counted.sum())
        self.counters["good"] += good
        self.counters["duplicate"] += len(parsed) - good
        self.counters["batches"] += 1
        self.batches_since_refresh += 1
        dirty = self.dirty
        for v, rec in changed.items():
            old = data.get(v)
            tot = self.totals[rec[PARTITION]]
            tot[0] += rec[E] - (old[E] if old else 0)
            tot[1] += rec[C] - (old[C] if old else 0)
            data[v] = rec  # a tuple of numbers: the collector stops tracking it
            dirty[v] = None
        kind = parsed.kind
        published = [parsed.published[r] for r in parsed.rows[counted & (kind == PUBLISHED)].tolist()]
        if published:
            await asyncio.to_thread(self.topics.assign, published)
        rows = np.flatnonzero(counted & (kind == CLICK))
        if len(rows):
            videos = parsed.video[rows].tolist()
            clicks = list(
                zip(
                    parsed.user[rows].tolist(),
                    videos,
                    parsed.hash[rows].tolist(),
                    parsed.ts[rows].tolist(),
                    strict=True,
                )
            )
            await self._resolve(videos)  # the user stage gets each click's topics
            await self._send_clicks(clicks, produced_s(events))
            self.counters["clicks"] += len(clicks)

    async def flush_idle(self, *, now: bool = False) -> None:
        """Write what a batch deferred (:mod:`streams.flush`) once its interval is over (``now``: at once)."""
        if self.writes.idle_due(now=now):
            await self.flush()

    async def flush(self) -> None:
        """The changelog records, Redis entries and Feast stats of the videos counted since the last flush."""
        async with self.lock:
            if not self.indexed:
                return  # a rebalance came in between: the next batch reindexes (and drops ``dirty``)
            dirty, self.dirty = list(self.dirty), {}
            self.writes.written()
            data = self.records
            touched_partitions = set()
            for v in dirty:
                rec = data[v]
                p = rec[PARTITION]
                touched_partitions.add(p)
                put(self.table, p, v, rec)
            for p, key, value in self.window.records():
                put(self.table, p, key, value)
            for p, offset in self.positions.moved().items():  # after the records: see streams.positions
                put(self.table, p, position_key(p), offset)
            await self._resolve(dirty)
            counters, self.counters = self.counters, Counter()
            changes = self._entry_changes({v: data[v] for v in dirty})
            totals = {p: tuple(self.totals[p]) for p in touched_partitions}
            await asyncio.to_thread(self._write, changes, totals, counters)
        if self.s.feast_push and dirty:
            await asyncio.to_thread(self._push_stats, dirty)

    async def _resolve(self, videos) -> None:
        cache = self.topics.cache
        missing = [v for v in videos if v not in cache]
        if missing:
            await asyncio.to_thread(self.topics.resolve, missing)

    async def _send_clicks(self, clicks: list[tuple[int, int, int, float]], stamp: float | None) -> None:
        # stamped with when the batch's events were produced: the user stage then knows how far behind it is
        by_partition: dict[int, list] = defaultdict(list)
        cache = self.topics.cache
        for u, v, h, ts in clicks:
            by_partition[u % self.s.partitions].append([u, v, h, list(cache.get(v, ())), ts])
        for p, rows in by_partition.items():
            for i in range(0, len(rows), CLICKS_PER_MESSAGE):
                await self.send_clicks(p, orjson.dumps(rows[i : i + CLICKS_PER_MESSAGE]), stamp)

    def _entry_changes(self, changed: dict[int, list]) -> dict[Cell, CellChanges]:
        """Each changed video's new place in each of its topics, against what Redis holds."""
        cache, entries, prior, s = self.topics.cache, self.entries, self.prior, self.s
        changes: dict[Cell, CellChanges] = {}
        for v, rec in changed.items():
            for t in cache.get(v, ()):
                new = entry(t, v, rec[E], rec[C], prior, s)
                old = entries.get((t, v))
                if new == old and (t, v) in entries:
                    continue
                entries[(t, v)] = new
                cell = (t, rec[PARTITION])
                ch = changes.get(cell)
                if ch is None:
                    ch = changes[cell] = CellChanges()
                ch.move(v, old, new)
        return changes

    def _write(self, changes: dict[Cell, CellChanges], totals, counters) -> None:
        pipe = self.redis.pipeline(transaction=False)
        self.queues.apply_changes(pipe, changes)
        self.queues.merge(pipe, sorted({t for t, _ in changes}))
        self.queues.write_totals(pipe, totals)
        self.queues.add_stats(pipe, counters)
        pipe.execute()

    def _push_stats(self, videos: list[int]) -> None:
        import pandas as pd

        from mtl.features import push_video_stats

        data, prior = self.records, self.prior
        recs = [(v, data[v]) for v in videos if v in data]
        now = pd.Timestamp.now(tz="UTC")
        try:
            push_video_stats(
                pd.DataFrame(
                    {
                        "video_id": [v for v, _ in recs],
                        "exposures": [r[E] for _, r in recs],
                        "clicks": [r[C] for _, r in recs],
                        "ctr": [smoothed_ctr(r[E], r[C], prior) for _, r in recs],
                        "updated_at": now,
                        "event_timestamp": now,
                    }
                )
            )
        except Exception as exc:  # noqa: BLE001 - Feast trouble must not stop the counts
            self.redis.hincrby(f"{self.s.queue_prefix}:stats", "feast_errors", 1)
            log.warning("Feast push of video stats failed: %s", first_line(exc))

    # -- refresh -------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Refit the prior to every partition's totals; rewrite whole what a new prior or a wipe needs."""
        if not self.indexed:
            return
        prior = await asyncio.to_thread(self._global_prior)
        owned = set(self.totals)
        lost = await asyncio.to_thread(self.queues.missing, owned)
        idle = self.batches_since_refresh == 0
        self.batches_since_refresh = 0
        if prior != self.prior and (idle or _moved(self.prior, prior) > self.s.prior_refit_tolerance):
            self.prior = prior
            lost = owned
        if lost:
            await self._rewrite(lost)

    async def _rewrite(self, partitions: set[int]) -> None:
        async with self.lock:
            records = {v: rec for v, rec in self.records.items() if rec[PARTITION] in partitions}
            cells = partition_candidates(records, self.topics.cache, self.prior, self.s)
            for (t, _), cand in cells.items():
                self.entries.update({(t, v): (sc,) for v, sc in cand.ranked.items()})
                self.entries.update({(t, v): place for v, place in cand.fresh.items()})
            for v in records:  # removed videos: Redis holds nothing for them either
                for t in self.topics.cache.get(v, ()):
                    self.entries.setdefault((t, v), None)
            totals = {p: tuple(self.totals[p]) for p in partitions}
            await asyncio.to_thread(self.queues.write_whole, cells, totals, partitions)

    def reset(self) -> None:
        """After a rebalance: the index is rebuilt from the (recovered) table on the next batch."""
        self.indexed = False


def partition_totals(records) -> dict[int, list]:
    """``partition -> [exposures, clicks]`` over count records (the prior's evidence)."""
    totals: dict[int, list] = defaultdict(lambda: [0, 0])
    for rec in records.values():
        tot = totals[rec[PARTITION]]
        tot[0] += rec[E]
        tot[1] += rec[C]
    return totals


def partition_candidates(records, topics, prior: Prior, s) -> dict[Cell, Candidates]:
    """Every ``(topic, partition)``'s uncapped candidates from count records (what Redis holds)."""
    rows: dict[Cell, list] = defaultdict(list)
    for v, rec in records.items():
        for t in topics.get(v, ()):
            rows[(t, rec[PARTITION])].append((v, rec[E], rec[C]))
    return {cell: candidates(cell[0], r, prior, s, capped=False) for cell, r in rows.items()}


def _moved(old: Prior | None, new: Prior) -> float:
    """Relative change of the prior mean (infinite from no prior)."""
    if old is None:
        return float("inf")
    mean = lambda p: p.alpha / (p.alpha + p.beta) if p.alpha + p.beta > 0 else 0.0  # noqa: E731
    a, b = mean(old), mean(new)
    return abs(a - b) / max(abs(a), 1e-12)
