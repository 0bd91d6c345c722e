import pytest

from streams.users import add_clicks, top_topics


def test_add_clicks_newest_first_by_event_time_dedup_and_cap():
    entries = add_clicks([], [[11, 1, [5], 10.0], [12, 2, [5, 6], 20.0]], 3)
    assert entries == [(12, 2, (5, 6), 20.0), (11, 1, (5,), 10.0)]  # tuples: the collector skips them
    # 12 redelivered; 13 arrives late but is older than 11 by event time
    entries = add_clicks(entries, [[12, 2, [5, 6], 20.0], [13, 3, [6], 5.0], [14, 4, [7], 30.0]], 3)
    assert [e[0] for e in entries] == [14, 12, 11]


def test_top_topics_votes_ties_and_padding():
    entries = [[1, 0, [5, 6], 0.0], [2, 0, [6], 0.0], [3, 0, [4], 0.0]]
    assert top_topics(entries, 2) == [6, 4]  # 6 has 2 votes; 4 and 5 tie on 1: smaller id first
    assert top_topics([], 3) == [-1, -1, -1]


def test_add_clicks_equals_a_full_sort_on_random_histories():
    import random

    from streams.users import HASH, TS, entry

    rng = random.Random(0)
    for _ in range(300):
        entries: list = []
        reference: list = []
        for _ in range(rng.randint(1, 6)):
            clicks = [
                [rng.randrange(50), rng.randrange(40), [rng.randrange(5)], float(rng.randrange(30))]
                for _ in range(rng.randint(0, 8))
            ]
            limit = 10
            entries = add_clicks(entries, clicks, limit)
            pool = {e[HASH]: e for e in reference}
            for c in clicks:
                pool.setdefault(c[HASH], entry(c))
            reference = sorted(pool.values(), key=lambda e: (e[TS], e[HASH]), reverse=True)[:limit]
            assert entries == reference


@pytest.mark.integration
def test_write_user_lists_replaces_lists_and_topic_counts(redis_client, unique_name):
    from streams.users import write_user_lists

    prefix = f"{unique_name}:u"
    redis_client.rpush(f"{prefix}:1", 99, 98)
    redis_client.hset(f"{prefix}:1:topics", mapping={"42": 3})
    write_user_lists(
        redis_client, prefix, {1: [[7, 0, [3, 4], 2.0], [8, 1, [4], 1.0], [7, 2, [], 0.5]], 2: []}
    )
    assert redis_client.lrange(f"{prefix}:1", 0, -1) == [b"7", b"8", b"7"]
    assert redis_client.hgetall(f"{prefix}:1:topics") == {b"3": b"1", b"4": b"2"}
    assert not redis_client.exists(f"{prefix}:2", f"{prefix}:2:topics")
    many = [[v, v, [v % 7], float(-v)] for v in range(2500)]  # more than one RPUSH inside the script
    write_user_lists(redis_client, prefix, {3: many})
    assert redis_client.llen(f"{prefix}:3") == 2500
    assert redis_client.lindex(f"{prefix}:3", 2499) == b"2499"
    assert sum(int(n) for n in redis_client.hvals(f"{prefix}:3:topics")) == 2500
