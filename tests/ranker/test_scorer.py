"""The ranking service's entry point: scores of fetched candidates, with and without a trained model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl.errors import DataError
from mtl.features.fetch import CandidateFeatures
from ranker.features import FeatureSpec, build_rows
from ranker.models import RankerConfig
from ranker.scorer import CtrScorer, ModelScorer, load_scorer, scorer_or_ctr
from ranker.training import RankerTrainer, TrainingConfig

T0 = pd.Timestamp("2026-01-01", tz="UTC")


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    n = 600
    videos = rng.integers(0, 40, n)
    interactions = pd.DataFrame(
        {
            "user_id": rng.integers(0, 15, n),
            "video_id": videos,
            "ts": T0 + pd.to_timedelta(np.sort(rng.integers(0, 86400, n)), unit="s"),
            "clicked": rng.random(n) < np.where(videos % 3 == 0, 0.5, 0.05),
        }
    )
    topics = pd.DataFrame(
        {
            "video_id": np.arange(40),
            "topic_ids": [[v % 3] + [-1] * 7 for v in range(40)],
            "topic_scores": [[0.9] + [0.0] * 7 for _ in range(40)],
            "n_topics": 1,
        }
    )
    rows = build_rows(interactions, topics, history_clicks=8)
    catalogue = pd.DataFrame({"video_id": np.arange(40), "primary_class": "p", "secondary_class": "s"})
    return RankerTrainer(
        spec=FeatureSpec(history_clicks=8),
        model=RankerConfig(kind="wide_deep", embedding_dim=4, hidden=(8,)),
        training=TrainingConfig(epochs=2, batch_size=64),
    ).fit(rows, videos=catalogue)


def _features(video_ids, *, found: np.ndarray) -> CandidateFeatures:
    n = len(video_ids)
    topic_ids = np.full((n, 8), -1, dtype=np.int64)
    topic_ids[found, 0] = np.asarray(video_ids)[found] % 3
    return CandidateFeatures(
        video_ids=np.asarray(video_ids, dtype=np.int64),
        topic_ids=topic_ids,
        topic_scores=np.where(topic_ids >= 0, 0.9, 0.0).astype(np.float32),
        n_topics=(topic_ids >= 0).sum(axis=1),
        exposures=np.where(found, 50, 0).astype(np.int64),
        clicks=np.where(found, 5, 0).astype(np.int64),
        ctr=np.where(found, 0.1, 0.0).astype(np.float32),
        topics_found=found,
        stats_found=found,
        user_top_topics=np.array([0, -1, -1, -1]),
        user_recent_clicks=2,
        user_found=True,
    )


def test_model_scorer_scores_candidates_with_missing_rows(trained, tmp_path):
    ids = [0, 1, 3, 999_999, 6]  # 999999: never seen, nothing online
    found = np.array([True, True, False, False, True])
    scorer = load_scorer(trained.save(tmp_path / "r"))
    assert isinstance(scorer, ModelScorer)
    scores = scorer.score(user_id=4, recent_clicks=[0, 3], features=_features(ids, found=found))
    assert scores.shape == (5,) and scores.dtype == np.float64
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    # the same as the trainer on one row at a time: scores do not depend on the other candidates
    alone = scorer.score(user_id=4, recent_clicks=[0, 3], features=_features(ids[:1], found=found[:1]))
    assert alone[0] == pytest.approx(scores[0])
    # an unknown user and no click history are fine too
    cold = scorer.score(user_id=-5, recent_clicks=[], features=_features(ids, found=found))
    assert np.isfinite(cold).all()
    empty = scorer.score(user_id=4, recent_clicks=[], features=_features([], found=np.zeros(0, dtype=bool)))
    assert empty.shape == (0,)


def test_ctr_scorer_is_the_fallback(tmp_path, trained):
    features = _features([1, 2, 3], found=np.array([True, False, True]))
    scores = CtrScorer().score(user_id=1, recent_clicks=[], features=features)
    np.testing.assert_allclose(scores, [0.1, 0.0, 0.1], rtol=1e-6)
    assert isinstance(scorer_or_ctr(None), CtrScorer)
    assert isinstance(scorer_or_ctr(tmp_path / "nothing"), CtrScorer)
    assert isinstance(scorer_or_ctr(trained.save(tmp_path / "r")), ModelScorer)
    with pytest.raises(DataError):
        load_scorer(tmp_path / "nothing")


def test_train_and_save_on_a_data_set_directory(tmp_path):
    from ranker.scorer import train_and_save
    from topic_learning.data import Dataset

    rng = np.random.default_rng(0)
    n_videos, n = 30, 300
    videos = pd.DataFrame(
        {
            "video_id": np.arange(n_videos),
            "title": [f"video {v}" for v in range(n_videos)],
            "tags": [["t"] for _ in range(n_videos)],
            "primary_class": "p",
            "secondary_class": "s",
            "cover": None,
            "published_at": T0,
        }
    )
    interactions = pd.DataFrame(
        {
            "user_id": rng.integers(0, 10, n),
            "video_id": rng.integers(0, n_videos, n),
            "ts": T0 + pd.to_timedelta(np.sort(rng.integers(0, 86400, n)), unit="s"),
            "clicked": rng.random(n) < 0.2,
        }
    )
    root = Dataset(name="tiny", videos=videos, interactions=interactions).save(tmp_path / "data")
    topics = pd.DataFrame(
        {
            "video_id": np.arange(n_videos),
            "topic_ids": [[v % 4] + [-1] * 7 for v in range(n_videos)],
            "topic_scores": [[0.8] + [0.0] * 7 for _ in range(n_videos)],
            "n_topics": 1,
        }
    )
    topics.to_parquet(tmp_path / "video_topics.parquet")
    summary = train_and_save(
        corpus=str(root), kind="lr", topics_file=tmp_path / "video_topics.parquet", out=tmp_path / "model"
    )
    assert summary.rows == n and summary.path == tmp_path / "model"
    scorer = load_scorer(summary.path)
    scores = scorer.score(user_id=1, recent_clicks=[2], features=_features([0, 1, 2], found=np.ones(3, bool)))
    assert scores.shape == (3,)


@pytest.mark.integration
def test_train_on_feast_point_in_time_rows_then_score_online(services, tmp_path, monkeypatch):
    """Training rows from `get_historical_features`, serving rows from the online fetch: one definition."""
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mtl.features import CandidateFetcher, open_store, push_video_stats, register_topics
    from mtl.features.store import VIDEO_TOPICS_SCHEMA, apply_repo, copy_repo, delete_project_keys
    from mtl.settings import get_settings
    from ranker.scorer import train_and_save
    from topic_learning.data import SyntheticConfig, generate

    data = generate(
        SyntheticConfig(n_videos=40, n_users=12, n_days=2, n_exposures=500, covers=False, seed=3),
        tmp_path / "corpus",
        progress=False,
    )
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    monkeypatch.setenv("MTL_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    get_settings.cache_clear()
    project = f"t_{uuid.uuid4().hex[:10]}"
    repo = copy_repo(tmp_path / "repo", project)
    store = open_store(repo)
    apply_repo(store)
    fetcher = None
    try:
        ids = data.videos["video_id"].to_numpy()
        start = data.interactions["ts"].min() - pd.Timedelta(days=1)
        topics = pa.table(
            {
                "video_id": ids.astype(np.int64),
                "topic_ids": [[int(v) % 4] + [-1] * 7 for v in ids],
                "topic_scores": [[0.9] + [0.0] * 7 for _ in ids],
                "n_topics": np.ones(len(ids), dtype=np.int64),
                "model_version": ["v1"] * len(ids),
                "event_timestamp": pa.array(
                    [start.to_pydatetime()] * len(ids), type=pa.timestamp("us", tz="UTC")
                ),
            },
            schema=VIDEO_TOPICS_SCHEMA,
        )
        pq.write_table(topics, tmp_path / "topics.parquet")
        register_topics(tmp_path / "topics.parquet", repo_path=repo)
        push_video_stats(
            pd.DataFrame(
                {
                    "video_id": ids,
                    "exposures": 20,
                    "clicks": [int(v) % 5 for v in ids],
                    "ctr": np.array([(int(v) % 5) / 20 for v in ids], dtype=np.float32),
                    "updated_at": start,
                    "event_timestamp": start,
                }
            ),
            store=store,
        )
        summary = train_and_save(
            corpus=str(tmp_path / "corpus"), features="feast", store=store, out=tmp_path / "model"
        )
        assert summary.rows == len(data.interactions)
        fetcher = CandidateFetcher(store)
        online = fetcher.fetch(ids[:10], int(data.interactions["user_id"].iloc[0]))
        scores = load_scorer(summary.path).score(user_id=0, recent_clicks=[int(ids[0])], features=online)
        assert scores.shape == (10,) and np.isfinite(scores).all()
    finally:
        if fetcher is not None:
            fetcher.close()
        delete_project_keys(services.redis_url, project)
