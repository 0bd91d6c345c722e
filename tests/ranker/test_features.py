"""The one feature pipeline: point-in-time rows; one encoding for history frames and online fetches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl.errors import DataError
from mtl.features.fetch import CandidateFeatures
from ranker.features import (
    OOV,
    PAD,
    FeatureEncoder,
    FeatureSpec,
    IdVocabulary,
    attach_click_history,
    build_rows,
    top_topics,
)

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _log() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """User 1 clicks videos 10, 11; user 2 sees video 10 twice; then both see candidates at t=10h."""
    interactions = pd.DataFrame(
        {
            "user_id": [1, 2, 1, 2, 1, 1, 1, 2],
            "video_id": [10, 10, 11, 10, 12, 13, 10, 12],
            "ts": [T0 + pd.Timedelta(hours=h) for h in (1, 2, 3, 4, 10, 10, 10, 10)],
            "clicked": [True, False, True, True, False, True, False, False],
        }
    )
    video_topics = pd.DataFrame(
        {
            "video_id": [10, 11, 12],
            "topic_ids": [[5, 7, -1, -1, -1, -1, -1, -1], [7, 3, -1, -1, -1, -1, -1, -1], [3] + [-1] * 7],
            "topic_scores": [[0.9, 0.8] + [0.0] * 6, [0.7, 0.65] + [0.0] * 6, [0.95] + [0.0] * 7],
            "n_topics": [2, 2, 1],
        }
    )
    videos = pd.DataFrame(
        {
            "video_id": [10, 11, 12, 13],
            "primary_class": ["a", "b", "a", None],
            "secondary_class": ["x", "y", None, "z"],
        }
    )
    return interactions, video_topics, videos


def test_build_rows_is_point_in_time():
    interactions, video_topics, _ = _log()
    rows = build_rows(interactions, video_topics, history_clicks=8, user_topic_slots=2, prior_strength=10.0)
    first = rows.iloc[0]
    assert np.isnan(first["exposures"]) and np.isnan(first["ctr"])  # nothing before the first exposure
    assert list(first["recent_click_ids"]) == [] and list(first["top_topics"]) == [-1, -1]
    # Video 10 at 4h (user 2): two earlier exposures, one click; global CTR before it 2/3.
    row = rows[(rows["user_id"] == 2) & (rows["ts"] == T0 + pd.Timedelta(hours=4))].iloc[0]
    assert row["exposures"] == 2 and row["clicks"] == 1
    assert row["ctr"] == pytest.approx((1 + 10 * 2 / 3) / (2 + 10))
    # User 1 at 10h: clicks 10 then 11 before; the click at 10h itself (video 13) is not history.
    at10 = rows[(rows["user_id"] == 1) & (rows["ts"] == T0 + pd.Timedelta(hours=10))]
    for _, r in at10.iterrows():
        assert list(r["recent_click_ids"]) == [10, 11] and r["recent_clicks"] == 2
        assert list(r["top_topics"]) == [7, 3]  # 7 twice; 3 and 5 once each, 3 is the smaller ID
    assert rows.loc[rows["video_id"] == 13, "topic_ids"].isna().all()  # no topics for video 13


def test_history_window_keeps_the_newest_clicks():
    interactions = pd.DataFrame(
        {
            "user_id": [1] * 5,
            "video_id": [1, 2, 3, 4, 5],
            "ts": [T0 + pd.Timedelta(minutes=m) for m in range(5)],
            "clicked": [True] * 5,
        }
    )
    rows = build_rows(interactions, None, history_clicks=2)
    assert [list(h) for h in rows["recent_click_ids"]] == [[], [1], [1, 2], [2, 3], [3, 4]]
    assert rows["recent_clicks"].tolist() == [0, 1, 2, 2, 2]
    again = attach_click_history(rows.drop(columns="recent_click_ids"), interactions, history_clicks=2)
    assert [list(h) for h in again["recent_click_ids"]] == [list(h) for h in rows["recent_click_ids"]]


def test_top_topics_matches_the_stream_rule():
    _, video_topics, _ = _log()
    got = top_topics(np.array([[10, 11, -1], [12, -1, -1], [-1, -1, -1], [99, 12, 12]]), video_topics, n=3)
    assert got.tolist() == [[7, 3, 5], [3, -1, -1], [-1, -1, -1], [3, -1, -1]]


def test_vocabulary_keeps_indices_when_it_grows():
    vocab = IdVocabulary(np.array([30, 10, 30, -1]))
    assert vocab.index(np.array([30, 10, 20, -1])).tolist() == [2, 3, OOV, PAD]
    assert vocab.extend(np.array([20, 10])) == 1
    assert vocab.index(np.array([30, 10, 20])).tolist() == [2, 3, 4] and len(vocab) == 5


def _candidates_from_rows(rows: pd.DataFrame) -> tuple[int, list[int], CandidateFeatures]:
    """The online fetch of the same (user, instant) rows, with Feast's defaults for missing values."""
    n = len(rows)
    topic_ids = np.full((n, 8), -1, dtype=np.int64)
    scores = np.zeros((n, 8), dtype=np.float32)
    found = rows["topic_ids"].notna().to_numpy()
    for i, (ids, sc) in enumerate(zip(rows["topic_ids"], rows["topic_scores"], strict=True)):
        if isinstance(ids, list | np.ndarray):
            topic_ids[i], scores[i] = ids, sc
    stats = rows["exposures"].notna().to_numpy()
    user = rows.iloc[0]
    features = CandidateFeatures(
        video_ids=rows["video_id"].to_numpy(np.int64),
        topic_ids=topic_ids,
        topic_scores=scores,
        n_topics=rows["n_topics"].fillna(0).to_numpy(np.int64),
        exposures=rows["exposures"].fillna(0).to_numpy(np.int64),
        clicks=rows["clicks"].fillna(0).to_numpy(np.int64),
        ctr=rows["ctr"].fillna(0).to_numpy(np.float32),
        topics_found=found,
        stats_found=stats,
        user_top_topics=np.asarray(user["top_topics"], dtype=np.int64),
        user_recent_clicks=int(user["recent_clicks"]),
        user_found=True,
    )
    return int(user["user_id"]), list(user["recent_click_ids"]), features


