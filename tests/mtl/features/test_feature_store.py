"""The Feast repo against the real Redis: apply, register/materialize, Feast's CLI, push, history, fetch."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from benchmarks.features import random_topics
from mtl.cli import main
from mtl.features import (
    CandidateFetcher,
    open_store,
    push_user_topic_profile,
    push_video_stats,
    push_video_topics,
    register_topics,
    training_data,
)
from mtl.features.store import REDIS_ENV_VAR, copy_repo, delete_project_keys, redis_connection_string

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def repo(services, tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    project = f"t_{uuid.uuid4().hex[:10]}"
    path = copy_repo(tmp_path / "repo", project)
    yield path
    delete_project_keys(services.redis_url, project)


def _write(table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


def test_register_then_feast_cli_sees_and_serves(repo, tmp_path):
    v1 = random_topics(50, version="v1", ts=T0)
    result = CliRunner().invoke(
        main, ["register", "--topics", str(_write(v1, tmp_path / "v1.parquet")), "--repo", str(repo)]
    )
    assert result.exit_code == 0, result.output
    # re-run: idempotent
    again = CliRunner().invoke(
        main, ["register", "--topics", str(tmp_path / "v1.parquet"), "--repo", str(repo)]
    )
    assert again.exit_code == 0 and "already registered" in again.output
    # a newer model version replaces the topics of every video it covers, old file kept
    v2 = random_topics(30, version="v2", ts=T0 + timedelta(days=1), seed=5)
    register_topics(_write(v2, tmp_path / "v2.parquet"), repo_path=repo)
    assert sorted(p.name for p in (repo / "data/offline/video_topics").iterdir()) == [
        "video_topics-v1.parquet",
        "video_topics-v2.parquet",
    ]
    store = open_store(repo)
    got = store.get_online_features(
        features=["video_topics:topic_ids", "video_topics:model_version"],
        entity_rows=[{"video_id": i} for i in (0, 29, 30, 49, 999)],
    ).to_dict()
    assert got["model_version"] == ["v2", "v2", "v1", "v1", None]
    assert (
        got["topic_ids"][0] == v2["topic_ids"][0].as_py()
        and got["topic_ids"][2] == v1["topic_ids"][30].as_py()
    )

    # Feast's own CLI, as a subprocess, on the same repo
    env = {**os.environ, REDIS_ENV_VAR: redis_connection_string(os.environ["REDIS_URL"])}
    feast = [sys.executable, "-m", "feast.cli.cli", "-c", str(repo)]
    if subprocess.run([sys.executable, "-c", "import feast.cli.cli"], capture_output=True).returncode:
        feast = ["feast", "-c", str(repo)]
    out = subprocess.run([*feast, "apply"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    out = subprocess.run(
        [*feast, "feature-views", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "video_topics" in out.stdout and "video_stats" in out.stdout
    # a third version written straight into the offline dir, materialised by `feast materialize`
    v3 = random_topics(10, version="v3", ts=T0 + timedelta(days=2), seed=9)
    _write(v3, repo / "data/offline/video_topics/video_topics-v3.parquet")
    start, end = (T0 + timedelta(days=1, hours=12)).isoformat(), (T0 + timedelta(days=3)).isoformat()
    out = subprocess.run(
        [*feast, "materialize", start, end, "--views", "video_topics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    out = subprocess.run(
        [*feast, "materialize-incremental", (T0 + timedelta(days=3)).isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = (
        open_store(repo)
        .get_online_features(
            features=["video_topics:model_version"], entity_rows=[{"video_id": 5}, {"video_id": 15}]
        )
        .to_dict()
    )
    assert got["model_version"] == ["v3", "v2"]

    # `feast serve`: the feature server answers HTTP requests with the same values
    _check_feast_serve(feast, env, repo, expected={5: "v3", 15: "v2"})


def _check_feast_serve(feast: list[str], env: dict, repo: Path, *, expected: dict[int, str]) -> None:
    import json
    import time
    import urllib.request

    from mtl.devstack.process import free_port

    port = free_port()
    server = subprocess.Popen(
        [*feast, "serve", "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        body = json.dumps(
            {"features": ["video_topics:model_version"], "entities": {"video_id": list(expected)}}
        ).encode()
        deadline = time.monotonic() + 90
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/get-online-features",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None, "feast serve exited"
                assert time.monotonic() < deadline, "feast serve did not answer within 90 s"
                time.sleep(0.5)
        names = answer["metadata"]["feature_names"]
        values = answer["results"][names.index("model_version")]["values"]
        assert values == list(expected.values())
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_bad_table_changes_nothing(repo, tmp_path):
    bad = random_topics(5, version="bad", ts=T0).drop(["n_topics"])
    result = CliRunner().invoke(
        main, ["register", "--topics", str(_write(bad, tmp_path / "b.parquet")), "--repo", str(repo)]
    )
    assert result.exit_code == 1 and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert not (repo / "data").exists()
    result = CliRunner().invoke(
        main, ["register", "--topics", str(tmp_path / "none.parquet"), "--repo", str(repo)]
    )
    assert result.exit_code == 1 and "not found" in result.output


def test_push_and_point_in_time_history(repo):
    store = open_store(repo)
    from mtl.features import apply_repo

    apply_repo(store)
    old = random_topics(1, version="old", ts=T0)
    new = random_topics(1, version="new", ts=T0 + timedelta(hours=10), seed=3)
    _write(old, repo / "data/offline/video_topics/video_topics-old.parquet")
    _write(new, repo / "data/offline/video_topics/video_topics-new.parquet")

    def stats(hours, exposures, clicks):
        ts = T0 + timedelta(hours=hours)
        return pd.DataFrame(
            {
                "video_id": [0],
                "exposures": [exposures],
                "clicks": [clicks],
                "ctr": [np.float32((clicks + 1) / (exposures + 10))],
                "updated_at": [ts],
                "event_timestamp": [ts],
            }
        )

    push_video_stats(stats(1, 10, 0), store=store)
    push_video_stats(stats(5, 20, 7), store=store)  # clicks after the first exposure below
    push_user_topic_profile(
        pd.DataFrame(
            {
                "user_id": [1],
                "top_topics": [[4, 5, -1, -1]],
                "recent_clicks": [2],
                "event_timestamp": [T0 + timedelta(hours=2)],
            }
        ),
        store=store,
    )
    interactions = pd.DataFrame(
        {
            "user_id": [1, 1, 1],
            "video_id": [0, 0, 0],
            "ts": [T0 + timedelta(hours=h) for h in (3, 6, 11)],
            "clicked": [1, 0, 1],
        }
    )
    out = training_data(interactions, store=store)
    assert out["clicks"].tolist() == [0, 7, 7]  # no clicks from the future
    assert out["exposures"].tolist() == [10, 20, 20]
    assert out["topic_ids"].map(list).tolist() == [old["topic_ids"][0].as_py()] * 2 + [
        new["topic_ids"][0].as_py()
    ]
    assert out["top_topics"].map(list).tolist() == [[4, 5, -1, -1]] * 3
    assert out["clicked"].tolist() == [1, 0, 1]
    # the online side got the latest push
    got = store.get_online_features(
        features=["video_stats:clicks", "user_topic_profile:recent_clicks"],
        entity_rows=[{"video_id": 0, "user_id": 1}],
    ).to_dict()
    assert got["clicks"] == [7] and got["recent_clicks"] == [2]
    # topics of a fresh video, pushed online only
    fresh = random_topics(1, version="stream", ts=T0 + timedelta(days=1)).to_pandas()
    fresh["video_id"] = 777
    push_video_topics(fresh, store=store)
    got = store.get_online_features(
        features=["video_topics:model_version"], entity_rows=[{"video_id": 777}]
    ).to_dict()
    assert got["model_version"] == ["stream"]


def test_fetch_matches_get_online_features(repo, services):
    import redis

    store = open_store(repo)
    from mtl.features import apply_repo

    apply_repo(store)
    now = datetime.now(UTC)
    topics = random_topics(400, version="r", ts=now - timedelta(days=400))  # older than the view's TTL
    store.write_to_online_store("video_topics", topics.to_pandas())
    rng = np.random.default_rng(3)
    sv = rng.choice(400, 200, replace=False)
    exp = rng.integers(0, 100, 200)
    store.write_to_online_store(
        "video_stats",
        pd.DataFrame(
            {
                "video_id": sv,
                "exposures": exp,
                "clicks": exp // 3,
                "ctr": rng.random(200).astype(np.float32),
                "updated_at": now,
                "event_timestamp": now,
            }
        ),
    )
    store.write_to_online_store(
        "user_topic_profile",
        pd.DataFrame(
            {"user_id": [3], "top_topics": [[9, 8, -1, -1]], "recent_clicks": [4], "event_timestamp": [now]}
        ),
    )
    # keys that Redis expired (key_ttl_seconds) are simply gone
    client = redis.Redis.from_url(services.redis_url)
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    for v in range(10):
        client.pexpire(
            _redis_key(store.project, EntityKey(join_keys=["video_id"], entity_values=[Value(int64_val=v)])),
            1,
        )
    client.close()
    import time

    time.sleep(0.05)
    fetcher = CandidateFetcher(store)
    service = store.get_feature_service("ranker")
    for user in (3, 4):
        ids = rng.integers(0, 600, size=600)  # a third missing, with duplicates
        ours = fetcher.fetch(ids, user)
        ref = store.get_online_features(
            features=service, entity_rows=[{"video_id": int(v), "user_id": user} for v in ids]
        ).to_dict()
        assert [x is not None for x in ref["topic_ids"]] == ours.topics_found.tolist()
        assert [x is not None for x in ref["ctr"]] == ours.stats_found.tolist()
        assert not ours.topics_found[np.isin(ids, range(10))].any()
        for i in range(600):
            if ours.topics_found[i]:
                assert ref["topic_ids"][i] == ours.topic_ids[i].tolist()
                assert np.array_equal(np.float32(ref["topic_scores"][i]), ours.topic_scores[i])
                assert ref["n_topics"][i] == ours.n_topics[i]
            else:
                assert (ours.topic_ids[i] == -1).all() and ours.n_topics[i] == 0
            if ours.stats_found[i]:
                assert (ref["exposures"][i], ref["clicks"][i]) == (ours.exposures[i], ours.clicks[i])
                assert np.float32(ref["ctr"][i]) == ours.ctr[i]
        if user == 3:
            assert (
                ours.user_found
                and ours.user_top_topics.tolist() == ref["top_topics"][0]
                and ours.user_recent_clicks == 4
            )
        else:
            assert not ours.user_found and ref["top_topics"][0] is None and (ours.user_top_topics == -1).all()
    fetcher.close()
