"""The ranking service answers real HTTP requests from the queues and click lists the stream worker filled.

Everything is real: the dev stack's Kafka and Redis, `mtl stream worker` on a known synthetic log (with
Feast pushes of video stats), a private Feast project holding the videos' topics, and `mtl serve` as a
subprocess queried with an HTTP client.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

from topic_learning.data import SyntheticConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _push_topics(store, topics: dict[int, tuple[int, ...]]) -> None:
    import pandas as pd

    from mtl.features import push_video_topics

    ids = list(topics)
    push_video_topics(
        pd.DataFrame(
            {
                "video_id": ids,
                "topic_ids": [list(topics[v]) + [-1] * (8 - len(topics[v])) for v in ids],
                "topic_scores": [[0.9] * len(topics[v]) + [0.0] * (8 - len(topics[v])) for v in ids],
                "n_topics": [len(topics[v]) for v in ids],
                "model_version": "test",
                "event_timestamp": pd.Timestamp("2020-01-01", tz="UTC"),
            }
        ),
        store=store,
    )


def test_service_recommends_from_stream_filled_queues(
    services, unique_name, redis_client, tmp_path, monkeypatch, workers, stream_case_factory
):
    import httpx

    from mtl.devstack.process import free_port
    from mtl.features.store import apply_repo, copy_repo, delete_project_keys, open_store
    from mtl.settings import load_settings

    case = stream_case_factory(
        SyntheticConfig(n_videos=300, n_users=80, n_days=1, n_exposures=4000, covers=False, seed=7)
    )
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    project = f"t_{uuid.uuid4().hex[:10]}"
    repo = copy_repo(tmp_path / "repo", project)
    store = open_store(repo, load_settings())
    apply_repo(store)
    _push_topics(store, case.topics)
    env = case.env(
        MTL_FEAST_REPO_PATH=str(repo),
        MTL_ARTIFACT_DIR=str(tmp_path / "artifacts"),  # no trained ranker here: CTR scoring
        MTL_STREAM__FEAST_PUSH="true",
        MTL_STREAM__GLOBAL_REFRESH_S="1",
        MTL_RANKER__CANDIDATES="30",
    )
    server = None
    try:
        procs = [workers.start(env)]
        n = case.produce()
        case.wait(lambda: case.stat(redis_client, "good") >= n, 90, "every event counted", procs)
        case.wait(
            lambda: not case.mismatched_topics(redis_client) and not case.mismatched_users(redis_client),
            60,
            "queues and user lists equal to the batch reference",
            procs,
        )
        case.wait(lambda: redis_client.exists(f"{case.prefix}:global"), 30, "the cold-start queue", procs)

        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "mtl", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=30) as http:
            deadline = time.monotonic() + 90
            while True:
                assert server.poll() is None, server.stderr.read()
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "mtl serve did not become healthy"
                time.sleep(0.5)

            clicks = case.expected_users()
            user = max(clicks, key=lambda u: (len(clicks[u]), -u))
            votes = Counter(t for v in clicks[user] for t in case.topics[v])
            top = sorted(votes, key=lambda t: (-votes[t], t))[:4]
            r = http.get("/recommend", params={"user_id": user, "k": 10})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["source"] == "topics" and body["user_topics"] == top
            items = body["items"]
            assert 0 < len(items) <= 10
            assert [it["score"] for it in items] == sorted((it["score"] for it in items), reverse=True)
            queued = {t: {int(m) for m in redis_client.zrange(f"{case.prefix}:{t}", 0, -1)} for t in top}
            for it in items:
                v = it["video_id"]
                assert v not in clicks[user]  # just clicked: not recommended again
                assert it["from_topic"] in top and v in queued[it["from_topic"]]
                assert it["topic_ids"] == list(case.topics[v])  # Feast's online video_topics
            # CTR scoring reads the stream's smoothed CTR back from Feast's video_stats
            assert max(it["score"] for it in items) > 0

            r = http.get("/recommend", params={"user_id": 10**12, "k": 5})
            assert r.status_code == 200
            cold = r.json()
            assert cold["source"] == "cold_start" and len(cold["items"]) == 5
            glob = {int(m) for m in redis_client.zrange(f"{case.prefix}:global", 0, -1)}
            assert {it["video_id"] for it in cold["items"]} <= glob
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        delete_project_keys(services.redis_url, project)
