"""Training, daily updates and the saved form of a ranker."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtl.errors import DataError
from ranker.features import FeatureSpec, build_rows
from ranker.models import RankerConfig
from ranker.training import META_FILE, RankerTrainer, TrainingConfig

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _rows(seed: int, n: int = 400, first_video: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    videos = rng.integers(first_video, first_video + 30, n)
    interactions = pd.DataFrame(
        {
            "user_id": rng.integers(0, 20, n),
            "video_id": videos,
            "ts": T0
            + pd.to_timedelta(np.sort(rng.integers(0, 86400, n)), unit="s")
            + pd.Timedelta(days=seed),
            "clicked": rng.random(n) < np.where(videos % 2 == 0, 0.4, 0.05),
        }
    )
    topics = pd.DataFrame(
        {
            "video_id": np.arange(200),
            "topic_ids": [[v % 2, 2 + v % 5] + [-1] * 6 for v in range(200)],
            "topic_scores": [[0.9, 0.8] + [0.0] * 6 for _ in range(200)],
            "n_topics": 2,
        }
    )
    return build_rows(interactions, topics, history_clicks=8)


CATALOGUE = pd.DataFrame({"video_id": np.arange(200), "primary_class": "p", "secondary_class": "s"})


@pytest.mark.parametrize("kind", ["lr", "dcn", "wide_deep"])
def test_save_load_round_trip(tmp_path, kind):
    rows = _rows(0)
    trainer = RankerTrainer(
        spec=FeatureSpec(history_clicks=8, image_dim=3),
        model=RankerConfig(kind=kind, embedding_dim=4, hidden=(8,)),
        training=TrainingConfig(epochs=1, batch_size=64),
    ).fit(
        rows,
        videos=CATALOGUE,
        image_embeddings=(np.arange(200), np.random.default_rng(0).normal(size=(200, 3))),
    )
    path = trainer.save(tmp_path / "r")
    meta = json.loads((path / META_FILE).read_text())
    assert meta["model"]["kind"] == kind and meta["encoder"]["spec"]["image_dim"] == 3
    loaded = RankerTrainer.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(rows), trainer.predict_proba(rows))
    assert loaded.n_rows_seen_ == len(rows)
    proba = loaded.predict_proba(rows)
    assert proba.shape == (len(rows), 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_partial_fit_learns_new_ids_and_keeps_old_ones():
    day1, day2 = _rows(0), _rows(1, first_video=100)
    trainer = RankerTrainer(
        spec=FeatureSpec(history_clicks=8),
        model=RankerConfig(kind="emlp", embedding_dim=4, hidden=(8,)),
        training=TrainingConfig(epochs=1, batch_size=64),
    ).fit(day1, videos=CATALOGUE)
    n_videos = len(trainer.encoder_.videos_)
    old_index = trainer.encoder_.videos_.index(np.array([0, 1, 2]))
    trainer.partial_fit(day2)
    assert len(trainer.encoder_.videos_) > n_videos
    np.testing.assert_array_equal(trainer.encoder_.videos_.index(np.array([0, 1, 2])), old_index)
    assert trainer.model_.deep.embeddings.video.num_embeddings == len(trainer.encoder_.videos_)
    assert trainer.n_rows_seen_ == len(day1) + len(day2)
    assert np.isfinite(trainer.predict_proba(day2)).all()


def test_seeds_make_training_reproducible():
    rows = _rows(0)

    def fit(seed):
        return RankerTrainer(
            spec=FeatureSpec(history_clicks=8),
            model=RankerConfig(kind="emlp", embedding_dim=4, hidden=(8,)),
            training=TrainingConfig(epochs=1, batch_size=64, seed=seed),
        ).fit(rows, videos=CATALOGUE)

    np.testing.assert_array_equal(fit(3).predict_proba(rows), fit(3).predict_proba(rows))
    assert not np.array_equal(fit(3).predict_proba(rows), fit(4).predict_proba(rows))


def test_bad_input_is_a_data_error(tmp_path):
    rows = _rows(0)
    with pytest.raises(DataError):
        RankerTrainer().fit(rows.drop(columns="clicked"))
    with pytest.raises(DataError):
        RankerTrainer().fit(rows, y=[1, 0])
    with pytest.raises(DataError):
        RankerTrainer().predict_proba(rows)
    with pytest.raises(DataError):
        RankerTrainer.load(tmp_path)
    (tmp_path / META_FILE).write_text("{}")
    with pytest.raises(DataError):
        RankerTrainer.load(tmp_path)
