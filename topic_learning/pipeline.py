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
from topic_learning.clustering import (
    HalfMeans,
    calibrate_threshold,
    centre_index,
    distinct_topics,
    effective_n_topics,
)
from topic_learning.model import TopicModel, build_net, new_model_version
from topic_learning.tag_weight import FILLS, TagHalf, TagWeightChoice, choose_tag_weight
from topic_learning.tags import TagEmbedding, TagGraphEmbedder
from topic_learning.topic_ids import match_topic_ids
from topic_learning.training import (
    LabelSpace,
    MultimodalNet,
    embed_videos_and_tags,
    fit_multitask,
    mixtures_from_z,
    predicted_tag_vectors,
)

CLASS_COLUMNS = ("primary_class", "secondary_class")

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
    kmeans_topics: int = 0
    topic_threshold: float = 0.0
    tag_weight: float = 1.0
    untagged_tags: str = "zero"
    tag_weight_scores: dict[str, float] = field(default_factory=dict)
    validation_videos: int = 0
    merged_into: dict[int, int] = field(default_factory=dict)
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
    has_tags: np.ndarray | None
    predicted_tags: np.ndarray | None  # the tag task's expected tag vector of every video
    tag_half: TagHalf
    videos_without_tags: int
    history: list[dict[str, float]]
    has_image: bool
    tag_choice: TagWeightChoice | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @cached_property
    def means(self) -> HalfMeans:
        filled = None
        if self.tag_vectors is not None and self.has_tags is not None:
            filled = self.tag_half.fill_vectors(self.tag_vectors, self.has_tags, self.predicted_tags)
        return HalfMeans.fit(self.z, filled)

    @property
    def a(self) -> np.ndarray:
        return self.tag_half.representation(
            self.z, self.tag_vectors, self.has_tags, self.predicted_tags, self.means
        )


def validation_rows(videos: pd.DataFrame, settings: LearningSettings, *, with_tags: bool) -> np.ndarray:
    """Labelled videos held out of MMoE training to choose the tag weight on (none if not needed)."""
    labelled = videos[list(CLASS_COLUMNS)].notna().any(axis=1).to_numpy()
    if settings.tag_weight != "auto" or not with_tags or labelled.sum() < 20:
        return np.zeros(0, dtype=np.int64)
    # Drawn by video ID, in ID order: the same videos and the same choice whatever the row order.
    ids = videos["video_id"].to_numpy().astype(np.uint64)
    chosen = np.flatnonzero(labelled & (_unit_hash(ids, settings.seed) < settings.validation_share))
    return chosen[np.argsort(ids[chosen], kind="stable")]


