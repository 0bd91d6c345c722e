import numpy as np
from sklearn.metrics import adjusted_rand_score

from topic_learning.clustering import (
    SphericalKMeans,
    assign_topics,
    calibrate_threshold,
    centre_index,
    distinct_topics,
    effective_n_topics,
    l2_normalize,
    max_centre_cosine,
    mean_topics_at,
    merge_near_duplicates,
    topic_representation,
)


def test_l2_normalize_keeps_zero_rows_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(l2_normalize(x), [[0.6, 0.8], [0.0, 0.0]])


def test_both_halves_weigh_the_same_whatever_their_scale():
    z = np.array([[100.0, 0.0]])
    tags = np.array([[0.0, 0.001]])
    a = topic_representation(z, tags)
    np.testing.assert_allclose(a, [[1 / np.sqrt(2), 0, 0, 1 / np.sqrt(2)]], atol=1e-6)
    # A video without known tags is represented by its z half alone, still unit length.
    a = topic_representation(z, np.zeros((1, 2)))
    np.testing.assert_allclose(a, [[1.0, 0, 0, 0]], atol=1e-6)


def test_effective_k_shrinks_for_small_corpora():
    assert effective_n_topics(3_000_000, 6000, min_videos_per_topic=20) == 6000
    assert effective_n_topics(2000, 6000, min_videos_per_topic=20) == 100
    assert effective_n_topics(5, 6000, min_videos_per_topic=20) == 1


def test_spherical_kmeans_recovers_planted_directions():
    rng = np.random.default_rng(0)
    centres = l2_normalize(rng.normal(size=(8, 16)))
    truth = np.repeat(np.arange(8), 50)
    x = centres[truth] + 0.05 * rng.normal(size=(400, 16))
    km = SphericalKMeans(n_clusters=8, seed=1).fit(x)
    assert adjusted_rand_score(truth, km.predict(x)) > 0.95
    np.testing.assert_allclose(np.linalg.norm(km.cluster_centers_, axis=1), 1.0, atol=1e-5)


def test_threshold_rule_by_hand():
    centres = np.eye(3, dtype=np.float32)
    ids = np.array([10, 20, 30])
    video = np.array([[1.0, 1.0, 0.0]])  # cosine 0.707 to centres 10 and 20, 0 to 30
    got_ids, got_scores = assign_topics(video, centre_index(centres), ids, slots=4, threshold=0.6)
    assert sorted(got_ids[0][:2].tolist()) == [10, 20] and got_ids[0][2:].tolist() == [-1, -1]
    np.testing.assert_allclose(got_scores[0], [0.7071, 0.7071, 0, 0], atol=1e-4)

    # Above every cosine: the best centre is still kept (min_topics=1) ...
    got_ids, _ = assign_topics(video, centre_index(centres), ids, slots=4, threshold=0.8)
    assert (got_ids[0] >= 0).sum() == 1
    # ... unless min_topics=0.
    got_ids, got_scores = assign_topics(
        video, centre_index(centres), ids, slots=4, threshold=0.8, min_topics=0
    )
    assert got_ids[0].tolist() == [-1, -1, -1, -1] and got_scores[0].tolist() == [0, 0, 0, 0]


def test_at_most_slots_topics():
    centres = l2_normalize(np.ones((12, 4)) + 0.01 * np.random.default_rng(0).normal(size=(12, 4)))
    got_ids, _ = assign_topics(np.ones((1, 4)), centre_index(centres), np.arange(12), slots=8, threshold=0.6)
    assert (got_ids >= 0).sum() == 8


def test_tag_weight_scales_the_tag_half_and_zero_silences_it():
    z = np.array([[2.0, 0.0]])
    tags = np.array([[0.0, 5.0]])
    a = topic_representation(z, tags, tag_weight=0.5)
    np.testing.assert_allclose(a, [[1 / np.sqrt(1.25), 0, 0, 0.5 / np.sqrt(1.25)]], atol=1e-6)
    a = topic_representation(z, tags, tag_weight=0.0)
    np.testing.assert_allclose(a, [[1.0, 0, 0, 0]], atol=1e-6)  # same width, tags say nothing


def test_merge_by_hand():
    # Two copies of e0 (cosine 0.99) and a distinct e1: the copies merge, weighted by size.
    e0a = np.array([1.0, 0.0, 0.0])
    e0b = l2_normalize(np.array([[0.99, np.sqrt(1 - 0.99**2), 0.0]]))[0]
    e1 = np.array([0.0, 0.0, 1.0])
    merged, group = merge_near_duplicates(np.stack([e0a, e1, e0b]), np.array([3, 5, 1]), threshold=0.9)
    assert group.tolist() == [0, 1, 0]
    np.testing.assert_allclose(merged[1], e1)
    np.testing.assert_allclose(merged[0], l2_normalize((3 * e0a + e0b)[None])[0], atol=1e-6)
    # Below the threshold nothing moves.
    same, group = merge_near_duplicates(np.stack([e0a, e1, e0b]), np.ones(3), threshold=0.995)
    assert group.tolist() == [0, 1, 2] and len(same) == 3


def test_merge_leaves_no_pair_above_the_threshold():
    rng = np.random.default_rng(0)
    centres = l2_normalize(rng.normal(size=(300, 8)))  # in 8 dimensions many pairs are close
    merged, group = merge_near_duplicates(centres, rng.integers(1, 50, 300), threshold=0.7)
    assert 1 < len(merged) < 300 and group.max() == len(merged) - 1
    assert max_centre_cosine(merged) <= 0.7


def test_distinct_topics_finds_the_planted_number_of_topics():
    # 6 well separated directions, K-means asked for 60: the copies of each direction merge back.
    rng = np.random.default_rng(1)
    directions = l2_normalize(rng.normal(size=(6, 32)))
    x = l2_normalize(directions[np.repeat(np.arange(6), 200)] + 0.15 * rng.normal(size=(1200, 32)))
    centres = distinct_topics(x, 60, merge_threshold=0.8, min_size=10, seed=0)
    assert len(centres) == 6
    assert max_centre_cosine(centres) <= 0.8
    assert len(distinct_topics(x, 60, merge_threshold=None, seed=0)) == 60


def test_calibrated_threshold_hits_its_target():
    rng = np.random.default_rng(2)
    centres = l2_normalize(rng.normal(size=(40, 16)))
    x = l2_normalize(rng.normal(size=(2000, 16)))
    index = centre_index(centres)
    for target in (1.5, 4.0, 6.0):
        tau = calibrate_threshold(x, index, target=target, slots=8)
        sims, _ = index.search(x, 8)
        assert abs(mean_topics_at(sims, tau) - target) < 0.01
        ids, _ = assign_topics(x, index, np.arange(40), slots=8, threshold=tau)
        assert abs((ids >= 0).sum(axis=1).mean() - target) < 0.01
    # A target above what the slots hold gives every slot.
    assert mean_topics_at(index.search(x, 8)[0], calibrate_threshold(x, index, target=20)) == 8