@pytest.mark.parametrize("use_topics", [False, True])
def test_history_frame_and_online_fetch_encode_identically(use_topics):
    interactions, video_topics, videos = _log()
    rows = build_rows(interactions, video_topics, history_clicks=8, user_topic_slots=4)
    rng = np.random.default_rng(0)
    image = (np.array([10, 11, 12]), rng.normal(size=(3, 4)).astype(np.float32))
    spec = FeatureSpec(use_topics=use_topics, history_clicks=8, user_topic_slots=4, image_dim=4)
    encoder = FeatureEncoder(spec).fit(rows.iloc[:4], videos=videos, image_embeddings=image)
    request = rows[(rows["user_id"] == 1) & (rows["ts"] == T0 + pd.Timedelta(hours=10))].reset_index(
        drop=True
    )
    user_id, clicks, features = _candidates_from_rows(request)
    # Feast returns feature values as float columns with NaN and lists as numpy arrays: encode that form.
    from_frame = encoder.encode_rows(request.astype({"exposures": "float64"}))
    online = encoder.encode_candidates(user_id=user_id, recent_clicks=clicks, features=features)
    for name in (
        "user",
        "video",
        "primary",
        "secondary",
        "history",
        "dense",
        "topics",
        "user_topics",
        "image",
    ):
        a, b = getattr(from_frame, name), getattr(online, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_allclose(a, b, err_msg=name)
    assert (from_frame.topics is not None) == use_topics
    assert online.dense.shape[1] == len(spec.dense_names)
    # video 13: no topics, no image, class z known, primary missing
    row13 = int(np.flatnonzero(request["video_id"] == 13)[0])
    assert online.primary[row13] == OOV and online.secondary[row13] >= 2
    assert not online.image[row13].any()
    if use_topics:
        assert (online.topics[row13] == PAD).all()


def test_missing_columns_and_image_embeddings_are_data_errors():
    with pytest.raises(DataError):
        FeatureEncoder().fit(pd.DataFrame({"user_id": [1]}))
    interactions, video_topics, videos = _log()
    rows = build_rows(interactions, video_topics)
    with pytest.raises(DataError):
        FeatureEncoder(FeatureSpec(image_dim=4)).fit(rows, videos=videos)
    with pytest.raises(DataError):
        build_rows(interactions.drop(columns="clicked"), video_topics)


@pytest.mark.integration
def test_feast_training_frame_and_online_fetch_encode_identically(services, tmp_path, monkeypatch):
    """The real path: Feast point-in-time rows vs the Redis fetch of the same values, one encoder."""
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mtl.features import (
        CandidateFetcher,
        open_store,
        push_user_topic_profile,
        push_video_stats,
        register_topics,
        training_data,
    )
    from mtl.features.store import VIDEO_TOPICS_SCHEMA, copy_repo, delete_project_keys

    monkeypatch.setenv("REDIS_URL", services.redis_url)
    project = f"t_{uuid.uuid4().hex[:10]}"
    repo = copy_repo(tmp_path / "repo", project)
    fetcher = None
    try:
        t_topics = (T0 - pd.Timedelta(days=1)).to_pydatetime()
        topics = pa.table(
            {
                "video_id": np.arange(6, dtype=np.int64),
                "topic_ids": [[v % 3, 10 + v] + [-1] * 6 for v in range(6)],
                "topic_scores": [[0.9, 0.7] + [0.0] * 6 for _ in range(6)],
                "n_topics": np.full(6, 2, dtype=np.int64),
                "model_version": ["v1"] * 6,
                "event_timestamp": pa.array([t_topics] * 6, type=pa.timestamp("us", tz="UTC")),
            },
            schema=VIDEO_TOPICS_SCHEMA,
        )
        pq.write_table(topics, tmp_path / "topics.parquet")
        register_topics(tmp_path / "topics.parquet", repo_path=repo)
        store = open_store(repo)
        pushed = T0.to_pydatetime()
        push_video_stats(
            pd.DataFrame(
                {
                    "video_id": [0, 1, 2],  # 3, 4, 5 have no stats; 4 and 5 are unknown to the model too
                    "exposures": [40, 12, 3],
                    "clicks": [4, 0, 1],
                    "ctr": np.array([0.1, 0.03, 0.2], dtype=np.float32),
                    "updated_at": [pushed] * 3,
                    "event_timestamp": [pushed] * 3,
                }
            ),
            store=store,
        )
        push_user_topic_profile(
            pd.DataFrame(
                {
                    "user_id": [7],
                    "top_topics": [[1, 0, -1, -1]],
                    "recent_clicks": [2],
                    "event_timestamp": [pushed],
                }
            ),
            store=store,
        )
        candidates = np.array([0, 1, 2, 3, 4, 5])
        at = T0 + pd.Timedelta(hours=1)
        frame = training_data(
            pd.DataFrame({"user_id": 7, "video_id": candidates, "event_timestamp": [at] * 6}), store=store
        )
        clicks = [1, 0]
        frame["recent_click_ids"] = [clicks] * len(frame)
        fetcher = CandidateFetcher(store)
        online = fetcher.fetch(candidates, 7)
        assert online.stats_found.tolist() == [True, True, True, False, False, False]

        videos = pd.DataFrame(
            {"video_id": np.arange(4), "primary_class": "a", "secondary_class": ["x", "y", "x", "y"]}
        )
        train = frame.iloc[:4].assign(clicked=[1, 0, 0, 1])
        for use_topics in (False, True):
            encoder = FeatureEncoder(FeatureSpec(use_topics=use_topics, history_clicks=8)).fit(
                train, videos=videos
            )
            a = encoder.encode_rows(frame)
            b = encoder.encode_candidates(user_id=7, recent_clicks=clicks, features=online)
            for name in (
                "user",
                "video",
                "primary",
                "secondary",
                "history",
                "dense",
                "topics",
                "user_topics",
            ):
                x, y = getattr(a, name), getattr(b, name)
                assert (x is None) == (y is None), name
                if x is not None:
                    np.testing.assert_allclose(x, y, rtol=1e-6, err_msg=name)
    finally:
        if fetcher is not None:
            fetcher.close()
        delete_project_keys(services.redis_url, project)
