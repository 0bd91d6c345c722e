"""Per-video exposure and click counts with exact-once counting under redelivery, and optional decay.

A video's record (the value of the worker's ``video_counts`` table, a JSON list) is
``[exposures, clicks, last_ts, partition, offset, recent_ids]``:

- ``partition``/``offset``: the Kafka position of the last event applied. Events of a video come from one
  partition in offset order, so an event at or before that offset is a redelivery after a crash (Faust
  commits offsets only after the table's changelog was flushed, and the record and its offset travel in
  the same changelog message): dropped exactly, whatever the window size.
- ``recent_ids``: 48-bit hashes of the last ``stream.dedup_window`` event ids, which drop events that a
  producer sent twice (new offsets, same ``event_id``).
- ``last_ts``: with ``stream.half_life_s`` set, counts decay exponentially in *event time*: an event at
  ``ts`` first multiplies the counts by ``2 ** (-(ts - last_ts) / half_life)`` (a late event is added
  with that weight instead), so a replay of the same log gives the same counts.
"""

from __future__ import annotations

import hashlib

from streams.events import Click, Exposure, VideoPublished

E, C, TS, PARTITION, OFFSET, IDS = range(6)

COUNTED, DUPLICATE = "counted", "duplicate"


def event_hash(event_id: str) -> int:
    """48 bits of the event id: exact in JSON and doubles, collisions negligible in a small window."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=6).digest(), "big")


def new_record() -> list:
    return [0, 0, None, -1, -1, []]


def copy_record(rec: list) -> list:
    return [rec[E], rec[C], rec[TS], rec[PARTITION], rec[OFFSET], list(rec[IDS])]


def apply_event(
    rec: list,
    event: Exposure | Click | VideoPublished,
    *,
    partition: int,
    offset: int,
    window: int,
    half_life_s: float | None,
) -> str:
    """Count ``event`` into ``rec`` in place; :data:`DUPLICATE` when it was counted before."""
    if partition == rec[PARTITION] and offset <= rec[OFFSET]:
        return DUPLICATE
    rec[PARTITION], rec[OFFSET] = partition, offset
    h = event_hash(event.event_id)
    ids = rec[IDS]
    if h in ids:
        return DUPLICATE
    if window:
        ids.append(h)
        if len(ids) > window:
            del ids[0]
    if isinstance(event, VideoPublished):
        return COUNTED
    weight = 1
    if half_life_s:
        last = rec[TS]
        if last is None or event.ts >= last:
            if last is not None:
                factor = 2.0 ** (-(event.ts - last) / half_life_s)
                rec[E] *= factor
                rec[C] *= factor
            rec[TS] = event.ts
        else:
            weight = 2.0 ** (-(last - event.ts) / half_life_s)
    if isinstance(event, Exposure):
        rec[E] += weight
    else:
        rec[C] += weight
    return COUNTED
