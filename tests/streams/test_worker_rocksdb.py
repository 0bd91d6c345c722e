"""A real `mtl stream worker` with the RocksDB table store (``stream.store = rocksdb``).

The same log as ``test_worker_integration``: counts, topic queues and user click lists must equal the
batch recomputation. Then the worker stops, more of the log arrives, and a new worker starts on the same
data directory: Faust reopens the local RocksDB files and replays only the changelog tail after the
offsets stored in them, so the result must again equal the batch reference, and every partition's
database must hold exactly the keys of its partition.
"""

from __future__ import annotations

import time

import orjson
import pytest

from topic_learning.data import SyntheticConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

rocksdict = pytest.importorskip(
    "rocksdict", reason="stream.store=rocksdb needs rocksdict: pip install -e '.[rocksdb]'"
)

OFFSET_KEY = b"__faust\0offset__"  # where Faust's RocksDB store keeps its changelog offset


def _local_tables(data_dir, table: str) -> dict[int, dict]:
    """``partition -> {key: value}`` of a stopped worker's RocksDB files of ``table`` (JSON decoded)."""
    out = {}
    for path in sorted(data_dir.rglob(f"{table}-*.db")):
        partition = int(path.name[len(table) + 1 : -len(".db")])
        db = rocksdict.Rdict(
            str(path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            out[partition] = {orjson.loads(k): orjson.loads(v) for k, v in db.items() if k != OFFSET_KEY}
        finally:
            db.close()
    return out


def _stored_offsets(data_dir, table: str) -> dict[int, int]:
    """``partition -> changelog offset`` Faust stored in each RocksDB file of ``table``."""
    out = {}
    for path in sorted(data_dir.rglob(f"{table}-*.db")):
        db = rocksdict.Rdict(
            str(path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            offset = db.get(OFFSET_KEY)
        finally:
            db.close()
        if offset is not None:
            out[int(path.name[len(table) + 1 : -len(".db")])] = int(offset)
    return out


def _changelog_ends(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return {tp.partition: end for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def test_rocksdb_worker_matches_batch_and_survives_restart(
    services, redis_client, tmp_path, workers, stream_case_factory
):
    from streams.counts import PARTITION, C, E
    from streams.dedup import is_window_key
    from streams.positions import is_position_key, state_items

    case = stream_case_factory(
        SyntheticConfig(n_videos=150, n_users=200, n_days=1, n_exposures=5000, covers=False, seed=3)
    )
    env = case.env(MTL_STREAM__STORE="rocksdb")
    data_dir = tmp_path / "faust-w0"
    n = len(case.records)
    first = case.records[: 2 * n // 3]

    def stat(name: str) -> int:
        return case.stat(redis_client, name)

    def stats():
        return redis_client.hgetall(f"{case.prefix}:stats")

    # 1. part of the log, a resent tail of it: counts equal the reference of that part
    proc = workers.start(env)
    t0 = time.monotonic()
    case.produce(first)
    case.produce(first[-300:])
    case.wait(
        lambda: stat("good") >= len(first) and stat("duplicate") >= 300, 90, "part 1 counted", [proc], stats
    )
    assert stat("good") == len(first)
    case.wait(lambda: case.changelog_counts() == case.counts_upto(len(first)), 30, "part 1 changelog", [proc])
    print(f"part 1: {len(first)} events counted in {time.monotonic() - t0:.1f}s")

    # 2. stopped: the local databases hold each partition's keys; more of the log arrives meanwhile
    workers.stop(proc)
    local = _local_tables(data_dir, "video_counts")
    assert local, f"no RocksDB files of video_counts under {data_dir}"
    stored = {v: (rec[E], rec[C]) for recs in local.values() for v, rec in state_items(recs.items())}
    assert stored == case.counts_upto(len(first))
    assert all(rec[PARTITION] == p for p, recs in local.items() for v, rec in state_items(recs.items()))
    ends = _changelog_ends(services.kafka_bootstrap_servers, f"{case.name}-video_counts-changelog")
    assert _stored_offsets(data_dir, "video_counts") == {p: end - 1 for p, end in ends.items() if end}
    case.produce(case.records[len(first) :])

    # 3. restarted on the same data directory: local state + changelog tail + the rest of the log; then
    # SIGKILLed while it counts, and restarted again on what the kill left on disk
    t0 = time.monotonic()
    proc = workers.start(env)
    case.produce(case.records[-200:])

    def converged() -> bool:
        return (
            case.changelog_counts() == case.counts
            and not case.mismatched_topics(redis_client)
            and not case.mismatched_users(redis_client)
        )

    case.wait(lambda: stat("good") >= n and stat("duplicate") >= 500, 90, "the rest counted", [proc], stats)
    case.wait(converged, 30, "counts, queues and click lists equal to the batch reference", [proc])
    print(f"restart: {n - len(first)} more events, converged in {time.monotonic() - t0:.1f}s")
    assert stat("good") == n  # nothing counted twice: the local state was read back, not rebuilt
    assert "reading again" not in case.tmp_path.joinpath("worker.log").read_text()

    dups = stat("duplicate")
    case.produce(case.records[-300:] * 3)  # resent (within the dedup window)
    # killed right after a batch's Redis write: its changelog records may still be on their way
    case.wait(lambda: stat("duplicate") > dups, 30, "the worker at work", [proc], stats)
    workers.kill(proc)
    proc = workers.start(env)
    case.produce(case.records[-100:])
    # every resent event is dropped at least once (twice when the kill lost its batch's state)
    case.wait(lambda: stat("duplicate") >= 1500, 60, "resent events dropped after the kill", [proc], stats)
    case.wait(converged, 30, "state equal to the batch reference after the kill", [proc])
    assert stat("good") == n

    # 4. stopped again: every partition's database holds exactly its own keys, equal to the reference
    workers.stop(proc)
    local = _local_tables(data_dir, "video_counts")
    stored = {v: (rec[E], rec[C]) for recs in local.values() for v, rec in state_items(recs.items())}
    assert stored == case.counts
    assert all(rec[PARTITION] == p for p, recs in local.items() for v, rec in state_items(recs.items()))
    # each partition's event-id window is in its own database
    windows = {p: [k for k in recs if is_window_key(k)] for p, recs in local.items()}
    assert all(keys and all(k.startswith(f"w/{p}/") for k in keys) for p, keys in windows.items()), windows
    positions = {p: [v for v in recs if is_position_key(v)] for p, recs in local.items()}
    assert all(keys == [-1 - p] for p, keys in positions.items()), positions
    users = _local_tables(data_dir, "user_clicks")
    assert all(u % case.partitions == p for p, recs in users.items() for u, _ in state_items(recs.items()))
    assert sum(1 for recs in users.values() for _ in state_items(recs.items())) == len(case.expected_users())
