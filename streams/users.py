"""Per-user recent clicks and topic profiles (user-keyed, fed by the video stage's repartitioned clicks).

The video stage owns videos, not users, so every batch it sends each click as ``[user_id, video_id,
event_hash, [topic ids], ts]`` to the internal ``<app_id>-user-clicks`` topic, on the partition
``user_id % stream.partitions`` (a ``group_by`` user done once per batch, not per event). This stage
keeps each user's last N1 clicks in the ``user_clicks`` table (newest first by event time, deduplicated by
event hash, so a redelivered batch changes nothing), writes them whole to the Redis list
``<user_prefix>:<user_id>`` and their topic counts to the hash ``<user_prefix>:<user_id>:topics`` (one
script call, atomic), and pushes the user's top N2 topics over them to Feast's ``user_topic_profile``.
Writes follow :mod:`streams.flush`; the clicks carry the produce time of their events, so this stage
knows when it is behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable

import orjson

from mtl.errors import first_line
from mtl.settings import Settings
from streams.flush import WriteSchedule
from streams.positions import Positions, cannot_seek, position_key, state_items
from streams.tables import put

log = logging.getLogger("streams.users")

VIDEO, HASH, TOPICS, TS = range(4)


def entry(click) -> tuple:
    """A click as kept in a user's list: ``(video, event hash, (topics...), ts)``.

    Tuples of numbers only: CPython's collector stops tracking them, so a worker holding N1 clicks for
    every user does not spend its time walking them in full collections (as lists it did: ~1M objects,
    0.1-0.8 s every ~2 s at 4,000 users).
    """
    return (click[VIDEO], click[HASH], tuple(click[TOPICS]), click[TS])


def add_clicks(entries: list, clicks: Iterable, limit: int) -> list[tuple]:
    """The newest ``limit`` of ``entries`` and ``clicks`` by event time, newest first, without repeats.

    Clicks of one user come from every video partition, so arrival order is not event order; sorting by
    ``(ts, event hash)`` makes the list the same however many workers there are. ``entries`` is such a
    list already (what this function returned before, made of :func:`entry` tuples).
    """
    seen = {e[HASH] for e in entries}
    fresh = []
    for click in clicks:
        if click[HASH] not in seen:
            seen.add(click[HASH])
            fresh.append(entry(click))
    if not fresh:
        return entries[:limit]
    fresh.sort(key=_order, reverse=True)
    merged = fresh + entries
    if entries and _order(fresh[-1]) < _order(entries[0]):  # else (most often) already in order
        merged.sort(key=_order, reverse=True)
    return merged[:limit]


def _order(entry: tuple) -> tuple:
    return entry[TS], entry[HASH]


def top_topics(entries: Iterable[list], n: int) -> list[int]:
    """The ``n`` topics with most votes over the clicked videos (ties: smaller id), padded with -1."""
    votes = topic_counts(entries)
    top = [t for t, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))][:n]
    return top + [-1] * (n - len(top))


class UserStage:
    """Consumes batches of repartitioned clicks; owns the ``user_clicks`` table of its partitions."""

    def __init__(self, *, table, settings: Settings, redis_client, owned=None, seek=None) -> None:
        self.table = table
        self.settings = settings
        self.s = settings.stream
        self.redis = redis_client
        self.owned_partitions = owned  # () -> active partitions; None: every key of the table
        self.needs_rewrite = True
        self.users: dict[int, list] | None = None
        self.positions = Positions(
            seek=seek or cannot_seek, gaps=self.s.processing_guarantee == "at_least_once"
        )
        self.owned: set[int] = set()
        self.feast_errors = 0
        self.dirty: dict[int, int] = {}  # user -> table partition, changed since the last write
        self.received = 0  # clicks taken since the last write
        self.writes = WriteSchedule(self.s)

    async def handle(self, events) -> None:
        await self.load()
        with self.writes.batch():
            self._count(events)
            await self.positions.seek_pending()
        if self.writes.due(events):
            await self.flush()

    async def flush_idle(self, *, now: bool = False) -> None:
        """Write what a batch deferred (:mod:`streams.flush`) once its interval is over (``now``: at once)."""
        if self.writes.idle_due(now=now):
            await self.flush()

    async def load(self) -> None:
        """Our own copy of the table after a (re)assignment (see VideoStage._reindex)."""
        if self.users is None:
            active = self.owned_partitions() if self.owned_partitions is not None else None
            n = self.s.partitions
            items = list(self.table.data.items())
            self.positions.load(items, active)
            self.users = {
                u: [entry(c) for c in e] for u, e in state_items(items) if active is None or u % n in active
            }
            self.dirty = {}  # taken after the recovered positions: those clicks are read again
            self.received = 0

    def _count(self, events) -> None:
        """Add a batch's clicks to the users' entries in memory."""
        data = self.users
        by_user: dict[int, tuple[int, list]] = {}
        for ev in events:
            partition, offset = ev.message.partition, ev.message.offset
            if not self.positions.admit(partition, offset):
                continue
            self.owned.add(partition)
            for click in orjson.loads(ev.value):
                by_user.setdefault(click[0], (partition, []))[1].append(click[1:])
        for user, (partition, clicks) in by_user.items():
            old = data.get(user) or []
            new = add_clicks(old, clicks, self.settings.ranker.history_clicks)
            if new != old:
                data[user] = new
                self.dirty[user] = partition
        self.received += sum(len(c) for _, c in by_user.values())

    async def flush(self) -> None:
        """The changelog records and Redis lists of the users changed since the last flush."""
        if self.users is None:
            return  # a rebalance came in between: the next batch reloads (and drops ``dirty``)
        dirty, self.dirty = self.dirty, {}
        received, self.received = self.received, 0
        self.writes.written()
        data = self.users
        for user, partition in dirty.items():
            put(self.table, partition, user, data[user])
        for p, offset in self.positions.moved().items():  # after the records: see streams.positions
            put(self.table, p, position_key(p), offset)
        if dirty or received:
            await asyncio.to_thread(self._write, {u: data[u] for u in dirty}, received)

    def _write(self, users: dict[int, list], received: int = 0) -> None:
        write_user_lists(self.redis, self.s.user_prefix, users)
        if received:  # next to the video stage's "clicks": how far the user stage has caught up
            self.redis.hincrby(f"{self.s.queue_prefix}:stats", "user_clicks", received)
        if self.s.feast_push and users:
            self._push_profiles(users)

    def _push_profiles(self, users: dict[int, list]) -> None:
        import pandas as pd

        from mtl.features import push_user_topic_profile

        n = self.settings.ranker.top_topics
        now = pd.Timestamp.now(tz="UTC")
        try:
            push_user_topic_profile(
                pd.DataFrame(
                    {
                        "user_id": list(users),
                        "top_topics": [top_topics(e, n) for e in users.values()],
                        "recent_clicks": [len(e) for e in users.values()],
                        "event_timestamp": now,
                    }
                )
            )
        except Exception as exc:  # noqa: BLE001 - Feast trouble must not stop the stream
            self.feast_errors += 1
            log.warning("Feast push of user profiles failed: %s", first_line(exc))

    async def refresh(self) -> None:
        """Rewrite every owned user's list when Redis lost them (liveness mark gone) or after a rebalance."""
        marks = {p: f"{self.s.user_prefix}:alive:{p}" for p in self.owned}
        if not marks:
            return
        flags = await asyncio.to_thread(self.redis.mget, list(marks.values()))
        lost = {p for p, flag in zip(marks, flags, strict=True) if flag is None}
        if self.needs_rewrite:
            lost = set(marks)
            self.needs_rewrite = False
        if not lost:
            return
        data = self.users if self.users is not None else dict(state_items(self.table.data.items()))
        users = {u: e for u, e in data.items() if u % self.s.partitions in lost}
        await asyncio.to_thread(self._rewrite, users, [marks[p] for p in lost])

    def _rewrite(self, users: dict[int, list], marks: list[str]) -> None:
        write_user_lists(self.redis, self.s.user_prefix, users)
        if marks:
            self.redis.mset({m: 1 for m in marks})


