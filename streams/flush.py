"""When a stage writes what its batches changed: every few ms while up to date, once a second while behind.

A stage's writes (changelog records, Redis, Feast) are per changed key, and a key changed by several
batches needs writing only once. Up to date, a stage writes at most every ``stream.flush_interval_s``
(50 ms): a worker at a few thousand events/s takes a fetch every few ms, and writing after each cost
more than the counting. Behind, when the newest event of a batch was produced more than
``stream.catch_up_lag_s`` ago (a backlog, a restart), it writes once every ``stream.catch_up_flush_s``,
so a hot video or user is written once a second instead of once per batch -- unless the batch is known to
end the backlog (``at_end``, set by the bulk consumer when its partitions had nothing more to read):
then the stage is up to date again, old events or not, and writes at once. The app's write loop
(``flush_deferred`` in :mod:`streams.app`) writes what the last batches left waiting.

Deferring is safe because the input positions are written with the state, after it
(:mod:`streams.positions`): a worker that dies before a deferred write starts from the positions it
wrote last and reads those events again; Redis only ever holds absolute values derived from the state.
With ``exactly_once`` every batch writes (its transaction must carry the state of the offsets it commits).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from mtl.settings import StreamSettings

__all__ = ["WriteSchedule", "behind_s", "produced_s"]


class WriteSchedule:
    """Decides, batch by batch, whether a stage's pending writes go out now.

    Parameters
    ----------
    settings : StreamSettings
        ``flush_interval_s``, ``catch_up_lag_s``, ``catch_up_flush_s`` and ``processing_guarantee``.
    """

    def __init__(self, settings: StreamSettings) -> None:
        self.lag_s = settings.catch_up_lag_s
        self.up_to_date_s = settings.flush_interval_s
        self.catch_up_s = settings.catch_up_flush_s
        self.always = settings.processing_guarantee != "at_least_once"
        self.wait_s = self.up_to_date_s  # the interval that applies since the last batch
        self.pending = False  # batches were counted since the last write
        self.in_batch = False
        self.last = time.monotonic()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Around the counting of one batch: no idle write may run while it is half counted."""
        self.in_batch = True
        try:
            yield
            self.pending = True
        finally:
            self.in_batch = False

    def due(self, events: Sequence) -> bool:
        """After a batch: whether to write now (else the next batch or the write loop does)."""
        if not self.pending:
            return False
        if self.always:
            return True
        behind = behind_s(events) > self.lag_s and not getattr(events, "at_end", False)
        self.wait_s = self.catch_up_s if behind else self.up_to_date_s
        return time.monotonic() - self.last >= self.wait_s

    def idle_due(self, *, now: bool = False) -> bool:
        """From the write loop: deferred writes whose interval is over (any, with ``now``), when no batch is
        being counted (its positions have moved before its counts)."""
        if not self.pending or self.in_batch:
            return False
        return now or time.monotonic() - self.last >= self.wait_s

    def written(self) -> None:
        """The pending writes were taken (call before the first await of the write)."""
        self.pending = False
        self.last = time.monotonic()


def behind_s(events: Sequence) -> float:
    """How long ago the last of ``events`` was produced; 0 when that is unknown."""
    stamp = produced_s(events)
    return 0.0 if stamp is None else time.time() - stamp


def produced_s(events: Sequence) -> float | None:
    """When the last of ``events`` was produced (its Kafka timestamp, Unix seconds), if known."""
    stamp = getattr(events[-1].message, "timestamp", None) if events else None
    if not stamp:
        return None
    # raw aiokafka records (the bulk consumer) carry milliseconds, Faust's messages seconds
    return stamp / 1000.0 if stamp > 1e11 else float(stamp)
