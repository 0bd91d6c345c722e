import numpy as np
from sklearn.metrics import adjusted_rand_score

from topic_learning.clustering import (
    SphericalKMeans,
    assign_topics,
    centre_index,
    effective_n_topics,
    l2_normalize,
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
