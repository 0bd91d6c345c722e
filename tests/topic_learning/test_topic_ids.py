import numpy as np
import pytest

from topic_learning.topic_ids import match_topic_ids


@pytest.mark.parametrize("method", ["hungarian", "greedy"])
def test_permuted_centres_keep_their_ids(method):
    old = np.eye(4, dtype=np.float32)
    old_ids = np.array([5, 6, 7, 8])
    new = old[[2, 0, 3, 1]]
    m = match_topic_ids(old, old_ids, new, next_id=9, method=method)
    assert m.topic_ids.tolist() == [7, 5, 8, 6]
    assert m.new.size == 0 and m.retired.size == 0 and m.next_id == 9


@pytest.mark.parametrize("method", ["hungarian", "greedy"])
def test_new_topics_get_new_ids_and_lost_ones_retire(method):
    old = np.eye(4, dtype=np.float32)[:3]  # topics along e0, e1, e2
    old_ids = np.array([0, 1, 2])
    new = np.eye(4, dtype=np.float32)[[0, 3]]  # e0 survives, e3 is new; e1 and e2 are gone
    m = match_topic_ids(old, old_ids, new, next_id=3, method=method)
    assert m.topic_ids.tolist() == [0, 3]
    assert m.kept.tolist() == [0] and m.new.tolist() == [3] and m.retired.tolist() == [1, 2]
    assert m.next_id == 4


def test_weak_matches_below_threshold_are_not_kept():
    old = np.array([[1.0, 0.0]])
    new = np.array([[0.6, 0.8]])  # cosine 0.6
    assert match_topic_ids(old, np.array([0]), new, next_id=1, min_cosine=0.8).topic_ids.tolist() == [1]
    assert match_topic_ids(old, np.array([0]), new, next_id=1, min_cosine=0.5).topic_ids.tolist() == [0]


def test_most_ids_persist_when_retraining_on_a_perturbed_corpus():
    from topic_learning.clustering import SphericalKMeans, l2_normalize

    rng = np.random.default_rng(0)
    directions = l2_normalize(rng.normal(size=(20, 32)))
    truth = np.repeat(np.arange(20), 50)
    x = directions[truth] + 0.1 * rng.normal(size=(1000, 32))
    first = SphericalKMeans(n_clusters=20, seed=0).fit(x)

    keep = rng.permutation(1000)[:950]  # shuffled, 5% gone, a little noise
    perturbed = x[keep] + 0.02 * rng.normal(size=(950, 32))
    second = SphericalKMeans(n_clusters=20, seed=1).fit(perturbed)
    m = match_topic_ids(first.cluster_centers_, np.arange(20), second.cluster_centers_, next_id=20)
    assert len(m.kept) >= 16  # K-means may split/merge a few clusters differently
    # A video's topic keeps its ID: the mapped labels agree with the first model's labels.
    before = first.predict(x[keep])
    after = m.topic_ids[second.predict(perturbed)]
    assert (before == after).mean() >= 0.8


def test_topics_a_retrain_merged_retire_into_the_survivor():
    # Old topics 4 and 5 both lie within 0.8 of the one new centre between them: one keeps its
    # ID, the other retires and is recorded as merged into it; old topic 6 is simply gone.
    old = np.array([[1.0, 0.1, 0.0], [1.0, -0.1, 0.0], [0.0, 0.0, 1.0]])
    new = np.array([[1.0, 0.0, 0.0]])
    m = match_topic_ids(old, np.array([4, 5, 6]), new, next_id=7)
    assert m.topic_ids.tolist() == [4] or m.topic_ids.tolist() == [5]
    survivor = int(m.topic_ids[0])
    assert m.retired.tolist() == sorted({4, 5, 6} - {survivor})
    assert m.merged_into == {({4, 5} - {survivor}).pop(): survivor}
