"""Per-topic CTR queues: the rules, as pure functions shared by the worker and the batch reference.

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

Fresh videos are sampled by a sort key (smallest first). ``fresh_sampling="uniform"``: a 52-bit
``blake2b(salt, topic, video)`` hash — a uniform pseudo-random sample that a batch recomputation, a
restarted worker and a second worker all agree on. ``"thompson"``: one draw of the video's CTR posterior
``Beta(clicks + alpha, exposures - clicks + beta)`` (seeded by the same hash and the counts, so it is
reproducible too), negated, so fresh videos whose first exposures went well are shown more.
Every member's Redis score is its smoothed CTR (fresh videos sit near the global mean).

Sharding: the worker that owns a Kafka partition knows only that partition's videos. It keeps, per topic,
its partition's *candidates* (:class:`Candidates`: its best ``floor((1 - f) L)`` ranked videos and its
``fresh_cap`` first fresh ones) and :func:`merge` turns the candidates of every partition into the queue.
That is exact: the global top ``n_r`` ranked videos are among the partitions' top ``floor((1 - f) L)``,
the global first ``n_f`` fresh ones among the partitions' first ``fresh_cap >= n_f``. :func:`build_queue`
is merge of a single partition, which is what the batch reference uses.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    """Deterministic pseudo-random rank of a fresh video within a topic (52 bits: exact as a double)."""
    h = hashlib.blake2b(f"{salt}:{topic}:{video}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") >> 12


def fresh_sort_key(topic: int, video: int, e: float, c: float, prior: Prior, s: StreamSettings) -> float:
    """Sort key of a fresh video (smallest first) under ``s.fresh_sampling``."""
    h = fresh_key(s.fresh_salt, topic, video)
    if s.fresh_sampling == "uniform":
        return float(h)
    rng = np.random.default_rng([h, int(e * 1000), int(c * 1000)])
    a = c + prior.alpha
    b = max(e - c, 0.0) + prior.beta
    return -float(rng.beta(a, b)) if a > 0 and b > 0 else -float(a > 0)


def ranked_cap(s: StreamSettings) -> int:
    """Most ranked videos a queue holds: ``floor((1 - f) L)``."""
    return math.floor((1.0 - s.fresh_share) * s.queue_length + 1e-9)


def fresh_want(n_ranked: int, s: StreamSettings) -> int:
    """Fresh videos a queue with ``n_ranked`` ranked ones asks for (before the length cap)."""
    f = s.fresh_share
    if f >= 1.0:
        return s.queue_length
    if f <= 0:
        return 0
    return max(s.min_fresh, math.ceil(f * n_ranked / (1.0 - f) - 1e-9))


def fresh_cap(s: StreamSettings) -> int:
    """Most fresh videos any queue can hold: what a partition keeps as fresh candidates."""
    return min(s.queue_length, fresh_want(ranked_cap(s), s))


@dataclass
class Candidates:
    """One partition's share of a topic queue: ``ranked {video: ctr}``, ``fresh {video: (key, ctr)}``."""

    ranked: dict[int, float] = field(default_factory=dict)
    fresh: dict[int, tuple[float, float]] = field(default_factory=dict)


Entry = tuple[float] | tuple[float, float] | None
"""A video's place in a topic: ``(ctr,)`` ranked, ``(fresh sort key, ctr)`` fresh, ``None`` removed."""


def entry(topic: int, video: int, e: float, c: float, prior: Prior, s: StreamSettings) -> Entry:
    """Where the τ1/τ2 rules put one video of ``topic``."""
    score = smoothed_ctr(e, c, prior)
    if e >= s.min_exposures:
        return (score,) if score >= s.min_ctr else None
    return (fresh_sort_key(topic, video, e, c, prior, s), score)


