"""Messages round-trip through the real broker: kafka-python produces, an aiokafka consumer group reads."""

from __future__ import annotations

import asyncio
import json

import pytest
from kafka import KafkaProducer
from kafka.admin import NewTopic

pytestmark = pytest.mark.integration


def _create_topic(admin, name: str, partitions: int) -> None:
    admin.create_topics([NewTopic(name=name, num_partitions=partitions, replication_factor=1)])
    admin.created_topics.append(name)


async def _consume(bootstrap: str, topic: str, group: str, expected: int, timeout_s: float) -> list[dict]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[dict] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(received) < expected and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                received.extend(json.loads(r.value) for r in records)
        await consumer.commit()
    finally:
        await consumer.stop()
    return received


def test_produce_with_kafka_python_consume_with_aiokafka_group(services, kafka_admin, unique_name):
    _create_topic(kafka_admin, unique_name, partitions=3)
    producer = KafkaProducer(bootstrap_servers=services.kafka_bootstrap_servers, acks="all")
    sent = [{"event_id": i, "video_id": i % 7} for i in range(300)]
    for event in sent:
        producer.send(unique_name, key=str(event["video_id"]).encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()

    got = asyncio.run(_consume(services.kafka_bootstrap_servers, unique_name, unique_name, len(sent), 60))
    assert sorted(e["event_id"] for e in got) == list(range(300))

    # The group committed its offsets: a second member of the same group sees nothing new.
    again = asyncio.run(_consume(services.kafka_bootstrap_servers, unique_name, unique_name, 1, 3))
    assert again == []


def test_auto_topic_creation_is_off(services, unique_name):
    producer = KafkaProducer(bootstrap_servers=services.kafka_bootstrap_servers, max_block_ms=3000)
    with pytest.raises(Exception):  # noqa: B017 - kafka-python raises a timeout on unknown topics
        producer.send(unique_name, b"x").get(timeout=5)
    producer.close()
