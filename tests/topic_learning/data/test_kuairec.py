"""KuaiRec's caption/category file, read in place: exact counts and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtl.errors import DataError
from mtl.settings import get_settings
from topic_learning.data.kuairec import CAPTION_FILE, KUAIREC_DIR, PUBLISHED_AT, load_kuairec

REAL_CSV = get_settings().data_dir / KUAIREC_DIR / CAPTION_FILE
needs_real_data = pytest.mark.skipif(not REAL_CSV.is_file(), reason=f"{REAL_CSV} not available")


@pytest.fixture(scope="module")
def kuairec():
    return load_kuairec()


@needs_real_data
def test_counts_match_the_data_readme(kuairec):
    videos = kuairec.videos
    assert len(videos) == 10_728
    assert videos["video_id"].is_unique
    assert videos["primary_class"].notna().sum() == 10_688
    assert videos["primary_class"].nunique() == 38
    assert videos["secondary_class"].notna().sum() == 7_145
    assert videos["secondary_class"].nunique() == 137
    stats = kuairec.stats()
    assert stats["tagged_videos"] == 6_117
    assert stats["distinct_tags"] == 6_059


@needs_real_data
def test_fields_are_mapped_as_documented(kuairec):
    videos = kuairec.videos.set_index("video_id")
    # caption and cover text joined; the bracketed topic_tag list parsed
    assert videos.loc[4, "title"].startswith("#搞笑 #感谢快手我要上热门")
    assert list(videos.loc[4, "tags"]) == ["五爱市场", "感谢快手我要上热门", "搞笑"]
    # one of the four captions holding a bare carriage return stays one record
    assert videos.loc[1378, "title"].startswith("张凯教练") and "\r" not in videos.loc[1378, "title"]
    assert videos.loc[1378, "primary_class"] == "明星娱乐"
    assert videos["cover"].isna().all()
    assert (videos["published_at"] == PUBLISHED_AT).all()
    assert kuairec.interactions is None


def broken_copy(tmp_path: Path, edit) -> Path:
    """A data dir whose KuaiRec CSV is the real one passed through ``edit`` (bytes to bytes)."""
    target = tmp_path / KUAIREC_DIR / CAPTION_FILE
    target.parent.mkdir(parents=True)
    target.write_bytes(edit(REAL_CSV.read_bytes()))
    return tmp_path


@needs_real_data
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda raw: raw.replace(b",caption,", b",kaption,", 1), "missing column 'caption'"),
        (
            lambda raw: raw.replace(b"\n0,", b"\nzero,", 1),
            "column 'video_id' is not an integer in data row 1",
        ),
        (lambda raw: raw.replace(b",[],", b",a;b,", 1), "column 'topic_tag' is not a [a,b] list"),
        (lambda raw: raw.replace(b"\n1,", b"\n0,", 1), "column 'video_id' has 1 duplicate values"),
        (lambda raw: b"\xff" + raw, "not UTF-8 text"),
    ],
)
def test_a_malformed_file_is_named_in_one_line(tmp_path: Path, edit, message: str):
    data_dir = broken_copy(tmp_path, edit)
    with pytest.raises(DataError) as info:
        load_kuairec(data_dir)
    text = str(info.value)
    assert (
        text.startswith(str(data_dir / KUAIREC_DIR / CAPTION_FILE)) and message in text and "\n" not in text
    )


def test_a_missing_file_is_named(tmp_path: Path):
    with pytest.raises(DataError, match=f"{tmp_path / KUAIREC_DIR / CAPTION_FILE}: file not found"):
        load_kuairec(tmp_path)
