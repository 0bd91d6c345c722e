"""``mtl learn``: MMoE fine-tuning + tag graph embedding + clustering -> a TopicModel and video_topics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import torch

from mtl.settings import LearningSettings
from topic_learning.clustering import HalfMeans, SphericalKMeans, effective_n_topics, topic_representation
from topic_learning.model import TopicModel, build_net, new_model_version
from topic_learning.tags import TagEmbedding, TagGraphEmbedder
from topic_learning.topic_ids import match_topic_ids
from topic_learning.training import (
    LabelSpace,
    MultimodalNet,
    embed_videos,
    fit_multitask,
    mixtures_from_z,
)

logger = logging.getLogger(__name__)


@dataclass
class LearnReport:
    """What a training run did, for the CLI summary and docs."""

    n_videos: int
    n_topics_requested: int
    n_topics: int
    mean_topics_per_video: float
    videos_without_tags: int
    kept_topic_ids: int = 0
    new_topic_ids: int = 0
    retired_topic_ids: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    final_losses: dict[str, float] = field(default_factory=dict)


def has_covers(videos: pd.DataFrame) -> bool:
    return "cover" in videos and bool(videos["cover"].notna().any())


@dataclass
class LearnedRepresentations:
    """The trained parts of a topic model and the training videos' vectors, before clustering."""

    labels: LabelSpace
    net: MultimodalNet
    tag_embedding: TagEmbedding | None
    z: np.ndarray  # the video vector used for clustering (z, or the expert mixture)
    tag_vectors: np.ndarray | None
    videos_without_tags: int
    history: list[dict[str, float]]
    has_image: bool
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @cached_property
    def means(self) -> HalfMeans:
        return HalfMeans.fit(self.z, self.tag_vectors)

    @property
    def a(self) -> np.ndarray:
        return topic_representation(self.z, self.tag_vectors, self.means)


def learn_representations(
    videos: pd.DataFrame, settings: LearningSettings, *, progress: bool = True, pretrained: bool = True
) -> LearnedRepresentations:
    """MMoE multi-task training of the encoders/head and the tag graph embedding (sections III-A 1-2)."""
    seconds: dict[str, float] = {}
    notes: list[str] = []
    videos = videos.reset_index(drop=True)

    tick = time.perf_counter()
    labels = LabelSpace.fit(videos, max_tags=settings.max_tags)
    torch.manual_seed(settings.seed)  # same seed, same initial heads: retrains stay comparable
    with_image = has_covers(videos)
    net = build_net(
        settings, None, has_image=with_image, has_text=True, task_sizes=labels.sizes, pretrained=pretrained
    )
    if not with_image:
        notes.append("no cover images: the image branch is absent")
    seconds["build"] = time.perf_counter() - tick

    tick = time.perf_counter()
    history, cached_z = fit_multitask(
        net,
        videos,
        labels,
        iterations=settings.iterations,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        freeze_encoders=settings.frozen_encoders,
        tag_loss=settings.tag_loss,
        seed=settings.seed,
        progress=progress,
    )
    seconds["mmoe"] = time.perf_counter() - tick

    tick = time.perf_counter()
    representation = settings.video_representation
    if cached_z is None:
        z = embed_videos(
            net,
            videos,
            batch_size=settings.embed_batch_size,
            representation=representation,
            progress=progress,
        )
    elif representation == "mixture":
        z = mixtures_from_z(net, cached_z, batch_size=settings.embed_batch_size)
    else:
        z = cached_z
    seconds["encode"] = time.perf_counter() - tick

    tick = time.perf_counter()
    tag_lists = [list(t) for t in videos["tags"]]
    tag_embedding = None
    tag_vectors = None
    if any(tag_lists):
        embedder = TagGraphEmbedder.from_settings(settings).fit(tag_lists)
        tag_embedding = embedder.embedding_
        tag_vectors, known = tag_embedding.video_vectors(tag_lists)
        without_tags = int((~known).sum())
    else:
        without_tags = len(videos)
        notes.append("no tags in the corpus: the tag half of a is absent")
    seconds["tags"] = time.perf_counter() - tick
    return LearnedRepresentations(
        labels=labels,
        net=net,
        tag_embedding=tag_embedding,
        z=z,
        tag_vectors=tag_vectors,
        videos_without_tags=without_tags,
        history=history,
        has_image=with_image,
        seconds=seconds,
        notes=notes,
    )


