"""A password-protected Redis: the dev stack starts one, and Feast writes plus the fast fetch authenticate."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import redis

from benchmarks.features import random_topics
from mtl.connections import redis_client
from mtl.devstack import DevStack
from mtl.devstack.process import free_port
from mtl.settings import load_settings

pytestmark = pytest.mark.integration


def test_password_protected_redis(tmp_path, monkeypatch):
    from mtl.features import CandidateFetcher, apply_repo, open_store, push_video_topics
    from mtl.features.store import copy_repo

    settings = load_settings(
        run_dir=tmp_path / "run",
        devstack={"redis_port": free_port(), "redis_password": "s3cret-pw"},
    )
    stack = DevStack(settings, environ={"KAFKA_BOOTSTRAP_SERVERS": "unused:9092"})  # Redis only
    try:
        url = stack.up()["REDIS_URL"]
        assert ":s3cret-pw@" in url
        host_only = url.replace(":s3cret-pw@", "")
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis.from_url(host_only).ping()
        assert redis.Redis.from_url(url).ping()
        assert redis_client(load_settings(redis_url=url)).ping()  # the client every job builds from settings
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis_client(load_settings(redis_url=url.replace("s3cret-pw", "wrong"))).ping()

        monkeypatch.setenv("REDIS_URL", url)
        repo = copy_repo(tmp_path / "repo", f"t_{uuid.uuid4().hex[:10]}")
        store = open_store(repo)
        apply_repo(store)
        topics = random_topics(5, version="pw").to_pandas()
        push_video_topics(topics, store=store)
        got = CandidateFetcher(store).fetch(np.array([0, 1, 2, 3, 4, 99]), user_id=1)
        assert got.topics_found.tolist() == [True] * 5 + [False]
        np.testing.assert_array_equal(got.topic_ids[:5], np.stack(topics["topic_ids"]))
    finally:
        stack.down()
