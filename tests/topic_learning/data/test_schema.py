"""The canonical tables: what validation accepts, coerces and rejects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mtl.errors import DataError
from topic_learning.data.schema import (
    VIDEOS_SCHEMA,
    check_references,
    read_csv,
    validate_interactions,
    validate_users,
    validate_videos,
    videos_table,
)


def videos_frame(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "video_id": [1, 2, 3],
            "title": ["goal of the week", "", "cat nap"],
            "tags": [["football", "goal"], [], ["cats"]],
            "primary_class": ["sports", None, "pets"],
            "secondary_class": ["football", None, None],
            "cover": [None, "covers/2.png", None],
            "published_at": pd.to_datetime(["2021-01-01", "2021-01-02", "2021-01-03"], utc=True),
        }
    )
    for name, values in overrides.items():
        frame[name] = values
    return frame


def interactions_frame(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": [10, 11],
            "video_id": [1, 3],
            "ts": pd.to_datetime(["2021-01-02 10:00", "2021-01-04 12:30"], utc=True),
            "clicked": [True, False],
        }
    )
    for name, values in overrides.items():
        frame[name] = values
    return frame


def raises_one_line(match: str):
    """pytest.raises for a DataError whose message is a single line matching ``match``."""
    return pytest.raises(DataError, match=rf"^[^\n]*{match}[^\n]*$")


def test_valid_videos_come_back_in_canonical_dtypes():
    videos = validate_videos(videos_frame(), source="test")
    assert list(videos.columns) == VIDEOS_SCHEMA.names
    assert videos["video_id"].dtype == np.int64
    assert str(videos["published_at"].dtype) == "datetime64[us, UTC]"
    assert [list(tags) for tags in videos["tags"]] == [["football", "goal"], [], ["cats"]]
    assert videos["primary_class"].isna().tolist() == [False, True, False]
    assert videos["title"].tolist()[1] == ""


def test_videos_coercions_keep_the_values():
    naive = pd.to_datetime(["2021-01-01 00:00:00.123456789"] * 3)
    videos = validate_videos(
        videos_frame(
            video_id=[1.0, 2.0, 3.0],
            primary_class=pd.Series(["a", "b", "a"], dtype="category"),
            published_at=naive,
            extra=[0, 0, 0],
        ),
        source="test",
    )
    assert videos["video_id"].tolist() == [1, 2, 3]
    assert videos["primary_class"].tolist() == ["a", "b", "a"]
    # a naive time is taken as UTC; nanoseconds are dropped, microseconds kept
    assert videos["published_at"].iloc[0] == pd.Timestamp("2021-01-01 00:00:00.123456", tz="UTC")
    assert "extra" not in videos.columns


def test_arrow_tables_are_validated_too():
    table = pa.Table.from_pandas(videos_frame(), preserve_index=False)
    assert videos_table(table, source="test").schema == VIDEOS_SCHEMA


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": ["a", None, "c"]}, "test: column 'title' has 1 missing values"),
        ({"tags": [["a"], None, []]}, "column 'tags' has 1 missing values"),
        ({"tags": [["a", None], [], []]}, "column 'tags' has 1 missing values inside its lists"),
        ({"video_id": [1, 1, 3]}, "column 'video_id' has 1 duplicate values \\(e.g. 1\\)"),
        ({"video_id": [1.5, 2, 3]}, "column 'video_id' cannot be read as int64"),
        ({"video_id": [1, None, 3]}, "column 'video_id' has 1 missing values"),
        ({"title": [1, 2, 3]}, "column 'title' must be string, got int64"),
        ({"title": ["a", 2, "c"]}, "column 'title' has values of the wrong type"),
        ({"tags": ["a", "b", "c"]}, "column 'tags' must be list<item: string>, got string"),
        ({"published_at": [1, 2, 3]}, "column 'published_at' must be timestamp"),
        ({"published_at": [pd.NaT] * 3}, "column 'published_at' has 3 missing values"),
    ],
)
def test_bad_videos_are_rejected_in_one_line(change, message):
    with raises_one_line(message):
        validate_videos(videos_frame(**change), source="test")


def test_missing_columns_are_named():
    with raises_one_line("videos.csv: missing columns 'title', 'tags'"):
        validate_videos(videos_frame().drop(columns=["title", "tags"]), source="videos.csv")
    with raises_one_line("x: missing column 'clicked'"):
        validate_interactions(interactions_frame().drop(columns=["clicked"]), source="x")


def test_interactions_accept_zero_one_clicks_and_reject_other_integers():
    clicks = validate_interactions(interactions_frame(clicked=[1, 0]), source="test")
    assert clicks["clicked"].tolist() == [True, False]
    assert str(clicks["ts"].dtype) == "datetime64[us, UTC]"
    with raises_one_line("column 'clicked' must be boolean or 0/1"):
        validate_interactions(interactions_frame(clicked=[2, 0]), source="test")


def test_users_need_unique_ids():
    users = pd.DataFrame({"user_id": [1, 1], "preferred_classes": [["a"], ["b"]], "activity": [1.0, 2.0]})
    with raises_one_line("column 'user_id' has 1 duplicate values"):
        validate_users(users, source="users")


def test_interactions_must_name_known_videos():
    videos = validate_videos(videos_frame(), source="v")
    check_references(videos, interactions_frame(), source="i")
    with raises_one_line("i: 1 interactions name videos not in the catalogue \\(e.g. 99\\)"):
        check_references(videos, interactions_frame(video_id=[1, 99]), source="i")


def test_read_csv_converts_and_names_the_file(tmp_path: Path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,rating,note\n1,4.5,\n2,3,x\n")
    frame = read_csv(path, columns={"userId": "int", "rating": "float", "note": "str"})
    assert frame["userId"].tolist() == [1, 2]
    assert frame["rating"].tolist() == [4.5, 3.0]
    assert frame["note"].tolist() == ["", "x"]

    with raises_one_line(f"{path}: missing column 'movieId'"):
        read_csv(path, columns={"movieId": "int"})
    with raises_one_line(f"{path}: column 'rating' is not an integer in data row 1: '4.5'"):
        read_csv(path, columns={"rating": "int"})
    with raises_one_line(f"{tmp_path / 'nope.csv'}: file not found"):
        read_csv(tmp_path / "nope.csv", columns={})
    path.write_bytes(b"a,b\n\xff\xfe,1\n")
    with raises_one_line(f"{path}: not UTF-8 text"):
        read_csv(path, columns={})
    path.write_text("")
    with raises_one_line(f"{path}: not a valid CSV file"):
        read_csv(path, columns={})
