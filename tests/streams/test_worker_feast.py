"""Published videos get topics from the topic model, reach Feast's online store and their topics' queues.

Runs a real `mtl stream worker` against the dev stack with Feast pushes on, on a private copy of the feature
repo (own Feast project, so no online row of the user's project is touched), with a tiny topic model
trained here (char n-gram text encoder, no covers) in a private artifact directory.
"""

from __future__ import annotations

import os
import time
import uuid

import orjson
import pytest
from kafka import KafkaProducer

from streams.queue_store import read_queue

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE = 10**12  # video and user ids no corpus uses


def test_published_videos_reach_feast_and_queues(
    services, unique_name, redis_client, kafka_admin, tmp_path, monkeypatch, workers
):
    from mtl.features import CandidateFetcher, apply_repo, open_store
    from mtl.features.store import copy_repo, delete_project_keys
    from mtl.settings import LearningSettings
    from topic_learning.data import SyntheticConfig, generate
    from topic_learning.pipeline import learn_topics
    from topic_learning.registry import ModelRegistry

    artifacts = tmp_path / "artifacts"
    training = generate(
        SyntheticConfig(n_videos=200, n_users=5, n_days=1, n_exposures=20, covers=False, seed=4),
        tmp_path / "training",
        progress=False,
    )
    tiny = LearningSettings(
        text_model="char-ngram", iterations=3, batch_size=50, n_topics=8, walk_length=10, walks_per_node=2
    )
    model, video_topics, report = learn_topics(training.videos, tiny, progress=False)
    ModelRegistry(artifacts / "topics" / "synthetic").save(model, video_topics, report)
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    project = f"t_{uuid.uuid4().hex[:10]}"
    repo = copy_repo(tmp_path / "repo", project)
    apply_repo(open_store(repo))
    videos = generate(
        SyntheticConfig(n_videos=20, n_users=5, n_days=1, n_exposures=20, covers=False, seed=5),
        tmp_path / "corpus",
        progress=False,
    ).videos.head(6)

    events, prefix = f"{unique_name}-events", f"{unique_name}:q"
    internal = ("user-clicks", "video_counts-changelog", "user_clicks-changelog")
    kafka_admin.created_topics += [events, f"{unique_name}-dlq", *(f"{unique_name}-{t}" for t in internal)]
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=services.kafka_bootstrap_servers,
        REDIS_URL=services.redis_url,
        MTL_FEAST_REPO_PATH=str(repo),
        MTL_ARTIFACT_DIR=str(artifacts),
        MTL_STREAM__APP_ID=unique_name,
        MTL_STREAM__EVENTS_TOPIC=events,
        MTL_STREAM__DEAD_LETTER_TOPIC=f"{unique_name}-dlq",
        MTL_STREAM__QUEUE_PREFIX=prefix,
        MTL_STREAM__USER_PREFIX=f"{unique_name}:u",
        MTL_STREAM__ASSIGN_WITH_MODEL="true",
        MTL_STREAM__MODEL_CORPUS="synthetic",
        MTL_STREAM__FEAST_PUSH="true",
        MTL_STREAM__DATA_DIR=str(tmp_path / "faust"),
        MTL_STREAM__FULL_REFRESH_S="1",
    )
    proc = workers.start(env)
    ids = [BASE + i for i in range(len(videos))]
    user = BASE + 7
    try:
        producer = KafkaProducer(bootstrap_servers=services.kafka_bootstrap_servers)
        from mtl.kafka import ensure_topics

        ensure_topics(services.kafka_bootstrap_servers, {events: 4})
        now = time.time()
        for vid, (_, row) in zip(ids, videos.iterrows(), strict=True):
            value = {
                "type": "video_published",
                "video_id": vid,
                "title": row["title"],
                "tags": list(row["tags"]),
                "primary_class": row["primary_class"],
                "secondary_class": row["secondary_class"],
                "ts": now,
            }
            producer.send(events, key=str(vid).encode(), value=orjson.dumps(value))
            for k in range(3):
                e = {"type": "exposure", "event_id": f"x{vid}-{k}", "user_id": user, "video_id": vid}
                producer.send(events, key=str(vid).encode(), value=orjson.dumps({**e, "ts": now}))
        c = {"type": "click", "event_id": "c0", "user_id": user, "video_id": ids[0], "ts": now}
        producer.send(events, key=str(ids[0]).encode(), value=orjson.dumps(c))
        producer.flush()
        producer.close()

        fetcher = CandidateFetcher(open_store(repo))
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "worker exited"
            got = fetcher.fetch(ids, user)
            if got.topics_found.all() and got.stats_found.all() and got.user_found:
                if (got.exposures == 3).all() and got.clicks[0] == 1:
                    break
            assert time.monotonic() < deadline, "published videos did not reach Feast"
            time.sleep(0.5)
        assert (got.n_topics >= 1).all()
        # every published video sits in the queue of each of its topics (fresh part: 3 < tau1 exposures)
        for vid, row in zip(ids, got.topic_ids, strict=True):
            for t in row[row >= 0]:
                assert vid in {v for v, _ in read_queue(redis_client, prefix, int(t))}, (vid, t)
        # the user's profile: top topic among the clicked video's topics, one recent click
        assert got.user_recent_clicks == 1
        assert got.user_top_topics[0] in set(got.topic_ids[0][got.topic_ids[0] >= 0].tolist())
    finally:
        delete_project_keys(services.redis_url, project)
