"""Writes and reads against the real Redis server."""

import pytest

pytestmark = pytest.mark.integration


def test_hash_and_sorted_set_round_trip(redis_client, unique_name):
    key = f"{unique_name}:video:1"
    redis_client.hset(key, mapping={"exposures": 12, "clicks": 3})
    assert redis_client.hgetall(key) == {b"exposures": b"12", b"clicks": b"3"}

    queue = f"{unique_name}:queue:7"
    redis_client.zadd(queue, {"10": 0.2, "11": 0.5, "12": 0.1})
    assert redis_client.zrevrange(queue, 0, -1) == [b"11", b"10", b"12"]


def test_pipeline_is_one_round_trip_for_many_keys(redis_client, unique_name):
    pipe = redis_client.pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"{unique_name}:k{i}", i)
    pipe.execute()
    pipe = redis_client.pipeline(transaction=False)
    for i in range(100):
        pipe.get(f"{unique_name}:k{i}")
    assert [int(v) for v in pipe.execute()] == list(range(100))
