"""Tag co-occurrence graph, weighted DeepWalk, skip-gram tag vectors (paper section III-A 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from mtl.errors import DataError, MtlError
from mtl.settings import get_settings, load_settings
from topic_learning.tags import (
    META_FILE,
    AliasSampler,
    TagEmbedding,
    TagGraphEmbedder,
    build_tag_graph,
    random_walks,
    train_skipgram,
)

# Three videos; the second repeats "a", which must still count once per pair.
VIDEOS = [["a", "b", "c"], ["a", "b", "a"], ["b", "c"]]


def weight(graph, x: str, y: str) -> int:
    index = {tag: i for i, tag in enumerate(graph.vocabulary)}
    return int(graph.adjacency[index[x], index[y]])


def symmetric(matrix: sp.csr_array) -> sp.csr_array:
    matrix = sp.csr_array(matrix)
    return (matrix + matrix.T).tocsr()


# ------------------------------------------------------------------------------------------------
# Graph
# ------------------------------------------------------------------------------------------------


def test_edge_weights_count_videos_sharing_both_tags() -> None:
    graph = build_tag_graph(VIDEOS)

    # df: b in 3 videos, a and c in 2 each (a before c by name).
    assert graph.vocabulary == ["b", "a", "c"]
    assert graph.document_frequency.tolist() == [3, 2, 2]
    assert (weight(graph, "a", "b"), weight(graph, "a", "c"), weight(graph, "b", "c")) == (2, 1, 2)
    assert graph.n_videos == 3 and graph.n_tags == 3 and graph.n_edges == 3


def test_adjacency_is_symmetric_without_self_loops_or_zeros() -> None:
    rng = np.random.default_rng(1)
    videos = [list(rng.choice(list("abcdefghij"), size=rng.integers(0, 6))) for _ in range(200)]
    adjacency = build_tag_graph(videos).adjacency

    assert isinstance(adjacency, sp.csr_array)
    assert (adjacency != adjacency.T).nnz == 0
    assert not adjacency.diagonal().any()
    assert (adjacency.data > 0).all()


def test_graph_does_not_depend_on_video_order() -> None:
    forward = build_tag_graph(VIDEOS)
    backward = build_tag_graph(VIDEOS[::-1])

    assert forward.vocabulary == backward.vocabulary
    assert (forward.adjacency != backward.adjacency).nnz == 0


def test_isolated_tags_and_videos_without_tags() -> None:
    graph = build_tag_graph([["a", "b"], ["solo"], None, [], np.array(["a", "b"])])

    assert graph.n_videos == 5
    assert graph.vocabulary == ["a", "b", "solo"]
    assert graph.isolated().tolist() == [False, False, True]
    assert weight(graph, "a", "b") == 2


@pytest.mark.parametrize(
    ("videos", "position"),
    [(["ab"], 0), ([["a"], "ab"], 1), ([["a", 1]], 0), ([["a"], 3.5], 1)],
    ids=["bare-string", "string-among-lists", "non-string-tag", "not-iterable"],
)
def test_malformed_tag_lists_are_data_errors(videos, position) -> None:
    with pytest.raises(DataError, match=f"video {position}:"):
        build_tag_graph(videos)


# ------------------------------------------------------------------------------------------------
# Walks
# ------------------------------------------------------------------------------------------------


def test_alias_tables_encode_weight_proportions() -> None:
    rng = np.random.default_rng(0)
    # Integer weights make exact ties between prefix sums; this row once came out wrong.
    graphs = [sp.csr_array(np.array([[0, 9, 1, 7, 3, 5]] + [[0] * 6] * 5, dtype=float))]
    for trial in range(60):
        n = int(rng.integers(2, 30))
        dense = rng.integers(0, 6, (n, n)) * (rng.random((n, n)) < 0.4)
        if trial % 2:
            dense = dense * rng.pareto(1.0, (n, n))
        graphs.append(symmetric(sp.csr_array(np.triu(dense, 1).astype(float))))

    for adjacency in graphs:
        sampler = AliasSampler.from_adjacency(adjacency)
        weights = adjacency.toarray()
        isolated = weights.sum(axis=1) == 0
        weights[isolated, isolated] = 1.0  # isolated nodes stay in place
        expected = weights / weights.sum(axis=1, keepdims=True)
        assert np.allclose(sampler.transition_probabilities().toarray(), expected, rtol=0, atol=1e-12)


def test_walks_only_traverse_existing_edges() -> None:
    rng = np.random.default_rng(2)
    videos = [list(rng.choice(list("abcdefghijklmnop"), size=rng.integers(1, 4))) for _ in range(60)]
    graph = build_tag_graph(videos)
    walks = random_walks(graph.adjacency, walk_length=30, walks_per_node=4, seed=0)

    assert walks.dtype == np.int32 and walks.shape == (graph.n_tags * 4, 30)
    assert np.array_equal(np.bincount(walks[:, 0], minlength=graph.n_tags), np.full(graph.n_tags, 4))
    here, there = walks[:, :-1].ravel(), walks[:, 1:].ravel()
    moved = here != there
    assert (graph.adjacency[here[moved], there[moved]] > 0).all()
    assert graph.isolated()[here[~moved]].all()


def test_transition_frequencies_follow_edge_weights() -> None:
    # Node 0 links to 1, 2, 3 with weights 1, 2, 7.
    adjacency = symmetric(sp.csr_array(([1.0, 2.0, 7.0], ([0, 0, 0], [1, 2, 3])), shape=(4, 4)))
    walks = random_walks(adjacency, walk_length=50, walks_per_node=200, seed=3)

    here, there = walks[:, :-1].ravel(), walks[:, 1:].ravel()
    observed = np.bincount(there[here == 0], minlength=4)[1:]
    expected = observed.sum() * np.array([1, 2, 7]) / 10
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert observed.sum() > 10_000
    assert chi2 < 13.8  # p = 0.001 at 2 degrees of freedom
    assert (there[here != 0] == 0).all()  # the leaves only link back to the hub


def test_walks_are_deterministic_per_seed() -> None:
    adjacency = build_tag_graph([list("abcd"), list("cdef"), list("fa")]).adjacency

    first = random_walks(adjacency, walk_length=20, walks_per_node=3, seed=7)
    assert np.array_equal(first, random_walks(adjacency, walk_length=20, walks_per_node=3, seed=7))
    assert not np.array_equal(first, random_walks(adjacency, walk_length=20, walks_per_node=3, seed=8))


def test_isolated_tag_walks_stay_put_and_still_get_a_vector() -> None:
    graph = build_tag_graph([["a", "b"], ["b", "c"], ["solo"]])
    solo = graph.vocabulary.index("solo")
    walks = random_walks(graph.adjacency, walk_length=10, walks_per_node=2, seed=0)

    assert (walks[walks[:, 0] == solo] == solo).all()
    assert not (walks[walks[:, 0] != solo] == solo).any()
    embedding = train_skipgram(walks, vocabulary=graph.vocabulary, dim=8, workers=1)
    assert np.linalg.norm(embedding.vectors_[solo]) > 0
    _, has_tags = embedding.video_vectors([["solo"]])
    assert has_tags.tolist() == [True]


# ------------------------------------------------------------------------------------------------
# Skip-gram and estimator
# ------------------------------------------------------------------------------------------------


def clique_videos(seed: int = 0) -> tuple[list[list[str]], list[str], list[str]]:
    rng = np.random.default_rng(seed)
    left, right = [f"l{i}" for i in range(5)], [f"r{i}" for i in range(5)]
    videos = [list(rng.choice(clique, size=3, replace=False)) for clique in (left, right) for _ in range(100)]
    return videos, left, right


def test_disjoint_cliques_separate_in_embedding_space() -> None:
    videos, left, right = clique_videos()
    # Enough epochs for a 10-tag corpus; too few leave every vector near the shared initial direction.
    model = TagGraphEmbedder(walk_length=20, walks_per_node=10, dim=16, window=3, epochs=20, workers=1)
    model.fit(videos)

    index = model.embedding_.index_
    unit = model.embedding_.vectors_ / np.linalg.norm(model.embedding_.vectors_, axis=1, keepdims=True)
    cos = unit @ unit.T
    left_ids, right_ids = [index[t] for t in left], [index[t] for t in right]
    within = [cos[i, j] for group in (left_ids, right_ids) for i in group for j in group if i < j]
    across = [cos[i, j] for i in left_ids for j in right_ids]
    assert min(within) > max(across) + 0.3  # the gap is ~0.8 over seeds 0-7


def test_fit_is_reproducible_with_one_worker() -> None:
    videos, _, _ = clique_videos()
    params = {"walk_length": 10, "walks_per_node": 3, "dim": 8, "workers": 1, "seed": 4}

    first = TagGraphEmbedder(**params).fit(videos).embedding_.vectors_
    assert np.array_equal(first, TagGraphEmbedder(**params).fit(videos).embedding_.vectors_)


def test_video_vectors_average_known_tags() -> None:
    embedding = TagEmbedding(vocabulary=["a", "b", "c"], vectors=np.array([[1, 0], [0, 2], [4, 4]]))

    vectors, has_tags = embedding.video_vectors([["a", "b", "a", "unknown"], ["unknown"], None, [], ["c"]])

    assert vectors.dtype == np.float32 and vectors.shape == (5, 2)
    assert np.allclose(vectors, [[0.5, 1.0], [0, 0], [0, 0], [0, 0], [4, 4]])
    assert has_tags.tolist() == [True, False, False, False, True]


def test_transform_matches_video_vectors_and_needs_fit() -> None:
    videos, _, _ = clique_videos()
    model = TagGraphEmbedder(walk_length=5, walks_per_node=2, dim=4, workers=1)
    with pytest.raises(MtlError, match="not fitted"):
        model.transform(videos)

    fitted = model.fit_transform(videos)
    assert fitted.shape == (len(videos), 4) and fitted.dtype == np.float32
    out = model.transform([videos[0], ["never-seen"]])
    assert np.array_equal(out, model.embedding_.video_vectors([videos[0], ["never-seen"]])[0])
    assert out[0].any() and not out[1].any()
    assert model.vocabulary_ == model.graph_.vocabulary == model.embedding_.vocabulary_


def test_fit_without_any_tag_is_a_data_error() -> None:
    with pytest.raises(DataError, match="nothing to embed"):
        TagGraphEmbedder().fit([[], None])


def test_embedder_parameters_and_settings() -> None:
    from sklearn.base import clone

    model = TagGraphEmbedder(dim=8, seed=3)
    assert clone(model).get_params() == model.get_params()
    assert model.set_params(window=2).window == 2
    with pytest.raises(ValueError, match="no parameter"):
        model.set_params(size=3)

    learning = load_settings(
        learning={"walk_length": 7, "walks_per_node": 2, "tag_embedding_dim": 12}
    ).learning
    configured = TagGraphEmbedder.from_settings(learning, workers=1)
    assert (configured.walk_length, configured.walks_per_node, configured.dim) == (7, 2, 12)
    assert (configured.seed, configured.workers) == (learning.seed, 1)
    assert TagGraphEmbedder.from_settings().walk_length == get_settings().learning.walk_length


# ------------------------------------------------------------------------------------------------
# Persistence
# ------------------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(5)
    original = TagEmbedding(
        vocabulary=["music", "音乐", "cats & dogs"],
        vectors=rng.standard_normal((3, 6)),
        params={"dim": 6, "seed": 5},
    )

    loaded = TagEmbedding.load(original.save(tmp_path / "tags"))

    assert loaded.vocabulary_ == original.vocabulary_
    assert loaded.index_ == original.index_
    assert loaded.params_ == original.params_
    assert loaded.vectors_.dtype == np.float32 and np.array_equal(loaded.vectors_, original.vectors_)
    assert not list((tmp_path / "tags").glob("*.pkl"))


def test_load_reports_missing_or_mismatched_files(tmp_path) -> None:
    with pytest.raises(DataError, match="not found"):
        TagEmbedding.load(tmp_path)

    directory = TagEmbedding(vocabulary=["a", "b"], vectors=np.ones((2, 3))).save(tmp_path / "e")
    meta = json.loads((directory / META_FILE).read_text())
    meta["vocabulary"].append("c")
    (directory / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(DataError, match="one vector per tag"):
        TagEmbedding.load(directory)
