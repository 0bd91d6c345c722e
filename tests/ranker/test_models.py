"""Each model learns a planted signal, and the topic features carry it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from mtl.errors import ConfigError
from ranker.evaluation import auc
from ranker.features import FeatureEncoder, FeatureSpec, build_rows
from ranker.models import MODEL_KINDS, Ranker, RankerConfig, masked_mean
from ranker.training import RankerTrainer, TrainingConfig

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def planted(seed: int = 0, n_users: int = 80, n_videos: int = 160, per_user: int = 60):
    """Users like 2 of 10 topics; a video has 1-2 topics; CTR 0.5 on a liked topic, else 0.04.

    Test videos (the last quarter of IDs) are exposed only after all training ones, so their IDs carry
    nothing a model could have learned: only topics tell what a user will click.
    """
    rng = np.random.default_rng(seed)
    n_topics = 10
    main = rng.integers(0, n_topics, n_videos)
    second = np.where(rng.random(n_videos) < 0.5, rng.integers(0, n_topics, n_videos), -1)
    likes = np.stack([rng.choice(n_topics, 2, replace=False) for _ in range(n_users)])
    video_topics = pd.DataFrame(
        {
            "video_id": np.arange(n_videos),
            "topic_ids": [
                [int(m), int(s)] + [-1] * 6 if s >= 0 else [int(m)] + [-1] * 7
                for m, s in zip(main, second, strict=True)
            ],
            "topic_scores": [[0.9, 0.7] + [0.0] * 6 if s >= 0 else [0.9] + [0.0] * 7 for s in second],
            "n_topics": [2 if s >= 0 else 1 for s in second],
        }
    )
    split = n_videos * 3 // 4
    records = []
    for u in range(n_users):
        for k in range(per_user):
            late = k >= per_user * 3 // 4
            v = int(rng.integers(split, n_videos) if late else rng.integers(0, split))
            liked = main[v] in likes[u] or second[v] in likes[u]
            ts = T0 + pd.Timedelta(
                days=3 if late else 0, seconds=int(rng.integers(0, 86400 * (1 if late else 3)))
            )
            records.append((u, v, ts, bool(rng.random() < (0.5 if liked else 0.04))))
    interactions = pd.DataFrame(records, columns=["user_id", "video_id", "ts", "clicked"])
    videos = pd.DataFrame(
        {
            "video_id": np.arange(n_videos),
            "primary_class": "p",
            "secondary_class": [f"s{v % 3}" for v in range(n_videos)],
        }
    )
    rows = build_rows(interactions, video_topics, history_clicks=16, user_topic_slots=4)
    test = (rows["ts"] >= T0 + pd.Timedelta(days=3)).to_numpy()
    return rows, videos, test


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_topic_features_carry_the_planted_signal(kind, data):
    rows, videos, test = data
    y = rows["clicked"].to_numpy()[test]
    got = {}
    for use_topics in (False, True):
        trainer = RankerTrainer(
            spec=FeatureSpec(use_topics=use_topics, history_clicks=16),
            model=RankerConfig(kind=kind, embedding_dim=8, hidden=(32, 16), cross_layers=1),
            training=TrainingConfig(epochs=4, batch_size=128, learning_rate=1e-2, seed=0),
        ).fit(rows[~test], videos=videos)
        got[use_topics] = auc(y, trainer.predict_proba(rows[test])[:, 1])
    assert got[True] > 0.6, got
    assert got[True] > got[False] + 0.05, got


def test_masked_mean_ignores_padding():
    table = nn.Embedding(5, 3, padding_idx=0)
    ids = torch.tensor([[0, 2, 3], [0, 0, 0]])
    out = masked_mean(table, ids)
    torch.testing.assert_close(out[0], (table.weight[2] + table.weight[3]) / 2)
    assert not out[1].any()
    assert masked_mean(table, torch.zeros((2, 0), dtype=torch.long)).shape == (2, 3)


def test_resize_keeps_learned_rows(data):
    rows, videos, _ = data
    encoder = FeatureEncoder(FeatureSpec(history_clicks=16)).fit(rows, videos=videos)
    sizes = encoder.sizes()
    for kind in MODEL_KINDS:
        model = Ranker(sizes, RankerConfig(kind=kind, embedding_dim=4, hidden=(8,)))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        model.resize({**sizes, "videos": sizes["videos"] + 7, "topics": sizes["topics"] + 2})
        for k, v in model.state_dict().items():
            old = before[k]
            assert torch.equal(v[: old.shape[0]], old) if v.dim() else torch.equal(v, old), k
        x = encoder.encode_rows(rows.iloc[:5]).tensors()
        assert model(x).shape == (5,)
        assert model.parameter_bytes() > 0


def test_unknown_kind_is_a_config_error():
    with pytest.raises(ConfigError):
        RankerConfig(kind="xgboost")
