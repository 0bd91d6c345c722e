"""Topic-queue candidate generation (paper section III-B1): top N2 topics of the last N1 clicks -> N3 videos.

Redis layout read here (``P`` = ``stream.queue_prefix``, ``U`` = ``stream.user_prefix``):

- ``U:<user>``: list of the user's last N1 clicked video ids, newest first;
- ``U:<user>:topics``: hash ``topic_id -> clicks`` among those N1 that carry the topic;
- ``P:<topic>``: the topic's queue, a sorted set ``str(video_id) -> smoothed CTR``;
- ``P:<topic>:fresh``: optional, the fresh part of that queue (same members and scores); absent means the
  queue has no fresh split and all of it is read as ranked;
- ``P:global`` (+ ``P:global:fresh``): the cold-start queue, written by the stream worker
  (:mod:`streams.global_queue`) from every topic queue with the same rules as a topic queue.

Rules (:func:`reference_candidates` is the executable statement, :data:`_GENERATE` runs the same in Redis):

1. Topics with a positive count, most clicks first (ties: smaller topic id); the first N2 are the sources.
   No topic at all: one source, the global queue (``source="cold_start"``, ``from_topic=-1``).
2. N3 is split across the sources in proportion to their counts by largest remainder (ties: the better
   ranked topic). Each source takes its quota walking its queue; when it runs dry, the shortfall is split
   again, the same way, among the sources that are not dry, until N3 are taken or every source is dry.
3. Within a source, ``round(fresh_share * quota)`` of its (cumulative) quota comes from the fresh part and
   the rest from the ranked part, each walked best first (Redis ``ZREVRANGE`` order: score descending,
   ties by member string descending); a part that is short is made up from the other part.
4. A video already taken by a better ranked source, or in the user's click list, is skipped.
5. Order: the picks of every source form two lists, ranked then fresh, each best first; they are
   interleaved in proportion to their lengths (element ``j`` of a list of length ``L`` sits at
   ``(2j + 1) / 2L``; ties: sources in rank order, ranked before fresh). So the list is best first within
   every topic and any prefix of it keeps the topics' shares and the fresh share. It is not a global sort
   by score: Redis 7.0 formats every score it returns as text, and reading and sorting the 600 scores
   more than doubled the script's time; the ranker scores the candidates anyway.

One call is one Redis round trip: an ``EVALSHA`` of :data:`_GENERATE` (loaded on first use and again after
a ``NOSCRIPT``), which reads the user's keys and computes the queue keys itself. Queue keys are not
declared in ``KEYS``, so the script needs a single Redis (not Redis Cluster, where the queues would have to
share a hash slot).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mtl.errors import DataError, ServiceError, first_line
from mtl.settings import Settings, get_settings
from streams.global_queue import GLOBAL_TOPIC  # ``from_topic`` of cold-start candidates

# KEYS: the user's click list, the user's topic-count hash.
# ARGV: queue prefix, n, top topics, fresh share, history length, read chunk.
# Returns {source, {topic ids}, {topic, "video video ...", ...}}: each source's ranked, then fresh picks.
_GENERATE = """
local prefix, n, n_top = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local f, history, chunk = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

local taken = {}
for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, history - 1)) do taken[v] = true end

