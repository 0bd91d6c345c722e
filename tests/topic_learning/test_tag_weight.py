"""The tag half's weight is chosen on validation videos: random tags get 0, topical tags a weight."""

import numpy as np
import pandas as pd
import pytest

from topic_learning.clustering import l2_normalize
from topic_learning.tag_weight import TagHalf, choose_tag_weight, fill_untagged, pick_tag_weight

GRID = (0.5, 1.0, 2.0)


def _corpus(*, topical: bool, n: int = 1200, classes: int = 8, seed: int = 0):
    """z carries the class weakly; tags carry it strongly (topical) or not at all (random)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, classes, n)
    z_dirs = l2_normalize(rng.normal(size=(classes, 32)))
    z = z_dirs[label] + 0.4 * rng.normal(size=(n, 32))
    tag_dirs = l2_normalize(rng.normal(size=(classes, 16)))
    tags = tag_dirs[label] + 0.05 * rng.normal(size=(n, 16)) if topical else rng.normal(size=(n, 16))
    has_tags = rng.random(n) < 0.6
    tags = np.where(has_tags[:, None], tags, 0.0).astype(np.float32)
    frame = pd.DataFrame({"primary_class": label.astype(str), "secondary_class": None})
    rows = rng.permutation(n)
    return z.astype(np.float32), tags, has_tags, frame, rows[: n // 2], rows[n // 2 :]


def test_random_tags_get_weight_zero():
    z, tags, has_tags, classes, train, val = _corpus(topical=False)
    choice = choose_tag_weight(z, tags, has_tags, None, classes, train=train, validation=val, grid=GRID)
    assert (choice.weight, choice.fill) == (0.0, "zero")
    assert choice.scores["w=0 zero"] > choice.scores["w=2 zero"]
    assert choice.gain == 0.0 and choice.n_validation == len(val)


def test_topical_tags_get_a_positive_weight():
    z, tags, has_tags, classes, train, val = _corpus(topical=True)
    choice = choose_tag_weight(z, tags, has_tags, None, classes, train=train, validation=val, grid=GRID)
    assert choice.weight > 0 and choice.gain > 0.02
    assert set(choice.scores) == {"w=0 zero", "w=0.5 zero", "w=1 zero", "w=2 zero"}


def test_predicted_fill_is_tried_and_can_win():
    # Untagged videos whose predicted tags are right: filling them in beats leaving them empty.
    z, tags, has_tags, classes, train, val = _corpus(topical=True, seed=1)
    truth, _, _, _, _, _ = _corpus(topical=True, seed=1)
    rng = np.random.default_rng(1)
    label = classes["primary_class"].astype(int).to_numpy()
    tag_dirs = {c: tags[has_tags & (label == c)].mean(axis=0) for c in np.unique(label)}
    predicted = np.stack([tag_dirs[c] for c in label]) + 0.05 * rng.normal(size=tags.shape)
    choice = choose_tag_weight(z, tags, has_tags, predicted, classes, train=train, validation=val, grid=GRID)
    assert "w=1 predicted" in choice.scores
    assert choice.fill == "predicted" and choice.weight > 0


def test_fill_by_hand():
    tags = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    has = np.array([True, False])
    predicted = np.array([[9.0, 9.0], [0.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(fill_untagged(tags, has, predicted, "zero"), tags)
    np.testing.assert_array_equal(fill_untagged(tags, has, predicted, "predicted"), [[1, 0], [0, 2]])
    a = TagHalf(weight=0.5, fill="predicted").representation(
        np.array([[2.0, 0.0], [0.0, 3.0]]), tags, has, predicted, None
    )
    norm = np.sqrt(1.25)
    np.testing.assert_allclose(a, [[1 / norm, 0, 0.5 / norm, 0], [0, 1 / norm, 0, 0.5 / norm]], atol=1e-6)


@pytest.mark.parametrize("fills", [("zero",), ("predicted",)])
def test_fills_can_be_fixed(fills):
    z, tags, has_tags, classes, train, val = _corpus(topical=True)
    choice = choose_tag_weight(
        z, tags, has_tags, tags, classes, train=train, validation=val, grid=GRID, fills=fills
    )
    assert {key.split()[1] for key in choice.scores if key != "w=0 zero"} == set(fills)


def test_pick_by_hand():
    # Nothing beats no tags by a point: 0.
    assert pick_tag_weight({"w=0 zero": 0.50, "w=1 zero": 0.505, "w=2 zero": 0.40}) == (0.0, "zero")
    # w=3 is best, but w=1.5 (predicted) is within a point of it: the lighter half wins.
    scores = {
        "w=0 zero": 0.17,
        "w=1 zero": 0.22,
        "w=1.5 zero": 0.240,
        "w=1.5 predicted": 0.246,
        "w=3 zero": 0.255,
    }
    assert pick_tag_weight(scores) == (1.5, "predicted")
    # A clear winner stays the winner.
    assert pick_tag_weight({"w=0 zero": 0.3, "w=1 zero": 0.5, "w=2 zero": 0.6}) == (2.0, "zero")
