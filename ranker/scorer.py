"""Scores of one request's candidates: a trained ranker, or the candidates' CTR when there is none.

The ranking service calls ``scorer.score(user_id=..., recent_clicks=..., features=...)`` with the
features :func:`mtl.features.fetch_candidate_features` fetched and the user's recent click list, and
gets one click probability per candidate, in candidate order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from mtl.errors import DataError
from mtl.features.fetch import CandidateFeatures
from ranker.training import META_FILE, FitSummary, RankerTrainer


class Scorer(Protocol):
    """What the ranking service needs."""

    def score(self, *, user_id: int, recent_clicks: list[int], features: CandidateFeatures) -> np.ndarray:
        """Click probabilities, float64 [n], row i for ``features.video_ids[i]``."""
        ...


class ModelScorer:
    """A trained ranker behind the :class:`Scorer` interface.

    Candidates whose features are missing online score with the same defaults the training rows had
    for missing values (no topics, no stats), so they are ranked, not dropped.

    Parameters
    ----------
    trainer
        A fitted (or loaded) :class:`~ranker.training.RankerTrainer`.
    """

    def __init__(self, trainer: RankerTrainer) -> None:
        self.trainer = trainer

    def score(self, *, user_id: int, recent_clicks: list[int], features: CandidateFeatures) -> np.ndarray:
        if len(features.video_ids) == 0:
            return np.zeros(0, dtype=np.float64)
        encoded = self.trainer.encoder_.encode_candidates(
            user_id=user_id, recent_clicks=recent_clicks, features=features
        )
        return self.trainer.predict_encoded(encoded)


class CtrScorer:
    """The fallback without a trained model: each candidate's smoothed CTR (0 where stats are missing)."""

    def score(self, *, user_id: int, recent_clicks: list[int], features: CandidateFeatures) -> np.ndarray:
        return np.asarray(features.ctr, dtype=np.float64).copy()


def load_scorer(path: Path | str) -> ModelScorer:
    """The ranker saved in ``path`` (a directory written by :meth:`RankerTrainer.save`).

    Raises
    ------
    DataError
        ``path`` holds no readable ranker.
    """
    return ModelScorer(RankerTrainer.load(path))


def default_ranker_dir(artifact_dir: Path, name: str = "default") -> Path:
    """``<artifact_dir>/ranker/<name>/``: where :func:`train_and_save` puts a ranker by default."""
    return Path(artifact_dir) / "ranker" / name


def scorer_or_ctr(path: Path | str | None) -> ModelScorer | CtrScorer:
    """:func:`load_scorer` if ``path`` holds a ranker, else :class:`CtrScorer` (no model trained yet)."""
    if path is None or not (Path(path) / META_FILE).is_file():
        return CtrScorer()
    return load_scorer(path)


def train_and_save(
    *,
    corpus: str = "synthetic",
    name: str = "default",
    kind: str = "wide_deep",
    use_topics: bool = True,
    topics_file: Path | None = None,
    features: str = "corpus",
    store=None,
    out: Path | None = None,
    max_users: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> FitSummary:
    """Train a ranker on a whole corpus' interactions and save it (for serving).

    Parameters
    ----------
    corpus
        ``synthetic``, ``kuairec``, ``movielens`` or a data set directory.
    name
        Saved to ``<artifact_dir>/ranker/<name>/`` unless ``out`` is given.
    kind
        ``lr``, ``emlp``, ``dcn`` or ``wide_deep``.
    use_topics
        With the topic features; needs ``topics_file`` or a topic model of the corpus under
        ``<artifact_dir>/topics/<corpus>/``.
    topics_file
        A ``video_topics.parquet``; default: the latest topic model's.
    features
        ``corpus``: features computed from the corpus tables (point-in-time CTR from earlier rows, topics
        of ``topics_file``); ``feast``: the ``ranker`` feature service's point-in-time join
        (``get_historical_features``) of Feast's offline store, the values the stream pushed there — the
        same definitions the service reads online.
    store
        Feast store for ``features="feast"`` (default: the configured repository).
    max_users
        Train on a random subset of this many users.
    seed
        Seeds the subset and training.

    Returns
    -------
    FitSummary
        Where it went, rows and clicks trained on.
    """
    import pandas as pd

    from mtl.settings import get_settings
    from ranker.features import FeatureSpec, build_rows
    from ranker.models import RankerConfig
    from ranker.training import TrainingConfig
    from topic_learning.corpus import load_corpus

    settings = get_settings()
    dataset = load_corpus(corpus, settings, progress=progress)
    if dataset.interactions is None:
        raise DataError(f"corpus {dataset.name}: has no interactions to train a ranker on")
    video_topics = None
    if use_topics and features == "corpus":
        if topics_file is None:
            from topic_learning.registry import VIDEO_TOPICS_FILE, ModelRegistry

            registry = ModelRegistry(settings.artifact_dir / "topics" / dataset.name)
            topics_file = registry.latest_with_topics(dataset.name) / VIDEO_TOPICS_FILE
        video_topics = pd.read_parquet(topics_file)
    interactions = dataset.interactions
    notes = []
    if max_users:
        users = interactions["user_id"].unique()
        if len(users) > max_users:
            keep = np.random.default_rng(seed).choice(users, size=max_users, replace=False)
            interactions = interactions[interactions["user_id"].isin(keep)]
            notes.append(f"trained on {max_users} of {len(users)} users")
    if features == "feast":
        from mtl.features import training_data
        from ranker.features import attach_click_history

        frame = training_data(interactions[["user_id", "video_id", "ts", "clicked"]], store=store)
        rows = attach_click_history(frame, interactions, history_clicks=settings.ranker.history_clicks)
    elif features == "corpus":
        rows = build_rows(
            interactions,
            video_topics,
            history_clicks=settings.ranker.history_clicks,
            user_topic_slots=settings.ranker.top_topics,
            prior_strength=settings.stream.prior_strength,
        )
    else:
        raise DataError(f"features must be corpus or feast, not {features!r}")
    spec = FeatureSpec(
        use_topics=use_topics,
        history_clicks=settings.ranker.history_clicks,
        topic_slots=settings.learning.topic_slots,
        user_topic_slots=settings.ranker.top_topics,
    )
    trainer = RankerTrainer(spec=spec, model=RankerConfig(kind=kind), training=TrainingConfig(seed=seed))
    trainer.fit(rows, videos=dataset.videos)
    path = trainer.save(out or default_ranker_dir(settings.artifact_dir, name))
    return FitSummary(path=path, rows=len(rows), clicks=int(rows["clicked"].sum()), notes=notes)
