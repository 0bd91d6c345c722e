"""streams.tables: writes and reads with the partition the caller names, memory and RocksDB stores.

No broker: the table's changelog topic is replaced by a recorder, and a test acknowledges its records.
"""

from __future__ import annotations

import gc
from types import SimpleNamespace

import faust
import pytest
from faust.serializers import codecs
from faust.types import TP

from mtl.errors import ConfigError
from streams.tables import MemoryTable, RocksDBTable, items, put, store_adapter


class Changelog:
    """Stands in for a table's changelog topic: keeps what was sent, acknowledges on request."""

    name = "app-t-changelog"

    def get_topic_name(self) -> str:
        return self.name

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.offsets: dict[int, int] = {}

    def send_soon(
        self, *, key, value, partition, key_serializer=None, value_serializer=None, callback=None, **kw
    ):
        self.sent.append(dict(key=key, value=value, partition=partition, callback=callback))

    def ack(self, n: int | None = None) -> None:
        """Acknowledge the first ``n`` unacknowledged records (all by default), in order."""
        pending, self.sent = (self.sent, []) if n is None else (self.sent[:n], self.sent[n:])
        for rec in pending:
            offset = self.offsets.get(rec["partition"], -1) + 1
            self.offsets[rec["partition"]] = offset
            meta = SimpleNamespace(topic_partition=TP(self.name, rec["partition"]), offset=offset)
            if rec["callback"] is not None:
                rec["callback"](SimpleNamespace(result=lambda meta=meta: meta))


def _table(tmp_path, store: str, **conf):
    app = faust.App("app", store=store, datadir=str(tmp_path), broker="kafka://127.0.0.1:1", **conf)
    table = app.Table("t", default=None, partitions=4)
    changelog = Changelog()
    table.changelog_topic = changelog
    table.send_changelog = lambda p, k, v, **kw: changelog.send_soon(key=k, value=v, partition=p, **kw)
    return table, changelog


def test_memory_put_writes_at_once_and_records_the_partition(tmp_path):
    table, changelog = _table(tmp_path, "memory://")
    assert isinstance(store_adapter(table), MemoryTable)
    put(table, 2, 7, [1, 0])
    put(table, 1, -2, 15)  # a position record of partition 1
    assert table.data[7] == [1, 0] and table.data._key_partition == {7: 2, -2: 1}
    # sent as bytes that Faust's json codec (the table's) reads back as the same keys and values
    assert all(isinstance(r["key"], bytes) and isinstance(r["value"], bytes) for r in changelog.sent)
    decoded = [
        (r["partition"], codecs.loads("json", r["key"]), codecs.loads("json", r["value"]))
        for r in changelog.sent
    ]
    assert decoded == [(2, 7, [1, 0]), (1, -2, 15)]
    assert items(table, [2]) == [(7, [1, 0])]
    assert sorted(items(table)) == [(-2, 15), (7, [1, 0])]


try:
    import rocksdict  # noqa: F401 - Faust's RocksDB driver
except ImportError:
    rocksdict = None
needs_rocksdict = pytest.mark.skipif(
    rocksdict is None,
    reason="the RocksDB store needs rocksdict: pip install -e '.[rocksdb]'",
)


@pytest.fixture
def rocks(tmp_path):
    """A table on the RocksDB store; its databases are closed afterwards (RocksDB locks them)."""
    opened = []

    def make(**conf):
        table, changelog = _table(tmp_path, "rocksdb://", **conf)
        opened.append(table)
        return table, changelog

    yield make
    for table in opened:
        for db in table.data._dbs.values():
            db.close()
        table.data._dbs.clear()
    gc.collect()


def _close(table) -> None:
    for db in table.data._dbs.values():
        db.close()
    table.data._dbs.clear()


@needs_rocksdict
def test_rocksdb_put_lands_in_the_named_partition_once_acknowledged(rocks):
    table, changelog = rocks()
    assert isinstance(store_adapter(table), RocksDBTable)
    put(table, 2, 7, [3, 1])
    put(table, 3, 8, [1, 0])
    put(table, 2, -3, 41)
    # nothing on disk before Kafka has the records: the files never hold more than the changelog
    assert items(table, range(4)) == []
    assert [(r["partition"], r["key"], r["value"]) for r in changelog.sent] == [
        (2, b"7", b"[3,1]"),
        (3, b"8", b"[1,0]"),
        (2, b"-3", b"41"),
    ]
    changelog.ack()
    assert sorted(items(table, [2])) == [(-3, 41), (7, [3, 1])]
    assert items(table, [3]) == [(8, [1, 0])]
    assert items(table, [0, 1]) == []
    store = table.data
    assert store.persisted_offset(TP(changelog.name, 2)) == 1
    assert store.persisted_offset(TP(changelog.name, 3)) == 0
    assert set(store._dbs) == {2, 3}


@needs_rocksdict
def test_rocksdb_unacknowledged_records_stay_off_disk(rocks):
    table, changelog = rocks()
    put(table, 1, 5, [1, 0])
    put(table, 1, 5, [2, 0])
    changelog.ack(1)
    assert items(table, [1]) == [(5, [1, 0])]
    assert table.data.persisted_offset(TP(changelog.name, 1)) == 0


@needs_rocksdict
def test_rocksdb_value_is_encoded_when_written(rocks):
    table, changelog = rocks()
    rec = [1, 0]
    put(table, 0, 4, rec)
    rec[0] = 99  # the caller's object changes before Kafka acknowledged
    changelog.ack()
    assert items(table, [0]) == [(4, [1, 0])]


@needs_rocksdict
def test_rocksdb_files_survive_a_restart(tmp_path, rocks):
    table, changelog = rocks()
    put(table, 0, 4, [1, 0])
    put(table, 3, 9, [5, 2])
    changelog.ack()
    _close(table)
    again, _ = rocks()
    store = again.data
    for p in range(4):
        store._db_for_partition(p)  # what Faust's assign_partitions does for the active partitions
    assert items(again, range(4)) == [(4, [1, 0]), (9, [5, 2])]
    assert store.persisted_offset(TP(changelog.name, 3)) == 0
    assert store.persisted_offset(TP(changelog.name, 1)) is None


@needs_rocksdict
def test_rocksdb_refuses_exactly_once(rocks):
    table, _ = rocks(processing_guarantee="exactly_once")
    with pytest.raises(ConfigError, match="at_least_once"):
        put(table, 0, 1, [1, 0])
