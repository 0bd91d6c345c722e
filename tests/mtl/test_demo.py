"""`mtl demo`: the summary's helpers on small frames; the whole demo on a tiny corpus on the dev stack."""

from __future__ import annotations

import itertools
import re
import time
import uuid

import orjson
import pandas as pd
import pytest
from click.testing import CliRunner

from mtl.demo import (
    DemoConfig,
    DemoState,
    DemoSummary,
    ExampleUser,
    QueueStats,
    ReplayPlan,
    StreamNames,
    WorkerProgress,
    http_json,
    pick_users,
    replay_plan,
    summary_lines,
    topic_labels,
)
from mtl.errors import DataError
from mtl.settings import StreamSettings
from topic_learning.data import SyntheticConfig, generate


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    return generate(
        SyntheticConfig(n_videos=60, n_users=12, n_days=2, seed=3, covers=False),
        tmp_path_factory.mktemp("corpus") / "synthetic",
        progress=False,
    )


@pytest.mark.parametrize("limit", [1, 50, 200, None])
def test_replay_plan_counts_the_events_replay_sends_first(tiny_corpus, limit):
    from streams.replay import count_events, iter_events

    plan = replay_plan(tiny_corpus, limit)
    sent = [orjson.loads(v) for _, v in itertools.islice(iter_events(tiny_corpus), limit)]
    kinds = pd.Series([e["type"] for e in sent]).value_counts()
    assert plan.total == count_events(tiny_corpus)
    assert plan.events == len(sent)
    assert plan.whole == (limit is None)
    assert (plan.publications, plan.exposures, plan.clicks) == (
        kinds.get("video_published", 0),
        kinds.get("exposure", 0),
        kinds.get("click", 0),
    )
    assert plan.end.timestamp() == pytest.approx(sent[-1]["ts"], abs=1e-3)
    clicks = pd.Series([e["user_id"] for e in sent if e["type"] == "click"], dtype="int64").value_counts()
    assert plan.clicks_by_user.sort_index().to_dict() == clicks.sort_index().to_dict()


def test_replay_plan_describes_a_bounded_replay_by_time_span(tiny_corpus):
    text = replay_plan(tiny_corpus, 50).describe()
    assert text.startswith("the first 50 of ")
    assert re.search(r"\(\d+\.\d of 2\.0 days\)", text)
    assert replay_plan(tiny_corpus, None).describe().startswith("all ")


def test_stream_names_of_a_run_are_derived_and_own_their_topics():
    names = StreamNames.for_run(StreamSettings(app_id="a", events_topic="ev", queue_prefix="q"), "r1")
    assert names.app_id == "a-demo-r1" and names.events_topic == "ev-demo-r1"
    assert names.queue_prefix == "q:demo:r1"
    assert names.owns_topic("ev-demo-r1") and names.owns_topic("a-demo-r1-video_counts-changelog")
    assert not names.owns_topic("ev") and not names.owns_topic("a-demo-r2-user-clicks")
    assert names.environment()["MTL_STREAM__QUEUE_PREFIX"] == "q:demo:r1"


def test_demo_state_round_trips_and_a_broken_file_reads_as_none(tmp_path):
    state = DemoState(run_id="r1", names=StreamNames.for_run(StreamSettings(), "r1"), url="http://x:1")
    state.save(tmp_path)
    assert DemoState.load(tmp_path) == state
    (tmp_path / "demo.json").write_text("{")
    assert DemoState.load(tmp_path) is None


def test_demo_config_rejects_an_unknown_data_set_and_an_empty_replay():
    with pytest.raises(DataError, match="unknown demo data set"):
        DemoConfig(dataset="imdb")
    with pytest.raises(DataError, match="replay limit"):
        DemoConfig(replay_limit=0)


def test_example_users_are_those_with_most_clicks_ties_by_smaller_id():
    clicks = pd.Series({7: 3, 2: 5, 9: 5, 4: 1})
    assert pick_users(clicks, 3) == [2, 9, 7]
    assert pick_users(pd.Series(dtype="int64"), 3) == [0]


