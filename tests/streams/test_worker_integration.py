"""A real `mtl stream worker` against the dev stack's Kafka and Redis, fed by `streams.replay`.

The final per-video counts, every topic queue and every user's click list must equal the batch
recomputation of the same log; resent events are dropped by the event-id dedup; malformed events land in
the dead-letter topic.
"""

from __future__ import annotations

import base64
import time

import numpy as np
import orjson
import pytest

from streams.queue_store import read_queue
from streams.replay import replay
from topic_learning.data import SyntheticConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BAD = [
    b"{not json",
    orjson.dumps({"type": "like", "event_id": "z", "user_id": 1, "video_id": 1, "ts": 1.7e9}),
    orjson.dumps({"type": "click", "event_id": "z", "user_id": "1", "video_id": 1, "ts": 1.7e9}),
    orjson.dumps({"type": "exposure", "event_id": "z", "user_id": 1, "video_id": 1, "ts": 12.0}),
    b'{"type": "exposure", "pad": "' + b"x" * 70000 + b'"}',
]


@pytest.mark.parametrize("consumer", ["bulk", "faust"])
def test_worker_matches_batch_recomputation(services, redis_client, workers, stream_case_factory, consumer):
    from kafka import KafkaConsumer

    case = stream_case_factory(
        SyntheticConfig(n_videos=150, n_users=200, n_days=1, n_exposures=5000, covers=False, seed=3)
    )
    proc = workers.start(case.env(MTL_STREAM__CONSUMER=consumer))  # both ways of taking the events topic
    t0 = time.monotonic()
    out = replay(
        case.data,
        bootstrap_servers=services.kafka_bootstrap_servers,
        topic=case.events,
        progress=False,
        source="t",
        partitions=4,
    )
    # resend the log's tail (a producer retrying) and some garbage
    case.produce(case.records[-300:])
    case.produce([(b"1", raw) for raw in BAD])

    def stat(name: str) -> int:
        return case.stat(redis_client, name)

    case.wait(
        lambda: stat("good") >= out["events"] and stat("bad") >= len(BAD) and stat("duplicate") >= 300,
        60,
        "all events counted",
        [proc],
        lambda: redis_client.hgetall(f"{case.prefix}:stats"),
    )
    assert stat("good") == out["events"]
    assert stat("duplicate") == 300
    assert stat("bad") == len(BAD)

    def converged() -> bool:
        return not case.mismatched_topics(redis_client) and not case.mismatched_users(redis_client)

    case.wait(converged, 15, "queues and click lists equal to the batch recomputation", [proc])
    clicks = int(case.data.interactions["clicked"].sum())
    case.wait(lambda: stat("user_clicks") == stat("clicks") == clicks, 15, "the user stage caught up", [proc])
    elapsed = time.monotonic() - t0
    # fresh share: about fresh_share of each queue that has enough fresh candidates
    counts, s = case.counts, case.settings
    fresh = sum(1 for q in case.expected.values() for v in q if counts[v][0] < s.min_exposures)
    total = sum(len(q) for q in case.expected.values())
    assert 0.05 <= fresh / total <= 0.2, (fresh, total)
    assert sum(e for e, _ in counts.values()) == len(case.data.interactions)
    assert case.changelog_counts() == counts
    print(f"{out['events']} events, queues converged in {elapsed:.1f}s; fresh share {fresh / total:.3f}")

    # restart: counts come back from the changelog, a resent tail is dropped, queues stay equal
    workers.stop(proc)
    before = {t: read_queue(redis_client, case.prefix, t) for t in case.expected}
    redis_client.delete(f"{case.prefix}:stats")
    proc = workers.start(case.env())
    case.produce(case.records[-200:])
    case.wait(
        lambda: stat("duplicate") >= 200,
        40,
        "resent events dropped after restart",
        [proc],
        lambda: redis_client.hgetall(f"{case.prefix}:stats"),
    )
    # >= 200: events after the last offset commit before the stop are redelivered too, and dropped
    time.sleep(1)
    assert stat("good") == 0 and stat("duplicate") >= 200
    case.wait(converged, 10, "queues equal after restart", [proc])
    assert {t: read_queue(redis_client, case.prefix, t) for t in case.expected} == before

    consumer = KafkaConsumer(
        case.dlq,
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
    assert {base64.b64decode(d["original"]) for d in letters} == set(BAD)
    assert np.all([d["topic"] == case.events for d in letters])
