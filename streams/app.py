"""The faust-streaming worker: Kafka events -> exact per-video counts -> per-topic CTR queues in Redis.

Start it with ``mtl stream worker`` or ``faust -A streams.app worker -l info``; settings come from
:func:`mtl.settings.get_settings` (``stream`` section: ``MTL_STREAM__APP_ID`` etc.).

Two agents in one app, so N workers in one consumer group split the work by Kafka partition:

- ``process_events`` reads the video-keyed events topic (with ``stream.consumer=bulk`` the consumer hands
  its fetched events to the video stage in batches instead, :mod:`streams.bulk`); its ``video_counts``
  table is co-partitioned with it (:mod:`streams.videos`). Each worker writes only its partitions' share
  of every topic queue and merges queues in Redis atomically (:mod:`streams.queue_store`), so queues do
  not depend on how many workers there are.
- ``process_user_clicks`` reads ``<app_id>-user-clicks``, where the video stage repartitions clicks by
  user; its ``user_clicks`` table is user-keyed (:mod:`streams.users`).

The app creates every topic it reads or writes (explicit partition counts; broker auto-creation is off).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import faust
from faust.types import TP

from mtl.connections import faust_broker_credentials, redis_client
from mtl.errors import first_line
from mtl.settings import get_settings

log = logging.getLogger("streams.app")

settings = get_settings()
S = settings.stream
USER_CLICKS_TOPIC = f"{S.app_id}-user-clicks"


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip()]


def _datadir() -> Path:
    return S.data_dir or (settings.run_dir.parent / "faust")


class StreamApp(faust.App):
    """Creates its input, dead-letter and repartition topics (explicit partitions) before it subscribes."""

    async def on_first_start(self) -> None:
        await super().on_first_start()
        from mtl.kafka import ensure_topics

        names = (S.events_topic, S.dead_letter_topic, USER_CLICKS_TOPIC)
        await asyncio.to_thread(
            ensure_topics,
            settings.kafka_bootstrap_servers,
            dict.fromkeys(names, S.partitions),
            settings=settings,
        )

    def _new_transport(self):
        if S.consumer != "bulk":
            return super()._new_transport()
        from streams.bulk import BulkTransport

        transport = BulkTransport(self.conf.broker_consumer, self)
        transport.bulk_batch_size = S.bulk_batch_size
        return transport


app = StreamApp(
    S.app_id,
    broker=_broker_urls(settings.kafka_bootstrap_servers),
    broker_credentials=faust_broker_credentials(settings),
    store="rocksdb://" if S.store == "rocksdb" else "memory://",
    processing_guarantee=S.processing_guarantee,
    topic_partitions=S.partitions,
    topic_allow_declare=True,
    topic_disable_leader=True,
    web_enabled=False,
    datadir=str(_datadir()),
    producer_linger_ms=5,
    consumer_max_fetch_size=S.fetch_partition_bytes,
    broker_session_timeout=S.session_timeout_s,
    broker_heartbeat_interval=max(S.session_timeout_s / 4, 0.5),
)


def _raw_topic(name: str):
    return app.topic(name, key_serializer="raw", value_serializer="raw", partitions=S.partitions)


events_topic = _raw_topic(S.events_topic)
dead_letter_topic = _raw_topic(S.dead_letter_topic)
user_clicks_topic = _raw_topic(USER_CLICKS_TOPIC)
# keys and values are JSON (the app's default table serializers): `mtl stream rebuild-queues` reads them
video_counts = app.Table("video_counts", default=None, partitions=S.partitions)
user_clicks = app.Table("user_clicks", default=None, partitions=S.partitions)


async def _send_dead_letter(key: bytes | None, value: bytes) -> None:
    await dead_letter_topic.send(key=key, value=value)


async def _send_clicks(partition: int, value: bytes, timestamp: float | None) -> None:
    await user_clicks_topic.send(key=None, value=value, partition=partition, timestamp=timestamp)


def _stages():
    from streams.users import UserStage
    from streams.videos import VideoStage

    client = redis_client(settings)
    videos = VideoStage(
        table=video_counts,
        settings=settings,
        redis_client=client,
        send_dead_letter=_send_dead_letter,
        send_clicks=_send_clicks,
        owned=lambda: _owned(S.events_topic),
        seek=_seeker(S.events_topic),
    )
    users = UserStage(
        table=user_clicks,
        settings=settings,
        redis_client=client,
        owned=lambda: _owned(USER_CLICKS_TOPIC),
        seek=_seeker(USER_CLICKS_TOPIC),
    )
    return videos, users


def _seeker(topic: str):
    async def seek(partition: int, offset: int) -> None:
        await app.consumer.seek_wait({TP(topic, partition): offset})  # runs in the consumer's thread

    return seek


def _owned(topic: str) -> set[int]:
    """Partitions of ``topic`` this worker is active for (a memory store also holds standby keys)."""
    return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}


video_stage, user_stage = _stages()


def _abandon(what: str, exc: BaseException) -> None:
    """A batch that did not finish must not be acknowledged: leave at once, so it is redelivered.

    ``take_events`` acknowledges a batch's events when its generator closes, even when the batch raised
    or was cancelled (a rebalance can cancel an agent mid-batch), which would drop those events. The
    supervisor restarts the worker; the count fence makes the redelivery exact.
    """
    if isinstance(exc, asyncio.CancelledError):
        log.warning("%s batch interrupted; exiting so that its events are redelivered", what)
    else:
        log.exception("%s batch failed; exiting so that its events are redelivered", what)
    logging.shutdown()
    os._exit(0 if app.should_stop else 70)


@app.agent(events_topic)
async def process_events(stream):
    async for events in stream.take_events(S.batch_size, within=S.batch_timeout_s):
        try:
            await video_stage.handle(events)
        except BaseException as exc:  # noqa: BLE001 - see _abandon
            _abandon("video", exc)


async def _bulk_video_batch(events) -> None:
    try:
        await video_stage.handle(events)
    except BaseException as exc:  # noqa: BLE001 - see _abandon
        _abandon("video", exc)


if S.consumer == "bulk":
    # the consumer hands every fetch of the events topic to the video stage (streams.bulk); the agent
    # above stays, idle, so that subscription, assignment and acknowledgements are Faust's as before
    app.transport.bulk_handlers[S.events_topic] = _bulk_video_batch

    @app.task
    async def _announce_bulk() -> None:  # at start: logging is configured by then
        log.info(
            "stream.consumer=bulk: %s goes to the video stage in batches of up to %d",
            S.events_topic,
            S.bulk_batch_size,
        )


@app.agent(user_clicks_topic)
async def process_user_clicks(stream):
    async for events in stream.take_events(S.batch_size, within=S.batch_timeout_s):
        try:
            await user_stage.handle(events)
        except BaseException as exc:  # noqa: BLE001 - see _abandon
            _abandon("user", exc)


@app.task
async def flush_deferred():
    # what the last batches left waiting (streams.flush); a loop, not a timer: a write while behind takes
    # longer than the interval, which a Faust timer reports as overlapping every time
    while not app.should_stop:
        await asyncio.sleep(max(0.02, S.flush_interval_s))
        for name, stage in (("video", video_stage), ("user", user_stage)):
            try:
                await stage.flush_idle()
            except BaseException as exc:  # noqa: BLE001 - see _abandon
                _abandon(name, exc)


@app.on_before_shutdown.connect
async def _write_deferred(sender, **kwargs) -> None:
    # the consumer has stopped and its last batch is through: what a backlog deferred is written now,
    # so that a clean restart does not read those events again, and the queues get the final prior
    for stage in (video_stage, user_stage):
        try:
            await stage.flush_idle(now=True)
            await stage.refresh()
        except Exception as exc:  # noqa: BLE001 - the positions make the next start read them again
            log.warning("deferred writes not written at shutdown: %s", first_line(exc))


@app.timer(interval=S.full_refresh_s)
async def refresh():
    await video_stage.refresh()
    await user_stage.refresh()


class _Watchdog:
    """Looks after stages that take no events while their partitions have unread ones.

    After :data:`REWIND_AFTER_S` of that it seeks those partitions back to the positions stored with the
    state (:meth:`streams.positions.Positions.rewind_stalled`): Faust resumed at committed offsets beyond
    the state (a worker killed with writes deferred, :mod:`streams.flush`) and no newer event arrives to
    show the gap. After ``stream.stall_timeout_s`` it ends the worker: Faust has known races around
    rebalances and recovery after which a stream can sit idle with events unread (e.g. faust-streaming
    issue #596); the supervisor (or the container's restart policy) starts a fresh worker, and the
    positions make the restart exact.
    """

    REWIND_AFTER_S = 5.0

    def __init__(self, timeout_s: float | None) -> None:
        self.timeout_s = timeout_s
        self.seen: tuple = ()
        self.since = time.monotonic()
        self.lagging = None

    async def check(self) -> None:
        now = time.monotonic()
        if app.rebalancing or app.in_recovery:
            self.since = now
            return
        stages = ((S.events_topic, video_stage), (USER_CLICKS_TOPIC, user_stage))
        behind: list[tuple[object, list[int]]] = []  # (stage, partitions with unread events)
        for topic, stage in stages:
            tps = [TP(topic, p) for p in sorted(_owned(topic))]
            if not tps:
                continue
            await stage.load()  # the positions of this assignment, also before its first batch
            ends = await app.consumer.highwaters(*tps)
            nxt = stage.positions.next
            behind.append(
                (stage, [tp.partition for tp in tps if (ends.get(tp) or 0) > nxt.get(tp.partition, 0)])
            )
        self.lagging = any(parts for _, parts in behind)
        seen = tuple(tuple(sorted(stage.positions.next.items())) for _, stage in stages)
        if not self.lagging or seen != self.seen:
            self.seen, self.since = seen, now
            return
        if now - self.since > self.REWIND_AFTER_S:
            for stage, parts in behind:
                await stage.positions.rewind_stalled(parts)
        if self.timeout_s is not None and now - self.since > self.timeout_s:
            log.error(
                "no events taken for %.0f s while partitions have unread ones; exiting", now - self.since
            )
            logging.shutdown()
            os._exit(70)


_watchdog = _Watchdog(S.stall_timeout_s)


@app.timer(interval=S.global_refresh_s)
async def global_queue():
    # one writer per consumer group: the owner of the events topic's partition 0 (Faust's own leader
    # election needs an extra topic and a rebalance listener of its own)
    if 0 not in _owned(S.events_topic):
        return
    from streams.global_queue import write_global_queue

    try:
        await asyncio.to_thread(write_global_queue, video_stage.redis, S)
    except Exception as exc:  # noqa: BLE001 - a Redis hiccup must not stop the worker; next round retries
        log.warning("cold-start queue not written: %s", first_line(exc))


@app.task
async def watchdog():
    # a loop, not a timer: asking the broker for end offsets can take seconds
    while not app.should_stop:
        await asyncio.sleep(2.0)
        try:
            await video_stage.positions.retry_rewinds()
            await user_stage.positions.retry_rewinds()
            await _watchdog.check()
        except Exception as exc:  # noqa: BLE001 - e.g. the broker away for a moment: look again later
            log.warning("watchdog: %s", first_line(exc))


@app.task
async def _stack_dumps() -> None:
    """``kill -USR1 <worker pid>`` logs where the agents wait (for diagnosing a stalled worker)."""
    import io
    import signal

    def dump() -> None:
        import gc
        import types

        out = io.StringIO()
        for obj in gc.get_objects():  # agents run inside Faust's actor wrappers: find our coroutines
            if isinstance(obj, types.CoroutineType) and obj.cr_code.co_name.startswith("process_"):
                coro, chain = obj, []
                while coro is not None:
                    frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
                    if frame is not None:
                        chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
                    coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
                print(obj.cr_code.co_name, *chain, sep="\n  ", file=out)
        c = app.consumer
        print(
            f"rebalancing={app.rebalancing} in_recovery={app.in_recovery} flow_active={c.flow_active}",
            f"assignment={sorted(c.assignment())}",
            f"paused={sorted(getattr(c, '_paused_partitions', ()))}",
            f"active={sorted(getattr(c, '_active_partitions', None) or ())}",
            f"read_offset={dict(c._read_offset)}",
            f"video_next={video_stage.positions.next} user_next={user_stage.positions.next}",
            f"flow_control_active={getattr(app.flow_control, 'is_active', lambda: '?')()}",
            f"watchdog: lagging={_watchdog.lagging} idle_s={time.monotonic() - _watchdog.since:.1f}",
            sep="\n",
            file=out,
        )
        log.warning("agents wait at:\n%s", out.getvalue())

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)


@app.on_rebalance_complete.connect
async def _after_rebalance(sender, **kwargs) -> None:
    # tables were recovered for the new assignment: rebuild indexes, rewrite owned Redis state whole
    video_stage.reset()
    user_stage.needs_rewrite = True
    user_stage.users = None


def main() -> None:
    """Run the worker (what ``mtl stream worker`` does); the app creates its topics on start."""
    import gc

    from faust.worker import Worker as FaustWorker

    # Full collections walked every tracked object every ~1.5 s under load, 0.1-0.8 s each: the ~100k
    # objects of the imported modules, which never die, go to the permanent generation; and a young
    # generation larger than the records of an up-to-date batch (a fetch's worth, a few hundred) lets those
    # die before they are promoted and counted towards the next full collection.
    gc.freeze()
    gc.set_threshold(100_000, 20, 10)
    FaustWorker(app, loglevel="info").execute_from_commandline()
