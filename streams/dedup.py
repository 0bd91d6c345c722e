"""The event-id window: the last counted event ids of each input partition, to drop events sent twice.

Redeliveries (an offset read again) never get this far: the input positions (:mod:`streams.positions`)
skip them. What the window catches is the same event at a *new* offset: a client or producer that retried
a send which had in fact arrived. Each input partition remembers the 48-bit hashes
(:func:`streams.event_ids.event_hash`) of at least its last ``stream.dedup_window`` counted events, whatever
videos they were about; so the window spans a stretch of time (the default 100,000 is ~80 s at 1,250
events/s a partition), membership is one set lookup, and memory is bounded by the partitions a worker
owns (~70 B an id), not by the number of videos.

The window is stored with the state. Its ids go to the table's changelog in chunks of :data:`CHUNK`, on the
changelog partition of their input partition, under keys ``"w/<partition>/<slot>"`` with the slots reused
as a ring (so compaction keeps the changelog bounded) and values ``[seq, base64 of 6-byte big-endian
hashes]``. A batch rewrites only the chunks it changed: the open chunk of each partition it took events
of, and chunks it closed. The stage writes them after the batch's count records and before its position
record (:mod:`streams.positions`), so a recovered position always comes with the ids of the events
before it.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

CHUNK = 1024  # ids per changelog record: a batch rewrites at most one open chunk a partition (~8 KiB)
HASH_BYTES = 6


def window_key(partition: int, slot: int) -> str:
    return f"w/{partition}/{slot}"


def is_window_key(key) -> bool:
    return isinstance(key, str) and key.startswith("w/")


class _Partition:
    __slots__ = ("closed", "closed_ids", "dirty", "open", "seen", "seq", "unsaved")

    def __init__(self, seq: int = 0) -> None:
        self.seq = seq  # sequence number of the open chunk
        self.open: list[int] = []
        self.closed: deque[tuple[int, list[int]]] = deque()  # (seq, ids), oldest first
        self.closed_ids = 0
        self.seen: set[int] = set()
        self.unsaved: list[tuple[int, list[int]]] = []  # chunks closed since the last save
        self.dirty = False


class EventWindow:
    """The event-id windows of a stage's input partitions.

    Parameters
    ----------
    size : int
        Ids remembered per partition (at least; up to ``size + chunk``). 0 turns the window off.
    chunk : int
        Ids per changelog record.
    """

    def __init__(self, *, size: int, chunk: int = CHUNK) -> None:
        self.size = size
        self.chunk = chunk
        self.slots = -(-size // chunk) + 2  # every chunk the window keeps, the open one and one closing
        self._parts: dict[int, _Partition] = {}

    def seen_before(self, partition: int, h: int) -> bool:
        """Whether the event id hash ``h`` was counted in ``partition`` lately; remembers it if not."""
        if not self.size:
            return False
        part = self._part(partition)
        if h in part.seen:
            return True
        part.seen.add(h)
        self._append(part, [h])
        return False

    def remember_all(self, hashes: Mapping[int, list[int]]) -> bool:
        """:meth:`seen_before` of every id of each partition's list, in order, all at once -- when none of
        them was counted lately and none repeats (True). Else False, and the window is left as it was."""
        if not self.size:
            return True
        for p, ids in hashes.items():
            part = self._parts.get(p)
            if part is not None and not part.seen.isdisjoint(ids):
                return False
        added: list[tuple[_Partition, list[int]]] = []
        for p, ids in hashes.items():
            part = self._part(p)
            before = len(part.seen)
            part.seen.update(ids)
            added.append((part, ids))
            if len(part.seen) - before < len(ids):  # an id twice: the per-event path decides
                for done, done_ids in added:
                    done.seen.difference_update(done_ids)
                return False
        for part, ids in added:
            self._append(part, ids)
        return True

    def _append(self, part: _Partition, ids: list[int]) -> None:
        """Put ``ids`` (already in ``part.seen``) into the open chunk, closing it each time it is full."""
        part.dirty = part.dirty or bool(ids)
        at = 0
        while at < len(ids):
            room = self.chunk - len(part.open)
            part.open.extend(ids[at : at + room])
            at += room
            if len(part.open) >= self.chunk:
                self._close(part)

    def _part(self, partition: int) -> _Partition:
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition()
        return part

    def _close(self, part: _Partition) -> None:
        chunk = (part.seq, part.open)
        part.closed.append(chunk)
        part.closed_ids += len(part.open)
        part.unsaved.append(chunk)
        part.seq += 1
        part.open = []
        self._trim(part)

    def _trim(self, part: _Partition) -> None:
        # forget the oldest chunk once the newer ones alone hold the window
        while part.closed and part.closed_ids - len(part.closed[0][1]) >= self.size:
            _, old = part.closed.popleft()
            part.closed_ids -= len(old)
            part.seen.difference_update(old)

    def records(self) -> Iterator[tuple[int, str, list]]:
        """``(partition, key, value)`` of the changelog records the batches since the last call changed."""
        for p, part in self._parts.items():
            chunks = part.unsaved + ([(part.seq, part.open)] if part.dirty else [])
            part.unsaved = []
            part.dirty = False
            for seq, ids in chunks:
                yield p, window_key(p, seq % self.slots), [seq, _encode(ids)]

    def load(self, items: Iterable[tuple], partitions: set[int] | None) -> None:
        """The windows of ``partitions`` (None: all) from a recovered table's items; forget the rest."""
        chunks: dict[int, list[tuple[int, list[int]]]] = {}
        for key, value in items:
            if not is_window_key(key):
                continue
            p = int(key.split("/")[1])
            if partitions is None or p in partitions:
                chunks.setdefault(p, []).append((int(value[0]), _decode(value[1])))
        self._parts = {}
        for p, found in chunks.items():
            found.sort()
            newest = found[-1][0]
            # a slot may still hold a chunk from an older turn of the ring: only the newest turn counts
            found = [c for c in found if c[0] > newest - self.slots]
            part = self._parts[p] = _Partition(seq=newest)
            for seq, ids in found[:-1]:
                part.closed.append((seq, ids))
                part.closed_ids += len(ids)
                part.seen.update(ids)
            part.open = list(found[-1][1])
            part.seen.update(part.open)
            self._trim(part)

    def __len__(self) -> int:
        return sum(len(part.seen) for part in self._parts.values())


def _encode(ids: list[int]) -> str:
    # each id as 6 big-endian bytes: the low 6 of its 8
    words = np.array(ids, ">u8").view(np.uint8).reshape(-1, 8)[:, 8 - HASH_BYTES :]
    return base64.b64encode(words.tobytes()).decode("ascii")


def _decode(text: str) -> list[int]:
    raw = np.frombuffer(base64.b64decode(text), np.uint8).reshape(-1, HASH_BYTES)
    words = np.zeros((len(raw), 8), np.uint8)
    words[:, 8 - HASH_BYTES :] = raw
    return words.view(">u8").ravel().astype(np.int64).tolist()
