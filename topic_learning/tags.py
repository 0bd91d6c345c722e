"""Tag representations by graph embedding (paper section III-A 2).

Tags become nodes of a co-occurrence graph whose edge weight is the number of videos carrying both
tags; edges of weight 0 are absent. Weighted DeepWalk walks of length ``l`` step to a neighbour with
probability proportional to the edge weight (Eq. 3 conditioned on the current node), skip-gram
(gensim ``Word2Vec``, ``sg=1``) turns the walks into one vector per tag, and a video is represented
by the mean vector of its tags (Eq. 4).

The pipeline, each step usable on its own::

    graph = build_tag_graph(tag_lists)                        # TagGraph: vocabulary, CSR weights
    walks = random_walks(graph.adjacency, walk_length=100, walks_per_node=10, seed=0)
    embedding = train_skipgram(walks, vocabulary=graph.vocabulary, dim=64, seed=0)
    vectors, has_tags = embedding.video_vectors(tag_lists)   # Eq. 4

or all at once with :class:`TagGraphEmbedder`. A tag that never shares a video with another tag
(an isolated node) has no neighbour to walk to: its walks stay on it and give skip-gram no context,
so its vector is gensim's seeded random initial vector; that keeps it distinct from every other
tag instead of inventing similarities.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from mtl.errors import DataError, MtlError
from mtl.settings import LearningSettings

logger = logging.getLogger(__name__)

VECTORS_FILE = "tag_embedding.safetensors"
META_FILE = "tag_embedding.json"
FORMAT = "mtl-topics/tag-embedding"
FORMAT_VERSION = 1

TagLists = Iterable[Iterable[str] | None]


def iter_tag_sets(tag_lists: TagLists) -> Iterator[list[str]]:
    """Each video's distinct tags in first-seen order; ``None`` stands for a video without tags.

    Tags are used verbatim (no case folding or trimming): cleaning belongs to the data loaders.

    Parameters
    ----------
    tag_lists : iterable of iterables of str or None
        One entry per video, e.g. lists or numpy string arrays.

    Yields
    ------
    list of str

    Raises
    ------
    DataError
        If an entry is a bare string (which would iterate as characters) or holds a non-string tag.
    """
    for position, tags in enumerate(tag_lists):
        if tags is None:
            yield []
            continue
        if isinstance(tags, str | bytes):
            raise DataError(f"video {position}: tags must be a list of strings, not the string {tags!r:.40}")
        try:
            unique = list(dict.fromkeys(tags))
        except TypeError:
            raise DataError(f"video {position}: tags must be a list of strings, not {tags!r:.40}") from None
        for tag in unique:
            if not isinstance(tag, str):
                raise DataError(f"video {position}: tag {tag!r:.40} is a {type(tag).__name__}, not a string")
        yield unique


# --------------------------------------------------------------------------------------------------
# Co-occurrence graph
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagGraph:
    """The tag co-occurrence graph.

    Attributes
    ----------
    vocabulary : list of str
        Node ``i`` is tag ``vocabulary[i]``; ordered by document frequency (descending), then name.
    document_frequency : ndarray of int64, shape (T,)
        Number of videos carrying each tag.
    adjacency : scipy.sparse.csr_array of int64, shape (T, T)
        Number of videos carrying both tags; symmetric, no self loops, no stored zeros, sorted
        column indices.
    n_videos : int
        Videos read, including those without tags.
    """

    vocabulary: list[str]
    document_frequency: np.ndarray
    adjacency: sp.csr_array
    n_videos: int

    @property
    def n_tags(self) -> int:
        return len(self.vocabulary)

    @property
    def n_edges(self) -> int:
        """Undirected edges (each stored twice in ``adjacency``)."""
        return self.adjacency.nnz // 2

    def isolated(self) -> np.ndarray:
        """Boolean mask of tags that never share a video with another tag."""
        return np.diff(self.adjacency.indptr) == 0


def build_tag_graph(tag_lists: TagLists) -> TagGraph:
    """Count, for every pair of tags, the videos that carry both.

    A video counts once per pair even if it repeats a tag. Pairs are generated per group of videos
    with the same number of distinct tags, as one ``(videos, k)`` index block times the ``k(k-1)/2``
    upper-triangle positions, so no Python loop runs over pairs.

    Parameters
    ----------
    tag_lists : iterable of iterables of str or None
        One entry per video.

    Returns
    -------
    TagGraph
    """
    first_seen: dict[str, int] = {}
    codes: list[int] = []
    lengths: list[int] = []
    for tags in iter_tag_sets(tag_lists):
        codes.extend(first_seen.setdefault(tag, len(first_seen)) for tag in tags)
        lengths.append(len(tags))
    n_tags = len(first_seen)
    names = [str(tag) for tag in first_seen]  # numpy str_ keys become plain str
    codes_arr = np.asarray(codes, dtype=np.int64)
    lengths_arr = np.asarray(lengths, dtype=np.int64)

    # A deterministic vocabulary that does not depend on video order: frequent tags first.
    seen_df = np.bincount(codes_arr, minlength=n_tags)
    order = sorted(range(n_tags), key=lambda i: (-int(seen_df[i]), names[i]))
    rank = np.empty(n_tags, dtype=np.int64)
    rank[order] = np.arange(n_tags)
    codes_arr = rank[codes_arr]

    starts = np.concatenate([[0], np.cumsum(lengths_arr)[:-1]]) if len(lengths_arr) else lengths_arr
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for k in np.unique(lengths_arr[lengths_arr >= 2]):
        block = codes_arr[starts[lengths_arr == k][:, None] + np.arange(k)]
        upper_i, upper_j = np.triu_indices(int(k), 1)
        rows.append(block[:, upper_i].ravel())
        cols.append(block[:, upper_j].ravel())
    pair_a = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    pair_b = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    # Both directions at once: the COO -> CSR conversion sums the duplicates into counts.
    adjacency = sp.coo_array(
        (
            np.ones(2 * len(pair_a), dtype=np.int64),
            (np.concatenate([pair_a, pair_b]), np.concatenate([pair_b, pair_a])),
        ),
        shape=(n_tags, n_tags),
    ).tocsr()
    adjacency.sum_duplicates()
    adjacency.sort_indices()
    return TagGraph(
        vocabulary=[names[i] for i in order],
        document_frequency=seen_df[order].astype(np.int64),
        adjacency=adjacency,
        n_videos=len(lengths),
    )


# --------------------------------------------------------------------------------------------------
# Weighted DeepWalk
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AliasSampler:
    """Walker alias tables for every row of a weighted graph: an O(1) weighted neighbour draw.

    Slot ``start[v] + k`` (``k < degree[v]``) of node ``v`` keeps its own neighbour ``neighbor`` with
    probability ``keep`` and otherwise yields ``alias_neighbor``, so one uniform per step picks a
    neighbour with probability proportional to the edge weight. A node without edges gets a self
    loop: a walk that reaches it (it can only start there) stays there.

    Use :meth:`from_adjacency` to build one.
    """

    start: np.ndarray  # int64 (N,): first slot of each node
    degree: np.ndarray  # int64 (N,): slots of each node (>= 1)
    keep: np.ndarray  # float64 (S,): probability of keeping the slot's own neighbour
    neighbor: np.ndarray  # int32 (S,)
    alias_neighbor: np.ndarray  # int32 (S,)

    @classmethod
    def from_adjacency(cls, adjacency: sp.sparray | sp.spmatrix) -> AliasSampler:
        """Build the tables from a square sparse matrix of nonnegative edge weights.

        Parameters
        ----------
        adjacency : scipy sparse matrix or array, shape (N, N)
            Row ``v`` holds the weights of the edges leaving ``v``; explicit zeros are dropped.

        Returns
        -------
        AliasSampler
        """
        matrix = sp.csr_array(adjacency, dtype=np.float64, copy=True)
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"adjacency must be square, not {matrix.shape}")
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        if matrix.nnz and not (np.isfinite(matrix.data).all() and (matrix.data > 0).all()):
            raise ValueError("adjacency weights must be finite and nonnegative")
        lonely = np.diff(matrix.indptr) == 0
        if lonely.any():
            matrix = (matrix + sp.diags_array(lonely.astype(np.float64))).tocsr()
        matrix.sort_indices()
        keep, alias = _alias_tables(matrix.indptr.astype(np.int64), matrix.data)
        neighbor = matrix.indices.astype(np.int32)
        return cls(
            start=matrix.indptr[:-1].astype(np.int64),
            degree=np.diff(matrix.indptr).astype(np.int64),
            keep=keep,
            neighbor=neighbor,
            alias_neighbor=neighbor[alias],
        )

    @property
    def n_nodes(self) -> int:
        return len(self.start)

    def step(self, current: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One weighted step from every node in ``current`` (int array); returns int32 next nodes."""
        degree = self.degree[current]
        scaled = rng.random(len(current))
        scaled *= degree
        slot = scaled.astype(np.int64)
        # The fractional part is a second uniform, independent of the slot: one draw per step.
        scaled -= slot
        np.minimum(slot, degree - 1, out=slot)  # u * degree can round up to degree
        slot += self.start[current]
        return np.where(scaled < self.keep[slot], self.neighbor[slot], self.alias_neighbor[slot])

    def transition_probabilities(self) -> sp.csr_array:
        """The distribution the tables encode, as a row-stochastic matrix (for checks)."""
        row = np.repeat(np.arange(self.n_nodes), self.degree)
        share = 1.0 / self.degree[row]
        own = sp.coo_array((self.keep * share, (row, self.neighbor)), shape=(self.n_nodes,) * 2)
        other = sp.coo_array(((1.0 - self.keep) * share, (row, self.alias_neighbor)), shape=own.shape)
        return (own + other).tocsr()


