"""Event-id hashes: 48 bits of an id, for the deduplication window and the users' click lists.

48 bits are exact in JSON and doubles, and collisions are negligible in a bounded window. The hash is
tabulation hashing -- the XOR of one random word per (byte position, byte value) of the id's UTF-8 -- so
a batch of ids hashes on the way through the C scanner of :mod:`streams.wire`. The table comes from a
fixed seed: the same in every process and version. Ids longer than the table hash with blake2b.
"""

from __future__ import annotations

import hashlib

import numpy as np

MAX_TABLE_BYTES = 64
_TABLE = np.frombuffer(
    hashlib.shake_256(b"mtl-topics event id").digest(MAX_TABLE_BYTES * 256 * 8), "<u8"
).reshape(MAX_TABLE_BYTES, 256).astype(np.int64) & (2**48 - 1)
_ROWS = _TABLE.tolist()
_TABLE_BYTES = np.ascontiguousarray(_TABLE, np.int64).tobytes()


def table_bytes() -> bytes:
    """The hash table as 64 x 256 native int64 (what the C scanner of :mod:`streams.wire` hashes with)."""
    return _TABLE_BYTES


def event_hash(event_id: str) -> int:
    """48 bits of the event id (the same as :func:`event_hashes` gives for its UTF-8 bytes)."""
    raw = event_id.encode()
    if len(raw) > MAX_TABLE_BYTES:
        return int.from_bytes(hashlib.blake2b(raw, digest_size=6).digest(), "big")
    h = 0
    for row, byte in zip(_ROWS, raw, strict=False):
        h ^= row[byte]
    return h
