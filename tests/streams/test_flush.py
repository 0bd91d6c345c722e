"""When a stage writes: every few ms while up to date, once per interval while behind."""

import time
from types import SimpleNamespace

from mtl.settings import StreamSettings
from streams.flush import WriteSchedule, behind_s, produced_s


def _events(produced: float | None, *, ms: bool = True):
    stamp = None if produced is None else (int(produced * 1000) if ms else produced)
    return [SimpleNamespace(message=SimpleNamespace(timestamp=stamp))]


def _counted(schedule: WriteSchedule) -> None:
    with schedule.batch():
        assert schedule.in_batch and not schedule.idle_due(now=True)  # never amid a batch


def test_timestamps_in_milliseconds_and_seconds_read_the_same():
    now = time.time()
    assert abs(produced_s(_events(now - 3)) - (now - 3)) < 1e-3
    assert abs(produced_s(_events(now - 3, ms=False)) - (now - 3)) < 1e-9
    assert produced_s(_events(None)) is None and produced_s([]) is None
    assert 2.9 < behind_s(_events(now - 3)) < 4 and behind_s(_events(None)) == 0.0


def test_up_to_date_batches_write_every_few_ms_and_behind_ones_once_per_interval():
    s = WriteSchedule(StreamSettings(flush_interval_s=0.05, catch_up_lag_s=0.5, catch_up_flush_s=60))
    assert not s.due(_events(time.time()))  # nothing counted yet
    s.last -= 0.06
    _counted(s)
    assert s.due(_events(time.time()))  # up to date, the short interval is over
    s.written()
    _counted(s)
    assert not s.due(_events(time.time()))  # up to date, written just now: the write loop writes it
    assert not s.idle_due() and s.idle_due(now=True)
    s.last -= 0.06
    assert s.idle_due()
    assert not s.due(_events(time.time() - 5))  # behind: the long interval applies, to the write loop too
    assert not s.idle_due()
    s.last -= 60
    assert s.due(_events(time.time() - 5)) and s.idle_due()
    s.written()
    assert not s.pending and not s.due(_events(time.time())) and not s.idle_due(now=True)


def test_a_failed_batch_leaves_nothing_pending():
    s = WriteSchedule(StreamSettings())
    try:
        with s.batch():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not s.pending and not s.in_batch


def test_zero_intervals_and_exactly_once_write_every_batch():
    for settings in (
        StreamSettings(processing_guarantee="exactly_once", flush_interval_s=60, catch_up_flush_s=60),
        StreamSettings(flush_interval_s=0, catch_up_flush_s=0),
    ):
        s = WriteSchedule(settings)
        _counted(s)
        assert s.due(_events(time.time() - 3600)) and s.due(_events(time.time()))


def test_the_batch_that_ends_a_backlog_writes_at_once_however_old_its_events():
    from streams.bulk import Batch

    s = WriteSchedule(StreamSettings(flush_interval_s=0.05, catch_up_lag_s=0.5, catch_up_flush_s=60))
    s.last -= 0.06
    _counted(s)
    old = _events(time.time() - 5)
    assert not s.due(old)  # behind
    last = Batch(old)
    last.at_end = True  # nothing more to read after it
    assert s.due(last)
