"""The video stage's click hand-off to the user stage (the rest runs in the worker integration tests)."""

import asyncio
from types import SimpleNamespace

import orjson

from mtl.settings import Settings
from streams.videos import CLICKS_PER_MESSAGE, VideoStage


def test_clicks_go_to_their_user_partition_in_messages_of_bounded_size():
    sent = []

    async def send_clicks(partition, value, timestamp):
        sent.append((partition, orjson.loads(value), timestamp))

    async def no_dead_letters(key, value):
        raise AssertionError("no dead letters here")

    settings = Settings(stream={"partitions": 4})
    stage = VideoStage(
        table=None,
        settings=settings,
        redis_client=SimpleNamespace(register_script=lambda script: None),  # never called here
        send_dead_letter=no_dead_letters,
        send_clicks=send_clicks,
        resolver=SimpleNamespace(cache={7: (3, 5)}),
    )
    n = 2 * CLICKS_PER_MESSAGE + 10  # a click-heavy batch: one message would pass Kafka's 1 MB limit
    clicks = [(4 * i + 1, 7 if i % 2 else 8, i, 1.7e9 + i) for i in range(n)] + [(2, 7, -1, 1.8e9)]
    asyncio.run(stage._send_clicks(clicks, 1.9e9))
    assert [(p, len(rows)) for p, rows, _ in sent] == [
        (1, CLICKS_PER_MESSAGE),
        (1, CLICKS_PER_MESSAGE),
        (1, 10),
        (2, 1),
    ]
    rows = [r for p, rs, _ in sent if p == 1 for r in rs]
    assert rows[:2] == [[1, 8, 0, [], 1.7e9], [5, 7, 1, [3, 5], 1.7e9 + 1]]  # in order, with topics
    assert len(rows) == n and all(ts == 1.9e9 for _, _, ts in sent)
