import pytest

from streams.queues import read_queue, write_queue_changes, write_queues

pytestmark = pytest.mark.integration


def test_diff_writes_equal_whole_writes_and_are_idempotent(redis_client, unique_name):
    a, b = f"{unique_name}:a", f"{unique_name}:b"
    first = {1: {10: 0.5, 11: 0.25, 12: 0.1}, 2: {20: 0.3}}
    second = {1: {10: 0.4, 12: 0.1, 13: 0.9}, 2: {}}
    written: dict = {}
    for queues in (first, second, second):
        write_queues(redis_client, a, queues)
        write_queue_changes(redis_client, b, queues, written)
        for t in queues:
            assert read_queue(redis_client, a, t) == read_queue(redis_client, b, t)
    assert read_queue(redis_client, b, 1) == [(13, 0.9), (10, 0.4), (12, 0.1)]
    assert read_queue(redis_client, b, 2) == []
    assert written == second
