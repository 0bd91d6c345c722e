"""``mtl demo``: the main job end to end on the local stack, with a short summary at the end."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pandas as pd
from tqdm.auto import tqdm

from mtl.connections import aiokafka_kwargs, kafka_python_kwargs
from mtl.devstack import DevStack
from mtl.kafka import admin_client, ensure_topics
from mtl.settings import Settings, get_settings
from topic_learning.corpus import synthetic_corpus

DEMO_TOPIC = "mtl.demo.interactions"
DEMO_PARTITIONS = 4


@dataclass
class RoundTrip:
    produced: int
    consumed: int
    produce_rate: float
    consume_rate: float
    clicks: int


def kafka_round_trip(
    bootstrap: str, interactions: pd.DataFrame, *, progress: bool = True, settings: Settings | None = None
) -> RoundTrip:
    """Produce every interaction as a JSON event keyed by video, read them back with a consumer group.

    Connection security comes from ``settings.kafka`` (default: the process settings).
    """
    from kafka import KafkaProducer

    settings = settings or get_settings()
    ensure_topics(bootstrap, {DEMO_TOPIC: DEMO_PARTITIONS}, settings=settings)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        compression_type=None,
        **kafka_python_kwargs(settings),
    )
    rows = interactions.sort_values("ts")
    user, video, clicked = rows["user_id"].to_numpy(), rows["video_id"].to_numpy(), rows["clicked"].to_numpy()
    ts_ms = rows["ts"].astype("int64").to_numpy() // 1000
    run_id = f"{time.time_ns()}"
    tick = time.perf_counter()
    for i in tqdm(range(len(rows)), desc="producing to Kafka", unit="event", disable=not progress):
        event = {
            "event_id": f"{run_id}-{i}",
            "type": "click" if clicked[i] else "exposure",
            "user_id": int(user[i]),
            "video_id": int(video[i]),
            "ts": int(ts_ms[i]),
        }
        producer.send(DEMO_TOPIC, key=str(video[i]).encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()
    produce_s = time.perf_counter() - tick

    tick = time.perf_counter()
    consumed, clicks = asyncio.run(
        _consume_run(bootstrap, run_id, len(rows), progress=progress, security=aiokafka_kwargs(settings))
    )
    consume_s = time.perf_counter() - tick
    admin = admin_client(bootstrap, settings=settings)
    try:
        admin.delete_topics([DEMO_TOPIC])  # the next run starts from an empty topic
    finally:
        admin.close()
    return RoundTrip(len(rows), consumed, len(rows) / produce_s, consumed / max(consume_s, 1e-9), clicks)


async def _consume_run(
    bootstrap: str, run_id: str, expected: int, *, progress: bool, security: dict[str, Any]
) -> tuple[int, int]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        DEMO_TOPIC,
        bootstrap_servers=bootstrap,
        group_id=f"mtl-demo-{run_id}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **security,
    )
    await consumer.start()
    seen = clicks = 0
    bar = tqdm(total=expected, desc="consuming (group)", unit="event", disable=not progress)
    try:
        idle_deadline = time.monotonic() + 60
        while seen < expected and time.monotonic() < idle_deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10000)
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    if event["event_id"].startswith(run_id):
                        seen += 1
                        clicks += event["type"] == "click"
                        idle_deadline = time.monotonic() + 60
                bar.update(len(records))
        await consumer.commit()
    finally:
        bar.close()
        await consumer.stop()
    return seen, clicks


def learned_topics(settings: Settings, dataset, *, echo=click.echo):
    """Train the topic model on the corpus, or reuse the latest one trained on it with these settings."""
    from topic_learning.model import TopicModel
    from topic_learning.registry import VIDEO_TOPICS_FILE, ModelRegistry, learn_and_save, report_lines

    registry = ModelRegistry(settings.artifact_dir / "topics" / dataset.name)
    path = registry.reusable(trained_on=str(dataset.root), settings=settings.learning)
    if path is not None:
        echo(f"    reused topic model {path}")
        return TopicModel.load(path), path / VIDEO_TOPICS_FILE
    path, model, report = learn_and_save(dataset, settings.learning, registry, previous=registry.latest())
    echo(f"    topic model {model.model_version} -> {path}")
    for line in report_lines(report, model):
        echo(f"  {line}")
    return model, path / VIDEO_TOPICS_FILE


def registered_features(settings: Settings, topics_file: Path, *, echo=click.echo) -> tuple[int, int]:
    """``mtl register`` (Feast apply + materialize), then one online fetch of 600 videos as a check."""
    from mtl.features import CandidateFetcher, open_store, register_topics

    registration = register_topics(topics_file, settings=settings)
    state = "registered" if registration.copied else "already registered, re-materialised"
    echo(f"    {state}: model_version {registration.model_version}, {registration.rows:,} videos")
    video_ids = pd.read_parquet(topics_file, columns=["video_id"])["video_id"].to_numpy()[
        : settings.ranker.candidates
    ]
    fetched = CandidateFetcher(open_store(settings=settings)).fetch(video_ids, user_id=0)
    return int(fetched.topics_found.sum()), len(video_ids)


def topic_examples(videos: pd.DataFrame, video_topics: pd.DataFrame, *, n: int = 3) -> list[str]:
    """The largest topics with their most frequent tags and dominant class, one line each."""
    joined = (
        video_topics[["video_id", "topic_ids"]].explode("topic_ids").rename(columns={"topic_ids": "topic"})
    )
    joined = joined[joined["topic"] >= 0].merge(
        videos[["video_id", "tags", "secondary_class"]], on="video_id"
    )
    lines = []
    for topic, rows in sorted(joined.groupby("topic"), key=lambda item: -len(item[1]))[:n]:
        tags = rows["tags"].explode().value_counts().head(4).index.tolist()
        cls = rows["secondary_class"].value_counts()
        purity = cls.iloc[0] / len(rows) if len(cls) else 0.0
        top_class = cls.index[0] if len(cls) else "-"
        lines.append(f"topic {topic}: {len(rows)} videos, tags {', '.join(tags)}; {purity:.0%} {top_class}")
    return lines


def run_demo(settings: Settings, *, echo=click.echo) -> None:
    """Dev stack up -> synthetic corpus -> topic learning -> Feast -> Kafka round trip -> summary."""
    stack = DevStack(settings)
    echo("1/5 dev stack: Kafka + Redis")
    addresses = stack.up()
    bootstrap = addresses["KAFKA_BOOTSTRAP_SERVERS"]

    echo("2/5 synthetic corpus")
    tick = time.perf_counter()
    dataset, reused = synthetic_corpus(settings)
    stats = dataset.stats()
    echo(f"    {'reused' if reused else 'generated'} {dataset.root} in {time.perf_counter() - tick:.1f}s")

    echo("3/5 topic learning (MMoE + tag graph + K-means)")
    model, topics_file = learned_topics(settings, dataset, echo=echo)
    video_topics = pd.read_parquet(topics_file)

    echo("4/5 feature store: register topics in Feast, materialise to Redis")
    found, asked = registered_features(settings, topics_file, echo=echo)

    echo("5/5 Kafka round trip of the interaction log")
    trip = kafka_round_trip(bootstrap, dataset.interactions, settings=settings)

    echo("")
    echo("== summary")
    echo(f"services         : Kafka {bootstrap}, Redis {addresses['REDIS_URL']}")
    echo(
        f"corpus           : {stats['videos']} videos ({stats['covers']} covers), "
        f"{stats['distinct_tags']} tags, {stats['primary_classes']} primary / "
        f"{stats['secondary_classes']} secondary classes, {stats['users']} users"
    )
    echo(
        f"topics           : {model.n_topics} topics (model {model.model_version}), "
        f"{video_topics['n_topics'].mean():.2f} topics per video on average"
    )
    for line in topic_examples(dataset.videos, video_topics):
        echo(f"                   {line}")
    echo(
        f"feature store    : Feast project at {settings.feast_repo_path}, online store Redis; "
        f"online fetch of {asked} candidates found topics for {found}"
    )
    echo(
        f"interactions     : {stats['exposures']} exposures, {stats['clicks']} clicks, CTR {stats['ctr']:.3f}"
    )
    echo(
        f"kafka round trip : {trip.produced} produced ({trip.produce_rate:,.0f}/s), "
        f"{trip.consumed} consumed by a group ({trip.consume_rate:,.0f}/s), {trip.clicks} clicks"
    )
    if trip.consumed != trip.produced:
        from mtl.errors import ServiceError

        raise ServiceError(
            f"Kafka round trip lost events: {trip.produced} produced, {trip.consumed} consumed"
        )
    echo(f"data set         : {Path(dataset.root)}")
