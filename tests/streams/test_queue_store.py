"""The Lua merge in Redis equals :func:`streams.queues.merge`; candidate writes are idempotent."""

import numpy as np
import pytest

from mtl.settings import StreamSettings
from streams.queue_store import QueueStore, read_fresh, read_queue
from streams.queues import Prior, candidates, merge, merge_parts

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sampling", ["uniform", "thompson"])
def test_redis_merge_equals_python_merge(redis_client, unique_name, sampling):
    s = StreamSettings(
        queue_prefix=f"{unique_name}:q", partitions=3, queue_length=25, min_fresh=4, fresh_sampling=sampling
    )
    store = QueueStore(redis_client, s)
    rng = np.random.default_rng(0)
    prior = Prior(1.5, 18.5)
    written: dict = {}
    for step in range(4):  # states evolve; diff writes must land on the same queue as whole writes
        parts = []
        for p in range(s.partitions):
            members = []
            for v in range(p, 120, s.partitions):
                e = int(rng.integers(0, 30))
                members.append((v, e, int(rng.binomial(e, 0.15))))
            parts.append(candidates(4, members, prior, s))
        pipe = redis_client.pipeline(transaction=False)
        for p, cand in enumerate(parts):
            store.write_candidates(pipe, 4, p, cand, written.get(p) if step % 2 else None)
            written[p] = cand
        store.merge(pipe, [4])
        pipe.execute()
        expected = merge(parts, s)
        got = read_queue(redis_client, s.queue_prefix, 4)
        assert dict(got) == expected
        assert [v for v, _ in got] == sorted(expected, key=lambda v: (expected[v], str(v)), reverse=True)
        fresh = merge_parts(parts, s)[1]
        assert fresh and read_fresh(redis_client, s.queue_prefix, 4) == set(fresh)
    # idempotent: writing the same state again changes nothing
    pipe = redis_client.pipeline(transaction=False)
    for p, cand in enumerate(parts):
        store.write_candidates(pipe, 4, p, cand, written[p])
    store.merge(pipe, [4])
    pipe.execute()
    assert dict(read_queue(redis_client, s.queue_prefix, 4)) == expected
    for key in redis_client.scan_iter(f"{unique_name}:*"):
        redis_client.delete(key)
