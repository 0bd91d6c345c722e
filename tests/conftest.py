"""Shared fixtures: the real Kafka and Redis of the dev stack, and per-test unique names.

Integration tests (marked ``integration``) use ``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL`` when set,
else the running dev stack, else they bring the dev stack up once for the session and take it down.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mtl.settings import get_settings, load_settings


@dataclass(frozen=True)
class Services:
    kafka_bootstrap_servers: str
    redis_url: str


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    # Tests that change the environment must not leak a cached Settings into the next test.
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    from mtl.devstack import DevStack

    env_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    env_redis = os.environ.get("REDIS_URL")
    if env_kafka and env_redis:
        yield Services(env_kafka, env_redis)
        return
    stack = DevStack(load_settings())
    with stack.running() as addresses:
        yield Services(addresses["KAFKA_BOOTSTRAP_SERVERS"], addresses["REDIS_URL"])


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test (or earlier run) uses: for Kafka topics, groups and Redis key prefixes."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:40]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis_client(services: Services, unique_name: str):
    """A Redis client; every key under ``<unique_name>:`` is deleted after the test."""
    import redis

    client = redis.Redis.from_url(services.redis_url)
    yield client
    keys = list(client.scan_iter(match=f"{unique_name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def kafka_admin(services: Services):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=services.kafka_bootstrap_servers)
    created: list[str] = []
    admin.created_topics = created  # tests append what they create; removed afterwards
    yield admin
    if created:
        admin.delete_topics(created)
    admin.close()
