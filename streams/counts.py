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

:func:`count_batch` counts a whole batch: at once with numpy when the order of its events cannot matter
(the common case), else event by event with :func:`apply_event`; both give the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from streams.dedup import EventWindow
from streams.events import CLICK, EXPOSURE, PUBLISHED, EventColumns

E, C, TS, PARTITION, OFFSET = range(5)

COUNTED, DUPLICATE = "counted", "duplicate"


def new_record() -> list:
    return [0, 0, None, -1, -1]


def copy_record(rec) -> list:
    """A mutable copy of a stored record (stored as a tuple; lists after recovery from the changelog)."""
    return list(rec[:5])  # records of the earlier layout carried a sixth field (per-video ids): dropped


def apply_event(
    rec: list,
    kind: int,
    ts: float,
    h: int,
    *,
    partition: int,
    offset: int,
    seen_before: Callable[[int, int], bool] | None = None,
    half_life_s: float | None = None,
) -> str:
    """Count an event (``kind`` of :mod:`streams.events`, event time ``ts``, id hash ``h``) into ``rec``
    in place; :data:`DUPLICATE` when it was counted before.

    ``seen_before(partition, h)`` (:meth:`streams.dedup.EventWindow.seen_before`) is asked only for
    events past the record's offset fence, and remembers the ones it has not seen.
    """
    if partition == rec[PARTITION] and offset <= rec[OFFSET]:
        return DUPLICATE
    rec[PARTITION], rec[OFFSET] = partition, offset
    if seen_before is not None and seen_before(partition, h):
        return DUPLICATE
    if kind == PUBLISHED:
        return COUNTED
    weight = 1
    if half_life_s:
        last = rec[TS]
        if last is None or ts >= last:
            if last is not None:
                factor = 2.0 ** (-(ts - last) / half_life_s)
                rec[E] *= factor
                rec[C] *= factor
            rec[TS] = ts
        else:
            weight = 2.0 ** (-(last - ts) / half_life_s)
    if kind == EXPOSURE:
        rec[E] += weight
    else:
        rec[C] += weight
    return COUNTED


class BatchCount(NamedTuple):
    """What counting a batch changed: ``records`` (video -> its new record, every video of the batch)
    and ``counted`` (a mask over the batch's events: counted, not a duplicate)."""

    records: dict[int, tuple]
    counted: np.ndarray


def count_batch(
    records: Mapping[int, Sequence],
    events: EventColumns,
    partitions: np.ndarray,
    offsets: np.ndarray,
    *,
    window: EventWindow,
    half_life_s: float | None = None,
) -> BatchCount:
    """Count a batch of events (``events``, read at ``partitions``/``offsets``) against the stored
    ``records``; the window remembers the counted ids. ``records`` itself is left alone.

    The same as :func:`apply_event` on every event in order: at once (numpy, one step per video) when
    nothing needs the order -- no decay, no id the window saw, each video in one partition with rising
    offsets -- else event by event.
    """
    if not half_life_s:
        fast = _count_at_once(records, events, partitions, offsets, window)
        if fast is not None:
            return fast
    return _count_each(records, events, partitions, offsets, window, half_life_s)


def _count_each(records, events, partitions, offsets, window, half_life_s) -> BatchCount:
    changed: dict[int, list] = {}
    counted = np.zeros(len(events), bool)
    seen_before = window.seen_before
    rows = zip(
        events.video.tolist(),
        events.kind.tolist(),
        events.ts.tolist(),
        events.hash.tolist(),
        partitions.tolist(),
        offsets.tolist(),
        strict=True,
    )
    for i, (v, kind, ts, h, partition, offset) in enumerate(rows):
        rec = changed.get(v)
        if rec is None:
            old = records.get(v)
            rec = changed[v] = new_record() if old is None else copy_record(old)
        verdict = apply_event(
            rec, kind, ts, h, partition=partition, offset=offset, seen_before=seen_before,
            half_life_s=half_life_s,
        )  # fmt: skip
        counted[i] = verdict == COUNTED
    return BatchCount({v: tuple(rec) for v, rec in changed.items()}, counted)


def _count_at_once(records, events, partitions, offsets, window) -> BatchCount | None:
    n = len(events)
    if n == 0:
        return BatchCount({}, np.zeros(0, bool))
    videos, where = np.unique(events.video, return_inverse=True)
    first = np.full(len(videos), np.iinfo(np.int64).max)
    last = np.full(len(videos), -1)
    np.minimum.at(first, where, partitions)
    np.maximum.at(last, where, partitions)
    if (first != last).any():
        return None  # a video in two partitions: the fence follows the order
    for p in np.unique(partitions).tolist():
        got = offsets[partitions == p]
        if (got[1:] <= got[:-1]).any():
            return None  # offsets going back within a partition (a rewind read again in the same batch)
    olds = [records.get(v) for v in videos.tolist()]
    fence_p = np.array([-1 if r is None else r[PARTITION] for r in olds], np.int64)
    fence_o = np.array([-1 if r is None else r[OFFSET] for r in olds], np.int64)
    live = ~((partitions == fence_p[where]) & (offsets <= fence_o[where]))  # past the fence
    ids, at = events.hash[live], partitions[live]
    if not window.remember_all({p: ids[at == p].tolist() for p in np.unique(at).tolist()}):
        return None  # an id the window saw lately, or twice in the batch: duplicates, in order
    exposures = np.bincount(where[live & (events.kind == EXPOSURE)], minlength=len(videos))
    clicks = np.bincount(where[live & (events.kind == CLICK)], minlength=len(videos))
    fence = np.full(len(videos), -1)
    np.maximum.at(fence, where[live], offsets[live])
    changed = {}
    counts = zip(exposures.tolist(), clicks.tolist(), strict=True)
    rows = zip(videos.tolist(), olds, counts, first.tolist(), fence.tolist(), strict=True)
    for v, old, (e, c), partition, offset in rows:
        rec = tuple(copy_record(old) if old is not None else new_record())
        if offset >= 0:  # events past the fence: counted, and the fence moves to the last
            rec = (_plus_ones(rec[E], e), _plus_ones(rec[C], c), rec[TS], partition, offset)
        changed[v] = rec
    return BatchCount(changed, live)


def _plus_ones(count: float, n: int) -> float:
    """``count`` after ``n`` events of weight 1, as :func:`apply_event` adds them: one at a time when the
    count is a float (decay was on when it was counted), which rounds at every step."""
    if type(count) is int:
        return count + n
    for _ in range(n):
        count += 1
    return count
