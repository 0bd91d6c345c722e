"""How good a topic model's own topics are, measured as the product uses them.

Table I clusters each representation with K = number of classes; the product instead uses the
model's K topics and gives each video up to 8 of them. These measures look at exactly that:
how many topics a video gets, whether any two topics are copies of each other, how pure each topic
is in the known classes and how many classes the topics cover, and how well a video's top topic
predicts its class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import normalized_mutual_info_score

from topic_learning.clustering import l2_normalize


@dataclass(frozen=True)
class TopicQuality:
    """Measures of one model's topics on a set of videos (see :func:`topic_quality`).

    Attributes
    ----------
    n_videos, n_topics
        Videos measured, and topic centres of the model.
    topics_used
        Topics that are the top topic of at least one of the videos.
    mean_topics_per_video
        Filled slots of the topic-ID feature, averaged over the videos.
    threshold
        The tau_3 the topics were assigned with.
    max_centre_cosine
        The largest cosine between two centres.
    near_duplicate_pairs, near_duplicate_share
        Centre pairs with a cosine above ``duplicate_cosine``, and their share of all pairs.
    duplicate_cosine
        The cosine above which two centres count as near-duplicates.
    purity_primary, purity_secondary
        Share of the labelled videos of each topic (by top topic) that are in the topic's dominant
        class, weighted by topic size; None without labels.
    coverage_secondary
        Share of the secondary classes (of the labelled videos) that dominate at least one topic.
    nmi_primary, nmi_secondary
        NMI between each video's top topic and its class, over the labelled videos.
    """

    n_videos: int
    n_topics: int
    topics_used: int
    mean_topics_per_video: float
    threshold: float
    max_centre_cosine: float
    near_duplicate_pairs: int
    near_duplicate_share: float
    duplicate_cosine: float
    purity_primary: float | None
    purity_secondary: float | None
    coverage_secondary: float | None
    nmi_primary: float | None
    nmi_secondary: float | None


def topic_quality(
    topic_ids: np.ndarray,
    centres: np.ndarray,
    videos: pd.DataFrame,
    *,
    threshold: float,
    duplicate_cosine: float = 0.8,
) -> TopicQuality:
    """Measure the topics given to ``videos``.

    Parameters
    ----------
    topic_ids : ndarray of int64, shape (n, slots)
        Each video's topic IDs, best first, padded with -1 (the ``video_topics`` feature).
    centres : ndarray of shape (K, d)
        The model's topic centres.
    videos : DataFrame
        ``primary_class`` and ``secondary_class`` of the same videos, in the same order (nulls allowed).
    threshold : float
        The tau_3 the topics were assigned with (reported as is).
    duplicate_cosine : float
        Centre pairs above this cosine count as near-duplicates.
    """
    topic_ids = np.asarray(topic_ids)
    top = topic_ids[:, 0] if len(topic_ids) else np.zeros(0, dtype=np.int64)
    sim = l2_normalize(centres) @ l2_normalize(centres).T
    upper = np.triu_indices(len(centres), k=1)
    pair_sims = sim[upper]
    duplicates = int((pair_sims > duplicate_cosine).sum())
    primary = _labelled(top, videos["primary_class"])
    secondary = _labelled(top, videos["secondary_class"])
    return TopicQuality(
        n_videos=len(topic_ids),
        n_topics=len(centres),
        topics_used=len(np.unique(top)),
        mean_topics_per_video=float((topic_ids >= 0).sum(axis=1).mean()) if len(topic_ids) else 0.0,
        threshold=float(threshold),
        max_centre_cosine=float(pair_sims.max()) if len(pair_sims) else -1.0,
        near_duplicate_pairs=duplicates,
        near_duplicate_share=duplicates / len(pair_sims) if len(pair_sims) else 0.0,
        duplicate_cosine=float(duplicate_cosine),
        purity_primary=_purity(*primary),
        purity_secondary=_purity(*secondary),
        coverage_secondary=_coverage(*secondary),
        nmi_primary=_nmi(*primary),
        nmi_secondary=_nmi(*secondary),
    )


def _labelled(top: np.ndarray, labels: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    known = labels.notna().to_numpy()
    return top[known], labels[known].astype(str).to_numpy()


def _dominant(topics: np.ndarray, classes: np.ndarray) -> pd.DataFrame:
    """Per topic: its size and the size and name of its largest class."""
    counts = pd.DataFrame({"topic": topics, "cls": classes}).value_counts().reset_index(name="n")
    counts = counts.sort_values(["topic", "n", "cls"], ascending=[True, False, True])
    first = counts.drop_duplicates("topic")
    sizes = counts.groupby("topic")["n"].sum()
    return first.assign(size=first["topic"].map(sizes))


def _purity(topics: np.ndarray, classes: np.ndarray) -> float | None:
    if len(topics) == 0:
        return None
    dominant = _dominant(topics, classes)
    return float(dominant["n"].sum() / dominant["size"].sum())


def _coverage(topics: np.ndarray, classes: np.ndarray) -> float | None:
    if len(topics) == 0:
        return None
    return float(_dominant(topics, classes)["cls"].nunique() / len(np.unique(classes)))


def _nmi(topics: np.ndarray, classes: np.ndarray) -> float | None:
    if len(topics) < 2 or len(np.unique(classes)) < 2:
        return None
    return float(normalized_mutual_info_score(classes, topics))
