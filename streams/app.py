"""The faust-streaming worker: Kafka events -> exact per-video counts -> per-topic CTR queues in Redis.

Start it with ``mtl stream worker`` or ``faust -A streams.app worker -l info``; settings come from
:func:`mtl.settings.get_settings` (``stream`` section: ``MTL_STREAM__APP_ID`` etc.).

Two agents in one app, so N workers in one consumer group split the work by Kafka partition:

- ``process_events`` reads the video-keyed events topic; its ``video_counts`` table is co-partitioned
  with it (:mod:`streams.videos`). Each worker writes only its partitions' share of every topic queue and
  merges queues in Redis atomically (:mod:`streams.queue_store`), so queues do not depend on how many
  workers there are.
- ``process_user_clicks`` reads ``<app_id>-user-clicks``, where the video stage repartitions clicks by
  user; its ``user_clicks`` table is user-keyed (:mod:`streams.users`).

The app creates every topic it reads or writes (explicit partition counts; broker auto-creation is off).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import faust

from mtl.connections import faust_broker_credentials, redis_client
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


async def _send_clicks(partition: int, value: bytes) -> None:
    await user_clicks_topic.send(key=None, value=value, partition=partition)


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
    )
    return videos, UserStage(table=user_clicks, settings=settings, redis_client=client)


video_stage, user_stage = _stages()


@app.agent(events_topic)
async def process_events(stream):
    async for events in stream.take_events(S.batch_size, within=S.batch_timeout_s):
        await video_stage.handle(events)


@app.agent(user_clicks_topic)
async def process_user_clicks(stream):
    async for events in stream.take_events(S.batch_size, within=S.batch_timeout_s):
        await user_stage.handle(events)


@app.timer(interval=S.full_refresh_s)
async def refresh():
    await video_stage.refresh()
    await user_stage.refresh()


@app.on_rebalance_complete.connect
async def _after_rebalance(sender, **kwargs) -> None:
    # tables were recovered for the new assignment: rebuild indexes, rewrite owned Redis state whole
    video_stage.reset()
    user_stage.needs_rewrite = True


def main() -> None:
    """Run the worker (what ``mtl stream worker`` does); the app creates its topics on start."""
    from faust.worker import Worker as FaustWorker

    FaustWorker(app, loglevel="info").execute_from_commandline()
