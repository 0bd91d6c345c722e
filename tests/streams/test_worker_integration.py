"""A real `mtl stream worker` against the dev stack's Kafka and Redis, fed by `streams.replay`.

The final per-video counts and every topic queue must equal the batch recomputation of the same log;
redelivered events are dropped by the event-id dedup; malformed events land in the dead-letter topic.
"""

from __future__ import annotations

import base64
import os
import time
import zlib

import numpy as np
import orjson
import pandas as pd
import pytest

from mtl.settings import StreamSettings
from streams.queues import read_queue, recompute_queues
from streams.replay import iter_events, replay
from topic_learning.data import SyntheticConfig, generate

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_TOPICS = 5
BAD = [
    b"{not json",
    orjson.dumps({"type": "like", "event_id": "z", "user_id": 1, "video_id": 1, "ts": 1.7e9}),
    orjson.dumps({"type": "click", "event_id": "z", "user_id": "1", "video_id": 1, "ts": 1.7e9}),
    orjson.dumps({"type": "exposure", "event_id": "z", "user_id": 1, "video_id": 1, "ts": 12.0}),
    b'{"type": "exposure", "pad": "' + b"x" * 70000 + b'"}',
]


def _topics(videos: pd.DataFrame) -> pd.DataFrame:
    """Stand-in topic assignment: one topic from the secondary class, a second one for a third of videos."""
    ids = []
    for vid, cls in zip(videos["video_id"], videos["secondary_class"], strict=True):
        t = zlib.crc32(str(cls).encode()) % N_TOPICS
        ids.append([t, (t + 1) % N_TOPICS] if vid % 3 == 0 else [t])
    return pd.DataFrame({"video_id": videos["video_id"].astype("int64"), "topic_ids": ids})


def _wait(predicate, timeout: float, what: str, proc, detail=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode} while waiting for {what}")
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}: {detail() if detail else ''}")


def test_worker_matches_batch_recomputation(
    services, unique_name, redis_client, kafka_admin, tmp_path, workers
):
    from kafka import KafkaConsumer, KafkaProducer

    data = generate(
        SyntheticConfig(n_videos=150, n_users=200, n_days=1, n_exposures=5000, covers=False, seed=3),
        tmp_path / "corpus",
        progress=False,
    )
    topics = _topics(data.videos)
    topics_file = tmp_path / "video_topics.parquet"
    topics.to_parquet(topics_file)

    events, dlq, prefix = f"{unique_name}-events", f"{unique_name}-dlq", f"{unique_name}:q"
    app_id = unique_name
    kafka_admin.created_topics += [events, dlq, f"{app_id}-video_counts-changelog"]
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=services.kafka_bootstrap_servers,
        REDIS_URL=services.redis_url,
        MTL_STREAM__APP_ID=app_id,
        MTL_STREAM__EVENTS_TOPIC=events,
        MTL_STREAM__DEAD_LETTER_TOPIC=dlq,
        MTL_STREAM__QUEUE_PREFIX=prefix,
        MTL_STREAM__USER_PREFIX=f"{unique_name}:u",
        MTL_STREAM__TOPICS_FILE=str(topics_file),
        MTL_STREAM__ASSIGN_WITH_MODEL="false",
        MTL_STREAM__FEAST_PUSH="false",
        MTL_STREAM__DATA_DIR=str(tmp_path / "faust"),
        MTL_STREAM__FULL_REFRESH_S="1",
        MTL_STREAM__PARTITIONS="4",
        MTL_STREAM__QUEUE_LENGTH="40",
        MTL_STREAM__MIN_FRESH="1",  # tiny queues: measure the proportional fresh share
    )
    proc = workers.start(env)
    t0 = time.monotonic()
    out = replay(
        data,
        bootstrap_servers=services.kafka_bootstrap_servers,
        topic=events,
        progress=False,
        source="t",
        partitions=4,
    )
    # redeliver the log's tail (what a crash before the offset commit does) and some garbage
    producer = KafkaProducer(bootstrap_servers=services.kafka_bootstrap_servers)
    records = list(iter_events(data, source="t"))
    for key, value in records[-300:]:
        producer.send(events, key=key, value=value)
    for raw in BAD:
        producer.send(events, key=b"1", value=raw)
    producer.flush()
    producer.close()

    stats_key = f"{prefix}:stats"

    def stat(name: str) -> int:
        return int(redis_client.hget(stats_key, name) or 0)

    _wait(
        lambda: stat("good") >= out["events"] and stat("bad") >= len(BAD) and stat("duplicate") >= 300,
        60,
        "all events counted",
        proc,
        lambda: redis_client.hgetall(stats_key),
    )
    assert stat("good") == out["events"]
    assert stat("duplicate") == 300
    assert stat("bad") == len(BAD)

    s = StreamSettings(queue_length=40, min_fresh=1)
    counts, expected = recompute_queues(data.interactions, topics, s, videos=data.videos["video_id"].tolist())

    def queues_match() -> bool:
        for t, q in expected.items():
            got = dict(read_queue(redis_client, prefix, t))
            if set(got) != set(q) or any(abs(got[v] - q[v]) > 1e-12 for v in q):
                return False
        return True

    _wait(queues_match, 15, "queues equal to the batch recomputation", proc)
    elapsed = time.monotonic() - t0
    for t, q in expected.items():
        got = read_queue(redis_client, prefix, t)
        assert [v for v, _ in got] == sorted(q, key=lambda v: (q[v], str(v)), reverse=True), (
            f"order of topic {t}"
        )
        scores = [sc for _, sc in got]
        assert scores == sorted(scores, reverse=True)
    # fresh share: about fresh_share of each queue that has enough fresh candidates
    fresh = sum(1 for q in expected.values() for v in q if counts[v][0] < s.min_exposures)
    total = sum(len(q) for q in expected.values())
    assert 0.05 <= fresh / total <= 0.2, (fresh, total)
    assert sum(e for e, _ in counts.values()) == len(data.interactions)
    print(f"{out['events']} events, queues converged in {elapsed:.1f}s; fresh share {fresh / total:.3f}")

    # restart: counts come back from the changelog, a redelivered tail is dropped, queues stay equal
    workers.stop(proc)
    before = {t: read_queue(redis_client, prefix, t) for t in expected}
    redis_client.delete(stats_key)
    proc = workers.start(env)
    producer = KafkaProducer(bootstrap_servers=services.kafka_bootstrap_servers)
    for key, value in records[-200:]:
        producer.send(events, key=key, value=value)
    producer.flush()
    producer.close()
    _wait(
        lambda: stat("duplicate") >= 200,
        40,
        "redelivered events dropped after restart",
        proc,
        lambda: redis_client.hgetall(stats_key),
    )
    # >= 200: events after the last offset commit before the stop are redelivered too, and dropped
    time.sleep(1)
    assert stat("good") == 0 and stat("duplicate") >= 200
    _wait(queues_match, 10, "queues equal after restart", proc)
    assert {t: read_queue(redis_client, prefix, t) for t in expected} == before

    consumer = KafkaConsumer(
        dlq,
        bootstrap_servers=services.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    letters = [orjson.loads(m.value) for m in consumer]
    consumer.close()
    reasons = sorted(d["reason"].split(":")[0] for d in letters)
    assert reasons == sorted(
        ["bad json", "unknown event type", "mistyped field", "absurd timestamp", "oversized payload"]
    )
    originals = {base64.b64decode(d["original"]) for d in letters}
    assert originals == set(BAD)
    assert np.all([d["topic"] == events for d in letters])