-- the top n_top topics in one pass, no table per entry: the hash can hold hundreds of topics
local h = redis.call('HGETALL', KEYS[2])
local top_t, top_c, top_f = {}, {}, {}
for i = 1, #h, 2 do
  local c = tonumber(h[i + 1])
  if c and c > 0 and (#top_c < n_top or c >= top_c[#top_c]) then
    local t = tonumber(h[i])
    if t and t >= 0 then
      local j = #top_c
      while j > 0 and (c > top_c[j] or (c == top_c[j] and t < top_t[j])) do j = j - 1 end
      if j < n_top then
        table.insert(top_t, j + 1, t); table.insert(top_c, j + 1, c); table.insert(top_f, j + 1, h[i])
        if #top_c > n_top then top_t[#top_t] = nil; top_c[#top_c] = nil; top_f[#top_f] = nil end
      end
    end
  end
end
local sources, topics, origin = {}, {}, 'topics'
for i = 1, #top_t do
  sources[i] = {id = top_t[i], w = top_c[i], key = prefix .. ':' .. top_f[i]}
  topics[i] = top_t[i]
end
if #sources == 0 then
  origin = 'cold_start'
  sources[1] = {id = -1, w = 1, key = prefix .. ':global'}
end

-- members only: Redis (7.0) formats every score it returns as text, which costs more than the member
for _, s in ipairs(sources) do
  s.fresh = redis.call('ZREVRANGE', s.key .. ':fresh', 0, -1)
  s.is_fresh, s.fpos = {}, 1
  for _, m in ipairs(s.fresh) do s.is_fresh[m] = true end
  s.buf, s.bpos, s.qpos, s.dry = {}, 1, 0, false
  s.quota, s.nf, s.rp, s.fp = 0, 0, {}, {}
end


local function take_fresh(s, k)
  local got = 0
  while got < k and s.fpos <= #s.fresh do
    local m = s.fresh[s.fpos]
    s.fpos = s.fpos + 1
    if not taken[m] then taken[m] = true; s.fp[#s.fp + 1] = m; got = got + 1 end
  end
  s.nf = s.nf + got
  return got
end

-- the ranked part is read in chunks a little longer than what is still needed (some members are skipped)
local function take_ranked(s, k)
  local got = 0
  while got < k do
    if s.bpos > #s.buf then
      if s.dry then break end
      local size = math.max(chunk, math.ceil(1.25 * (k - got)) + 16)
      s.buf = redis.call('ZREVRANGE', s.key, s.qpos, s.qpos + size - 1)
      s.bpos, s.qpos = 1, s.qpos + size
      if #s.buf < size then s.dry = true end
      if #s.buf == 0 then break end
    end
    local m = s.buf[s.bpos]
    s.bpos = s.bpos + 1
    if not taken[m] and not s.is_fresh[m] then
      taken[m] = true; s.rp[#s.rp + 1] = m; got = got + 1
    end
  end
  return got
end

local function take(s, q)
  s.quota = s.quota + q
  local want_f = math.min(q, math.max(0, math.floor(s.quota * f + 0.5) - s.nf))
  local got = take_fresh(s, want_f)
  got = got + take_ranked(s, q - got)
  if got < q then got = got + take_fresh(s, q - got) end
  return got
end

-- largest remainder in exact integer arithmetic (doubles hold these products exactly)
local function quotas(active, budget)
  local W = 0
  for _, s in ipairs(active) do W = W + s.w end
  local q, rest, order = {}, budget, {}
  for i, s in ipairs(active) do
    local x = budget * s.w
    local b = math.floor(x / W)
    while b * W > x do b = b - 1 end
    while (b + 1) * W <= x do b = b + 1 end
    q[i], rest, order[i] = b, rest - b, {x - b * W, i}
  end
  table.sort(order, function(a, b)
    if a[1] ~= b[1] then return a[1] > b[1] end
    return a[2] < b[2]
  end)
  for j = 1, rest do q[order[j][2]] = q[order[j][2]] + 1 end
  return q
end

local active, remaining = sources, n
while remaining > 0 and #active > 0 do
  local q = quotas(active, remaining)
  local still = {}
  for i, s in ipairs(active) do
    local got = take(s, q[i])
    remaining = remaining - got
    if got == q[i] then still[#still + 1] = s end
  end
  active = still
end

-- each source's ranked, then fresh picks, best first, as one space-separated string per list: the client
-- parses one string per list and interleaves them (rule 5), keeping that work off the single-threaded server
local lists = {}
for _, s in ipairs(sources) do
  for _, l in ipairs({s.rp, s.fp}) do
    if #l > 0 then lists[#lists + 1] = s.id; lists[#lists + 1] = table.concat(l, ' ') end
  end
end
return {origin, topics, lists}
"""
_GENERATE_SHA = hashlib.sha1(_GENERATE.encode()).hexdigest()

_READ_CHUNK = 32
"""Smallest ZREVRANGE a source reads at a time (it reads 1.25 times what it still needs, plus 16)."""


@dataclass(eq=False)
class CandidateSet:
    """Candidates of one user, best first.

    Attributes
    ----------
    video_ids : np.ndarray
        int64, best first within each topic, topics (and fresh videos) interleaved in proportion to their
        numbers (rule 5 of the module docstring).
    topics : list[int]
        The user's top N2 topics the candidates were drawn from, best first (empty for cold start).
    source : str
        ``"topics"`` or ``"cold_start"`` (the global queue).
    from_topic : np.ndarray
        int64, the topic each candidate came from; ``-1`` for cold start.
    """

    video_ids: np.ndarray
    topics: list[int]
    source: str
    from_topic: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.video_ids)


# --------------------------------------------------------------------------------------------- reference


def _redis_order(entries: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
    """``ZREVRANGE`` order: score descending, ties by member string descending."""
    return sorted(entries, key=lambda e: (e[1], str(e[0])), reverse=True)


def largest_remainder(budget: int, weights: list[int]) -> list[int]:
    """Split ``budget`` in proportion to ``weights``: floors, then +1 to the largest remainders (ties:
    the earlier weight)."""
    total = sum(weights)
    base = [budget * w // total for w in weights]
    rems = [budget * w - b * total for w, b in zip(weights, base, strict=True)]
    for i in sorted(range(len(weights)), key=lambda i: (-rems[i], i))[: budget - sum(base)]:
        base[i] += 1
    return base


class _Source:
    """One queue being walked: its ranked and fresh parts, best first, and how much it has given."""

    def __init__(self, topic: int, weight: int, queue: list[tuple[int, float]], fresh: set[int]) -> None:
        ordered = _redis_order(queue)
        self.topic, self.weight = topic, weight
        self.ranked = [e for e in ordered if e[0] not in fresh]
        self.fresh = [e for e in ordered if e[0] in fresh]
        self.rpos = self.fpos = 0
        self.quota = self.n_fresh = 0
        self.picked: dict[str, list[int]] = {"ranked": [], "fresh": []}


def reference_candidates(
    topic_counts: Mapping[int, int],
    clicked: Iterable[int],
    queues: Mapping[int, list[tuple[int, float]]],
    fresh: Mapping[int, set[int]],
    *,
    n: int,
    top_topics: int,
    fresh_share: float,
) -> CandidateSet:
    """In-memory statement of the candidate rules (module docstring); the Lua script must agree with it.

    Parameters
    ----------
    topic_counts : mapping
        ``topic_id -> clicks`` over the user's last N1 clicks; non-positive counts and negative ids ignored.
    clicked : iterable of int
        The user's click list; these videos are never candidates.
    queues : mapping
        ``topic_id -> [(video_id, score)]``, each topic's whole queue (ranked and fresh, any order).
        ``queues[-1]`` (:data:`GLOBAL_TOPIC`) is the cold-start queue.
    fresh : mapping
        ``topic_id -> {video_id}``, the fresh part of a queue (a subset of it); a missing topic has none.
    n, top_topics, fresh_share : int, int, float
        N3, N2 and the share of each source's quota taken from its fresh part.

    Returns
    -------
    CandidateSet
    """
    votes = sorted(
        ((t, c) for t, c in topic_counts.items() if t >= 0 and c > 0), key=lambda tc: (-tc[1], tc[0])
    )
    chosen = votes[:top_topics]
    source = "topics" if chosen else "cold_start"
    if not chosen:
        chosen = [(GLOBAL_TOPIC, 1)]
    sources = [_Source(t, c, list(queues.get(t, ())), set(fresh.get(t, ()))) for t, c in chosen]
    taken = {int(v) for v in clicked}

    def walk(src: _Source, part: str, k: int) -> int:
        entries, pos = (src.fresh, src.fpos) if part == "fresh" else (src.ranked, src.rpos)
        got = 0
        while got < k and pos < len(entries):
            video = entries[pos][0]
            pos += 1
            if video not in taken:
                taken.add(video)
                src.picked[part].append(video)
                got += 1
        if part == "fresh":
            src.fpos, src.n_fresh = pos, src.n_fresh + got
        else:
            src.rpos = pos
        return got

    def take(src: _Source, q: int) -> int:
        src.quota += q
        want_fresh = min(q, max(0, math.floor(src.quota * fresh_share + 0.5) - src.n_fresh))
        got = walk(src, "fresh", want_fresh)
        got += walk(src, "ranked", q - got)
        if got < q:
            got += walk(src, "fresh", q - got)
        return got

    active, remaining = sources, n
    while remaining > 0 and active:
        quotas = largest_remainder(remaining, [s.weight for s in active])
        still = []
        for src, q in zip(active, quotas, strict=True):
            got = take(src, q)
            remaining -= got
            if got == q:
                still.append(src)
        active = still

    lists = [
        (np.array(src.picked[part], dtype=np.int64), src.topic)
        for src in sources
        for part in ("ranked", "fresh")
    ]
    ids, origin = interleave(lists)
    return CandidateSet(
        video_ids=ids,
        topics=[t for t, _ in chosen if t != GLOBAL_TOPIC],
        source=source,
        from_topic=origin,
    )


def interleave(lists: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Rule 5: merge best-first lists ``[(video_ids, topic)]`` in proportion to their lengths.

    Element ``j`` of a list of length ``L`` sits at ``(2j + 1) / 2L``; ties go to the earlier list. Returns
    the video ids and the topic of each.
    """
    lists = [(np.asarray(v, dtype=np.int64), t) for v, t in lists if len(v)]
    if not lists:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    # correctly rounded division: equal fractions give equal floats, and different ones (denominators far
    # below 2**26) different floats, so this orders exactly like the fractions
    keys = np.concatenate([(2 * np.arange(len(v)) + 1) / (2 * len(v)) for v, _ in lists])
    which = np.concatenate([np.full(len(v), i) for i, (v, _) in enumerate(lists)])
    order = np.lexsort((which, keys))
    ids = np.concatenate([v for v, _ in lists])[order]
    topics = np.array([t for _, t in lists], dtype=np.int64)[which[order]]
    return ids, topics


# ------------------------------------------------------------------------------------------------ Redis


def _service_error(client, exc: Exception) -> Exception:
    import redis

    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        kw = client.connection_pool.connection_kwargs
        where = kw.get("path") or f"{kw.get('host', '?')}:{kw.get('port', '?')}"
        return ServiceError(f"Redis at {where} unreachable: {first_line(exc)}")
    if isinstance(exc, redis.exceptions.ResponseError):
        return DataError(f"candidate generation failed in Redis: {first_line(exc)}")
    return exc


class CandidateGenerator:
    """A user's N3 candidates from the queues of their top N2 topics, in one Redis round trip.

    Parameters
    ----------
    redis : redis.Redis, optional
        Any redis-py client (``decode_responses`` either way); default: one from ``settings``.
    settings : Settings, optional
        ``ranker.history_clicks`` (N1), ``ranker.top_topics`` (N2), ``ranker.candidates`` (N3),
        ``stream.fresh_share``, ``stream.queue_prefix``, ``stream.user_prefix``; default: the global settings.

    Attributes
    ----------
    sha_ : str
        SHA1 of the Lua script, as Redis knows it (re-loaded after a ``NOSCRIPT``).
    """

    def __init__(self, *, redis=None, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        if redis is None:
            from mtl.connections import redis_client

            redis = redis_client(self.settings)
        self.redis = redis
        self.sha_ = _GENERATE_SHA

    def generate(self, user_id: int, *, n: int | None = None) -> CandidateSet:
        """Candidates of ``user_id``: ``n`` (default N3) videos, fewer when the queues run dry.

        Raises
        ------
        DataError
            ``user_id`` is not a non-negative integer, ``n`` is not a non-negative integer, or Redis holds
            a key of the wrong type.
        ServiceError
            Redis cannot be reached.
        """
        if isinstance(user_id, bool) or not isinstance(user_id, int | np.integer) or user_id < 0:
            raise DataError(f"user_id must be a non-negative integer, got {user_id!r}")
        r, s = self.settings.ranker, self.settings.stream
        n = r.candidates if n is None else n
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise DataError(f"n must be a non-negative integer, got {n!r}")
        user = f"{s.user_prefix}:{int(user_id)}"
        args = [
            s.queue_prefix,
            int(n),
            r.top_topics,
            repr(float(s.fresh_share)),
            r.history_clicks,
            _READ_CHUNK,
        ]
        origin, topics, flat = self._call([user, f"{user}:topics"], args)
        ids, from_topic = interleave(
            [(np.array(flat[i + 1].split(), dtype=np.int64), int(flat[i])) for i in range(0, len(flat), 2)]
        )
        return CandidateSet(
            video_ids=ids,
            topics=[int(t) for t in topics],
            source=origin.decode() if isinstance(origin, bytes) else origin,
            from_topic=from_topic,
        )

    def _call(self, keys: list[str], args: list) -> list:
        import redis

        try:
            try:
                return self.redis.evalsha(self.sha_, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                # first call on this server, or it was restarted / SCRIPT FLUSHed since
                self.sha_ = self.redis.script_load(_GENERATE)
                return self.redis.evalsha(self.sha_, len(keys), *keys, *args)
        except redis.exceptions.RedisError as exc:
            raise _service_error(self.redis, exc) from exc
