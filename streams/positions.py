"""Input positions stored with the state: where each partition's events resume, whatever Faust committed.

A stage writes, after a batch's state records, one more record to the same changelog partition: key
``-1 - p`` (state keys are video or user ids, never negative), value the offset of the next event of
input partition ``p``. One producer writes a changelog partition in order, so when that record is in the
changelog every state record before it is too. After recovery the stage therefore knows exactly which
events its state already holds, independently of the consumer-group offsets Faust committed:

- an event before the position is a redelivery (Faust commits lag, or a batch was retried): skipped;
- when an event lies *beyond* the position, events went missing: at the start of an assignment
  Faust's committed offset ran ahead of the changelog (a batch acknowledged although a rebalance
  interrupted it), in the middle of one Faust dropped buffered events (it skips, and acknowledges,
  events fetched just before a generation change). The stage seeks back to the
  position, drops what was already fetched from the old place, and takes the re-read events. It seeks
  once per position, so a real gap in the log (retention, transaction markers) is accepted the second
  time.

This is the "offsets stored with the state" scheme of Kafka Streams / Flink, on top of Faust's tables.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import numpy as np

log = logging.getLogger("streams.positions")

SKIP, TAKE = False, True


def position_key(partition: int) -> int:
    return -1 - partition


def is_position_key(key) -> bool:
    return isinstance(key, int) and key < 0


def state_items(items: Iterable[tuple]) -> Iterable[tuple]:
    """The state records of a table's items (video or user ids), without position or window records."""
    return ((k, v) for k, v in items if isinstance(k, int) and k >= 0)


