"""Two workers in one consumer group split the partitions and end with the same state as one worker."""

from __future__ import annotations

import pytest

from topic_learning.data import SyntheticConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_workers_equal_the_batch_recomputation(services, redis_client, workers, stream_case_factory):
    from kafka import KafkaAdminClient

    case = stream_case_factory(
        SyntheticConfig(n_videos=200, n_users=150, n_days=1, n_exposures=8000, covers=False, seed=5)
    )
    procs = [workers.start(case.env("a")), workers.start(case.env("b"))]
    admin = KafkaAdminClient(bootstrap_servers=services.kafka_bootstrap_servers)

    def members() -> int:
        group = admin.describe_groups([case.name]).get(case.name) or {}
        return len(group.get("members", [])) if group.get("group_state") == "Stable" else 0

    case.wait(lambda: members() == 2, 60, "both workers in the consumer group", procs)
    admin.close()
    n = case.produce()
    case.wait(
        lambda: case.stat(redis_client, "good") >= n,
        90,
        "every event counted",
        procs,
        lambda: (
            redis_client.hgetall(f"{case.prefix}:stats"),
            case.short_partitions(),
        ),
    )
    case.wait(
        lambda: not case.mismatched_topics(redis_client) and not case.mismatched_users(redis_client),
        30,
        "queues and user lists equal to the batch reference",
        procs,
        lambda: (case.mismatched_topics(redis_client), case.mismatched_users(redis_client)[:5]),
    )
    assert case.stat(redis_client, "good") == n and case.stat(redis_client, "duplicate") == 0
    assert case.changelog_counts() == case.counts
