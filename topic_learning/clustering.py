"""Topic centres by spherical K-means (faiss) and the tau_3 assignment rule (paper section III-A 3)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faiss
import numpy as np

logger = logging.getLogger(__name__)


def l2_normalize(x: np.ndarray, *, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero (a video with nothing to say)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, eps)


@dataclass(frozen=True)
class HalfMeans:
    """Corpus means of the unit z and unit tag-vector halves, subtracted before the cosine.

    Encoder outputs and skip-gram vectors share a large common direction, which puts every video
    at a high cosine to every centre; centring makes tau_3 = 0.6 select genuinely close topics.
    """

    z: np.ndarray
    tags: np.ndarray | None

    @classmethod
    def fit(cls, z: np.ndarray, tag_vectors: np.ndarray | None) -> HalfMeans:
        tags = None
        if tag_vectors is not None:
            unit = l2_normalize(tag_vectors)
            known = np.linalg.norm(tag_vectors, axis=1) > 0
            tags = unit[known].mean(axis=0) if known.any() else np.zeros(unit.shape[1], np.float32)
        return cls(z=l2_normalize(z).mean(axis=0), tags=tags)


def _centred_half(x: np.ndarray, mean: np.ndarray | None) -> np.ndarray:
    unit = l2_normalize(x)
    if mean is None:
        return unit
    known = np.linalg.norm(x, axis=1, keepdims=True) > 0  # a zero row (no known tag) stays zero
    return l2_normalize(np.where(known, unit - mean.astype(np.float32), 0.0))


def topic_representation(
    z: np.ndarray, tag_vectors: np.ndarray | None, means: HalfMeans | None = None
) -> np.ndarray:
    """``a = L2([L2(z), L2(e_bar)])``: both halves weigh the same in the cosine (Eq. 4 and below).

    Parameters
    ----------
    z : ndarray of shape (n, d_z)
        Joint image/title representation from the MMoE encoders.
    tag_vectors : ndarray of shape (n, d_t) or None
        Mean tag embedding per video; a video without known tags has a zero row and is then
        represented by its z half alone. None leaves the tag half out entirely.
    means : HalfMeans, optional
        Corpus means of the unit halves, subtracted from each half before it is normalised again.
    """
    parts = [_centred_half(z, means.z if means else None)]
    if tag_vectors is not None:
        parts.append(_centred_half(tag_vectors, means.tags if means else None))
    return l2_normalize(np.concatenate(parts, axis=1))


def effective_n_topics(n_samples: int, n_topics: int, *, min_videos_per_topic: int) -> int:
    """K, or fewer when the corpus cannot support K centres (faiss needs at least one point each)."""
    cap = max(1, n_samples // max(1, min_videos_per_topic))
    return max(1, min(n_topics, cap, n_samples))


# k-means++ seeding costs O(n * K * d) sequential work; above this n * K faiss' random seeding is used
# (at production scale, thousands of centres from a random sample are good starts anyway).
KMEANS_PP_MAX_WORK = 50_000_000


def kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds for unit vectors: each next seed drawn with probability ~ squared distance."""
    x = l2_normalize(x)
    seeds = np.empty((k, x.shape[1]), dtype=np.float32)
    seeds[0] = x[rng.integers(len(x))]
    # On the unit sphere the squared distance is 2 - 2 cos.
    nearest = np.maximum(2.0 - 2.0 * (x @ seeds[0]), 0.0)
    for i in range(1, k):
        total = float(nearest.sum())
        j = rng.choice(len(x), p=nearest / total) if total > 0 else rng.integers(len(x))
        seeds[i] = x[j]
        np.minimum(nearest, np.maximum(2.0 - 2.0 * (x @ seeds[i]), 0.0), out=nearest)
    return seeds


@dataclass
class SphericalKMeans:
    """Spherical K-means on unit vectors with faiss; sklearn-like, learned state ends in ``_``.

    Parameters
    ----------
    n_clusters : int
        K, the number of topic centres.
    n_iter : int
        Lloyd iterations.
    seed : int
        Seed for the initial sample of centres.
    n_init : int
        Runs from different random starts; the one with the best objective is kept.
    max_points_per_centroid : int
        faiss subsamples the training set above ``K * max_points_per_centroid`` points.
    use_gpu : bool
        Train on all visible GPUs when the faiss build has GPU support.
    """

    n_clusters: int
    n_iter: int = 25
    seed: int = 0
    n_init: int = 1
    max_points_per_centroid: int = 256
    use_gpu: bool = False

    def fit(self, x: np.ndarray) -> SphericalKMeans:
        x = l2_normalize(x)
        gpu = self.use_gpu and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0
        kmeans = faiss.Kmeans(
            x.shape[1],
            self.n_clusters,
            niter=self.n_iter,
            seed=self.seed,
            nredo=self.n_init,
            spherical=True,
            max_points_per_centroid=self.max_points_per_centroid,
            min_points_per_centroid=1,
            gpu=gpu,
            verbose=False,
        )
        init = None
        if x.shape[0] * self.n_clusters <= KMEANS_PP_MAX_WORK and self.n_init == 1:
            init = kmeans_plus_plus(x, self.n_clusters, np.random.default_rng(self.seed))
        kmeans.train(x, init_centroids=init)
        self.cluster_centers_ = l2_normalize(kmeans.centroids)
        self.inertia_ = float(kmeans.obj[-1]) if len(kmeans.obj) else float("nan")
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        _, idx = centre_index(self.cluster_centers_).search(l2_normalize(x), 1)
        return idx[:, 0].astype(np.int64)


def centre_index(centres: np.ndarray) -> faiss.Index:
    """Exact inner-product index over unit centres: inner product == cosine."""
    index = faiss.IndexFlatIP(centres.shape[1])
    index.add(l2_normalize(centres))
    return index


def assign_topics(
    representations: np.ndarray,
    index: faiss.Index,
    topic_ids: np.ndarray,
    *,
    slots: int = 8,
    threshold: float = 0.6,
    min_topics: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The topics of each video: up to ``slots`` centres with cosine >= ``threshold``.

    The best ``min_topics`` centres are kept even below the threshold, so no video is topic-less.

    Returns
    -------
    ids : ndarray of int64, shape (n, slots)
        Stable topic IDs, best first, padded with -1.
    scores : ndarray of float32, shape (n, slots)
        Cosine to each kept centre, padded with 0.
    """
    k = min(slots, index.ntotal)
    sims, idx = index.search(l2_normalize(representations), k)
    keep = sims >= threshold
    keep[:, : min(min_topics, k)] = True
    ids = np.full((len(sims), slots), -1, dtype=np.int64)
    scores = np.zeros((len(sims), slots), dtype=np.float32)
    ids[:, :k] = np.where(keep, topic_ids[idx], -1)
    scores[:, :k] = np.where(keep, sims, 0.0)
    return ids, scores
