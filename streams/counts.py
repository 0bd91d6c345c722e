"""Per-video exposure and click counts with exact-once counting under redelivery, and optional decay.

A video's record (the value of the worker's ``video_counts`` table, a JSON list) is
``[exposures, clicks, last_ts, partition, offset]``:

- ``partition``/``offset``: the Kafka position of the last event applied. Events of a video come from one
  partition in offset order, so an event at or before that offset is a redelivery: dropped exactly (the
  stage's input positions, :mod:`streams.positions`, drop most of them before they get here).
- An event past the fence whose id the stage's event-id window (:mod:`streams.dedup`) saw lately was sent
  twice by a producer (new offset, same ``event_id``): dropped too.
- ``last_ts``: with ``stream.half_life_s`` set, counts decay exponentially in *event time*: an event at
  ``ts`` first multiplies the counts by ``2 ** (-(ts - last_ts) / half_life)`` (a late event is added
  with that weight instead), so a replay of the same log gives the same counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from streams.events import Click, Exposure, VideoPublished

E, C, TS, PARTITION, OFFSET = range(5)

COUNTED, DUPLICATE = "counted", "duplicate"


def event_hash(event_id: str) -> int:
    """48 bits of the event id: exact in JSON and doubles, collisions negligible in a bounded window."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=6).digest(), "big")


def new_record() -> list:
    return [0, 0, None, -1, -1]


def copy_record(rec) -> list:
    """A mutable copy of a stored record (stored as a tuple; lists after recovery from the changelog)."""
    return list(rec[:5])  # records of the earlier layout carried a sixth field (per-video ids): dropped


def apply_event(
    rec: list,
    event: Exposure | Click | VideoPublished,
    *,
    partition: int,
    offset: int,
    seen_before: Callable[[int, str], bool] | None = None,
    half_life_s: float | None = None,
) -> str:
    """Count ``event`` into ``rec`` in place; :data:`DUPLICATE` when it was counted before.

    ``seen_before(partition, event_id)`` (:meth:`streams.dedup.EventWindow.seen_before`) is asked only for
    events past the record's offset fence, and remembers the ones it has not seen.
    """
    if partition == rec[PARTITION] and offset <= rec[OFFSET]:
        return DUPLICATE
    rec[PARTITION], rec[OFFSET] = partition, offset
    if seen_before is not None and seen_before(partition, event.event_id):
        return DUPLICATE
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
