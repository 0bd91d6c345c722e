"""The synthetic generator: determinism, the planted preset kept as it was, and the realistic default."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mtl.errors import DataError
from topic_learning.data.dataset import Dataset
from topic_learning.data.synthetic import (
    NOISE_TAGS,
    TAXONOMY,
    SyntheticConfig,
    generate,
    load_truth,
    tag_vocabulary,
)
from topic_learning.data.synthetic_stats import (
    LABELS,
    PROBE_LABELS,
    main,
    modality_probe,
    planted_structure,
    structure_table,
)

SMALL = SyntheticConfig(n_videos=1_200, n_users=300, n_days=4, seed=3, covers=False)
PLANTED = replace(SMALL, preset="planted")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return generate(SMALL, tmp_path_factory.mktemp("small"), progress=False)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return generate(PLANTED, tmp_path_factory.mktemp("planted"), progress=False)


@pytest.fixture(scope="module", params=["realistic", "planted"])
def either(request: pytest.FixtureRequest, small: Dataset, planted: Dataset) -> Dataset:
    return small if request.param == "realistic" else planted


@pytest.fixture(scope="module")
def with_covers(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    config = SyntheticConfig(
        preset="planted", n_videos=480, n_users=20, n_days=2, seed=5, cover_size=48, workers=2
    )
    return generate(config, tmp_path_factory.mktemp("covers"), progress=False)


@pytest.fixture(scope="module")
def realistic_covers(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    config = SyntheticConfig(n_videos=480, n_users=20, n_days=2, seed=5, cover_size=32, workers=2)
    return generate(config, tmp_path_factory.mktemp("realistic_covers"), progress=False)


# --- both presets --------------------------------------------------------------------------------


def test_taxonomy_is_hand_written_english_with_about_fifty_secondaries():
    assert len(TAXONOMY) == 12
    assert all(3 <= len(secondaries) <= 6 for secondaries in TAXONOMY.values())
    assert 45 <= sum(len(secondaries) for secondaries in TAXONOMY.values()) <= 55
    assert list(TAXONOMY["sports"])[:3] == ["football", "basketball", "tennis"]
    keywords = [k for secondaries in TAXONOMY.values() for ks in secondaries.values() for k in ks]
    assert len(keywords) == len(set(keywords))


@pytest.mark.parametrize("preset", ["realistic", "planted"])
def test_a_seed_gives_the_same_data_set(tmp_path: Path, small: Dataset, planted: Dataset, preset: str):
    first = small if preset == "realistic" else planted
    config = SMALL if preset == "realistic" else PLANTED
    again = generate(config, tmp_path / "again", progress=False)
    pd.testing.assert_frame_equal(again.videos, first.videos)
    pd.testing.assert_frame_equal(again.interactions, first.interactions)
    pd.testing.assert_frame_equal(again.users, first.users)
    pd.testing.assert_frame_equal(load_truth(again.root), load_truth(first.root))
    other = generate(replace(config, seed=4), tmp_path / "other", progress=False)
    assert other.videos["title"].tolist() != first.videos["title"].tolist()


def test_the_default_preset_is_realistic_and_the_manifest_records_it(small: Dataset, planted: Dataset):
    assert SyntheticConfig().preset == "realistic"
    assert Dataset.load(small.root).params["preset"] == "realistic"
    assert Dataset.load(planted.root).params["preset"] == "planted"
    # knobs left to the preset are written out with the value they took
    assert Dataset.load(small.root).params["own_tag_share"] == 0.38
    assert Dataset.load(planted.root).params["own_tag_share"] == 0.78


def test_a_data_set_can_be_generated_again_in_place(tmp_path: Path):
    config = SyntheticConfig(n_videos=50, n_users=5, n_days=1, covers=False)
    generate(config, tmp_path / "data", progress=False)
    again = generate(replace(config, preset="planted"), tmp_path / "data", progress=False)
    assert Dataset.load(tmp_path / "data").params["preset"] == "planted"
    assert load_truth(again.root)["subtopic"].tolist() == again.videos["secondary_class"].tolist()


def test_covers_do_not_depend_on_the_number_of_workers(tmp_path: Path):
    config = SyntheticConfig(n_videos=300, n_users=5, n_days=1, seed=9, cover_size=32, workers=1)
    one = generate(config, tmp_path / "one", progress=False)
    two = generate(replace(config, workers=2), tmp_path / "two", progress=False)
    for a, b in zip(one.videos["cover"], two.videos["cover"], strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()


def test_overall_ctr_is_between_five_and_ten_percent(either: Dataset):
    assert 0.05 <= either.interactions["clicked"].mean() <= 0.10


def test_users_have_one_to_three_preferences_and_skewed_activity(either: Dataset):
    users = either.users
    assert users["preferred_classes"].map(len).between(1, 3).all()
    per_user = either.interactions["user_id"].value_counts()
    assert per_user.max() > 4 * per_user.median()


def test_fresh_videos_are_published_every_day_and_never_shown_early(either: Dataset):
    start = pd.Timestamp(SMALL.start)
    day = (either.videos["published_at"] - start).dt.days
    per_day = day.value_counts().sort_index()
    assert per_day.index.tolist() == list(range(SMALL.n_days))
    assert 0.4 < per_day[0] / len(day) < 0.6
    assert either.videos["published_at"].is_monotonic_increasing  # ids in order of publication
    shown = either.interactions.merge(either.videos[["video_id", "published_at"]], on="video_id")
    assert (shown["ts"] >= shown["published_at"]).all()
    assert shown["ts"].max() < start + pd.Timedelta(days=SMALL.n_days)


def test_without_covers_the_cover_column_is_null(either: Dataset):
    assert either.videos["cover"].isna().all()
    assert not (either.root / "covers").exists()


def test_covers_are_pngs_of_the_requested_size(with_covers: Dataset, realistic_covers: Dataset):
    for dataset, size in ((with_covers, 48), (realistic_covers, 32)):
        for path in dataset.videos["cover"].head(20):
            with Image.open(path) as image:
                assert image.format == "PNG" and image.size == (size, size) and image.mode == "RGB"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_videos", 0),
        ("n_days", 0),
        ("seed", -1),
        ("initial_share", 1.5),
        ("cover_size", 4),
        ("preset", "easy"),
        ("untagged_share", -0.1),
        ("subtopics_per_class", 7),
        ("cover_motif_tie", 2.0),
    ],
)
def test_bad_config_is_a_data_error(field: str, value):
    with pytest.raises(DataError, match=f"synthetic config: {field}"):
        SyntheticConfig(**{field: value})


def test_tag_shares_beyond_one_are_a_data_error():
    with pytest.raises(DataError, match="tag shares must not exceed 1"):
        SyntheticConfig(own_tag_share=0.5, generic_tag_share=0.5)
    SyntheticConfig(preset="planted", own_tag_share=0.5, generic_tag_share=0.5)  # ignored by planted
    with pytest.raises(DataError, match="own_tag_share \\+ sibling_tag_share"):
        SyntheticConfig(preset="planted", own_tag_share=0.9, sibling_tag_share=0.2)


def test_users_written_before_preferred_subtopics_still_load(tmp_path: Path):
    dataset = generate(replace(PLANTED, n_videos=60, n_users=10, n_days=1), tmp_path / "old", progress=False)
    users = pq.read_table(tmp_path / "old" / "users.parquet").drop_columns(["preferred_subtopics"])
    pq.write_table(users, tmp_path / "old" / "users.parquet")
    loaded = Dataset.load(tmp_path / "old")
    assert loaded.users["preferred_subtopics"].isna().all()
    assert (
        loaded.users["preferred_classes"].map(list).tolist()
        == dataset.users["preferred_classes"].map(list).tolist()
    )


# --- planted preset ------------------------------------------------------------------------------


def _fingerprint(dataset: Dataset) -> dict[str, str]:
    """Short hashes of the tables' contents (and cover pixels), independent of pandas' dtypes."""
    v, x, u = dataset.videos, dataset.interactions, dataset.users
    texts = {
        "videos": (
            f"{i}|{t}|{','.join(tags)}|{p}|{s}|{ts.value}"
            for i, t, tags, p, s, ts in zip(
                v.video_id, v.title, v.tags, v.primary_class, v.secondary_class, v.published_at, strict=True
            )
        ),
        "interactions": (
            f"{uid}|{i}|{ts.value}|{int(c)}"
            for uid, i, ts, c in zip(x.user_id, x.video_id, x.ts, x.clicked, strict=True)
        ),
        "users": (
            f"{i}|{','.join(c)}|{a:.12g}"
            for i, c, a in zip(u.user_id, u.preferred_classes, u.activity, strict=True)
        ),
    }
    hashes = {
        name: hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16] for name, lines in texts.items()
    }
    covers = hashlib.sha256()
    for path in v["cover"]:
        with Image.open(path) as image:
            covers.update(np.asarray(image).tobytes())
    hashes["covers"] = covers.hexdigest()[:16]
    return hashes


def test_the_planted_preset_is_the_generator_of_before_bit_for_bit(tmp_path: Path):
    config = SyntheticConfig(
        preset="planted", n_videos=200, n_users=40, n_days=3, seed=7, cover_size=16, workers=1
    )
    dataset = generate(config, tmp_path / "planted", progress=False)
    # computed with the generator as it was before the realistic preset existed
    assert _fingerprint(dataset) == {
        "videos": "0e0733422f14a723",
        "interactions": "a6b26b607d801e1f",
        "users": "836c9ca6c8ad1db5",
        "covers": "f1b636d5016bff04",
    }
    assert int(dataset.interactions["clicked"].sum()) == 164
    assert dataset.videos["title"][0] == "prank call vs roommate prank, part two"
    assert dataset.users["preferred_subtopics"].isna().all()


def test_each_tag_belongs_to_one_class():
    vocabulary = tag_vocabulary()
    assert all(20 <= len(tags) <= 40 for tags in vocabulary.values())
    tags = [tag for class_tags in vocabulary.values() for tag in class_tags]
    assert len(tags) == len(set(tags))
    assert not set(tags) & set(NOISE_TAGS)


def test_every_planted_video_has_one_to_six_tags(planted: Dataset):
    counts = planted.videos["tags"].map(len)
    assert counts.min() >= 1 and counts.max() <= 6


def test_planted_tags_co_occur_within_their_secondary_class(planted: Dataset):
    owner = {tag: secondary for secondary, tags in tag_vocabulary().items() for tag in tags}
    same = pairs = own = total = 0
    for tags, secondary in zip(planted.videos["tags"], planted.videos["secondary_class"], strict=True):
        classes = [owner[tag] for tag in tags if tag in owner]
        own += sum(c == secondary for c in classes)
        total += len(tags)
        for a, b in itertools.combinations(classes, 2):
            pairs += 1
            same += a == b
    assert same / pairs > 0.6
    assert 0.7 < own / total < 0.95  # mostly its own class, but not only


def test_planted_titles_are_english_from_the_class_keywords_with_noise(planted: Dataset):
    keywords = {s: ks for secondaries in TAXONOMY.values() for s, ks in secondaries.items()}
    videos = planted.videos
    informative = np.array(
        [
            any(keyword in title for keyword in keywords[secondary])
            for title, secondary in zip(videos["title"], videos["secondary_class"], strict=True)
        ]
    )
    assert 0.6 < informative.mean() < 0.95
    assert videos["title"].str.len().min() > 0


def test_planted_users_click_their_preferred_classes_far_more(planted: Dataset):
    exposures = planted.interactions.merge(planted.videos[["video_id", "secondary_class"]], on="video_id")
    preferred = planted.users.set_index("user_id")["preferred_classes"].map(set)
    is_preferred = np.array(
        [c in preferred[u] for u, c in zip(exposures["user_id"], exposures["secondary_class"], strict=True)]
    )
    ctr_preferred = exposures["clicked"][is_preferred].mean()
    ctr_other = exposures["clicked"][~is_preferred].mean()
    assert ctr_preferred > 3 * ctr_other
    assert 0.3 < is_preferred.mean() < 0.9  # exposures mix preference and popularity


def test_planted_cover_colour_tells_primary_classes_apart(with_covers: Dataset):
    videos = with_covers.videos
    assert _nearest_centroid_accuracy(videos["cover"], videos["primary_class"].to_numpy()) > 0.75


def _nearest_centroid_accuracy(covers: pd.Series, labels: np.ndarray) -> float:
    """How often a cover's mean colour is nearest the mean of its own label's covers."""
    means = np.stack([np.asarray(Image.open(path)).reshape(-1, 3).mean(axis=0) for path in covers])
    classes = np.unique(labels)
    centroids = np.stack([means[labels == c].mean(axis=0) for c in classes])
    nearest = classes[((means[:, None, :] - centroids[None]) ** 2).sum(axis=-1).argmin(axis=1)]
    return float((nearest == labels).mean())


# --- realistic preset ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def structure(small: Dataset) -> dict:
    return planted_structure(small)


def test_no_tag_names_a_class(small: Dataset):
    names = set(TAXONOMY) | {s for secondaries in TAXONOMY.values() for s in secondaries}
    tags = {tag for tags in small.videos["tags"] for tag in tags}
    assert not tags & names


def test_about_43_percent_of_videos_are_untagged_and_the_others_have_one_to_six_tags(small: Dataset):
    counts = small.videos["tags"].map(len)
    assert 0.38 < (counts == 0).mean() < 0.48
    tagged = counts[counts > 0]
    assert tagged.max() <= 6 and 2.6 < tagged.mean() < 3.4


def test_tags_span_classes_with_purity_from_one_down_to_near_chance(structure: dict):
    assert structure["multi_class_tag_share"] > 0.2  # many tags are used in several classes
    assert structure["tag_purity_q10"] < 3 * structure["tag_purity_chance"]
    assert structure["tag_purity_q90"] > 0.9
    assert 0.3 < structure["tag_purity_median"] < 0.8
    assert structure["rare_tag_share"] > 0.3  # the long tail of entity tags
    assert structure["first_tag_own_class"] < 0.75


def test_titles_carry_a_weaker_signal_than_in_the_planted_preset(structure: dict, planted: Dataset):
    assert 0.35 < structure["title_own_keyword_share"] < 0.65
    assert 0.2 < structure["title_no_keyword_share"] < 0.4
    assert structure["title_own_keyword_share"] < planted_structure(planted)["title_own_keyword_share"] - 0.15


def test_covers_follow_the_class_about_half_of_the_time(structure: dict):
    # drawn ties of 0.5, plus chance matches (1/12 palettes, 1/8 motifs)
    assert 0.45 < structure["cover_palette_follows_primary"] < 0.65
    assert 0.45 < structure["cover_motif_follows_secondary"] < 0.65


def test_cover_colour_follows_the_drawn_palette_more_than_the_class(realistic_covers: Dataset):
    truth = load_truth(realistic_covers.root)
    covers, primary = realistic_covers.videos["cover"], realistic_covers.videos["primary_class"].to_numpy()
    by_palette = _nearest_centroid_accuracy(covers, truth["cover_palette"].to_numpy())
    by_class = _nearest_centroid_accuracy(covers, primary)
    assert by_palette > 0.75 and by_class < by_palette - 0.2


def test_every_video_has_one_subtopic_of_its_class_kept_out_of_the_videos_table(small: Dataset):
    truth = load_truth(small.root)
    assert truth["video_id"].tolist() == small.videos["video_id"].tolist()
    assert (truth["subtopic"].str.split("/").str[0] == small.videos["secondary_class"]).all()
    per_class = truth.groupby(small.videos["secondary_class"])["subtopic"].nunique()
    assert per_class.max() == SMALL.subtopics_per_class and per_class.median() >= 2
    assert "subtopic" not in small.videos.columns


def test_users_prefer_subtopics_and_list_their_classes(small: Dataset):
    users = small.users
    assert users["preferred_subtopics"].map(len).between(1, 3).all()
    assert (users["preferred_subtopics"].map(len) >= 2).mean() > 0.4
    for subtopics, classes in zip(users["preferred_subtopics"], users["preferred_classes"], strict=True):
        assert list(classes) == list(dict.fromkeys(s.split("/")[0] for s in subtopics))


def test_users_click_preferred_subtopics_far_more_than_the_rest(structure: dict):
    assert structure["ctr_subtopic"] > 4 * structure["ctr_other"]
    assert (
        structure["ctr_subtopic"] > structure["ctr_class"] > structure["ctr_primary"] > structure["ctr_other"]
    )
    assert 0.3 < structure["exposure_share_subtopic"] < 0.7  # exposures mix preference and popularity
    assert structure["exposure_share_class"] > 0.05


def test_planted_structure_of_both_presets_prints_as_a_table(structure: dict, planted: Dataset):
    assert set(structure) == set(LABELS)
    table = structure_table({"realistic": structure, "planted": planted_structure(planted)})
    assert table.splitlines()[0] == "| | realistic | planted |"
    assert len(table.splitlines()) == len(LABELS) + 1  # heading and rule, no preset row


def test_the_stats_module_runs_as_a_script(capsys: pytest.CaptureFixture[str]):
    assert main(["--videos", "200", "--users", "20", "--days", "1", "--preset", "realistic"]) == 0
    assert capsys.readouterr().out.startswith("| | realistic |")


def test_linear_probes_read_each_modality(tmp_path: Path):
    dataset = generate(replace(SMALL, n_videos=300, n_users=10, n_days=1), tmp_path / "probe", progress=False)
    probe = modality_probe(dataset)
    assert set(probe) == set(PROBE_LABELS)
    assert all(0.0 <= value <= 1.0 for value in probe.values())
    assert probe["probe_primary_cover"] > 0.3  # a palette drawn from the class half of the time
    without_covers = modality_probe(dataset, truth=load_truth(dataset.root).assign(cover_palette=None))
    assert (
        without_covers["probe_secondary_cover"] is None
        and without_covers["probe_secondary_title"] is not None
    )
