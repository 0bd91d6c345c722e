"""A real `mtl stream worker` behind its input: deferred writes (:mod:`streams.flush`) lost and kept.

The whole log is in Kafka before the worker starts, so every batch is behind and the worker writes its
changelog and Redis only once per ``stream.catch_up_flush_s``, and after the batch that ends the backlog
once per ``stream.flush_interval_s`` (here: neither within the test). Killed after
it took every event (the group's committed offsets at the end of the log, the changelog still empty),
a new worker must find the gap from the positions stored with the state and count the log again,
exactly; stopped cleanly, a worker writes what it deferred before it exits.
"""

from __future__ import annotations

import pytest

from topic_learning.data import SyntheticConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _unread(kafka: str, group: str, topic: str) -> int | None:
    """Events of ``topic`` past the group's committed offsets (None before the first commit)."""
    from kafka import KafkaAdminClient, KafkaConsumer

    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
        committed = {tp: m.offset for tp, m in offsets.items() if tp.topic == topic}
    finally:
        admin.close()
    if not committed:
        return None
    consumer = KafkaConsumer(bootstrap_servers=kafka)
    try:
        ends = consumer.end_offsets(list(committed))
    finally:
        consumer.close()
    return sum(ends[tp] - max(off, 0) for tp, off in committed.items())


def test_deferred_writes_are_read_again_after_a_kill_and_written_at_a_stop(
    redis_client, workers, stream_case_factory
):
    case = stream_case_factory(
        SyntheticConfig(n_videos=150, n_users=200, n_days=1, n_exposures=5000, covers=False, seed=5)
    )
    n = len(case.records)
    first = case.records[: n // 2]
    deferring = case.env(MTL_STREAM__CATCH_UP_FLUSH_S="600", MTL_STREAM__FLUSH_INTERVAL_S="600")

    def taken_all() -> bool:
        return _unread(case.kafka, case.name, case.events) == 0

    def converged() -> bool:
        return case.changelog_counts() == case.counts_upto(len(first)) and case.stat(
            redis_client, "good"
        ) == len(first)

    def detail() -> str:
        got, want = case.changelog_counts(), case.counts_upto(len(first))
        return (
            f"{sum(e for e, _ in got.values())} of {sum(e for e, _ in want.values())} exposures in the "
            f"changelog; stats: {redis_client.hgetall(f'{case.prefix}:stats')}"
        )

    # 1. behind from the first batch: everything taken and committed, nothing written, then SIGKILL
    case.produce(first)
    proc = workers.start(deferring)
    case.wait(taken_all, 90, "the group's offsets at the end of the log", [proc])
    assert case.changelog_counts() == {}
    assert case.stat(redis_client, "good") == 0
    workers.kill(proc)

    # 2. a new worker (default interval) reads the log again from the positions (none): exact counts
    proc = workers.start(case.env())
    case.wait(converged, 90, "the counts of part 1 after the kill", [proc], detail)
    assert "reading again" in case.tmp_path.joinpath("worker.log").read_text()
    workers.stop(proc)

    # 3. behind again, stopped cleanly: the deferred writes go out before the worker exits
    case.produce(case.records[len(first) :])
    proc = workers.start(deferring)
    case.wait(taken_all, 90, "the group's offsets at the end of the log", [proc])
    assert case.changelog_counts() != case.counts  # still deferred
    workers.stop(proc)
    assert proc.returncode in (0, -15, 143)
    assert case.changelog_counts() == case.counts
    assert not case.mismatched_topics(redis_client) and not case.mismatched_users(redis_client)
    assert case.stat(redis_client, "good") == n
