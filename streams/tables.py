"""Writing and reading Faust table keys from batch agents, which have no single current event.

``stream.take_events`` yields batches, so Faust cannot tell which partition a write belongs to (its stores
look at the current event); the caller names it. One small adapter per store does the rest:

- memory (``faust.stores.memory``): the value goes into the dict at once, the key's partition into the
  store's key-to-partition map (which only recovery fills, and which decides what a revoked partition
  forgets), and the record to the changelog partition.
- RocksDB (``faust.stores.rocksdb``, one database per partition under ``stream.data_dir``): its
  ``__setitem__`` takes the partition from the current event, which a batch agent does not have. The
  adapter sends the record to the changelog first and writes the partition's database only when Kafka
  acknowledged it, together with the changelog offset Faust resumes recovery after. So the files on disk
  never hold more than the changelog: a worker killed with records still in the producer's buffer comes
  back with an older but consistent state (the input positions stored with it make it read those events
  again; see :mod:`streams.positions`), never with state the changelog lacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from mtl.errors import ConfigError


def put(table, partition: int, key, value) -> None:
    """Write ``table[key] = value`` for a record of ``partition``: local store and changelog record."""
    store_adapter(table).put(partition, key, value)


def items(table, partitions: Iterable[int] | None = None) -> list[tuple[Any, Any]]:
    """``(key, value)`` of the table's keys in ``partitions``.

    None: what the store holds: the RocksDB store's active partitions, the memory store's active and
    standby ones (callers filter).
    """
    return store_adapter(table).items(None if partitions is None else set(partitions))


def store_adapter(table) -> MemoryTable | RocksDBTable:
    """The adapter for ``table``'s store (one per table, kept on the table)."""
    # on the table itself: a Faust table is a Mapping, so a weak-key cache would compare tables item by
    # item, and a cache by id would keep the table's open databases alive
    adapter = getattr(table, "_store_adapter", None)
    if adapter is None or adapter.store is not table.data:
        adapter = table._store_adapter = _adapter_class(table.data)(table)
    return adapter


def _adapter_class(store) -> type[MemoryTable] | type[RocksDBTable]:
    from faust.stores.memory import Store as MemoryStore

    if isinstance(store, MemoryStore):
        return MemoryTable
    try:
        from faust.stores.rocksdb import Store as RocksDBStore
    except ImportError:  # pragma: no cover - faust ships the module; its driver is optional
        RocksDBStore = None
    if RocksDBStore is not None and isinstance(store, RocksDBStore):
        return RocksDBTable
    raise ConfigError(f"no table adapter for the Faust store {type(store).__name__} (memory or rocksdb)")


class MemoryTable:
    """Faust's in-memory store: a dict of decoded keys, rebuilt from the changelog at every start."""

    def __init__(self, table) -> None:
        self.table = table
        self.store = table.data
        self.json = table.key_serializer == "json" and table.value_serializer == "json"

    def put(self, partition: int, key, value) -> None:
        self.store[key] = value
        self.store._key_partition[key] = partition
        if self.json:
            # orjson's bytes are what Faust's json codec reads back, at a fraction of its encoder's cost
            self.table.send_changelog(
                partition,
                orjson.dumps(key),
                orjson.dumps(value),
                key_serializer="raw",
                value_serializer="raw",
            )
        else:
            self.table.send_changelog(partition, key, value)

    def items(self, partitions: set[int] | None) -> list[tuple[Any, Any]]:
        # keys of standby partitions are in the dict too; without ``partitions`` the caller filters
        owners = self.store._key_partition
        return [(k, v) for k, v in self.store.items() if partitions is None or owners.get(k) in partitions]


class RocksDBTable:
    """Faust's RocksDB store: one database per table partition, kept across restarts.

    Raises
    ------
    ConfigError
        With ``exactly_once``: an aborted transaction's records are acknowledged too, so the local files
        would hold state the changelog never committed.
    """

    def __init__(self, table) -> None:
        guarantee = table.app.conf.processing_guarantee
        if getattr(guarantee, "value", guarantee) == "exactly_once":
            raise ConfigError("stream.store=rocksdb needs stream.processing_guarantee=at_least_once")
        self.table = table
        self.store = table.data

    def put(self, partition: int, key, value) -> None:
        store = self.store
        # encoded now: the changelog and the database get the same bytes, whatever happens to ``value``
        raw_key, raw_value = store._encode_key(key), store._encode_value(value)

        def written(fut) -> None:
            # in changelog order; a worker killed between the two puts replays this record on start
            res = fut.result()
            store._db_for_partition(partition).put(raw_key, raw_value)
            store._key_index[raw_key] = partition
            store.set_persisted_offset(res.topic_partition, res.offset)

        self.table.changelog_topic.send_soon(
            key=raw_key,
            value=raw_value,
            partition=partition,
            key_serializer="raw",
            value_serializer="raw",
            callback=written,
            eager_partitioning=True,
        )

    def items(self, partitions: set[int] | None) -> list[tuple[Any, Any]]:
        store = self.store
        if partitions is None:
            return list(store.items())
        out = []
        for p in sorted(partitions):
            db = store._dbs.get(p)  # a partition without a database has no keys yet
            if db is not None:
                out.extend(
                    (store._decode_key(k), store._decode_value(v)) for k, v in store._visible_items(db)
                )
        return out
