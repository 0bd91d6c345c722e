"""The synthetic generator: determinism and the structure it plants."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mtl.errors import DataError
from topic_learning.data.dataset import Dataset
from topic_learning.data.synthetic import NOISE_TAGS, TAXONOMY, SyntheticConfig, generate, tag_vocabulary

SMALL = SyntheticConfig(n_videos=1_200, n_users=300, n_days=4, seed=3, covers=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return generate(SMALL, tmp_path_factory.mktemp("small"), progress=False)


@pytest.fixture(scope="module")
def with_covers(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    config = SyntheticConfig(n_videos=480, n_users=20, n_days=2, seed=5, cover_size=48, workers=2)
    return generate(config, tmp_path_factory.mktemp("covers"), progress=False)


def test_taxonomy_is_hand_written_english_with_about_fifty_secondaries():
    assert len(TAXONOMY) == 12
    assert all(3 <= len(secondaries) <= 6 for secondaries in TAXONOMY.values())
    assert 45 <= sum(len(secondaries) for secondaries in TAXONOMY.values()) <= 55
    assert list(TAXONOMY["sports"])[:3] == ["football", "basketball", "tennis"]
    keywords = [k for secondaries in TAXONOMY.values() for ks in secondaries.values() for k in ks]
    assert len(keywords) == len(set(keywords))


def test_each_tag_belongs_to_one_class():
    vocabulary = tag_vocabulary()
    assert all(20 <= len(tags) <= 40 for tags in vocabulary.values())
    tags = [tag for class_tags in vocabulary.values() for tag in class_tags]
    assert len(tags) == len(set(tags))
    assert not set(tags) & set(NOISE_TAGS)


def test_a_seed_gives_the_same_data_set(tmp_path: Path, small: Dataset):
    again = generate(SMALL, tmp_path / "again", progress=False)
    pd.testing.assert_frame_equal(again.videos, small.videos)
    pd.testing.assert_frame_equal(again.interactions, small.interactions)
    pd.testing.assert_frame_equal(again.users, small.users)
    other = generate(replace(SMALL, seed=4), tmp_path / "other", progress=False)
    assert other.videos["title"].tolist() != small.videos["title"].tolist()


def test_covers_do_not_depend_on_the_number_of_workers(tmp_path: Path):
    config = SyntheticConfig(n_videos=300, n_users=5, n_days=1, seed=9, cover_size=32, workers=1)
    one = generate(config, tmp_path / "one", progress=False)
    two = generate(replace(config, workers=2), tmp_path / "two", progress=False)
    for a, b in zip(one.videos["cover"], two.videos["cover"], strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()


def test_every_video_has_one_to_six_tags(small: Dataset):
    counts = small.videos["tags"].map(len)
    assert counts.min() >= 1 and counts.max() <= 6


def test_tags_co_occur_within_their_secondary_class(small: Dataset):
    owner = {tag: secondary for secondary, tags in tag_vocabulary().items() for tag in tags}
    same = pairs = own = total = 0
    for tags, secondary in zip(small.videos["tags"], small.videos["secondary_class"], strict=True):
        classes = [owner[tag] for tag in tags if tag in owner]
        own += sum(c == secondary for c in classes)
        total += len(tags)
        for a, b in itertools.combinations(classes, 2):
            pairs += 1
            same += a == b
    assert same / pairs > 0.6
    assert 0.7 < own / total < 0.95  # mostly its own class, but not only


def test_titles_are_english_from_the_class_keywords_with_noise(small: Dataset):
    keywords = {s: ks for secondaries in TAXONOMY.values() for s, ks in secondaries.items()}
    informative = np.array(
        [
            any(keyword in title for keyword in keywords[secondary])
            for title, secondary in zip(small.videos["title"], small.videos["secondary_class"], strict=True)
        ]
    )
    assert 0.6 < informative.mean() < 0.95
    assert small.videos["title"].str.len().min() > 0


def test_overall_ctr_is_between_five_and_ten_percent(small: Dataset):
    assert 0.05 <= small.interactions["clicked"].mean() <= 0.10


def test_users_click_their_preferred_classes_far_more(small: Dataset):
    exposures = small.interactions.merge(small.videos[["video_id", "secondary_class"]], on="video_id")
    preferred = small.users.set_index("user_id")["preferred_classes"].map(set)
    is_preferred = np.array(
        [c in preferred[u] for u, c in zip(exposures["user_id"], exposures["secondary_class"], strict=True)]
    )
    ctr_preferred = exposures["clicked"][is_preferred].mean()
    ctr_other = exposures["clicked"][~is_preferred].mean()
    assert ctr_preferred > 3 * ctr_other
    assert 0.3 < is_preferred.mean() < 0.9  # exposures mix preference and popularity


def test_users_have_one_to_three_preferences_and_skewed_activity(small: Dataset):
    users = small.users
    assert users["preferred_classes"].map(len).between(1, 3).all()
    per_user = small.interactions["user_id"].value_counts()
    assert per_user.max() > 4 * per_user.median()


def test_fresh_videos_are_published_every_day_and_never_shown_early(small: Dataset):
    start = pd.Timestamp(SMALL.start)
    day = (small.videos["published_at"] - start).dt.days
    per_day = day.value_counts().sort_index()
    assert per_day.index.tolist() == list(range(SMALL.n_days))
    assert 0.4 < per_day[0] / len(day) < 0.6
    assert small.videos["published_at"].is_monotonic_increasing  # ids in order of publication
    shown = small.interactions.merge(small.videos[["video_id", "published_at"]], on="video_id")
    assert (shown["ts"] >= shown["published_at"]).all()
    assert shown["ts"].max() < start + pd.Timedelta(days=SMALL.n_days)


def test_without_covers_the_cover_column_is_null(small: Dataset):
    assert small.videos["cover"].isna().all()
    assert not (small.root / "covers").exists()


def test_covers_are_pngs_of_the_requested_size(with_covers: Dataset):
    for path in with_covers.videos["cover"].head(20):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (48, 48) and image.mode == "RGB"


def test_cover_colour_tells_primary_classes_apart(with_covers: Dataset):
    videos = with_covers.videos
    means = np.stack([np.asarray(Image.open(path)).reshape(-1, 3).mean(axis=0) for path in videos["cover"]])
    labels = videos["primary_class"].to_numpy()
    classes = np.unique(labels)
    centroids = np.stack([means[labels == c].mean(axis=0) for c in classes])
    nearest = classes[((means[:, None, :] - centroids[None]) ** 2).sum(axis=-1).argmin(axis=1)]
    assert (nearest == labels).mean() > 0.75


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_videos", 0), ("n_days", 0), ("seed", -1), ("initial_share", 1.5), ("cover_size", 4)],
)
def test_bad_config_is_a_data_error(field: str, value):
    with pytest.raises(DataError, match=f"synthetic config: {field}"):
        SyntheticConfig(**{field: value})
