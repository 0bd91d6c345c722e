"""``mtl bench learn``: per-stage throughput of topic learning on a synthetic corpus.

Every stage is compared with a baseline measured in the same run:

- encoding: ``embed_videos`` (file loading, preprocessing, both encoders) vs the bare encoder
  forward passes on tensors already in memory;
- walks: the vectorised alias-table DeepWalk vs a per-step Python loop with ``numpy`` sampling;
- skip-gram: gensim with the configured workers vs one worker;
- K-means: :class:`SphericalKMeans` vs a bare ``faiss.Kmeans`` call on the same matrix;
- assignment of 100k videos: :func:`assign_topics` vs a bare ``IndexFlatIP.search``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import faiss
import numpy as np
import torch

from benchmarks.common import BenchResult, median_seconds
from mtl.settings import LearningSettings
from topic_learning.clustering import SphericalKMeans, assign_topics, centre_index, l2_normalize
from topic_learning.data import SyntheticConfig, generate
from topic_learning.model import build_net
from topic_learning.tags import build_tag_graph, random_walks, train_skipgram
from topic_learning.training import LabelSpace, embed_videos


def run(
    settings: LearningSettings,
    *,
    videos: int = 2000,
    repeats: int = 3,
    kmeans_points: int = 100_000,
    kmeans_k: int = 1000,
    assign_videos: int = 100_000,
    assign_k: int = 6000,
    work_dir: Path | None = None,
    echo=print,
) -> list[BenchResult]:
    results: list[BenchResult] = []
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        data = generate(
            SyntheticConfig(n_videos=videos, n_users=200, n_days=1, seed=0, covers=True),
            Path(tmp) / "d",
            progress=False,
        )
        v = data.videos
        results.append(_encoding(settings, v, repeats))
        echo(results[-1].line())

        graph = build_tag_graph([list(t) for t in v["tags"]])
        # A larger graph than the small corpus gives, so the walk rate is measured on real work.
        big = _random_graph(10_000, 20, rng)
        walks_s = median_seconds(
            lambda: random_walks(big, walk_length=settings.walk_length, walks_per_node=2), repeats=repeats
        )
        steps = 10_000 * 2 * (settings.walk_length - 1)
        ref_walks = 200
        ref_s = median_seconds(lambda: _reference_walks(big, ref_walks, settings.walk_length), repeats=1)
        results.append(
            BenchResult(
                "walk generation",
                steps / walks_s,
                "steps/s",
                "per-step Python loop",
                ref_walks * (settings.walk_length - 1) / ref_s,
                goal=">= 5,000,000 steps/s",
            )
        )
        echo(results[-1].line())

        walks = random_walks(
            graph.adjacency, walk_length=settings.walk_length, walks_per_node=settings.walks_per_node
        )
        words = walks.size * settings.skipgram_epochs

        def skipgram(workers: int):
            return lambda: train_skipgram(
                walks,
                vocabulary=graph.vocabulary,
                dim=settings.tag_embedding_dim,
                window=settings.skipgram_window,
                epochs=settings.skipgram_epochs,
                workers=workers,
            )

        w2v_s = median_seconds(skipgram(settings.skipgram_workers), repeats=repeats)
        one_s = median_seconds(skipgram(1), repeats=1)
        results.append(BenchResult("skip-gram", words / w2v_s, "words/s", "gensim, 1 worker", words / one_s))
        echo(results[-1].line())

    x = l2_normalize(rng.normal(size=(kmeans_points, 64)).astype(np.float32))
    ours = median_seconds(
        lambda: SphericalKMeans(n_clusters=kmeans_k, n_iter=settings.kmeans_iterations).fit(x),
        repeats=repeats,
    )

    def bare():
        km = faiss.Kmeans(
            x.shape[1],
            kmeans_k,
            niter=settings.kmeans_iterations,
            spherical=True,
            seed=0,
            max_points_per_centroid=256,
        )
        km.train(x)

    base = median_seconds(bare, repeats=repeats)
    results.append(
        BenchResult(
            f"K-means {kmeans_points // 1000}k x K={kmeans_k}",
            kmeans_points / ours,
            "points/s",
            "bare faiss.Kmeans",
            kmeans_points / base,
            goal="time within 1.2x of bare faiss",
        )
    )
    echo(results[-1].line())

    centres = l2_normalize(rng.normal(size=(assign_k, 128)).astype(np.float32))
    reps = l2_normalize(rng.normal(size=(assign_videos, 128)).astype(np.float32))
    index = centre_index(centres)
    ids = np.arange(assign_k, dtype=np.int64)
    ours = median_seconds(lambda: assign_topics(reps, index, ids, slots=8, threshold=0.6), repeats=repeats)
    base = median_seconds(lambda: index.search(reps, 8), repeats=repeats)
    results.append(
        BenchResult(
            f"assign {assign_videos // 1000}k, K={assign_k}",
            assign_videos / ours,
            "videos/s",
            "bare IndexFlatIP.search",
            assign_videos / base,
            goal="<= 2 s per 100k videos",
        )
    )
    echo(results[-1].line() + f"  ({ours:.2f} s)")
    return results


def _encoding(settings: LearningSettings, videos, repeats: int) -> BenchResult:
    labels = LabelSpace.fit(videos, max_tags=settings.max_tags)
    net = build_net(settings, None, has_image=True, has_text=True, task_sizes=labels.sizes)
    batch = settings.embed_batch_size
    sample = videos.head(min(len(videos), 4 * batch))
    ours = median_seconds(
        lambda: embed_videos(net, sample, batch_size=batch, progress=False), repeats=repeats
    )
    pixels = net.image.preprocess(sample["cover"].tolist()[:batch])
    tokens = net.text.tokenize(sample["title"].tolist()[:batch])

    @torch.inference_mode()
    def bare():
        net.image(pixels)
        net.text(**tokens)

    base = median_seconds(bare, repeats=repeats)
    return BenchResult(
        "encoding (image+title)", len(sample) / ours, "videos/s", "bare encoder forwards", batch / base
    )


def _random_graph(n: int, degree: int, rng: np.random.Generator):
    import scipy.sparse as sp

    rows = np.repeat(np.arange(n), degree)
    cols = rng.integers(0, n, size=n * degree)
    keep = rows != cols
    w = rng.integers(1, 10, size=keep.sum())
    a = sp.coo_array((w, (rows[keep], cols[keep])), shape=(n, n)).tocsr()
    return (a + a.T).tocsr()


def _reference_walks(adjacency, n_walks: int, length: int) -> None:
    """The obvious implementation: one ``rng.choice`` per step of every walk."""
    rng = np.random.default_rng(0)
    indptr, indices, data = adjacency.indptr, adjacency.indices, adjacency.data.astype(np.float64)
    for start in range(n_walks):
        node = start
        for _ in range(length - 1):
            lo, hi = indptr[node], indptr[node + 1]
            if hi == lo:
                break
            w = data[lo:hi]
            node = indices[lo + rng.choice(hi - lo, p=w / w.sum())]