def test_topic_labels_are_the_most_frequent_tags_of_each_topic():
    videos = pd.DataFrame(
        {"video_id": [1, 2, 3, 4], "tags": [["dogs", "leash"], ["dogs", "cats"], ["jazz"], ["jazz"]]},
    )
    video_topics = pd.DataFrame({"video_id": [1, 2, 3, 4], "topic_ids": [[5, -1], [5, 6], [6, -1], [6, -1]]})
    labels = topic_labels(videos, video_topics, n_tags=2)
    assert labels == {5: "dogs, cats", 6: "jazz, cats"}
    # A topic whose videos have no tags says so rather than showing nothing.
    untagged = pd.DataFrame({"video_id": [8], "tags": [[]]})
    labels = topic_labels(pd.concat([videos, untagged]), pd.DataFrame({"video_id": [8], "topic_ids": [[9]]}))
    assert labels == {9: "untagged videos"}


def _summary(*, whole: bool, keep_running: bool = True) -> DemoSummary:
    start = pd.Timestamp("2021-01-01", tz="UTC")
    plan = ReplayPlan(
        total=1000,
        events=1000 if whole else 400,
        publications=50,
        exposures=320,
        clicks=30,
        start=start,
        end=start + pd.Timedelta(days=1),
        log_end=start + pd.Timedelta(days=2),
    )
    user = ExampleUser(
        user_id=7,
        clicks=12,
        source="topics",
        topics=[5, 6],
        items=[{"video_id": v, "score": 0.5 - v / 100, "topic_ids": [5], "from_topic": 5} for v in range(12)],
        interests=["dogs"],
    )
    return DemoSummary(
        kafka="k:1",
        redis="redis://r:2/0",
        corpus={"videos": 60, "covers": 60, "distinct_tags": 90, "users": 12, "exposures": 320, "clicks": 30},
        corpus_dir="/data/synthetic",
        n_topics=8,
        model_version="v1",
        mean_topics=1.25,
        topic_lines=["topic 5: 20 videos, tags dogs; 90% dogs"],
        feast_found=60,
        feast_asked=60,
        ranker="wide_deep in /r",
        replay=plan,
        replay_seconds=3.0,
        worker=WorkerProgress(processed=400, good=400, bad=0, duplicate=0, seconds=2.0, rate=200.0),
        queues=QueueStats(topics=8, entries=100, fresh=10, largest=20, cold_start=30),
        users=[user],
        labels={5: "dogs, leash", 6: "jazz"},
        titles={0: "a dog on a leash", 1: "x" * 80},
        url="http://127.0.0.1:8000",
        pids={"worker": 11, "service": 12},
        log_dir="/run/demo",
        keep_running=keep_running,
        seconds=60.0,
    )


def test_summary_lists_topics_stream_users_recommendations_and_the_explorer():
    lines = summary_lines(_summary(whole=False), k=10)
    text = "\n".join(lines)
    assert lines[0] == "== summary"
    assert "8 topics learned" in text and "1.25 topics per video" in text
    assert "the first 400 of 1,000 events" in text and "--replay-limit 0" in text
    assert "400 events processed" in text and "200 events/s" in text
    assert "fresh share 10.0%" in text
    assert "user 7: 12 clicks replayed, top topics 5 (dogs, leash); 6 (jazz)" in text
    assert "planted interests: dogs" in text
    recs = [line for line in lines if re.match(r"\s+\d+\. \d+", line)]
    assert len(recs) == 10 and "a dog on a leash" in recs[0] and "…" in recs[1]
    assert "explorer      : http://127.0.0.1:8000/" in text
    assert "stop with `mtl demo stop`" in text


def test_summary_of_a_whole_replay_has_no_bound_note_and_says_when_nothing_runs():
    text = "\n".join(summary_lines(_summary(whole=True, keep_running=False)))
    assert "all 1,000 of 1,000 events" in text and "--replay-limit" not in text
    assert "nothing (worker and service stopped" in text


def test_demo_status_and_env_without_a_run(tmp_path, monkeypatch):
    from mtl.cli import main

    monkeypatch.setenv("MTL_RUN_DIR", str(tmp_path / "run"))
    runner = CliRunner()
    out = runner.invoke(main, ["demo", "status"])
    assert out.exit_code == 0 and "no demo run recorded" in out.output
    out = runner.invoke(main, ["demo", "env"])
    assert out.exit_code == 1 and "error: no demo run recorded" in out.output
    out = runner.invoke(main, ["demo", "stop"])
    assert out.exit_code == 0 and "no demo was running" in out.output


