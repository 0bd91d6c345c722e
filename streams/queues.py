"""Per-topic CTR queues: the rules (pure functions), the batch reference, and idempotent Redis writes.

CTR estimate: Beta prior fitted to the global CTR ``p = clicks / exposures`` over all videos, with strength
``m = stream.prior_strength`` (``alpha = m p``, ``beta = m (1 - p)``); a video's smoothed CTR is
``(clicks + alpha) / (exposures + alpha + beta)``. Both the τ2 rule and the ranking use the smoothed CTR.

Queue of a topic (every video that has the topic and was seen in an event or publication):

- exposures >= τ1 and smoothed CTR >= τ2: *ranked* candidates, best first;
- exposures >= τ1 and smoothed CTR < τ2: removed (not in the queue);
- exposures < τ1: *fresh* candidates.

With ``L = stream.queue_length`` and ``f = stream.fresh_share``: the ranked part keeps its best
``n_r = min(#ranked, floor((1 - f) L))`` videos; the fresh part keeps ``n_f = min(#fresh, L - n_r,
max(min_fresh, ceil(f n_r / (1 - f))))`` videos, so fresh videos are about ``f`` of an established queue,
while a young topic with few ranked videos still shows up to ``stream.min_fresh`` fresh ones to explore.
Fresh videos are sampled deterministically: the ``n_f``
with the smallest ``blake2b(salt, topic, video)`` hash — a uniform pseudo-random sample that the batch
recomputation, a restarted worker and a second worker all agree on. Every member's Redis score is its
smoothed CTR (fresh videos sit near the global mean, interleaved with ranked ones).

Redis layout: one sorted set per topic, ``<stream.queue_prefix>:<topic_id>``, member ``str(video_id)``,
score the smoothed CTR. A queue is written from absolute state in a MULTI pipeline (``DEL`` + ``ZADD``),
never by increments, so replays, redeliveries and restarts cannot corrupt it.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from mtl.settings import StreamSettings


@dataclass(frozen=True)
class Prior:
    alpha: float
    beta: float


def fit_prior(exposures: float, clicks: float, strength: float) -> Prior:
    """Beta prior with mean the global CTR and ``alpha + beta = strength``."""
    p = min(max(clicks / exposures, 0.0), 1.0) if exposures > 0 else 0.0
    return Prior(strength * p, strength * (1.0 - p))


def smoothed_ctr(exposures: float, clicks: float, prior: Prior) -> float:
    denom = exposures + prior.alpha + prior.beta
    return (clicks + prior.alpha) / denom if denom > 0 else 0.0


@lru_cache(maxsize=1 << 20)
def fresh_key(salt: str, topic: int, video: int) -> int:
    """Deterministic pseudo-random rank of a fresh video within a topic."""
    h = hashlib.blake2b(f"{salt}:{topic}:{video}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big")


def build_queue(
    topic: int,
    members: Iterable[tuple[int, float, float]],
    prior: Prior,
    s: StreamSettings,
) -> dict[int, float]:
    """The queue of one topic from ``(video_id, exposures, clicks)`` of its videos: ``{video_id: score}``."""
    ranked: list[tuple[float, int]] = []
    fresh: list[tuple[int, int, float]] = []
    for video, e, c in members:
        score = smoothed_ctr(e, c, prior)
        if e >= s.min_exposures:
            if score >= s.min_ctr:
                ranked.append((score, video))
        else:
            fresh.append((fresh_key(s.fresh_salt, topic, video), video, score))
    L, f = s.queue_length, s.fresh_share
    ranked.sort(key=lambda t: (-t[0], t[1]))
    n_r = min(len(ranked), math.floor((1.0 - f) * L + 1e-9))
    if f >= 1.0:
        want = L
    else:
        want = max(s.min_fresh, math.ceil(f * n_r / (1.0 - f) - 1e-9)) if f > 0 else 0
    n_f = min(len(fresh), L - n_r, want)
    queue = {video: score for score, video in ranked[:n_r]}
    if n_f:
        fresh.sort()
        queue.update({video: score for _, video, score in fresh[:n_f]})
    return queue


def topics_of(video_topics: pd.DataFrame) -> dict[int, tuple[int, ...]]:
    """``{video_id: (topic ids...)}`` from a ``video_topics`` frame (-1 padding dropped)."""
    out: dict[int, tuple[int, ...]] = {}
    for vid, ids in zip(video_topics["video_id"].to_numpy(), video_topics["topic_ids"], strict=True):
        out[int(vid)] = tuple(int(t) for t in np.asarray(ids) if t >= 0)
    return out


def recompute_queues(
    interactions: pd.DataFrame,
    video_topics: pd.DataFrame | Mapping[int, tuple[int, ...]],
    settings: StreamSettings,
    *,
    videos: Iterable[int] = (),
) -> tuple[dict[int, tuple[int, int]], dict[int, dict[int, float]]]:
    """Batch reference: per-video ``(exposures, clicks)`` and every topic's queue.

    ``interactions`` has one row per exposure with a ``clicked`` flag (the canonical table); ``videos``
    adds videos known without interactions (published only), which enter their topics' fresh parts.
    """
    topics = topics_of(video_topics) if isinstance(video_topics, pd.DataFrame) else dict(video_topics)
    grouped = interactions.groupby("video_id")["clicked"].agg(["size", "sum"])
    counts = {
        int(v): (int(e), int(c))
        for v, e, c in zip(grouped.index, grouped["size"], grouped["sum"], strict=True)
    }
    for v in videos:
        counts.setdefault(int(v), (0, 0))
    total_e = sum(e for e, _ in counts.values())
    total_c = sum(c for _, c in counts.values())
    prior = fit_prior(total_e, total_c, settings.prior_strength)
    by_topic: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for v, (e, c) in counts.items():
        for t in topics.get(v, ()):
            by_topic[t].append((v, e, c))
    queues = {t: build_queue(t, members, prior, settings) for t, members in by_topic.items()}
    return counts, queues


def queue_key(prefix: str, topic: int) -> str:
    return f"{prefix}:{topic}"


def write_queues(client, prefix: str, queues: Mapping[int, Mapping[int, float]], *, chunk: int = 200) -> None:
    """Replace each topic's sorted set with its absolute state (MULTI: DEL + ZADD), chunked pipelines."""
    items = list(queues.items())
    for i in range(0, len(items), chunk):
        pipe = client.pipeline(transaction=True)
        for topic, queue in items[i : i + chunk]:
            key = queue_key(prefix, topic)
            pipe.delete(key)
            if queue:
                pipe.zadd(key, {str(v): float(s) for v, s in queue.items()})
        pipe.execute()