def learn_topics(
    videos: pd.DataFrame,
    settings: LearningSettings,
    *,
    previous: TopicModel | None = None,
    progress: bool = True,
    pretrained: bool = True,
) -> tuple[TopicModel, pd.DataFrame, LearnReport]:
    """Train a topic model on ``videos`` (canonical Videos table) and assign topics to every video.

    Parameters
    ----------
    videos : DataFrame
        Canonical Videos rows; covers are used when present (no covers: no image branch).
    settings : LearningSettings
        Hyperparameters (paper defaults).
    previous : TopicModel, optional
        The model this run retrains; matched centres keep its topic IDs.
    progress : bool
        Show progress bars.
    pretrained : bool
        False builds randomly initialised encoders (tests).

    Returns
    -------
    model, video_topics, report
    """
    videos = videos.reset_index(drop=True)
    learned = learn_representations(videos, settings, progress=progress, pretrained=pretrained)
    seconds, notes = learned.seconds, learned.notes

    tick = time.perf_counter()
    a = learned.a
    k = effective_n_topics(len(a), settings.n_topics, min_videos_per_topic=settings.min_videos_per_topic)
    if k < settings.n_topics:
        notes.append(
            f"K={settings.n_topics} is too many for {len(a)} videos; using K={k} "
            f"(at least {settings.min_videos_per_topic} videos per topic)"
        )
    kmeans = SphericalKMeans(
        n_clusters=k, n_iter=settings.kmeans_iterations, seed=settings.seed, use_gpu=settings.device == "cuda"
    ).fit(a)
    seconds["kmeans"] = time.perf_counter() - tick

    if previous is not None:
        match = match_topic_ids(
            previous.centres,
            previous.topic_ids,
            kmeans.cluster_centers_,
            next_id=previous.next_topic_id,
            min_cosine=settings.id_match_min_cosine,
        )
        topic_ids, next_id = match.topic_ids, match.next_id
        retired = sorted(set(previous.retired_topic_ids) | set(match.retired.tolist()))
        id_counts = (len(match.kept), len(match.new), len(match.retired))
    else:
        topic_ids, next_id, retired, id_counts = np.arange(k, dtype=np.int64), k, [], (0, k, 0)

    model = TopicModel(
        model_version=new_model_version(),
        settings=settings,
        labels=learned.labels,
        net=learned.net,
        tag_embedding=learned.tag_embedding,
        centres=kmeans.cluster_centers_,
        means=learned.means,
        topic_ids=topic_ids,
        next_topic_id=next_id,
        retired_topic_ids=retired,
        previous_version=previous.model_version if previous is not None else None,
        has_image=learned.has_image,
        has_text=True,
        pretrained=pretrained,
    )
    tick = time.perf_counter()
    video_topics = model.assign_representations(videos["video_id"].to_numpy(), a)
    seconds["assign"] = time.perf_counter() - tick

    report = LearnReport(
        n_videos=len(videos),
        n_topics_requested=settings.n_topics,
        n_topics=k,
        mean_topics_per_video=float(video_topics["n_topics"].mean()) if len(video_topics) else 0.0,
        videos_without_tags=learned.videos_without_tags,
        kept_topic_ids=id_counts[0],
        new_topic_ids=id_counts[1],
        retired_topic_ids=id_counts[2],
        seconds=seconds,
        notes=notes,
        final_losses=learned.history[-1] if learned.history else {},
    )
    return model, video_topics, report
