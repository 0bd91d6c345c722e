"""MovieLens ml-latest-small, read in place: exact counts and one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mtl.errors import DataError
from mtl.settings import get_settings
from topic_learning.data.movielens import MOVIELENS_DIR, load_movielens, movie_tags
from topic_learning.data.schema import read_csv

REAL_DIR = get_settings().data_dir / MOVIELENS_DIR
needs_real_data = pytest.mark.skipif(
    not (REAL_DIR / "ratings.csv").is_file(), reason=f"{REAL_DIR} not available"
)


@pytest.fixture(scope="module")
def movielens():
    return load_movielens()


@needs_real_data
def test_counts_match_the_data_readme(movielens):
    assert len(movielens.videos) == 9_742
    assert len(movielens.interactions) == 100_836
    assert movielens.interactions["user_id"].nunique() == 610
    assert movielens.interactions["clicked"].sum() == 48_580  # ratings of 4 and more
    tags = read_csv(REAL_DIR / "tags.csv", columns={"movieId": "int", "tag": "str"})
    assert len(tags) == 3_683
    per_movie = movie_tags(tags)
    assert len(per_movie) == 1_572
    assert len({tag for movie in per_movie for tag in movie}) == 1_475


@needs_real_data
def test_fields_are_mapped_as_documented(movielens):
    videos = movielens.videos.set_index("video_id")
    toy_story = videos.loc[1]
    assert toy_story["title"] == "Toy Story (1995)"
    assert list(toy_story["tags"]) == [
        "pixar",
        "fun",
        "adventure",
        "animation",
        "children",
        "comedy",
        "fantasy",
    ]
    assert toy_story["primary_class"] == "Adventure"
    assert videos["secondary_class"].isna().all() and videos["cover"].isna().all()
    assert videos["primary_class"].isna().sum() == 34  # "(no genres listed)"

    ratings = movielens.interactions
    first_rating = ratings.groupby("video_id")["ts"].min()
    rated = videos.loc[first_rating.index, "published_at"]
    assert (rated == first_rating).all()
    never_rated = videos.drop(index=first_rating.index)
    assert len(never_rated) == 18 and (never_rated["published_at"] == ratings["ts"].min()).all()
    assert ratings["ts"].is_monotonic_increasing


def copy_of_real_data(tmp_path: Path) -> Path:
    shutil.copytree(REAL_DIR, tmp_path / MOVIELENS_DIR)
    return tmp_path / MOVIELENS_DIR


@needs_real_data
@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("ratings.csv", lambda text: text.replace("userId,", "user,", 1), "missing column 'userId'"),
        ("ratings.csv", lambda text: text.replace(",4.0,", ",four,", 1), "column 'rating' is not a number"),
        ("tags.csv", lambda text: text + "1,999999999,orphan,1\n", "rows name movies not in movies.csv"),
        ("movies.csv", lambda text: text + "1,Toy Story again,Comedy\n", "column 'movieId' has 1 duplicate"),
    ],
)
def test_a_malformed_file_is_named_in_one_line(tmp_path: Path, name: str, edit, message: str):
    directory = copy_of_real_data(tmp_path)
    path = directory / name
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataError) as info:
        load_movielens(tmp_path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_a_missing_file_is_named(tmp_path: Path):
    with pytest.raises(DataError, match=f"{tmp_path / MOVIELENS_DIR / 'movies.csv'}: file not found"):
        load_movielens(tmp_path)