@pytest.mark.integration
@pytest.mark.slow
def test_demo_runs_to_its_summary_serves_the_explorer_and_reuses_what_it_made(
    services, unique_name, tmp_path, monkeypatch
):
    from mtl.demo import demo_dir, run_demo, running_pid
    from mtl.features.store import copy_repo, delete_project_keys
    from mtl.kafka import admin_client
    from mtl.settings import get_settings

    project = f"t_{uuid.uuid4().hex[:10]}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers,
        "REDIS_URL": services.redis_url,
        "MTL_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "MTL_RUN_DIR": str(tmp_path / "run"),
        "MTL_FEAST_REPO_PATH": str(copy_repo(tmp_path / "repo", project)),
        "MTL_DEMO__VIDEOS": "300",
        "MTL_DEMO__USERS": "40",
        "MTL_DEMO__DAYS": "2",
        "MTL_LEARNING__N_TOPICS": "10",
        "MTL_LEARNING__ITERATIONS": "5",
        "MTL_LEARNING__BATCH_SIZE": "50",
        "MTL_LEARNING__WALK_LENGTH": "20",
        "MTL_LEARNING__WALKS_PER_NODE": "2",
        "MTL_LEARNING__IMAGE_SIZE": "64",
        "MTL_STREAM__APP_ID": unique_name,
        "MTL_STREAM__EVENTS_TOPIC": f"{unique_name}-events",
        "MTL_STREAM__DEAD_LETTER_TOPIC": f"{unique_name}-dlq",
        "MTL_STREAM__QUEUE_PREFIX": f"{unique_name}:q",
        "MTL_STREAM__USER_PREFIX": f"{unique_name}:u",
        "MTL_RANKER__SERVE_PORT": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    directory = demo_dir(settings)
    try:
        lines: list[str] = []
        first = run_demo(settings, DemoConfig(progress=False, replay_limit=2000), echo=lines.append)
        text = "\n".join(lines)
        assert "== summary" in text and re.search(r"10 topics learned", text)
        assert first.replay.events == 2000 and first.worker.processed == 2000
        assert first.queues.topics > 0 and first.queues.entries > 0
        assert len(first.users) == 3
        assert all(u.source == "topics" and u.topics and len(u.items) == 10 for u in first.users)
        assert len(re.findall(r"^\s+10\. \d+", text, flags=re.M)) == 3
        assert f"explorer      : {first.url}/" in text
        assert http_json(f"{first.url}/")[0] == 200
        assert running_pid(directory, "worker") and running_pid(directory, "service")

        lines.clear()
        second = run_demo(settings, DemoConfig(progress=False, keep_running=False), echo=lines.append)
        text = "\n".join(lines)
        assert "stopped the previous demo run: service; worker; 5 Kafka topics" in text
        assert "reused topic model" in text and "reused ranker" in text and "reused /" in text
        assert second.replay.whole and second.worker.processed == second.replay.events
        assert running_pid(directory, "worker") is None and running_pid(directory, "service") is None
        admin = admin_client(services.kafka_bootstrap_servers)
        try:
            deadline = time.monotonic() + 30  # deletion is asynchronous
            while [t for t in admin.list_topics() if t.startswith(unique_name)]:
                assert time.monotonic() < deadline, "the demo's Kafka topics were not deleted"
                time.sleep(0.5)
        finally:
            admin.close()
    finally:
        from mtl.demo import stop_demo

        stop_demo(settings)
        delete_project_keys(services.redis_url, project)


def test_a_demo_that_starts_the_stack_runs_at_the_stack_s_addresses(tmp_path, monkeypatch):
    # settings read before the stack was up (a fresh machine) carry the default addresses
    from mtl import demo
    from mtl.devstack import DevStack
    from mtl.settings import Settings

    addresses = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19999", "REDIS_URL": "redis://127.0.0.1:16999/0"}
    monkeypatch.setattr(DevStack, "up", lambda self: addresses)
    monkeypatch.setattr(demo, "stop_demo", lambda *args, **kwargs: [])
    seen = []
    monkeypatch.setattr(demo, "_run", lambda settings, *args, **kwargs: seen.append(settings))
    settings = Settings(run_dir=tmp_path / "run", redis_url="redis://127.0.0.1:6379/0")
    demo.run_demo(settings, DemoConfig(progress=False, keep_running=True), echo=lambda line: None)
    assert seen[0].redis_url == addresses["REDIS_URL"]
    assert seen[0].kafka_bootstrap_servers == addresses["KAFKA_BOOTSTRAP_SERVERS"]
