"""KuaiRec 2.0 video metadata as a canonical data set (no covers, no interactions).

The real-data analogue of the paper's video content data set: titles, tags, and primary and
secondary classes of 10,728 Kuaishou videos. The CSV is read in place from the shared data
directory (see ``/work/shared/data/README.md``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from mtl.errors import DataError
from topic_learning.data.dataset import Dataset
from topic_learning.data.schema import read_csv, shared_data_dir, validate_videos

KUAIREC_DIR = "kuairec"
CAPTION_FILE = "kuairec_caption_category.csv"

PUBLISHED_AT = datetime(2020, 7, 5, tzinfo=UTC)
"""Every video's ``published_at``: the file has no upload dates, so we use the day KuaiRec's
interaction logs begin (2020-07-05), which all its videos predate or share."""

_MISSING = ("", "UNKNOWN", "-124")
"""How the file spells a missing cover text or class (KuaiRec uses -124 for a missing id)."""

_COLUMNS = {
    "video_id": "int",
    "manual_cover_text": "str",
    "caption": "str",
    "topic_tag": "str",
    "first_level_category_name": "str",
    "second_level_category_name": "str",
}


def load_kuairec(data_dir: Path | None = None) -> Dataset:
    """Read ``<data_dir>/kuairec/kuairec_caption_category.csv`` into a canonical :class:`Dataset`.

    ``title`` is the caption and the manual cover text joined by a space (missing parts left
    out), ``tags`` the parsed ``topic_tag`` list, ``primary_class`` and ``secondary_class`` the
    first- and second-level category names (null where the file says ``UNKNOWN`` / ``-124``),
    ``cover`` null and ``published_at`` :data:`PUBLISHED_AT`.

    Parameters
    ----------
    data_dir
        The shared data directory; defaults to ``get_settings().data_dir``.

    Returns
    -------
    Dataset
        Named ``"kuairec"``, without interactions; ``root`` is None (it lives in no data set
        directory until saved).

    Raises
    ------
    DataError
        The CSV is missing or malformed; the message names it.
    """
    path = shared_data_dir(data_dir) / KUAIREC_DIR / CAPTION_FILE
    raw = read_csv(path, columns=_COLUMNS, unique="video_id", clean=_drop_carriage_returns)
    videos = pd.DataFrame(
        {
            "video_id": raw["video_id"],
            "title": _join_text(raw["caption"], raw["manual_cover_text"]),
            "tags": _parse_tags(raw["topic_tag"], path=path),
            "primary_class": _missing_to_none(raw["first_level_category_name"]),
            "secondary_class": _missing_to_none(raw["second_level_category_name"]),
            "cover": None,
            "published_at": pd.Timestamp(PUBLISHED_AT),
        }
    )
    return Dataset(
        name="kuairec",
        videos=validate_videos(videos, source=str(path)),
        source=str(path),
        params={"published_at": PUBLISHED_AT.isoformat()},
    )


def _drop_carriage_returns(text: str) -> str:
    # Four captions contain a bare carriage return inside an unquoted field; CSV parsers take it
    # for a line break and split the record. Lines end in "\n" only, so "\r" is never a terminator.
    return text.replace("\r", " ")


def _join_text(*parts: pd.Series) -> pd.Series:
    cleaned = [_missing_to_none(part).fillna("") for part in parts]
    joined = cleaned[0].str.cat(cleaned[1:], sep=" ")
    # one part missing leaves a separator at an end
    return joined.str.strip()


def _parse_tags(column: pd.Series, *, path: Path) -> list[list[str]]:
    text = column.str.strip()
    malformed = ~(text.str.startswith("[") & text.str.endswith("]"))
    if malformed.any():
        row = int(np.flatnonzero(malformed.to_numpy())[0])
        value = text.iat[row]
        raise DataError(f"{path}: column 'topic_tag' is not a [a,b] list in data row {row + 1}: {value!r}")
    # the list is written unquoted, so every comma separates tags; dict.fromkeys drops repeats in order
    return [
        list(dict.fromkeys(tag.strip() for tag in inner.split(",") if tag.strip()))
        for inner in text.str[1:-1]
    ]


def _missing_to_none(column: pd.Series) -> pd.Series:
    stripped = column.str.strip()
    return stripped.where(~stripped.isin(_MISSING), None)
