"""Writing Faust table keys from batch agents, which have no single current event."""

from __future__ import annotations


def put(table, partition: int, key, value) -> None:
    """Write ``table[key]`` for a record of ``partition``: store, key ownership, changelog record.

    ``stream.take_events`` yields batches, so Faust cannot tell which partition a write belongs to; the
    caller names it. The memory store forgets a revoked partition's keys by its key-to-partition map,
    which only recovery fills, so live writes record their partition there too.
    """
    table.data[key] = value
    owners = getattr(table.data, "_key_partition", None)
    if owners is not None:
        owners[key] = partition
    table.send_changelog(partition, key, value)
