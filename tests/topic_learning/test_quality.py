import numpy as np
import pandas as pd
import pytest

from topic_learning.quality import topic_quality


def test_topic_quality_by_hand():
    # Three topics: 0 and 1 are copies of one direction, 2 is distinct.
    centres = np.array([[1.0, 0.0], [0.99, np.sqrt(1 - 0.99**2)], [0.0, 1.0]])
    ids = np.array([[0, 1, -1], [0, -1, -1], [1, 0, 2], [2, -1, -1], [2, -1, -1], [2, -1, -1]])
    videos = pd.DataFrame(
        {
            "primary_class": ["p", "p", "p", "q", "q", None],
            "secondary_class": ["a", "b", "a", "c", "c", "c"],
        }
    )
    q = topic_quality(ids, centres, videos, threshold=0.6, duplicate_cosine=0.9)
    assert (q.n_videos, q.n_topics, q.topics_used) == (6, 3, 3)
    assert q.mean_topics_per_video == pytest.approx(9 / 6)
    assert q.near_duplicate_pairs == 1 and q.near_duplicate_share == pytest.approx(1 / 3)
    assert q.max_centre_cosine == pytest.approx(0.99)
    # Top topics: 0 {a, b}, 1 {a}, 2 {c, c, c}: dominant shares 1/2, 1/1, 3/3 -> 5/6.
    assert q.purity_secondary == pytest.approx(5 / 6)
    assert q.coverage_secondary == pytest.approx(2 / 3)  # a and c dominate a topic, b does not
    # Primary classes, unlabelled video left out: 0 {p, p}, 1 {p}, 2 {q, q}: pure.
    # NMI is below 1 all the same: p is split over topics 0 and 1.
    assert q.purity_primary == 1.0 and 0 < q.nmi_primary < 1
    assert 0 < q.nmi_secondary < 1


def test_no_labels_give_none():
    videos = pd.DataFrame({"primary_class": [None, None], "secondary_class": [None, None]})
    q = topic_quality(np.array([[0], [1]]), np.eye(2), videos, threshold=0.5)
    assert q.purity_primary is None and q.nmi_secondary is None and q.coverage_secondary is None
    assert q.near_duplicate_pairs == 0
