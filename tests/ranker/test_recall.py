"""Offline recall: on a small synthetic corpus with planted topics, topic queues recall more than chance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl.errors import DataError
from mtl.settings import load_settings
from ranker.recall import (
    METHODS,
    evaluate_recall,
    results_section,
    split_by_time,
    update_recall_doc,
    write_recall_report,
)
from topic_learning.data import SyntheticConfig, generate


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    config = SyntheticConfig(n_videos=1500, n_users=300, n_days=4, seed=3, covers=False)
    return generate(config, tmp_path_factory.mktemp("synthetic"), progress=False)


def _planted_topics(videos: pd.DataFrame) -> pd.DataFrame:
    """A perfect topic model: a video's topic is its planted secondary class."""
    ids = [np.array([int(c), -1], dtype=np.int64) for c in pd.factorize(videos["secondary_class"])[0]]
    return pd.DataFrame({"video_id": videos["video_id"].to_numpy(), "topic_ids": ids})


def test_topic_queues_recall_more_than_random_on_planted_topics(corpus, tmp_path):
    settings = load_settings(ranker={"candidates": 60}, stream={"min_exposures": 3, "min_ctr": 0.02})
    report = evaluate_recall(
        corpus.interactions, corpus.videos, _planted_topics(corpus.videos), settings, corpus="tiny"
    )
    print(report.markdown())
    assert report.users > 50 and report.warm_users > 0
    assert set(report.recall) == set(METHODS)
    topics, chance = report.recall["topic queues"]["warm"], report.recall["random"]["warm"]
    assert topics > 2 * chance
    assert 0 < report.mean_candidates <= 60
    assert 0 < report.reachable <= 1

    paths = write_recall_report(report, tmp_path / "results")
    assert paths["json"].is_file() and paths["markdown"].read_text().startswith("| recall@60")
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\n<!-- BEGIN other -->\nkept\n<!-- END other -->\n")
    update_recall_doc(doc, report)
    update_recall_doc(doc, report)  # replaced, not appended twice
    text = doc.read_text()
    assert text.count("<!-- BEGIN recall:tiny -->") == 1 and "kept" in text
    assert results_section(report) in text


def test_split_holds_out_the_end_of_the_span():
    ts = pd.to_datetime(["2021-01-01", "2021-01-02", "2021-01-05", "2021-01-06"], utc=True)
    frame = pd.DataFrame({"user_id": 1, "video_id": [1, 2, 3, 4], "ts": ts, "clicked": True})
    train, test = split_by_time(frame, test_share=0.2)
    assert train["video_id"].tolist() == [1, 2] and test["video_id"].tolist() == [3, 4]  # cut: Jan 5
    with pytest.raises(DataError):
        split_by_time(frame, test_share=1.0)
