"""``mtl stream rebuild-queues``: Redis state rebuilt from the worker's tables, read from their changelogs.

Redis holds derived state only. After Redis was wiped (or a prefix flushed) this reads the latest value of
every key of the ``video_counts`` and ``user_clicks`` changelog topics from Kafka, resolves the videos'
topics the way the worker does, and writes every candidate set, topic queue, total and user list whole —
without a running worker. Running workers repair the same state on their own within
``stream.full_refresh_s`` (their partitions' liveness marks are gone); both write the same absolute values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mtl.settings import Settings


def changelog_topic(settings: Settings, table: str) -> str:
    return f"{settings.stream.app_id}-{table}-changelog"


def read_table(
    bootstrap_servers: str, topic: str, *, settings: Settings | None = None, timeout_s: float = 30.0
) -> dict:
    """The latest value of every state key of a Faust changelog topic (JSON keys and values); the
    stages' input positions (:mod:`streams.positions`) are left out."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    from mtl.connections import kafka_python_kwargs
    from mtl.errors import ServiceError
    from mtl.settings import get_settings
    from streams.positions import state_items

    security = kafka_python_kwargs(settings or get_settings())
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, **security)
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            return {}
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: dict = {}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise ServiceError(f"timed out reading changelog {topic} at {bootstrap_servers}")
            for records in consumer.poll(timeout_ms=500, max_records=50_000).values():
                for r in records:
                    key = json.loads(r.key)
                    if r.value is None:
                        out.pop(key, None)
                    else:
                        out[key] = json.loads(r.value)
        return dict(state_items(out.items()))
    finally:
        consumer.close()


@dataclass
class RebuildReport:
    videos: int
    topics: int
    users: int


def rebuild_queues(settings: Settings) -> RebuildReport:
    """Rewrite every queue, candidate set, total and user list from the changelogs."""
    from mtl.connections import redis_client
    from streams.global_queue import write_global_queue
    from streams.queue_store import QueueStore
    from streams.queues import fit_prior
    from streams.topics import TopicResolver
    from streams.users import write_user_lists
    from streams.videos import partition_candidates, partition_totals

    s = settings.stream
    bootstrap = settings.kafka_bootstrap_servers
    counts = read_table(bootstrap, changelog_topic(settings, "video_counts"), settings=settings)
    users = read_table(bootstrap, changelog_topic(settings, "user_clicks"), settings=settings)
    resolver = TopicResolver(settings)
    resolver.resolve(list(counts))
    totals = partition_totals(counts)
    exposures, clicks = (sum(t[i] for t in totals.values()) for i in (0, 1))
    prior = fit_prior(exposures, clicks, s.prior_strength)
    client = redis_client(settings)
    try:
        store = QueueStore(client, s)
        new = partition_candidates(counts, resolver.cache, prior, s)
        # the liveness marks are left alone: running workers rewrite from their live state as well
        store.write_whole(new, {p: tuple(t) for p, t in totals.items()}, [])
        write_user_lists(client, s.user_prefix, users)
        write_global_queue(client, s)
    finally:
        client.close()
    return RebuildReport(videos=len(counts), topics=len({t for t, _ in new}), users=len(users))