def candidates(
    topic: int,
    members: Iterable[tuple[int, float, float]],
    prior: Prior,
    s: StreamSettings,
    *,
    capped: bool = True,
) -> Candidates:
    """The candidates among ``(video_id, exposures, clicks)`` of one topic (one partition's videos).

    ``capped=False`` keeps every ranked and fresh video (what the worker stores: Redis picks the best).
    """
    ranked: list[tuple[float, int]] = []
    fresh: list[tuple[float, int, float]] = []
    for video, e, c in members:
        place = entry(topic, video, e, c, prior, s)
        if place is None:
            continue
        if len(place) == 1:
            ranked.append((place[0], video))
        else:
            fresh.append((place[0], video, place[1]))
    if capped:
        ranked.sort(key=lambda t: (-t[0], t[1]))
        fresh.sort()
        ranked, fresh = ranked[: ranked_cap(s)], fresh[: fresh_cap(s)]
    return Candidates({video: score for score, video in ranked}, {v: (key, sc) for key, v, sc in fresh})


def merge_parts(parts: Iterable[Candidates], s: StreamSettings) -> tuple[dict[int, float], dict[int, float]]:
    """The ranked and the fresh part ``{video_id: score}`` of a topic's queue from every partition's
    candidates."""
    parts = list(parts)
    ranked = sorted(((sc, v) for p in parts for v, sc in p.ranked.items()), key=lambda t: (-t[0], t[1]))
    fresh = sorted((key, v, sc) for p in parts for v, (key, sc) in p.fresh.items())
    n_r = min(len(ranked), ranked_cap(s))
    n_f = min(len(fresh), s.queue_length - n_r, fresh_want(n_r, s))
    return {video: score for score, video in ranked[:n_r]}, {video: score for _, video, score in fresh[:n_f]}


def merge(parts: Iterable[Candidates], s: StreamSettings) -> dict[int, float]:
    """The queue ``{video_id: score}`` from every partition's candidates of one topic."""
    ranked, fresh = merge_parts(parts, s)
    return ranked | fresh


def build_queue(
    topic: int, members: Iterable[tuple[int, float, float]], prior: Prior, s: StreamSettings
) -> dict[int, float]:
    """The queue of one topic from ``(video_id, exposures, clicks)`` of all its videos."""
    return merge([candidates(topic, members, prior, s)], s)


def topics_of(video_topics: pd.DataFrame) -> dict[int, tuple[int, ...]]:
    """``{video_id: (topic ids...)}`` from a ``video_topics`` frame (-1 padding dropped)."""
    out: dict[int, tuple[int, ...]] = {}
    for vid, ids in zip(video_topics["video_id"].to_numpy(), video_topics["topic_ids"], strict=True):
        out[int(vid)] = tuple(int(t) for t in np.asarray(ids) if t >= 0)
    return out


def queues_from_counts(
    counts: Mapping[int, tuple[float, float]],
    topics: Mapping[int, tuple[int, ...]],
    settings: StreamSettings,
) -> dict[int, dict[int, float]]:
    """Every topic's queue from per-video ``(exposures, clicks)``, with the prior fitted to their totals."""
    total_e = sum(e for e, _ in counts.values())
    total_c = sum(c for _, c in counts.values())
    prior = fit_prior(total_e, total_c, settings.prior_strength)
    by_topic: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for v, (e, c) in counts.items():
        for t in topics.get(v, ()):
            by_topic[t].append((v, e, c))
    return {t: build_queue(t, members, prior, settings) for t, members in by_topic.items()}


def recompute_queues(
    interactions: pd.DataFrame,
    video_topics: pd.DataFrame | Mapping[int, tuple[int, ...]],
    settings: StreamSettings,
    *,
    videos: Iterable[int] = (),
) -> tuple[dict[int, tuple[int, int]], dict[int, dict[int, float]]]:
    """Batch reference: per-video ``(exposures, clicks)`` and every topic's queue (no time decay).

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
    return counts, queues_from_counts(counts, topics, settings)
