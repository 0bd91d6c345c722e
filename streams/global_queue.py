"""The cold-start queue: the best videos of all topic queues, under the same length and fresh rules.

``<queue_prefix>:global`` (and ``:global:fresh``) serve users without click history. The stream worker
that leads the consumer group rewrites them every ``stream.global_refresh_s`` seconds from the topic
queues in Redis (cold-start users need popular, good videos, not second-fresh ones); ``mtl stream
rebuild-queues`` writes them too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mtl.settings import StreamSettings
from streams.queues import fresh_want, ranked_cap

GLOBAL_TOPIC = -1  # the cold-start queue's id where topic ids are expected (candidate origins, references)


def global_queue(
    queues: Mapping[int, list[tuple[int, float]]], fresh: Mapping[int, set[int]], settings: StreamSettings
) -> tuple[list[tuple[int, float]], set[int]]:
    """The cold-start queue from every topic queue, by the topic queues' own length and fresh rules.

    Ranked: the best ``floor((1 - f) L)`` non-fresh videos of all queues by score (ties: smaller id);
    fresh: the best of all fresh parts, ``fresh_want`` of them (:mod:`streams.queues`). Returns the queue
    ``[(video_id, score)]`` best first and its fresh members.
    """
    ranked: dict[int, float] = {}
    fresh_scores: dict[int, float] = {}
    for topic, queue in queues.items():
        if topic == GLOBAL_TOPIC:
            continue
        part = fresh.get(topic, set())
        for video, score in queue:
            target = fresh_scores if video in part else ranked
            target[video] = max(score, target.get(video, score))
    fresh_scores = {v: s for v, s in fresh_scores.items() if v not in ranked}
    best = sorted(ranked.items(), key=lambda e: (-e[1], e[0]))[: ranked_cap(settings)]
    n_f = min(len(fresh_scores), settings.queue_length - len(best), fresh_want(len(best), settings))
    new = sorted(fresh_scores.items(), key=lambda e: (-e[1], e[0]))[: max(n_f, 0)]
    return best + new, {v for v, _ in new}


def write_global_queue(client, settings: StreamSettings, *, scan_count: int = 1000) -> int:
    """Rebuild ``P:global`` and ``P:global:fresh`` from every topic queue in Redis; returns its length.

    Reads are pipelined; the two keys are replaced in one ``MULTI``.
    """
    prefix = settings.queue_prefix
    pattern = re.compile(rf"^{re.escape(prefix)}:(\d+)$")
    topics = sorted(
        {
            int(m.group(1))
            for key in client.scan_iter(match=f"{prefix}:*", count=scan_count)
            if (m := pattern.match(key.decode() if isinstance(key, bytes) else key))
        }
    )
    pipe = client.pipeline(transaction=False)
    for t in topics:
        pipe.zrange(f"{prefix}:{t}", 0, -1, withscores=True)
        pipe.zrange(f"{prefix}:{t}:fresh", 0, -1)
    rows = pipe.execute()
    queues = {t: [(int(m), float(s)) for m, s in rows[2 * i]] for i, t in enumerate(topics)}
    fresh = {t: {int(m) for m in rows[2 * i + 1]} for i, t in enumerate(topics)}
    queue, fresh_part = global_queue(queues, fresh, settings)
    pipe = client.pipeline(transaction=True)
    pipe.delete(f"{prefix}:global", f"{prefix}:global:fresh")
    if queue:
        pipe.zadd(f"{prefix}:global", {str(v): s for v, s in queue})
    if fresh_part:
        pipe.zadd(f"{prefix}:global:fresh", {str(v): s for v, s in queue if v in fresh_part})
    pipe.execute()
    return len(queue)