def topic_counts(entries: Iterable[list]) -> Counter[int]:
    """How many of the clicked videos carry each topic."""
    return Counter(t for e in entries for t in e[TOPICS])


# one call per user instead of DEL + RPUSH of N1 arguments + HSET in a MULTI: the ids travel as one string
# each, which costs the client a join instead of encoding every argument (most of the user stage's time)
_WRITE_USER = """
redis.call('DEL', KEYS[1], KEYS[2])
local function split(text)
  local out = {}
  for item in string.gmatch(text, '[^,]+') do out[#out + 1] = item end
  return out
end
local videos, votes = split(ARGV[1]), split(ARGV[2])
for i = 1, #videos, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(videos, i, math.min(i + 999, #videos)))
end
for i = 1, #votes, 1000 do
  redis.call('HSET', KEYS[2], unpack(votes, i, math.min(i + 999, #votes)))
end
"""


def write_user_lists(client, prefix: str, users: dict[int, list], *, chunk: int = 500) -> None:
    """Replace each user's Redis list with the videos of its entries and the hash
    ``<prefix>:<user>:topics`` with their topic counts, atomically per user (one script call), so that
    candidate generation reads both in the script that picks the user's topics."""
    script = client.register_script(_WRITE_USER)
    items = list(users.items())
    for i in range(0, len(items), chunk):
        pipe = client.pipeline(transaction=False)
        for user, entries in items[i : i + chunk]:
            key = f"{prefix}:{user}"
            videos = ",".join([str(e[VIDEO]) for e in entries])
            votes = ",".join([f"{t},{n}" for t, n in topic_counts(entries).items()])
            script(keys=[key, f"{key}:topics"], args=[videos, votes], client=pipe)
        pipe.execute()
