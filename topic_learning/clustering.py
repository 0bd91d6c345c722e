"""Topic centres by spherical K-means (faiss), without near-duplicates, and the tau_3 rule (III-A 3)."""

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
    z: np.ndarray,
    tag_vectors: np.ndarray | None,
    means: HalfMeans | None = None,
    *,
    tag_weight: float = 1.0,
) -> np.ndarray:
    """``a = L2([L2(z), w * L2(e_bar)])``: with ``w = 1`` both halves weigh the same (Eq. 4 and below).

    Parameters
    ----------
    z : ndarray of shape (n, d_z)
        Joint image/title representation from the MMoE encoders.
    tag_vectors : ndarray of shape (n, d_t) or None
        Mean tag embedding per video; a video without known tags has a zero row and is then
        represented by its z half alone. None leaves the tag half out entirely.
    means : HalfMeans, optional
        Corpus means of the unit halves, subtracted from each half before it is normalised again.
    tag_weight : float
        w, the length of the tag half next to the unit z half. 0 keeps the columns (so centres of
        every weight have one width) but lets tags say nothing; the paper's rule is 1.
    """
    parts = [_centred_half(z, means.z if means else None)]
    if tag_vectors is not None:
        parts.append(np.float32(tag_weight) * _centred_half(tag_vectors, means.tags if means else None))
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

    def fit(self, x: np.ndarray, *, init: np.ndarray | None = None) -> SphericalKMeans:
        """Lloyd iterations from k-means++ seeds, or from ``init`` (K rows) when given."""
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
        if init is not None:
            init = l2_normalize(init)
        elif x.shape[0] * self.n_clusters <= KMEANS_PP_MAX_WORK and self.n_init == 1:
            init = kmeans_plus_plus(x, self.n_clusters, np.random.default_rng(self.seed))
        kmeans.train(x, init_centroids=init)
        self.cluster_centers_ = l2_normalize(kmeans.centroids)
        self.inertia_ = float(kmeans.obj[-1]) if len(kmeans.obj) else float("nan")
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        _, idx = centre_index(self.cluster_centers_).search(l2_normalize(x), 1)
        return idx[:, 0].astype(np.int64)


def best_of_kmeans(x: np.ndarray, k: int, *, seeds: range | list[int]) -> np.ndarray:
    """Cluster labels of the K-means run (one per seed) with the best objective.

    Single runs land in different local optima; comparing representations by one run each would
    compare their luck. The best of a few runs by the objective (sum of cosines to the nearest
    centre) is a steadier measure of the representation itself.
    """
    x = l2_normalize(x)
    best_pred, best_obj = None, -np.inf
    for seed in seeds:
        km = SphericalKMeans(n_clusters=k, seed=seed).fit(x)
        obj = float(np.sum(np.max(x @ km.cluster_centers_.T, axis=1)))
        if obj > best_obj:
            best_pred, best_obj = km.predict(x), obj
    return best_pred


