"""Topic queues in Redis: partition candidates, the merged queue, totals — all absolute, all idempotent.

Key layout (``P`` = ``stream.queue_prefix``):

- ``P:<topic>``: the queue, a sorted set, member ``str(video_id)``, score the smoothed CTR. Readers
  (candidate generation, the topic explorer) only ever read this key and the next.
- ``P:<topic>:fresh``: the fresh part of that queue (same members and scores), so readers can tell fresh
  videos from ranked ones and sample them separately.
- ``P:<topic>:r:<partition>``: every ranked video of that Kafka partition (score: smoothed CTR).
- ``P:<topic>:f:<partition>``: every fresh one, member ``"<video_id>|<smoothed CTR>"``, score the fresh
  sort key (see :mod:`streams.queues`). Both are uncapped, so a batch only writes the videos it changed
  and Redis picks each partition's best when it merges.
- ``P:totals``: hash ``partition -> "exposures clicks"``, the counts that fit the global prior.
- ``P:alive:<partition>``: written after a partition's state was written whole; when it is gone (Redis
  was wiped or flushed), the owner rewrites everything it knows.

Only the owner of a partition writes its candidate keys; after writing, the owner merges each touched
topic with one Lua script that reads every partition's candidates and replaces ``P:<topic>`` atomically
(same rules as :func:`streams.queues.merge`), so two workers never interleave half-written queues and the
last merge of a topic always sees the last candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mtl.settings import StreamSettings
from streams.queues import Candidates, Entry, fresh_cap, ranked_cap

# KEYS: queue, fresh part of the queue, P ranked candidate keys, P fresh candidate keys.
# ARGV: ranked cap, queue length, fresh share, min fresh, fresh cap.
_MERGE = """
local P = (#KEYS - 2) / 2
local nr_max, L, f = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local min_fresh, nf_max = tonumber(ARGV[4]), tonumber(ARGV[5])
local ranked = {}
for i = 3, P + 2 do
  local r = redis.call('ZREVRANGE', KEYS[i], 0, nr_max - 1, 'WITHSCORES')
  for j = 1, #r, 2 do ranked[#ranked + 1] = {tonumber(r[j + 1]), tonumber(r[j]), r[j]} end
end
table.sort(ranked, function(a, b)
  if a[1] ~= b[1] then return a[1] > b[1] end
  return a[2] < b[2]
end)
local fresh = {}
if nf_max > 0 then
  for i = P + 3, 2 * P + 2 do
    local r = redis.call('ZRANGE', KEYS[i], 0, nf_max - 1, 'WITHSCORES')
    for j = 1, #r, 2 do
      local bar = string.find(r[j], '|', 1, true)
      local v = string.sub(r[j], 1, bar - 1)
      fresh[#fresh + 1] = {tonumber(r[j + 1]), tonumber(v), v, tonumber(string.sub(r[j], bar + 1))}
    end
  end
  table.sort(fresh, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
end
local n_r = math.min(#ranked, nr_max)
local want = 0
if f >= 1 then want = L elseif f > 0 then want = math.max(min_fresh, math.ceil(f * n_r / (1 - f) - 1e-9)) end
local n_f = math.min(#fresh, L - n_r, want)
redis.call('DEL', KEYS[1], KEYS[2])
local args = {}
local function flush(fresh_too)
  if #args > 0 then
    redis.call('ZADD', KEYS[1], unpack(args))
    if fresh_too then redis.call('ZADD', KEYS[2], unpack(args)) end
    args = {}
  end
end
for i = 1, n_r do
  args[#args + 1] = ranked[i][1]; args[#args + 1] = ranked[i][3]
  if #args >= 1000 then flush(false) end
end
flush(false)
for i = 1, n_f do
  args[#args + 1] = fresh[i][4]; args[#args + 1] = fresh[i][3]
  if #args >= 1000 then flush(true) end
end
flush(true)
return n_r + n_f
"""


def queue_key(prefix: str, topic: int) -> str:
    return f"{prefix}:{topic}"


def fresh_part_key(prefix: str, topic: int) -> str:
    return f"{prefix}:{topic}:fresh"


def _ranked_key(prefix: str, topic: int, partition: int) -> str:
    return f"{prefix}:{topic}:r:{partition}"


def _fresh_key(prefix: str, topic: int, partition: int) -> str:
    return f"{prefix}:{topic}:f:{partition}"


def _fresh_members(c: Candidates) -> dict[str, float]:
    return {fresh_member(v, sc): key for v, (key, sc) in c.fresh.items()}


def fresh_member(video: int, score: float) -> str:
    return f"{video}|{score!r}"


class CellChanges:
    """Changes to one ``(topic, partition)``'s candidate keys, gathered over a batch."""

    __slots__ = ("ranked_add", "ranked_del", "fresh_add", "fresh_del")

    def __init__(self) -> None:
        self.ranked_add: dict[str, float] = {}
        self.ranked_del: list[str] = []
        self.fresh_add: dict[str, float] = {}
        self.fresh_del: list[str] = []

    def move(self, video: int, old: Entry, new: Entry) -> None:
        """Record that ``video`` went from entry ``old`` to ``new`` (see :func:`streams.queues.entry`)."""
        if old is not None:
            if len(old) == 2:
                self.fresh_del.append(fresh_member(video, old[1]))
            elif new is None or len(new) == 2:
                self.ranked_del.append(str(video))
        if new is not None:
            if len(new) == 1:
                self.ranked_add[str(video)] = new[0]
            else:
                self.fresh_add[fresh_member(video, new[1])] = new[0]


def read_queue(client, prefix: str, topic: int) -> list[tuple[int, float]]:
    """A topic's queue, best first: ``[(video_id, score)]``."""
    rows = client.zrevrange(queue_key(prefix, topic), 0, -1, withscores=True)
    return [(int(m), float(s)) for m, s in rows]


def read_fresh(client, prefix: str, topic: int) -> set[int]:
    """The videos of a topic's queue that are there as fresh ones."""
    return {int(m) for m in client.zrange(fresh_part_key(prefix, topic), 0, -1)}


class QueueStore:
    """Writes partition candidates, merged queues, totals and liveness marks through Redis pipelines."""

    def __init__(self, client, settings: StreamSettings) -> None:
        self.client = client
        self.settings = settings
        self.prefix = settings.queue_prefix
        self._merge = client.register_script(_MERGE)

    def write_candidates(
        self, pipe, topic: int, partition: int, new: Candidates, old: Candidates | None
    ) -> None:
        """Bring one partition's candidate keys of ``topic`` from ``old`` (None: unknown) to ``new``."""
        rk, fk = _ranked_key(self.prefix, topic, partition), _fresh_key(self.prefix, topic, partition)
        if old is None:
            pipe.delete(rk, fk)
            old = Candidates()
        gone = [str(v) for v in old.ranked if v not in new.ranked]
        changed = {str(v): sc for v, sc in new.ranked.items() if old.ranked.get(v) != sc}
        if gone:
            pipe.zrem(rk, *gone)
        if changed:
            pipe.zadd(rk, changed)
        before, after = _fresh_members(old), _fresh_members(new)
        gone = [m for m in before if m not in after]
        added = {m: k for m, k in after.items() if m not in before}
        if gone:
            pipe.zrem(fk, *gone)
        if added:
            pipe.zadd(fk, added)

    def apply_changes(self, pipe, changes: Mapping[tuple[int, int], CellChanges]) -> None:
        """Write a batch's entry changes: at most four commands per ``(topic, partition)``."""
        for (topic, partition), ch in changes.items():
            rk, fk = _ranked_key(self.prefix, topic, partition), _fresh_key(self.prefix, topic, partition)
            if ch.ranked_del:
                pipe.zrem(rk, *ch.ranked_del)
            if ch.ranked_add:
                pipe.zadd(rk, ch.ranked_add)
            if ch.fresh_del:
                pipe.zrem(fk, *ch.fresh_del)
            if ch.fresh_add:
                pipe.zadd(fk, ch.fresh_add)

    def merge(self, pipe, topics: Iterable[int]) -> None:
        """Rebuild ``P:<topic>`` from every partition's candidates (one atomic script per topic)."""
        s = self.settings
        args = [ranked_cap(s), s.queue_length, repr(float(s.fresh_share)), s.min_fresh, fresh_cap(s)]
        parts = range(s.partitions)
        for t in topics:
            keys = [queue_key(self.prefix, t), fresh_part_key(self.prefix, t)]
            keys += [_ranked_key(self.prefix, t, p) for p in parts]
            keys += [_fresh_key(self.prefix, t, p) for p in parts]
            self._merge(keys=keys, args=args, client=pipe)

    def write_whole(
        self,
        new: Mapping[tuple[int, int], Candidates],
        totals: Mapping[int, tuple[float, float]],
        partitions: Iterable[int],
        *,
        chunk: int = 500,
    ) -> None:
        """Rewrite whole the candidates of ``new`` ``{(topic, partition): ...}``, merge their topics,
        then write the partitions' totals and liveness marks."""
        items = list(new.items())
        for i in range(0, len(items), chunk):
            pipe = self.client.pipeline(transaction=False)
            for (topic, partition), cand in items[i : i + chunk]:
                self.write_candidates(pipe, topic, partition, cand, None)
            pipe.execute()
        topics = sorted({t for t, _ in new})
        for i in range(0, len(topics), chunk):
            pipe = self.client.pipeline(transaction=False)
            self.merge(pipe, topics[i : i + chunk])
            pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        self.write_totals(pipe, totals)
        self.mark_alive(pipe, partitions)
        pipe.execute()

    def write_totals(self, pipe, totals: Mapping[int, tuple[float, float]]) -> None:
        if totals:
            pipe.hset(
                f"{self.prefix}:totals", mapping={str(p): f"{e!r} {c!r}" for p, (e, c) in totals.items()}
            )

    def read_totals(self) -> tuple[float, float]:
        """Summed ``(exposures, clicks)`` over the partitions of this deployment."""
        e = c = 0.0
        for p, value in self.client.hgetall(f"{self.prefix}:totals").items():
            if int(p) < self.settings.partitions:
                pe, pc = value.split()
                e += float(pe)
                c += float(pc)
        return e, c

    def mark_alive(self, pipe, partitions: Iterable[int]) -> None:
        for p in partitions:
            pipe.set(f"{self.prefix}:alive:{p}", 1)

    def missing(self, partitions: Iterable[int]) -> set[int]:
        """Partitions whose liveness mark is gone (their Redis state must be rewritten whole)."""
        parts = list(partitions)
        if not parts:
            return set()
        flags = self.client.mget([f"{self.prefix}:alive:{p}" for p in parts])
        return {p for p, flag in zip(parts, flags, strict=True) if flag is None}

    def add_stats(self, pipe, counters: Mapping[str, int]) -> None:
        """Counters are increments (at-least-once: a redelivered batch counts twice, the queues do not)."""
        for name, n in counters.items():
            if n:
                pipe.hincrby(f"{self.prefix}:stats", name, n)