def _alias_tables(indptr: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alias tables of all rows at once, by the sweep construction expressed with prefix sums.

    Within a row, scaled weights ``q = w * degree / sum(w)`` average 1. Light slots (``q < 1``)
    are topped up, in order, by heavy slots in order: the heavy slot serving a light one is the first
    whose cumulative excess reaches the cumulative deficit before it, and a heavy slot turns light
    (and is topped up by the next heavy slot) at the first light slot whose cumulative deficit passes
    its cumulative excess. Both searches read the same prefix sums, so their decisions agree even
    where rounding breaks exact ties (integer weights make ties common). Rows are kept apart by
    searching complex keys ``row + 1j * prefix``, which numpy orders lexicographically.

    Returns
    -------
    keep : ndarray of float64, shape (S,)
    alias : ndarray of int64, shape (S,)
        Slot index (within the same row) taken when the slot's own entry is not kept.
    """
    n_rows = len(indptr) - 1
    degree = np.diff(indptr)
    row = np.repeat(np.arange(n_rows), degree)
    row_sum = np.bincount(row, weights=weights, minlength=n_rows)
    q = weights * degree[row] / row_sum[row]
    keep = np.ones(len(weights))
    alias = np.arange(len(weights))
    light = np.flatnonzero(q < 1.0)
    heavy = np.flatnonzero(q >= 1.0)
    if len(light) == 0:
        return keep, alias
    light_row, heavy_row = row[light], row[heavy]
    deficit_through = _row_prefix_sum(1.0 - q[light], light_row)
    deficit_before = np.concatenate([[0.0], deficit_through[:-1]])
    deficit_before[np.r_[True, light_row[1:] != light_row[:-1]]] = 0.0
    excess_through = _row_prefix_sum(q[heavy] - 1.0, heavy_row)

    n_heavy = np.bincount(heavy_row, minlength=n_rows)
    last_heavy = np.cumsum(n_heavy) - 1
    served = n_heavy[light_row] > 0  # rounding can leave a row of q ~ 1 without a heavy slot
    donor = np.searchsorted(heavy_row + 1j * excess_through, light_row + 1j * deficit_before, side="left")
    donor = np.minimum(donor, last_heavy[light_row])
    keep[light[served]] = q[light[served]]
    alias[light[served]] = heavy[donor[served]]

    turn = np.searchsorted(light_row + 1j * deficit_through, heavy_row + 1j * excess_through, side="right")
    turn_at = np.minimum(turn, len(light) - 1)
    # The last heavy slot of a row can only "turn" through rounding; it keeps everything.
    has_successor = np.r_[heavy_row[1:] == heavy_row[:-1], False]
    turns = (turn < len(light)) & (light_row[turn_at] == heavy_row) & has_successor
    keep[heavy[turns]] = np.clip(1.0 + excess_through[turns] - deficit_through[turn_at[turns]], 0.0, 1.0)
    alias[heavy[turns]] = heavy[np.flatnonzero(turns) + 1]
    return keep, alias


def _row_prefix_sum(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Inclusive prefix sums restarting at every new value of the (sorted) ``rows``."""
    total = np.cumsum(values)
    first = np.searchsorted(rows, rows, side="left")
    return total - (total[first] - values[first])


def random_walks(
    adjacency: sp.sparray | sp.spmatrix,
    *,
    walk_length: int,
    walks_per_node: int,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Weighted DeepWalk sequences, all walks advanced together one step at a time.

    Every node starts ``walks_per_node`` walks, one per pass, each pass in a fresh random order
    (as DeepWalk shuffles). Isolated nodes stay where they are (see :class:`AliasSampler`).

    Parameters
    ----------
    adjacency : scipy sparse matrix or array, shape (N, N)
        Nonnegative edge weights, e.g. ``TagGraph.adjacency``.
    walk_length : int
        ``l``, nodes per walk including the start.
    walks_per_node : int
        Walks started from every node.
    seed : int or numpy.random.Generator
        The same seed and graph give the same walks.

    Returns
    -------
    ndarray of int32, shape (N * walks_per_node, walk_length)
    """
    if walk_length < 1 or walks_per_node < 1:
        raise ValueError(f"walk_length and walks_per_node must be >= 1, not {walk_length}, {walks_per_node}")
    sampler = AliasSampler.from_adjacency(adjacency)
    rng = np.random.default_rng(seed)
    n_nodes = sampler.n_nodes
    # Step-major buffer: each step writes one contiguous row; transposed once at the end.
    steps = np.empty((walk_length, n_nodes * walks_per_node), dtype=np.int32)
    steps[0] = np.concatenate([rng.permutation(n_nodes) for _ in range(walks_per_node)])
    for t in range(1, walk_length):
        steps[t] = sampler.step(steps[t - 1], rng)
    return np.ascontiguousarray(steps.T)


# --------------------------------------------------------------------------------------------------
# Tag embedding
# --------------------------------------------------------------------------------------------------


class TagEmbedding:
    """The tag embedding list ``{t_1: e_1, ..., t_T: e_T}`` and the video representation of Eq. 4.

    Parameters
    ----------
    vocabulary : sequence of str
        Distinct tags; row ``i`` of ``vectors`` belongs to ``vocabulary[i]``.
    vectors : array-like of shape (T, d)
        Tag vectors, stored as float32.
    params : mapping, optional
        How the vectors were made (JSON-serialisable); saved alongside them.

    Attributes
    ----------
    vocabulary_ : list of str
    vectors_ : ndarray of float32, shape (T, d)
    index_ : dict of str to int
    params_ : dict
    """

    def __init__(
        self, *, vocabulary: Sequence[str], vectors: np.ndarray, params: Mapping[str, Any] | None = None
    ) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(vocabulary):
            raise DataError(
                f"tag embedding needs one vector per tag: {len(vocabulary)} tags, vectors of shape "
                f"{vectors.shape}"
            )
        self.vocabulary_ = [str(tag) for tag in vocabulary]
        self.index_ = {tag: i for i, tag in enumerate(self.vocabulary_)}
        if len(self.index_) != len(self.vocabulary_):
            raise DataError("tag embedding vocabulary has duplicate tags")
        self.vectors_ = vectors
        self.params_ = dict(params or {})

    @property
    def dim(self) -> int:
        return self.vectors_.shape[1]

    def __len__(self) -> int:
        return len(self.vocabulary_)

    def __repr__(self) -> str:
        return f"TagEmbedding(tags={len(self)}, dim={self.dim})"

    def video_vectors(self, tag_lists: TagLists) -> tuple[np.ndarray, np.ndarray]:
        """Mean vector of each video's known tags (Eq. 4); unknown tags are skipped.

        Parameters
        ----------
        tag_lists : iterable of iterables of str or None
            One entry per video; a repeated tag counts once.

        Returns
        -------
        vectors : ndarray of float32, shape (n, d)
            A video without any known tag gets a zero row.
        has_tags : ndarray of bool, shape (n,)
            Whether the video had at least one known tag.
        """
        rows: list[int] = []
        cols: list[int] = []
        n_videos = 0
        for n_videos, tags in enumerate(iter_tag_sets(tag_lists), start=1):
            known = [i for i in (self.index_.get(tag) for tag in tags) if i is not None]
            rows.extend([n_videos - 1] * len(known))
            cols.extend(known)
        counts = np.bincount(np.asarray(rows, dtype=np.int64), minlength=n_videos)
        membership = sp.csr_array(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_videos, len(self))
        )
        has_tags = counts > 0
        sums = np.asarray(membership @ self.vectors_, dtype=np.float32).reshape(n_videos, self.dim)
        sums[has_tags] /= counts[has_tags, None].astype(np.float32)
        return sums, has_tags

    def save(self, directory: str | Path) -> Path:
        """Write ``tag_embedding.safetensors`` (vectors) and ``tag_embedding.json`` (tags, params).

        Returns
        -------
        Path
            The directory, created if needed.
        """
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"vectors": self.vectors_}, str(directory / VECTORS_FILE))
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "dim": self.dim,
            "vocabulary": self.vocabulary_,
            "params": self.params_,
        }
        # The JSON is written last, so a directory with it holds a complete embedding.
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TagEmbedding:
        """Read an embedding written by :meth:`save`.

        Raises
        ------
        DataError
            If a file is missing or the two files do not belong together.
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        directory = Path(directory)
        meta_path, vectors_path = directory / META_FILE, directory / VECTORS_FILE
        for path in (meta_path, vectors_path):
            if not path.is_file():
                raise DataError(f"tag embedding file not found: {path}")
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"tag embedding file {meta_path} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DataError(f"{meta_path} is not a tag embedding ({FORMAT})")
        if meta.get("version") != FORMAT_VERSION:
            found = meta.get("version")
            raise DataError(f"{meta_path} has format version {found}; this code reads {FORMAT_VERSION}")
        try:
            tensors = load_file(str(vectors_path))
        except (SafetensorError, OSError) as exc:
            raise DataError(f"tag embedding file {vectors_path} cannot be read: {exc}") from None
        if "vectors" not in tensors:
            raise DataError(f"tag embedding file {vectors_path} has no 'vectors' tensor")
        try:
            return cls(vocabulary=meta["vocabulary"], vectors=tensors["vectors"], params=meta.get("params"))
        except DataError as exc:
            raise DataError(f"{directory}: {exc}") from None


def train_skipgram(
    walks: np.ndarray,
    *,
    vocabulary: Sequence[str],
    dim: int = 64,
    window: int = 5,
    epochs: int = 5,
    workers: int = 2,
    seed: int = 0,
) -> TagEmbedding:
    """Skip-gram (gensim ``Word2Vec``, ``sg=1``, negative sampling) over DeepWalk sequences.

    A walk that never moves (an isolated node) becomes a one-token sentence: the tag enters the
    vocabulary but is given no made-up context.

    Parameters
    ----------
    walks : ndarray of int, shape (n_walks, walk_length)
        Node indices into ``vocabulary``, e.g. from :func:`random_walks`.
    vocabulary : sequence of str
        Tag of every node.
    dim : int
        Vector size.
    window : int
        Skip-gram context window.
    epochs : int
        Passes over the walks.
    workers : int
        Training threads; only ``workers=1`` gives bit-identical vectors for a seed.
    seed : int
        Word2Vec seed (initial vectors and sampling).

    Returns
    -------
    TagEmbedding
        Rows in ``vocabulary`` order.
    """
    from gensim.models import Word2Vec

    walks = np.asarray(walks)
    if walks.ndim != 2 or walks.size == 0:
        raise DataError(f"skip-gram needs a non-empty 2-D array of walks, not shape {walks.shape}")
    if walks.min() < 0 or walks.max() >= len(vocabulary):
        raise DataError(f"walks name nodes outside the vocabulary of {len(vocabulary)} tags")
    # Node numbers as tokens: one str object per node, shared by every sentence.
    tokens = np.array([str(i) for i in range(len(vocabulary))], dtype=object)
    sentences = tokens[walks].tolist()
    for i in np.flatnonzero((walks == walks[:, :1]).all(axis=1)):
        sentences[i] = sentences[i][:1]
    model = Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=window,
        min_count=1,
        sg=1,
        workers=workers,
        seed=seed,
        epochs=epochs,
    )
    present = np.unique(walks)
    vectors = np.zeros((len(vocabulary), dim), dtype=np.float32)
    vectors[present] = model.wv.vectors[[model.wv.key_to_index[tokens[i]] for i in present]]
    if len(present) < len(vocabulary):
        logger.warning("%d tags appear in no walk and get zero vectors", len(vocabulary) - len(present))
    return TagEmbedding(
        vocabulary=vocabulary,
        vectors=vectors,
        params={"dim": dim, "window": window, "epochs": epochs, "seed": seed, "sg": 1},
    )


# --------------------------------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------------------------------


class TagGraphEmbedder:
    """Graph embedding of tags as an sklearn-style estimator: co-occurrence graph, DeepWalk, skip-gram.

    Parameters
    ----------
    walk_length : int
        ``l``, tags per walk.
    walks_per_node : int
        Walks started from every tag.
    dim : int
        Tag vector size.
    window : int
        Skip-gram context window.
    epochs : int
        Skip-gram passes over the walks.
    workers : int
        Skip-gram threads; ``workers=1`` makes the vectors reproducible bit for bit (walks always are).
    seed : int
        Seed of the walks and of skip-gram.

    Attributes
    ----------
    graph_ : TagGraph
        The co-occurrence graph of the training videos.
    vocabulary_ : list of str
        Tags, in graph node order.
    embedding_ : TagEmbedding
        One vector per tag of ``vocabulary_``.
    """

    def __init__(
        self,
        *,
        walk_length: int = 100,
        walks_per_node: int = 10,
        dim: int = 64,
        window: int = 5,
        epochs: int = 5,
        workers: int = 2,
        seed: int = 0,
    ) -> None:
        self.walk_length = walk_length
        self.walks_per_node = walks_per_node
        self.dim = dim
        self.window = window
        self.epochs = epochs
        self.workers = workers
        self.seed = seed

    @classmethod
    def from_settings(cls, learning: LearningSettings | None = None, **overrides: Any) -> TagGraphEmbedder:
        """An embedder with ``l``, walks per node, skip-gram parameters and seed from ``settings.learning``.

        Parameters
        ----------
        learning : LearningSettings, optional
            Defaults to ``get_settings().learning``.
        **overrides
            Constructor parameters that win over the settings (e.g. ``workers=1``).
        """
        if learning is None:
            from mtl.settings import get_settings

            learning = get_settings().learning
        params: dict[str, Any] = {
            "walk_length": learning.walk_length,
            "walks_per_node": learning.walks_per_node,
            "dim": learning.tag_embedding_dim,
            "window": learning.skipgram_window,
            "epochs": learning.skipgram_epochs,
            "workers": learning.skipgram_workers,
            "seed": learning.seed,
        }
        params.update(overrides)
        return cls(**params)

    _PARAMS = ("walk_length", "walks_per_node", "dim", "window", "epochs", "workers", "seed")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters, as ``sklearn.base.clone`` expects."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params: Any) -> TagGraphEmbedder:
        """Change constructor parameters; unknown names raise ``ValueError``."""
        for name, value in params.items():
            if name not in self._PARAMS:
                raise ValueError(f"TagGraphEmbedder has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"TagGraphEmbedder({args})"

    def fit(self, tag_lists: TagLists, y: None = None) -> TagGraphEmbedder:
        """Learn tag vectors from the tags of a corpus of videos.

        Parameters
        ----------
        tag_lists : iterable of iterables of str or None
            Tags of each training video.
        y : None
            Ignored.

        Returns
        -------
        TagGraphEmbedder
            ``self``.

        Raises
        ------
        DataError
            If no video carries a tag.
        """
        graph = build_tag_graph(tag_lists)
        if graph.n_tags == 0:
            raise DataError(f"none of the {graph.n_videos} videos carries a tag; there is nothing to embed")
        logger.info(
            "tag graph: %d tags, %d edges, %d isolated, from %d videos",
            graph.n_tags,
            graph.n_edges,
            int(graph.isolated().sum()),
            graph.n_videos,
        )
        walks = random_walks(
            graph.adjacency, walk_length=self.walk_length, walks_per_node=self.walks_per_node, seed=self.seed
        )
        embedding = train_skipgram(
            walks,
            vocabulary=graph.vocabulary,
            dim=self.dim,
            window=self.window,
            epochs=self.epochs,
            workers=self.workers,
            seed=self.seed,
        )
        embedding.params_.update(self.get_params(), n_videos=graph.n_videos, n_edges=graph.n_edges)
        self.graph_ = graph
        self.vocabulary_ = graph.vocabulary
        self.embedding_ = embedding
        return self

    def transform(self, tag_lists: TagLists) -> np.ndarray:
        """Eq. 4 tag representation of each video; zero rows where no tag is known.

        Use ``embedding_.video_vectors`` to also get the mask of videos with a known tag.

        Returns
        -------
        ndarray of float32, shape (n, dim)
        """
        if not hasattr(self, "embedding_"):
            raise MtlError("TagGraphEmbedder is not fitted yet; call fit() first")
        return self.embedding_.video_vectors(tag_lists)[0]

    def fit_transform(self, tag_lists: TagLists, y: None = None) -> np.ndarray:
        """``fit(tag_lists).transform(tag_lists)``."""
        return self.fit(tag_lists).transform(tag_lists)
