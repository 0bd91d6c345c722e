"""Candidate generation: the rules on hand-made cases, the Lua script against the reference in real Redis."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from mtl.errors import DataError, ServiceError
from mtl.settings import StreamSettings, load_settings
from ranker.candidates import (
    GLOBAL_TOPIC,
    CandidateGenerator,
    CandidateSet,
    largest_remainder,
    reference_candidates,
)
from streams.global_queue import global_queue, write_global_queue


def _ref(counts, clicked, queues, fresh=None, *, n=10, top_topics=4, fresh_share=0.0) -> CandidateSet:
    return reference_candidates(
        counts, clicked, queues, fresh or {}, n=n, top_topics=top_topics, fresh_share=fresh_share
    )


def _queue(videos, base=0.5):
    """Distinct scores, the first video best."""
    return [(v, base - i / 1000) for i, v in enumerate(videos)]


# ------------------------------------------------------------------------------------------ the rules


def test_largest_remainder_splits_exactly_and_breaks_ties_by_rank():
    assert largest_remainder(600, [3, 1]) == [450, 150]
    assert largest_remainder(10, [1, 1, 1]) == [4, 3, 3]  # equal remainders: the better ranked topic
    assert largest_remainder(7, [5, 3, 2]) == [4, 2, 1]  # 3.5 / 2.1 / 1.4
    assert largest_remainder(0, [4, 2]) == [0, 0]
    for budget, weights in [(600, [7, 5, 5, 1]), (13, [128]), (599, [9, 8, 7, 6])]:
        assert sum(largest_remainder(budget, weights)) == budget


def test_top_topics_by_count_then_smaller_id_and_quotas_in_proportion():
    queues = {t: _queue(range(100 * t, 100 * t + 50)) for t in (1, 2, 3, 4, 5)}
    got = _ref({5: 2, 3: 6, 1: 2, 2: 2, 4: 0}, [], queues, n=12, top_topics=3)
    assert got.topics == [3, 1, 2]  # 4 has no clicks; 1 and 2 beat 5 on the tie
    assert got.source == "topics"
    counts = {t: int((got.from_topic == t).sum()) for t in got.topics}
    # 12 * (6, 2, 2) / 10 = 7.2, 2.4, 2.4: floors 7 + 2 + 2, the one left to the largest remainder (0.4 >
    # 0.2), of the two tied the better ranked topic
    assert counts == {3: 7, 1: 3, 2: 2}


def test_candidates_are_each_topics_best_without_clicks_or_repeats():
    queues = {1: _queue([10, 11, 12, 13, 14]), 2: _queue([12, 20, 21, 22], base=0.45)}
    got = _ref({1: 1, 2: 1}, [11], queues, n=6)
    # topic 1 (rank 1): 10, 12, 13 (11 was clicked); topic 2: 20, 21, 22 (12 is topic 1's)
    assert got.video_ids.tolist() == [10, 20, 12, 21, 13, 22]
    assert got.from_topic.tolist() == [1, 2, 1, 2, 1, 2]
    assert got.video_ids.dtype == np.int64 and got.from_topic.dtype == np.int64


def test_order_interleaves_topics_and_fresh_in_proportion():
    fresh = {1: {100, 101}}
    queues = {1: _queue(range(10)) + [(100, 0.01), (101, 0.02)], 2: _queue(range(50, 60))}
    got = _ref({1: 3, 2: 1}, [], queues, fresh, n=12, fresh_share=0.2)
    # topic 1: 9 (7 ranked + 2 fresh), topic 2: 3; lists at (2j + 1) / 2L
    assert got.video_ids.tolist() == [0, 50, 1, 101, 2, 3, 51, 4, 100, 5, 52, 6]
    assert got.from_topic.tolist() == [1, 2, 1, 1, 1, 1, 2, 1, 1, 1, 2, 1]


def test_a_short_queue_gives_its_quota_to_the_others_in_proportion():
    queues = {1: _queue([1, 2]), 2: _queue(range(100, 200)), 3: _queue(range(200, 300))}
    got = _ref({1: 2, 2: 2, 3: 1}, [], queues, n=20)
    per = {t: int((got.from_topic == t).sum()) for t in (1, 2, 3)}
    # quotas 8/8/4; topic 1 has 2, its 6 go to 2 and 3 as 2:1 -> 4/2; total 20
    assert per == {1: 2, 2: 12, 3: 6}
    # everything runs dry: fewer than n
    assert len(_ref({1: 1}, [], queues, n=20)) == 2


def test_fresh_share_of_each_quota_comes_from_the_fresh_part():
    ranked = list(range(100))
    fresh = list(range(1000, 1030))
    queue = _queue(ranked) + [(v, 0.01) for v in fresh]
    got = _ref({7: 1}, [], {7: queue}, {7: set(fresh)}, n=50, fresh_share=0.1)
    ids = set(got.video_ids.tolist())
    assert len(ids & set(fresh)) == 5
    assert ids - set(fresh) == set(range(45))
    # without a fresh split the whole queue is one ranked list
    got = _ref({7: 1}, [], {7: queue}, n=50, fresh_share=0.1)
    assert set(got.video_ids.tolist()) == set(range(50))
    # a short fresh part is made up from the ranked part, and the other way round
    got = _ref({7: 1}, [], {7: queue}, {7: set(fresh)}, n=50, fresh_share=0.9)
    assert len(set(got.video_ids.tolist()) & set(fresh)) == 30
    got = _ref({7: 1}, [], {7: queue}, {7: set(fresh)}, n=130, fresh_share=0.1)
    assert len(got) == 130


def test_ties_are_walked_in_redis_order():
    queue = [(v, 0.5) for v in (3, 10, 9, 100)]  # one score: ZREVRANGE order is member string descending
    got = _ref({1: 1}, [], {1: queue}, n=2)
    assert got.video_ids.tolist() == [9, 3]  # "9" > "3" > "100" > "10"


def test_cold_start_uses_the_global_queue():
    queues = {1: _queue([1, 2, 3]), GLOBAL_TOPIC: _queue([7, 8, 9])}
    for counts in ({}, {1: 0}, {-1: 5}):
        got = _ref(counts, [8], queues, n=5)
        assert got.source == "cold_start"
        assert got.topics == []
        assert got.video_ids.tolist() == [7, 9]  # best first
        assert got.from_topic.tolist() == [-1, -1]
    assert len(_ref({}, [], {1: _queue([1])}, n=5)) == 0  # no global queue: nothing


def test_global_queue_keeps_the_best_ranked_and_a_fresh_share():
    s = StreamSettings(queue_length=10, fresh_share=0.2, min_fresh=1)
    queues = {
        1: [(1, 0.9), (2, 0.8), (50, 0.01)],
        2: [(2, 0.8), *[(v, 0.5 - v / 100) for v in range(3, 20)], (51, 0.02)],
    }
    queue, fresh = global_queue(queues, {1: {50}, 2: {51}}, s)
    assert [v for v, _ in queue] == [1, 2, 3, 4, 5, 6, 7, 8, 51, 50]
    assert fresh == {50, 51}


# ------------------------------------------------------------------------------------ Lua vs reference


def _settings(services, name, *, top_topics=4, history=128, n3=600, fresh_share=0.1):
    return load_settings(
        redis_url=services.redis_url,
        stream={"queue_prefix": f"{name}:q", "user_prefix": f"{name}:u", "fresh_share": fresh_share},
        ranker={"top_topics": top_topics, "history_clicks": history, "candidates": n3},
    )


def _write(client, settings, queues, fresh, users) -> None:
    qp, up = settings.stream.queue_prefix, settings.stream.user_prefix
    pipe = client.pipeline(transaction=False)
    for t, queue in queues.items():
        key = f"{qp}:global" if t == GLOBAL_TOPIC else f"{qp}:{t}"
        if queue:
            pipe.zadd(key, {str(v): s for v, s in queue})
        part = {str(v): s for v, s in queue if v in fresh.get(t, ())}
        if part:
            pipe.zadd(f"{key}:fresh", part)
    for user, (counts, clicked) in users.items():
        if clicked:
            pipe.rpush(f"{up}:{user}", *clicked)
        if counts:
            pipe.hset(f"{up}:{user}:topics", mapping={str(t): c for t, c in counts.items()})
    pipe.execute()


def _random_case(rng):
    pool = int(rng.integers(5, 400))
    levels = int(rng.choice([2, 5, 50, 10**6]))  # few levels: many tied scores
    topics = rng.choice(60, size=int(rng.integers(1, 9)), replace=False).tolist()
    queues, fresh = {}, {}
    for t in [*topics, GLOBAL_TOPIC]:
        size = min(pool, int(rng.choice([0, 1, 3, 20, 80, 300])))
        members = rng.choice(pool, size=size, replace=False).tolist()
        queues[t] = [(int(v), float(rng.integers(0, levels)) / levels) for v in members]
        if members and rng.random() < 0.7:
            k = int(rng.integers(0, len(members) + 1) * rng.choice([0.1, 0.3, 1.0]))
            fresh[t] = {int(v) for v in rng.choice(members, size=k, replace=False)}
    users = {}
    for user in range(6):
        chosen = rng.choice(topics + [999], size=int(rng.integers(0, len(topics) + 2)), replace=True)
        counts = {int(t): int(rng.integers(0, 12)) for t in chosen}  # 999: a topic without a queue
        clicked = rng.choice(pool, size=int(rng.integers(0, min(pool, 60))), replace=False).tolist()
        users[user] = (counts, [int(v) for v in clicked])
    return queues, fresh, users


@pytest.mark.integration
@pytest.mark.parametrize("decode", [False, True])
def test_lua_script_agrees_with_the_reference_on_random_data(services, unique_name, redis_client, decode):
    client = redis.Redis.from_url(services.redis_url, decode_responses=decode)
    rng = np.random.default_rng(0 if decode else 1)
    compared = cold = 0
    for seed in range(60):
        name = f"{unique_name}:{seed}"
        settings = _settings(
            services,
            name,
            top_topics=int(rng.integers(1, 6)),
            history=int(rng.choice([5, 128])),
            fresh_share=float(rng.choice([0.0, 0.1, 0.25, 1.0])),
        )
        queues, fresh, users = _random_case(rng)
        _write(client, settings, queues, fresh, users)
        gen = CandidateGenerator(redis=client, settings=settings)
        for user, (counts, clicked) in [*users.items(), (77, ({}, []))]:
            n = int(rng.choice([0, 1, 7, 50, 600, 5000]))
            got = gen.generate(user, n=n)
            want = reference_candidates(
                counts,
                clicked[: settings.ranker.history_clicks],
                queues,
                fresh,
                n=n,
                top_topics=settings.ranker.top_topics,
                fresh_share=settings.stream.fresh_share,
            )
            context = f"seed {seed} user {user} n {n}"
            assert got.source == want.source, context
            assert got.topics == want.topics, context
            np.testing.assert_array_equal(got.video_ids, want.video_ids, err_msg=context)
            np.testing.assert_array_equal(got.from_topic, want.from_topic, err_msg=context)
            assert got.video_ids.dtype == np.int64 and got.from_topic.dtype == np.int64
            compared += 1
            cold += got.source == "cold_start"
    client.close()
    assert compared == 60 * 7 and 0 < cold < compared


@pytest.mark.integration
def test_default_n_and_reload_after_noscript(services, unique_name, redis_client):
    settings = _settings(services, unique_name, n3=3)
    queues = {4: _queue(range(10))}
    _write(redis_client, settings, queues, {}, {1: ({4: 2}, [0])})
    gen = CandidateGenerator(redis=redis_client, settings=settings)
    assert gen.generate(1).video_ids.tolist() == [1, 2, 3]
    real = gen.sha_
    gen.sha_ = "0" * 40  # a script Redis does not know: the NOSCRIPT path loads it again
    assert gen.generate(np.int64(1), n=2).video_ids.tolist() == [1, 2]
    assert gen.sha_ == real


@pytest.mark.integration
def test_write_global_queue_feeds_cold_start(services, unique_name, redis_client):
    settings = _settings(services, unique_name)
    queues = {1: _queue(range(5)), 2: _queue(range(100, 105), base=0.7), 3: [(200, 0.01)]}
    fresh = {3: {200}}
    _write(redis_client, settings, queues, fresh, {})
    redis_client.set(f"{unique_name}:q:stats", 1)  # other keys under the prefix are not queues
    assert write_global_queue(redis_client, settings.stream) == 11
    got = CandidateGenerator(redis=redis_client, settings=settings).generate(5, n=20)
    assert got.source == "cold_start"
    assert got.video_ids.tolist() == [100, 101, 102, 103, 104, 200, 0, 1, 2, 3, 4]
    assert (got.from_topic == -1).all()
    assert redis_client.zrange(f"{unique_name}:q:global:fresh", 0, -1) == [b"200"]


@pytest.mark.parametrize("user, n", [(-1, 5), ("7", 5), (1.5, 5), (True, 5), (1, -1), (1, 2.0), (1, False)])
def test_bad_input_is_a_data_error(user, n):
    settings = load_settings(redis_url="redis://127.0.0.1:1/0")
    gen = CandidateGenerator(redis=redis.Redis(host="127.0.0.1", port=1), settings=settings)
    with pytest.raises(DataError):
        gen.generate(user, n=n)


def test_redis_down_is_one_line_service_error():
    settings = load_settings(redis_url="redis://:secret@127.0.0.1:1/0")
    gen = CandidateGenerator(settings=settings)
    with pytest.raises(ServiceError) as err:
        gen.generate(1)
    assert "127.0.0.1:1" in str(err.value) and "\n" not in str(err.value)
    assert "secret" not in str(err.value)


@pytest.mark.integration
def test_a_key_of_the_wrong_type_is_a_data_error(services, unique_name, redis_client):
    settings = _settings(services, unique_name)
    redis_client.set(f"{unique_name}:u:1", "not a list")
    with pytest.raises(DataError, match="WRONGTYPE"):
        CandidateGenerator(redis=redis_client, settings=settings).generate(1)
