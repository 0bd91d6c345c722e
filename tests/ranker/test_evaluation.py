"""Offline evaluations on tiny planted data: AUC, bootstrap, Table II, daily updates, cost, results doc."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mtl.results import replace_results_section
from mtl.settings import get_settings
from ranker.evaluation import (
    RankingData,
    auc,
    bootstrap_gain,
    chronological_split,
    cost_section,
    daily_section,
    evaluate_daily_updates,
    evaluate_topic_features,
    measure_inference_cost,
    plot_daily,
    table2_section,
    write_json,
)
from ranker.features import build_rows

T0 = pd.Timestamp("2026-01-01", tz="UTC")


@pytest.fixture(scope="module")
def data() -> RankingData:
    """4 days; users like 1 of 4 topics; each video has one topic."""
    rng = np.random.default_rng(1)
    n_users, n_videos, n = 30, 60, 2400
    topic = rng.integers(0, 4, n_videos)
    likes = rng.integers(0, 4, n_users)
    users = rng.integers(0, n_users, n)
    videos = rng.integers(0, n_videos, n)
    interactions = pd.DataFrame(
        {
            "user_id": users,
            "video_id": videos,
            "ts": T0 + pd.to_timedelta(np.sort(rng.integers(0, 4 * 86400, n)), unit="s"),
            "clicked": rng.random(n) < np.where(topic[videos] == likes[users], 0.5, 0.05),
        }
    )
    video_topics = pd.DataFrame(
        {
            "video_id": np.arange(n_videos),
            "topic_ids": [[int(t)] + [-1] * 7 for t in topic],
            "topic_scores": [[0.9] + [0.0] * 7 for _ in topic],
            "n_topics": 1,
        }
    )
    catalogue = pd.DataFrame(
        {"video_id": np.arange(n_videos), "primary_class": "p", "secondary_class": "s", "cover": None}
    )
    rows = build_rows(interactions, video_topics, history_clicks=16)
    return RankingData(name="tiny", videos=catalogue, rows=rows, topics_dir=Path("unused"))


def test_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    scores = np.round(rng.random(500) + 0.3 * y, 1)  # many ties
    assert auc(y, scores) == pytest.approx(roc_auc_score(y, scores))
    w = rng.integers(1, 3, 500).astype(float)
    assert auc(y, scores, w) == pytest.approx(roc_auc_score(y, scores, sample_weight=w))


def test_bootstrap_interval_covers_a_planted_gain():
    rng = np.random.default_rng(0)
    y = rng.random(4000) < 0.2
    noise = [rng.normal(size=4000) for _ in range(2)]
    without = [y * 0.5 + e for e in noise]
    with_ = [y * 1.0 + e for e in noise]
    gain, lo, hi = bootstrap_gain(y, without, with_, n_boot=100)
    assert lo < gain < hi and lo > 0
    gain, lo, hi = bootstrap_gain(y, without, without, n_boot=50)
    assert gain == 0 and lo <= 0 <= hi


def test_chronological_split(data):
    train, test, text = chronological_split(data.rows)
    assert "last day" in text and train.sum() + test.sum() == len(data.rows)
    assert data.rows["ts"][train].max() < data.rows["ts"][test].min()
    train, test, text = chronological_split(data.rows, test_share=0.2)
    assert abs(test.mean() - 0.2) < 0.02


def test_table2_on_planted_data(data, tmp_path):
    report = evaluate_topic_features(
        data, settings=get_settings(), kinds=("lr", "emlp"), seeds=(0, 1), n_boot=30
    )
    assert [r.model for r in report.rows] == ["lr", "emlp"]
    for row in report.rows:
        assert len(row.auc_with) == 2 and row.gain_low <= row.gain <= row.gain_high
    assert np.mean(report.rows[0].auc_with) > 0.6
    text = table2_section(report)
    assert "| w/ topics |" in text and "Table II" in text
    saved = json.loads(write_json(report, tmp_path / "t.json").read_text())
    assert "excludes_zero" in saved["rows"][0]


def test_daily_updates_and_cost(data, tmp_path):
    rng = np.random.default_rng(0)
    image = (
        (data.videos["video_id"].to_numpy(), rng.normal(size=(len(data.videos), 8)).astype(np.float32)),
        "random",
    )
    report = evaluate_daily_updates(data, settings=get_settings(), kind="wide_deep", image=image)
    assert list(report.auc) == ["Baseline", "Baseline+CNN", "Baseline+Topic"]
    assert all(len(v[0]) == len(report.days) - 1 == 3 for v in report.auc.values())
    figure = plot_daily(report, tmp_path / "d.png")
    assert figure.stat().st_size > 0
    assert "![Fig. 5 analogue](d.png)" in daily_section(report, figure, tmp_path / "results.md")

    cost = measure_inference_cost(
        data, settings=get_settings(), image=image, batch=50, repeats=5, train_rows=500
    )
    assert [r.config for r in cost.rows] == ["Baseline", "Baseline+CNN", "Baseline+Topic"]
    inc = cost.increments()
    assert inc["Baseline+CNN"]["input_bytes_per_sample"] == 8 * 4  # 8 float32 image dims
    assert inc["Baseline+Topic"]["parameter_bytes"] > 0
    assert "ratio CNN / Topic" in cost_section(cost)


def test_replace_section_is_idempotent(tmp_path):
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\n<!-- BEGIN other -->\nkeep\n<!-- END other -->\n")
    replace_results_section(doc, "ranking:x", "first")
    replace_results_section(doc, "ranking:x", "second")
    text = doc.read_text()
    assert text.count("BEGIN ranking:x") == 1 and "second" in text and "first" not in text and "keep" in text