class Positions:
    """Per-partition input positions of one stage: decides which events to take, tracks where to resume.

    Parameters
    ----------
    seek : coroutine function ``(partition, offset)``
        Moves the consumer of this stage's input topic (``Consumer.seek`` in the app).
    gaps : bool
        Also rewind when events are missing in the middle of an assignment, not only at its start. Faust
        can drop buffered events (seen with two workers: a batch of one partition never reached the
        agent), so this is on by default; a transactional producer (``exactly_once``) leaves a gap after
        every transaction, so it is off there.
    """

    def __init__(self, *, seek: Callable[[int, int], Awaitable[None]], gaps: bool = True) -> None:
        self.seek = seek
        self.gaps = gaps
        self.next: dict[int, int] = {}  # partition -> offset of the next event to take
        self.owned: set[int] | None = None  # None: every partition (no assignment known)
        self._checked: set[int] = set()  # partitions whose first event since the assignment was seen
        self._rewinding: dict[int, int] = {}  # partition -> first offset fetched from the wrong place
        self._rewound_at: dict[int, int] = {}  # partition -> position of its last rewind
        self._moved: set[int] = set()
        self._pending: dict[int, int] = {}  # partition -> offset to seek to
        self.skipped = 0
        self.rewinds = 0

    def load(self, items: Iterable[tuple], partitions: set[int] | None) -> None:
        """Positions of ``partitions`` (None: all) from a recovered table's items; forget everything else.

        Events of other partitions are dropped from then on: they were fetched before a rebalance took
        the partition away, and its new owner counts them. An owned partition without a position record
        starts at offset 0 (a log that starts later, after retention, is accepted after one rewind).
        """
        self.owned = None if partitions is None else set(partitions)
        # a partition without a record has nothing in the state: its events count from the log's start
        self.next = dict.fromkeys(self.owned or (), 0)
        self.next.update(
            (-1 - k, int(v))
            for k, v in items
            if is_position_key(k) and (partitions is None or -1 - k in partitions)
        )
        self._checked.clear()
        self._rewinding.clear()
        self._rewound_at.clear()
        self._moved.clear()
        self._pending.clear()

    async def seek_pending(self) -> None:
        """Carry out the rewinds :meth:`admit` decided on."""
        pending, self._pending = self._pending, {}
        for partition, offset in pending.items():
            await self.seek(partition, offset)

    def admit(self, partition: int, offset: int) -> bool:
        """Whether the event at ``(partition, offset)`` is the next one the state needs (else dropped).

        A rewind it decides on is carried out by :meth:`seek_pending` (after the batch's loop: the rest of
        the batch is dropped as fetched from the wrong place either way).
        """
        if self.owned is not None and partition not in self.owned:
            self.skipped += 1
            return SKIP
        first = self._rewinding.get(partition)
        if first is not None:
            if offset > first:  # fetched before the seek took effect
                self.skipped += 1
                return SKIP
            del self._rewinding[partition]
        pos = self.next.get(partition)
        if pos is not None and offset < pos:  # redelivered: the state holds it
            self.skipped += 1
            return SKIP
        checked = partition in self._checked
        self._checked.add(partition)
        if (
            pos is not None
            and offset > pos
            and (self.gaps or not checked)
            and self._rewind_once(partition, pos, f"event at offset {offset}")
        ):
            self._rewinding[partition] = offset
            self.skipped += 1
            self._pending[partition] = pos
            return SKIP
        self.next[partition] = offset + 1
        self._moved.add(partition)
        return TAKE

    def admit_batch(self, partitions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """:meth:`admit` of every event of a batch, in order: a mask of those to take.

        A partition whose events run on from its position without a hole (after any redelivered ones:
        the common case) is decided at once; any other is decided event by event.
        """
        take = np.zeros(len(partitions), bool)
        for p in np.unique(partitions).tolist():
            rows = np.flatnonzero(partitions == p)
            got = offsets[rows]
            pos = self.next.get(p)
            if pos is not None and p not in self._rewinding and (self.owned is None or p in self.owned):
                old = int(np.count_nonzero(got < pos))  # redelivered: the state holds them
                if np.array_equal(got[old:], np.arange(pos, pos + len(got) - old)):
                    take[rows[old:]] = True
                    self.skipped += old
                    if old < len(got):
                        self.next[p] = pos + len(got) - old
                        self._checked.add(p)
                        self._moved.add(p)
                    continue
            for row, offset in zip(rows.tolist(), got.tolist(), strict=True):
                take[row] = self.admit(p, offset)
        return take

    async def retry_rewinds(self) -> None:
        """Seek again where a rewind is still waiting for its first re-read event.

        Faust's fetch loop drops records below the last offset it delivered, and a fetch that was in
        flight during the seek moves that mark past the rewind target again; a later seek, once the
        stale records are through, takes effect. The app calls this every few seconds.
        """
        for partition in list(self._rewinding):
            pos = self.next.get(partition)
            if pos is not None:
                await self.seek(partition, pos)

    async def rewind_stalled(self, partitions: Iterable[int]) -> None:
        """Seek ``partitions`` back to their positions: their events past the position are unread, yet no
        fetch brings any (Faust resumed at a committed offset beyond the state, and nothing newer
        arrives to show the gap to :meth:`admit`). Once per position, as in :meth:`admit`."""
        for partition in partitions:
            pos = self.next.get(partition)
            if pos is not None and self._rewind_once(partition, pos, "nothing fetched"):
                await self.seek(partition, pos)

    def _rewind_once(self, partition: int, pos: int, found: str) -> bool:
        """Whether to read ``partition`` again from ``pos`` (``found``: what showed the gap); a second
        time at the same position is a real gap in the log, left alone."""
        if self._rewound_at.get(partition) == pos:
            return False
        self._rewound_at[partition] = pos
        self.rewinds += 1
        log.warning(
            "partition %d: %s but the state needs %d next; reading again from %d", partition, found, pos, pos
        )
        return True

    def moved(self) -> dict[int, int]:
        """``{partition: next offset}`` of the partitions that took events since the last call."""
        out = {p: self.next[p] for p in self._moved}
        self._moved.clear()
        return out


async def cannot_seek(partition: int, offset: int) -> None:
    """The seek of a stage built without a consumer (unit tests): a rewind there is a bug."""
    raise RuntimeError(f"partition {partition} must be read again from offset {offset}; no seek given")
