"""Saving and loading the canonical layout, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mtl.errors import DataError
from topic_learning.data.dataset import Dataset


def make_dataset(tmp_path: Path, *, with_cover: bool = True) -> Dataset:
    cover = None
    if with_cover:
        cover = tmp_path / "elsewhere" / "frame.png"
        cover.parent.mkdir(parents=True)
        Image.new("RGB", (8, 8), (200, 10, 10)).save(cover)
    videos = pd.DataFrame(
        {
            "video_id": [7, 8],
            "title": ["dog park fetch", "stock market news"],
            "tags": [["dogs", "fetch"], []],
            "primary_class": ["pets", "news"],
            "secondary_class": ["dogs", None],
            "cover": [str(cover) if cover else None, None],
            "published_at": pd.to_datetime(["2021-01-01", "2021-01-02"], utc=True),
        }
    )
    interactions = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "video_id": [7, 8, 7],
            "ts": pd.to_datetime(["2021-01-02", "2021-01-03", "2021-01-03"], utc=True),
            "clicked": [True, False, False],
        }
    )
    return Dataset(name="tiny", videos=videos, interactions=interactions, source="test", params={"seed": 1})


def test_save_then_load_round_trips(tmp_path: Path):
    dataset = make_dataset(tmp_path)
    out = dataset.save(tmp_path / "ds")
    loaded = Dataset.load(out)

    assert loaded.name == "tiny" and loaded.source == "test" and loaded.params == {"seed": 1}
    assert loaded.root == out
    assert loaded.videos["title"].tolist() == dataset.videos["title"].tolist()
    assert [list(tags) for tags in loaded.videos["tags"]] == [["dogs", "fetch"], []]
    pd.testing.assert_frame_equal(loaded.interactions, dataset.interactions, check_dtype=False)
    assert loaded.users is None


def test_covers_are_copied_and_stored_relative(tmp_path: Path):
    out = make_dataset(tmp_path).save(tmp_path / "ds")
    stored = pq.read_table(out / "videos.parquet").column("cover").to_pylist()
    assert stored == ["covers/7.png", None]
    loaded = Dataset.load(out)
    assert loaded.videos["cover"].tolist() == [str(out / "covers" / "7.png"), None]
    assert Image.open(loaded.videos["cover"].iloc[0]).size == (8, 8)


def test_manifest_records_version_rows_and_counts(tmp_path: Path):
    out = make_dataset(tmp_path).save(tmp_path / "ds")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == 1
    assert manifest["rows"] == {"videos": 2, "interactions": 3}
    assert manifest["counts"]["distinct_tags"] == 2
    assert manifest["counts"]["ctr"] == pytest.approx(1 / 3)


def test_stats_count_what_is_there(tmp_path: Path):
    stats = make_dataset(tmp_path).stats()
    assert stats["videos"] == 2 and stats["tagged_videos"] == 1 and stats["covers"] == 1
    assert stats["primary_classes"] == 2 and stats["secondary_classes"] == 1
    assert (stats["users"], stats["exposures"], stats["clicks"]) == (2, 3, 1)


def test_saving_over_a_data_set_replaces_it(tmp_path: Path):
    out = make_dataset(tmp_path).save(tmp_path / "ds")
    Dataset(name="other", videos=make_dataset(tmp_path, with_cover=False).videos).save(out)
    loaded = Dataset.load(out)
    assert loaded.name == "other" and loaded.interactions is None
    assert not (out / "interactions.parquet").exists()
    assert not (out / "covers").exists()


def test_save_refuses_a_foreign_directory(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="holds 'notes.txt', which is not part of a data set"):
        make_dataset(tmp_path / "x").save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_half_written_data_set_can_be_overwritten(tmp_path: Path):
    out = make_dataset(tmp_path).save(tmp_path / "ds")
    (out / "manifest.json").unlink()
    make_dataset(tmp_path / "again").save(out)
    assert Dataset.load(out).name == "tiny"


def test_save_checks_references(tmp_path: Path):
    dataset = make_dataset(tmp_path)
    dataset.interactions.loc[0, "video_id"] = 99
    with pytest.raises(DataError, match="interactions name videos not in the catalogue"):
        dataset.save(tmp_path / "ds")
    assert not (tmp_path / "ds").exists()  # nothing is written before everything validates


@pytest.mark.parametrize(
    ("damage", "culprit", "message"),
    [
        (lambda d: (d / "manifest.json").unlink(), "manifest.json", "not a data set directory"),
        (lambda d: (d / "manifest.json").write_text("{oops"), "manifest.json", "not a valid manifest"),
        (lambda d: (d / "videos.parquet").write_bytes(b"junk"), "videos.parquet", "not a readable parquet"),
        (lambda d: (d / "interactions.parquet").unlink(), "interactions.parquet", "file not found"),
        (
            lambda d: (d / "manifest.json").write_text(
                (d / "manifest.json").read_text().replace('"schema_version": 1', '"schema_version": 99')
            ),
            "manifest.json",
            "schema version 99",
        ),
        (
            lambda d: pq.write_table(pq.read_table(d / "videos.parquet").slice(0, 1), d / "videos.parquet"),
            "videos.parquet",
            "holds 1 rows, manifest.json says 2",
        ),
        (
            lambda d: pq.write_table(
                pq.read_table(d / "videos.parquet").drop(["title"]), d / "videos.parquet"
            ),
            "videos.parquet",
            "missing column 'title'",
        ),
    ],
)
def test_load_names_the_broken_file(tmp_path: Path, damage, culprit: str, message: str):
    out = make_dataset(tmp_path).save(tmp_path / "ds")
    damage(out)
    with pytest.raises(DataError) as info:
        Dataset.load(out)
    text = str(info.value)
    assert "\n" not in text
    assert str(out / culprit) in text and message in text


def test_load_of_a_missing_directory(tmp_path: Path):
    with pytest.raises(DataError, match="data set directory not found"):
        Dataset.load(tmp_path / "absent")