def _unit_hash(ids: np.ndarray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per ID (splitmix64 finaliser of ID and seed)."""
    with np.errstate(over="ignore"):
        x = ids + np.uint64(0x9E3779B97F4A7C15) * np.uint64(seed + 1)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def class_naming_tags(videos: pd.DataFrame) -> set[str]:
    """Tags (case-folded) that are also the name of a primary or secondary class of ``videos``."""
    names = {str(c).casefold() for column in CLASS_COLUMNS for c in videos[column].dropna().unique()}
    tags = {str(t).casefold() for row in videos["tags"] for t in row}
    return names & tags


def learn_representations(
    videos: pd.DataFrame, settings: LearningSettings, *, progress: bool = True, pretrained: bool = True
) -> LearnedRepresentations:
    """MMoE multi-task training, the tag graph embedding and the tag half's weight (III-A 1-2)."""
    seconds: dict[str, float] = {}
    notes: list[str] = []
    videos = videos.reset_index(drop=True)
    tag_lists = [list(t) for t in videos["tags"]]
    with_tags = any(tag_lists)
    held_out = validation_rows(videos, settings, with_tags=with_tags)
    train_rows = np.setdiff1d(np.arange(len(videos)), held_out)

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
        train_rows=train_rows if len(held_out) else None,
        progress=progress,
    )
    seconds["mmoe"] = time.perf_counter() - tick

    tick = time.perf_counter()
    tag_embedding = tag_vectors = has_tags = None
    if with_tags:
        embedder = TagGraphEmbedder.from_settings(settings).fit(tag_lists)
        tag_embedding = embedder.embedding_
        tag_vectors, has_tags = tag_embedding.video_vectors(tag_lists)
        without_tags = int((~has_tags).sum())
    else:
        without_tags = len(videos)
        notes.append("no tags in the corpus: the tag half of a is absent")
    seconds["tags"] = time.perf_counter() - tick

    tick = time.perf_counter()
    representation = settings.video_representation
    tag_table = labels.tag_table(tag_embedding)
    if cached_z is None:
        z, predicted = embed_videos_and_tags(
            net,
            videos,
            batch_size=settings.embed_batch_size,
            representation=representation,
            tag_table=tag_table,
            progress=progress,
        )
    else:
        batch = settings.embed_batch_size
        z = mixtures_from_z(net, cached_z, batch_size=batch) if representation == "mixture" else cached_z
        predicted = (
            predicted_tag_vectors(net, cached_z, tag_table, batch_size=batch)
            if tag_table is not None
            else None
        )
    seconds["encode"] = time.perf_counter() - tick

    tick = time.perf_counter()
    choice = None
    fixed_fill = "zero" if settings.untagged_tags == "auto" else settings.untagged_tags
    if tag_vectors is None:
        half = TagHalf()
    elif settings.tag_weight != "auto":
        half = TagHalf(weight=float(settings.tag_weight), fill=fixed_fill)
    elif len(held_out) == 0:
        half = TagHalf(fill=fixed_fill)
        notes.append("too few labelled videos to choose the tag weight: the paper's w = 1")
    else:
        # Tags that name a class (MovieLens' genres are tags and classes) would make the tag half
        # look as good as the labels it is scored against: the choice sees the other tags only.
        naming = class_naming_tags(videos)
        choice_vectors, choice_has = tag_vectors, has_tags
        if naming:
            choice_vectors, choice_has = tag_embedding.video_vectors(
                [[t for t in tags if str(t).casefold() not in naming] for tags in tag_lists]
            )
            notes.append(f"{len(naming)} tags that name a class are left out of the tag weight's choice")
        choice = choose_tag_weight(
            z,
            choice_vectors,
            choice_has,
            predicted,
            videos[list(CLASS_COLUMNS)],
            train=train_rows,
            validation=held_out,
            grid=settings.tag_weight_grid,
            fills=FILLS if settings.untagged_tags == "auto" else (settings.untagged_tags,),
            seed=settings.seed,
        )
        half = choice.half
        notes.append(
            f"tag weight {half.weight:g} (untagged videos: {half.fill}), chosen on {len(held_out)} "
            f"validation videos: neighbour class agreement {choice.gain * 100:+.1f} points over no tags"
        )
    seconds["tag_weight"] = time.perf_counter() - tick
    return LearnedRepresentations(
        labels=labels,
        net=net,
        tag_embedding=tag_embedding,
        z=z,
        tag_vectors=tag_vectors,
        has_tags=has_tags,
        predicted_tags=predicted,
        tag_half=half,
        videos_without_tags=without_tags,
        history=history,
        has_image=with_image,
        tag_choice=choice,
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
    return topics_from_representations(videos, learned, settings, previous=previous, pretrained=pretrained)


def topics_from_representations(
    videos: pd.DataFrame,
    learned: LearnedRepresentations,
    settings: LearningSettings,
    *,
    previous: TopicModel | None = None,
    pretrained: bool = True,
) -> tuple[TopicModel, pd.DataFrame, LearnReport]:
    """Distinct topic centres over the learned ``a``, tau_3, stable IDs, and every video's topics."""
    seconds, notes = dict(learned.seconds), list(learned.notes)

    tick = time.perf_counter()
    a = learned.a
    k = effective_n_topics(len(a), settings.n_topics, min_videos_per_topic=settings.min_videos_per_topic)
    if k < settings.n_topics:
        notes.append(
            f"K={settings.n_topics} is too many for {len(a)} videos; K-means with K={k} "
            f"(at least {settings.min_videos_per_topic} videos per topic)"
        )
    centres = distinct_topics(
        a,
        k,
        merge_threshold=settings.merge_threshold,
        min_size=settings.min_topic_size,
        n_iter=settings.kmeans_iterations,
        seed=settings.seed,
        use_gpu=settings.device == "cuda",
    )
    if len(centres) < k:
        notes.append(
            f"{k} K-means centres became {len(centres)} distinct topics (no two above cosine "
            f"{settings.merge_threshold:g}; topics of fewer than {settings.min_topic_size} videos dropped)"
        )
    seconds["kmeans"] = time.perf_counter() - tick

    tick = time.perf_counter()
    if settings.topic_threshold == "auto":
        threshold = calibrate_threshold(
            a,
            centre_index(centres),
            target=settings.target_topics_per_video,
            slots=settings.topic_slots,
            min_topics=settings.min_topics,
        )
        notes.append(
            f"tau_3 = {threshold:.3f}: {settings.target_topics_per_video:g} topics per video on average"
        )
    else:
        threshold = float(settings.topic_threshold)
    seconds["threshold"] = time.perf_counter() - tick

    merged_into: dict[int, int] = {}
    if previous is not None:
        match = match_topic_ids(
            previous.centres,
            previous.topic_ids,
            centres,
            next_id=previous.next_topic_id,
            min_cosine=settings.id_match_min_cosine,
        )
        topic_ids, next_id = match.topic_ids, match.next_id
        retired = sorted(set(previous.retired_topic_ids) | set(match.retired.tolist()))
        id_counts = (len(match.kept), len(match.new), len(match.retired))
        merged_into = match.merged_into
    else:
        n = len(centres)
        topic_ids, next_id, retired, id_counts = np.arange(n, dtype=np.int64), n, [], (0, n, 0)

    model = TopicModel(
        model_version=new_model_version(),
        settings=settings,
        labels=learned.labels,
        net=learned.net,
        tag_embedding=learned.tag_embedding,
        centres=centres,
        means=learned.means,
        topic_ids=topic_ids,
        next_topic_id=next_id,
        retired_topic_ids=retired,
        merged_into=merged_into,
        previous_version=previous.model_version if previous is not None else None,
        has_image=learned.has_image,
        has_text=True,
        pretrained=pretrained,
        threshold=threshold,
        tag_half=learned.tag_half,
    )
    tick = time.perf_counter()
    video_topics = model.assign_representations(videos["video_id"].to_numpy(), a)
    seconds["assign"] = time.perf_counter() - tick

    choice = learned.tag_choice
    report = LearnReport(
        n_videos=len(videos),
        n_topics_requested=settings.n_topics,
        n_topics=len(centres),
        mean_topics_per_video=float(video_topics["n_topics"].mean()) if len(video_topics) else 0.0,
        videos_without_tags=learned.videos_without_tags,
        kept_topic_ids=id_counts[0],
        new_topic_ids=id_counts[1],
        retired_topic_ids=id_counts[2],
        kmeans_topics=k,
        topic_threshold=threshold,
        tag_weight=learned.tag_half.weight,
        untagged_tags=learned.tag_half.fill,
        tag_weight_scores=dict(choice.scores) if choice else {},
        validation_videos=choice.n_validation if choice else 0,
        merged_into=merged_into,
        seconds=seconds,
        notes=notes,
        final_losses=learned.history[-1] if learned.history else {},
    )
    return model, video_topics, report