def merge_near_duplicates(
    centres: np.ndarray, sizes: np.ndarray, *, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Merge centres until no two have a cosine above ``threshold``.

    The closest pair is merged first, into the size-weighted mean of its members (renormalised), and
    the merged centre is compared again with the rest, so a chain of near-duplicates ends as one
    topic while two distinct topics that merely share a neighbour stay apart.

    Parameters
    ----------
    centres : ndarray of shape (K, d)
        Unit centres.
    sizes : ndarray of shape (K,)
        How many videos each centre holds (weights of the means; zeros count as one).
    threshold : float
        The largest cosine two centres of the result may have.

    Returns
    -------
    merged : ndarray of float32, shape (K', d)
        Unit centres, in the order of the first centre of each group.
    group : ndarray of int64, shape (K,)
        The row of ``merged`` that each input centre went into.
    """
    c = l2_normalize(centres).astype(np.float32, copy=True)
    k = len(c)
    weight = np.maximum(np.asarray(sizes, dtype=np.float64), 1.0)
    parent = np.arange(k)
    alive = np.ones(k, dtype=bool)
    sim = c @ c.T
    np.fill_diagonal(sim, -np.inf)
    best = sim.max(axis=1) if k > 1 else np.full(k, -np.inf)
    partner = sim.argmax(axis=1) if k > 1 else np.zeros(k, dtype=np.int64)
    while k > 1:
        i = int(np.argmax(best))
        if best[i] <= threshold:
            break
        j = int(partner[i])
        c[i] = l2_normalize((weight[i] * c[i] + weight[j] * c[j])[None, :])[0]
        weight[i] += weight[j]
        parent[parent == j] = i
        alive[j] = False
        sim[j, :] = -np.inf
        sim[:, j] = -np.inf
        best[j] = -np.inf
        row = np.where(alive, c @ c[i], -np.inf).astype(np.float32)
        row[i] = -np.inf
        sim[i, :] = row
        sim[:, i] = row
        best[i], partner[i] = row.max(), row.argmax()
        # rows that pointed at i or j lost their partner; the others may now prefer i
        stale = np.flatnonzero(alive & ((partner == i) | (partner == j)))
        stale = stale[stale != i]
        if len(stale):
            best[stale] = sim[stale].max(axis=1)
            partner[stale] = sim[stale].argmax(axis=1)
        closer = alive & (row > best)
        best[closer], partner[closer] = row[closer], i
    roots, group = np.unique(parent, return_inverse=True)
    return c[roots], group.astype(np.int64)


def distinct_topics(
    x: np.ndarray,
    n_topics: int,
    *,
    merge_threshold: float | None,
    min_size: int = 1,
    n_iter: int = 25,
    refine_iter: int = 10,
    seed: int = 0,
    use_gpu: bool = False,
) -> np.ndarray:
    """Topic centres for unit rows ``x``: K-means with up to ``n_topics`` centres, none near-duplicate.

    K-means asked for more centres than the data has topics splits each dense topic into copies a
    few degrees apart; merging those copies (:func:`merge_near_duplicates`) chooses K from the data.
    Merged centres holding fewer than ``min_size`` videos (outliers K-means gave a centre of their
    own) are dropped. What is left is refined by a few Lloyd iterations and merged once more, so the
    result has no pair of centres with a cosine above ``merge_threshold`` (None or 1: plain K-means).
    """
    kmeans = SphericalKMeans(n_clusters=n_topics, n_iter=n_iter, seed=seed, use_gpu=use_gpu).fit(x)
    centres = kmeans.cluster_centers_
    if merge_threshold is None or merge_threshold >= 1.0:
        return centres
    sizes = np.bincount(kmeans.predict(x), minlength=len(centres))
    centres, group = merge_near_duplicates(centres, sizes, threshold=merge_threshold)
    merged_sizes = np.bincount(group, weights=sizes, minlength=len(centres))
    big = merged_sizes >= min_size
    if big.any():
        centres = centres[big]
    if refine_iter and 1 < len(centres) < n_topics:
        refined = SphericalKMeans(n_clusters=len(centres), n_iter=refine_iter, seed=seed, use_gpu=use_gpu)
        refined.fit(x, init=centres)
        sizes = np.bincount(refined.predict(x), minlength=len(centres))
        centres, _ = merge_near_duplicates(refined.cluster_centers_, sizes, threshold=merge_threshold)
    return centres


def max_centre_cosine(centres: np.ndarray) -> float:
    """The largest cosine between two distinct centres (-1 for fewer than two)."""
    if len(centres) < 2:
        return -1.0
    sim = l2_normalize(centres) @ l2_normalize(centres).T
    np.fill_diagonal(sim, -np.inf)
    return float(sim.max())


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


def mean_topics_at(sims: np.ndarray, threshold: float, *, min_topics: int = 1) -> float:
    """Mean topics per video that :func:`assign_topics` gives at ``threshold``.

    ``sims`` holds each video's cosines to its nearest centres, one row per video, as many columns
    as there are slots.
    """
    if sims.size == 0:
        return 0.0
    kept = np.maximum((sims >= threshold).sum(axis=1), min(min_topics, sims.shape[1]))
    return float(kept.mean())


def calibrate_threshold(
    representations: np.ndarray,
    index: faiss.Index,
    *,
    target: float,
    slots: int = 8,
    min_topics: int = 1,
) -> float:
    """The tau_3 at which videos get ``target`` topics on average (what the paper reports: ~4).

    The mean is a step function of the threshold; this returns the highest threshold whose mean is
    the closest to ``target`` (bisection over the videos' own cosines, exact to float32).
    """
    k = min(slots, index.ntotal)
    if k == 0 or len(representations) == 0:
        return 1.0
    sims, _ = index.search(l2_normalize(representations), k)
    values = np.unique(sims.ravel())[::-1]  # candidate thresholds, highest first
    # the mean only grows as the threshold falls: find the first value where it reaches the target
    lo, hi = 0, len(values) - 1
    if mean_topics_at(sims, float(values[hi]), min_topics=min_topics) < target:
        return float(values[hi])
    while lo < hi:
        mid = (lo + hi) // 2
        if mean_topics_at(sims, float(values[mid]), min_topics=min_topics) >= target:
            hi = mid
        else:
            lo = mid + 1
    above = float(values[lo])
    if lo == 0:
        return above
    below = float(values[lo - 1])  # one step higher: fewer topics than the target
    gap_above = mean_topics_at(sims, above, min_topics=min_topics) - target
    gap_below = target - mean_topics_at(sims, below, min_topics=min_topics)
    return above if gap_above <= gap_below else below
