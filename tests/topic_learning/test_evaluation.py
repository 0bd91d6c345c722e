import numpy as np
import pandas as pd
import pytest

from mtl.settings import LearningSettings
from topic_learning.data import SyntheticConfig, generate
from topic_learning.evaluation import (
    cluster_scores,
    distance_ratio,
    evaluate_representations,
    split_held_out,
    update_results_doc,
    write_report,
)


def test_distance_ratio_by_hand():
    # Two clusters along e0 and e1, each point at cosine 0.8 from its centre direction.
    x = np.array([[0.8, 0.6, 0], [0.8, -0.6, 0], [0.6, 0, 0.8], [-0.6, 0, 0.8]])
    x = x[:, [0, 2, 1]]  # make the second pair lie around e1 instead
    assignment = np.array([0, 0, 1, 1])
    ratio = distance_ratio(x, assignment)
    assert ratio == pytest.approx(1.0 / 0.2, rel=1e-6)  # centres orthogonal (1.0) over 1 - 0.8


def test_cluster_scores_perfect_and_missing_labels_ignored():
    x = np.repeat(np.eye(3), 10, axis=0) + 0.01
    labels = pd.Series(np.repeat(["a", "b", "c"], 10).astype(object))
    labels[0] = None
    ari, nmi = cluster_scores(x, labels, seed=0)
    assert ari == pytest.approx(1.0) and nmi == pytest.approx(1.0)
    assert cluster_scores(x, pd.Series([None] * 30), seed=0) is None


def test_split_is_ten_percent_and_disjoint():
    videos = pd.DataFrame({"video_id": range(1000)})
    train, test = split_held_out(videos, seed=0)
    assert 60 < len(test) < 140 and len(train) + len(test) == 1000
    assert not set(train.video_id) & set(test.video_id)


@pytest.mark.slow
def test_evaluation_end_to_end_on_tiny_corpus(tmp_path):
    ds = generate(
        SyntheticConfig(n_videos=300, n_users=10, n_days=1, seed=1, covers=True, cover_size=32, workers=1),
        tmp_path / "data",
        progress=False,
    )
    settings = LearningSettings(
        iterations=2,
        batch_size=32,
        text_model="char-ngram",
        image_size=32,
        walk_length=10,
        walks_per_node=2,
        tag_embedding_dim=8,
        skipgram_workers=1,
    )
    report = evaluate_representations(ds.videos, settings, corpus="tiny", progress=False, n_clusterings=2)
    assert [r.name for r in report.rows] == [
        "image only",
        "title only (char-ngram)",
        "MMoE",
        "MMoE + tags",
        "MMoE + tags, w=1 (paper)",
    ]
    assert all(0 <= r.nmi_primary <= 1 for r in report.rows)
    # The model's own topics, measured on the held-out videos, against the paper's rules.
    assert set(report.topics) == {"paper rules", "this model"}
    ours, paper = report.topics["this model"], report.topics["paper rules"]
    assert paper.threshold == 0.6 and ours.near_duplicate_pairs == 0
    assert ours.n_videos == report.n_test and 1 <= ours.mean_topics_per_video <= 8
    assert "| topics of the model | paper rules | this model |" in report.markdown()
    assert set(report.distance_ratios) == {"image", "image+title (MMoE)", "image+title+tags"}

    paths = write_report(report, tmp_path / "results")
    assert all(p.is_file() for p in paths.values())
    doc = tmp_path / "results.md"
    update_results_doc(doc, report, paths["png"])
    update_results_doc(doc, report, paths["png"])  # idempotent: one section per corpus/text model
    assert doc.read_text().count("BEGIN representations:tiny:char-ngram") == 1
