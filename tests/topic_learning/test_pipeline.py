"""Topic learning end to end on tiny synthetic data with tiny random encoders (offline, seconds)."""

from __future__ import annotations

import numpy as np
import pytest

from mtl.settings import LearningSettings
from topic_learning.clustering import max_centre_cosine
from topic_learning.data import SyntheticConfig, generate
from topic_learning.model import TopicModel
from topic_learning.pipeline import learn_topics
from topic_learning.registry import VIDEO_TOPICS_FILE, ModelRegistry


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    config = SyntheticConfig(
        n_videos=400, n_users=20, n_days=2, seed=3, covers=True, cover_size=32, workers=1
    )
    return generate(config, out, progress=False)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Strong planted structure: K-means finds the same topics whatever the row order."""
    out = tmp_path_factory.mktemp("planted")
    config = SyntheticConfig(
        n_videos=400, n_users=20, n_days=2, seed=3, covers=True, cover_size=32, workers=1, preset="planted"
    )
    return generate(config, out, progress=False)


def _settings(**kw) -> LearningSettings:
    base = dict(
        iterations=3,
        batch_size=32,
        n_topics=20,
        min_videos_per_topic=10,
        text_model="char-ngram",
        image_size=32,
        walk_length=10,
        walks_per_node=3,
        tag_embedding_dim=16,
        skipgram_workers=1,
        embed_batch_size=64,
    )
    base.update(kw)
    return LearningSettings(**base)


def test_learn_save_load_assign_round_trip(corpus, tmp_path):
    videos = corpus.videos
    # End-to-end fine-tuning of both (tiny) encoders, as on a GPU.
    settings = _settings(freeze_encoders=False)
    model, video_topics, report = learn_topics(videos, settings, progress=False, pretrained=False)
    assert settings.video_representation == "z"
    assert report.n_topics == 20 and model.has_image
    ids = np.stack(video_topics["topic_ids"])
    assert ids.shape == (400, 8)
    assert ((ids >= 0).sum(axis=1) >= 1).all()  # at least one topic each
    assert (video_topics["n_topics"] == (ids >= 0).sum(axis=1)).all()
    assert 1 <= report.mean_topics_per_video <= 8

    registry = ModelRegistry(tmp_path / "topics")
    path = registry.save(model, video_topics, report)
    assert (path / VIDEO_TOPICS_FILE).is_file()
    loaded = registry.latest()
    assert loaded.model_version == model.model_version
    again = loaded.assign(videos)
    np.testing.assert_array_equal(np.stack(again["topic_ids"]), ids)
    np.testing.assert_allclose(
        np.stack(again["topic_scores"]), np.stack(video_topics["topic_scores"]), atol=1e-6
    )


def test_frozen_encoders_train_the_head_on_cached_z(corpus):
    settings = _settings(freeze_encoders="auto", device="cpu")
    assert settings.frozen_encoders and settings.video_representation == "mixture"
    before = {k: v.clone() for k, v in _text_state(corpus, settings).items()}
    model, video_topics, report = learn_topics(corpus.videos, settings, progress=False, pretrained=False)
    after = model.net.text.state_dict()
    assert all((before[k] == after[k]).all() for k in before)  # encoders untouched
    assert report.final_losses  # the head trained
    np.testing.assert_array_equal(
        np.stack(model.assign(corpus.videos)["topic_ids"]), np.stack(video_topics["topic_ids"])
    )


def _text_state(corpus, settings):
    import torch

    from topic_learning.model import build_net
    from topic_learning.training import LabelSpace

    torch.manual_seed(settings.seed)
    labels = LabelSpace.fit(corpus.videos, max_tags=settings.max_tags)
    net = build_net(settings, None, has_image=True, has_text=True, task_sizes=labels.sizes, pretrained=False)
    return net.text.state_dict()


def test_no_covers_means_no_image_branch(corpus):
    videos = corpus.videos.assign(cover=None)
    model, _, report = learn_topics(videos, _settings(iterations=1), progress=False, pretrained=False)
    assert model.net.image is None and not model.has_image
    assert any("image branch is absent" in note for note in report.notes)


def test_too_small_corpus_shrinks_k(corpus):
    _, _, report = learn_topics(
        corpus.videos.head(50), _settings(iterations=0, n_topics=6000), progress=False, pretrained=False
    )
    assert report.n_topics == 5
    assert any("too many" in note for note in report.notes)


def test_retrain_carries_topic_ids_forward(planted):
    settings = _settings(iterations=0, freeze_encoders=True, n_topics=15)
    first, _, _ = learn_topics(planted.videos, settings, progress=False, pretrained=False)

    # Same videos in another order: the representations are identical (frozen tiny encoders, no
    # training, the validation split drawn by video ID), so matched centres must carry their IDs
    # even though K-means starts differently.
    perturbed = planted.videos.iloc[np.random.default_rng(7).permutation(len(planted.videos))]
    second, second_topics, report = learn_topics(
        perturbed, settings, previous=first, progress=False, pretrained=False
    )
    assert second.previous_version == first.model_version
    assert report.kept_topic_ids + report.new_topic_ids == second.n_topics
    assert report.kept_topic_ids >= 0.5 * second.n_topics
    assert second.next_topic_id == first.next_topic_id + report.new_topic_ids
    assert len(second.retired_topic_ids) == report.retired_topic_ids
    assert set(second.topic_ids) - set(first.topic_ids) == set(range(15, second.next_topic_id))
    used = set(np.concatenate(second_topics["topic_ids"].to_list())) - {-1}
    assert used <= set(second.topic_ids)


def test_load_of_a_non_model_directory_is_one_line(tmp_path):
    from mtl.errors import DataError

    with pytest.raises(DataError, match="model.json missing"):
        TopicModel.load(tmp_path)


def test_topics_are_distinct_and_about_four_per_video(planted, tmp_path):
    # K-means is asked for far more centres than the 50 planted classes support at 400 videos.
    settings = _settings(n_topics=80, min_videos_per_topic=2, iterations=20)
    assert settings.topic_threshold == "auto" and settings.target_topics_per_video == 4
    model, video_topics, report = learn_topics(planted.videos, settings, progress=False, pretrained=False)
    assert max_centre_cosine(model.centres) <= settings.merge_threshold
    assert report.kmeans_topics == 80 and report.n_topics == model.n_topics < 80
    assert report.mean_topics_per_video == pytest.approx(4.0, abs=0.05)
    assert report.topic_threshold == model.threshold and -1 < model.threshold < 1
    # The calibrated tau_3 travels with the model: a reload assigns the same topics.
    again = TopicModel.load(model.save(tmp_path / "m")).assign(planted.videos)
    np.testing.assert_array_equal(np.stack(again["topic_ids"]), np.stack(video_topics["topic_ids"]))


def test_the_papers_fixed_threshold_stays_available(planted):
    settings = _settings(topic_threshold=0.6, merge_threshold=1.0, iterations=0)
    model, _, report = learn_topics(planted.videos, settings, progress=False, pretrained=False)
    assert model.threshold == report.topic_threshold == 0.6 and report.n_topics == 20


def test_tag_weight_follows_the_evidence(planted):
    settings = _settings(iterations=30, n_topics=10)
    _, _, topical = learn_topics(planted.videos, settings, progress=False, pretrained=False)
    assert topical.tag_weight > 0 and topical.validation_videos > 0
    assert "w=0 zero" in topical.tag_weight_scores

    # The same tags dealt out to random videos say nothing about them.
    shuffled = planted.videos.assign(tags=planted.videos["tags"].sample(frac=1.0, random_state=0).to_numpy())
    _, _, random = learn_topics(shuffled, settings, progress=False, pretrained=False)
    assert random.tag_weight == 0.0


def test_tags_that_name_a_class_are_found_whatever_their_case():
    import pandas as pd

    from topic_learning.pipeline import class_naming_tags

    videos = pd.DataFrame(
        {
            "tags": [["comedy", "dark humour"], ["Drama"], []],
            "primary_class": ["Comedy", "Drama", None],
            "secondary_class": [None, "indie", None],
        }
    )
    assert class_naming_tags(videos) == {"comedy", "drama"}
