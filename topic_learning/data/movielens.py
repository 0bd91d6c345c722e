"""MovieLens ml-latest-small as a canonical data set: movies as videos, ratings as exposures.

The real-data analogue of the paper's click data set: every rating is an exposure and a rating
of 4 or more a click. Read in place from ``<data_dir>/movielens-small/``.

Tags are lowercased: tags.csv spells one tag several ways ("Dark comedy", "dark comedy") and the
1,475 distinct tags MovieLens documents are the lowercased ones. Genres are appended as
lowercased tags too ("sci-fi"), so a user tag "comedy" and the genre Comedy are one tag.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mtl.errors import DataError
from topic_learning.data.dataset import Dataset
from topic_learning.data.schema import read_csv, shared_data_dir, validate_interactions, validate_videos

MOVIELENS_DIR = "movielens-small"
NO_GENRES = "(no genres listed)"
CLICK_RATING = 4.0
"""A rating at or above this counts as a click (the paper's positive samples)."""


def load_movielens(data_dir: Path | None = None) -> Dataset:
    """Read ``<data_dir>/movielens-small/`` into a canonical :class:`Dataset`.

    Videos are movies: ``title`` from movies.csv; ``tags`` the movie's tags.csv tags (stripped,
    lowercased, deduplicated, in order of first use) followed by its lowercased genres;
    ``primary_class`` the first genre as written (null for "(no genres listed)");
    ``secondary_class`` and ``cover`` null; ``published_at`` the movie's first rating, or the
    earliest rating overall for a movie nobody rated. Interactions are the ratings:
    ``clicked`` is ``rating >= 4`` and ``ts`` the rating's time.

    Parameters
    ----------
    data_dir
        The shared data directory; defaults to ``get_settings().data_dir``.

    Returns
    -------
    Dataset
        Named ``"movielens"``, with interactions sorted by time; ``root`` is None.

    Raises
    ------
    DataError
        A CSV file is missing or malformed, or names a movie movies.csv lacks; the message names it.
    """
    directory = shared_data_dir(data_dir) / MOVIELENS_DIR
    movies_path, ratings_path, tags_path = (
        directory / name for name in ("movies.csv", "ratings.csv", "tags.csv")
    )
    movies = read_csv(
        movies_path, columns={"movieId": "int", "title": "str", "genres": "str"}, unique="movieId"
    )
    ratings = read_csv(
        ratings_path, columns={"userId": "int", "movieId": "int", "rating": "float", "timestamp": "int"}
    )
    tags = read_csv(tags_path, columns={"movieId": "int", "tag": "str"})
    for path, frame in ((ratings_path, ratings), (tags_path, tags)):
        _check_movies_known(frame, movies, path=path)

    rated_at = pd.to_datetime(ratings["timestamp"], unit="s", utc=True)
    first_rating = rated_at.groupby(ratings["movieId"]).min()
    published_at = movies["movieId"].map(first_rating).fillna(rated_at.min())

    genres = movies["genres"].str.split("|").map(lambda names: [name for name in names if name != NO_GENRES])
    user_tags = movie_tags(tags).reindex(movies["movieId"]).to_numpy()
    videos = pd.DataFrame(
        {
            "video_id": movies["movieId"],
            "title": movies["title"].str.strip(),
            "tags": [
                _unique([*(own if isinstance(own, list) else []), *(genre.lower() for genre in names)])
                for own, names in zip(user_tags, genres, strict=True)
            ],
            "primary_class": genres.map(lambda names: names[0] if names else None),
            "secondary_class": None,
            "cover": None,
            "published_at": published_at,
        }
    )
    interactions = pd.DataFrame(
        {
            "user_id": ratings["userId"],
            "video_id": ratings["movieId"],
            "ts": rated_at,
            "clicked": ratings["rating"] >= CLICK_RATING,
        }
    ).sort_values(["ts", "user_id", "video_id"], kind="stable", ignore_index=True)
    return Dataset(
        name="movielens",
        videos=validate_videos(videos, source=str(movies_path)),
        interactions=validate_interactions(interactions, source=str(ratings_path)),
        source=str(directory),
        params={"click_rating": CLICK_RATING, "tags": "lowercased tags.csv tags, then lowercased genres"},
    )


def movie_tags(tags: pd.DataFrame) -> pd.Series:
    """Each movie's tags.csv tags: stripped, lowercased, deduplicated in order of first use.

    Parameters
    ----------
    tags
        tags.csv as read (``movieId`` and ``tag`` columns, one row per tag application).

    Returns
    -------
    pandas.Series
        Lists of tags indexed by ``movieId``, only for movies with at least one tag.
    """
    cleaned = tags.assign(tag=tags["tag"].str.strip().str.lower())
    cleaned = cleaned[cleaned["tag"] != ""]
    return cleaned.groupby("movieId", sort=True)["tag"].agg(_unique)


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


def _check_movies_known(frame: pd.DataFrame, movies: pd.DataFrame, *, path: Path) -> None:
    unknown = ~frame["movieId"].isin(movies["movieId"])
    if unknown.any():
        example = frame.loc[unknown, "movieId"].iat[0]
        raise DataError(f"{path}: {int(unknown.sum())} rows name movies not in movies.csv (e.g. {example})")