def read_queue(client, prefix: str, topic: int) -> list[tuple[int, float]]:
    """A topic's queue, best first: ``[(video_id, score)]``."""
    rows = client.zrevrange(queue_key(prefix, topic), 0, -1, withscores=True)
    return [(int(m), float(s)) for m, s in rows]


def write_queue_changes(
    client,
    prefix: str,
    queues: Mapping[int, Mapping[int, float]],
    written: dict[int, dict[int, float]],
    *,
    chunk: int = 200,
) -> None:
    """Bring each topic's sorted set from ``written`` (what was last written) to ``queues``.

    Still absolute and idempotent: ``ZADD`` of the members whose score is new or changed, ``ZREM`` of those
    that left, in MULTI pipelines; ``written`` is updated in place.
    """
    items = list(queues.items())
    for i in range(0, len(items), chunk):
        pipe = client.pipeline(transaction=True)
        n = 0
        for topic, queue in items[i : i + chunk]:
            old = written.get(topic, {})
            key = queue_key(prefix, topic)
            gone = [str(v) for v in old if v not in queue]
            changed = {str(v): float(s) for v, s in queue.items() if old.get(v) != s}
            if gone:
                pipe.zrem(key, *gone)
                n += 1
            if changed:
                pipe.zadd(key, changed)
                n += 1
            written[topic] = dict(queue)
        if n:
            pipe.execute()
