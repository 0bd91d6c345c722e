"""One feature definition for ranker training and serving.

A ranker row is one (user, candidate video) pair at an instant. Its raw columns are the ones Feast's
point-in-time join returns (:func:`mtl.features.history.training_data`, feature service ``ranker``):

- ``video_topics``: ``topic_ids`` (8 slots, -1 padded), ``topic_scores``, ``n_topics``;
- ``video_stats``: ``exposures``, ``clicks``, smoothed ``ctr``;
- ``user_topic_profile``: ``top_topics`` (N2 slots, -1 padded), ``recent_clicks`` (a count);

plus ``user_id``, ``video_id`` and ``recent_click_ids``, the user's last N1 clicked video IDs before the
row's time (oldest first), which Feast does not hold: :func:`attach_click_history` adds it from a click
log, and at serving time the caller passes the user's click list (Redis ``<stream.user_prefix>:<user>``).
:func:`build_rows` computes all of these columns directly from canonical Interactions and a
``video_topics`` table, point in time, for corpora that never went through Feast.

:class:`FeatureEncoder` is fitted on training rows (plus the video catalogue for classes and, optionally,
cover embeddings) and maps rows — a Feast frame, a :func:`build_rows` frame, or a
:class:`~mtl.features.fetch.CandidateFeatures` with a user — to :class:`EncodedRows`, the model inputs.
Both paths go through the same :class:`RawColumns`, so the same data encodes to the same arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mtl.errors import DataError

if TYPE_CHECKING:
    from mtl.features.fetch import CandidateFeatures

PAD = 0
"""Index of an empty slot of a multi-valued feature; masked out of every mean."""
OOV = 1
"""Index of an ID not seen in training."""
FIRST_ID = 2

DENSE_BASE = ("log_exposures", "log_clicks", "ctr", "stats_found", "log_recent_clicks")
DENSE_TOPIC = ("topic_fill", "topic_score_mean", "topic_overlap")


@dataclass(frozen=True)
class FeatureSpec:
    """What the encoder produces.

    Parameters
    ----------
    use_topics
        Add the topic features: the candidate's topic IDs (multi-valued), the user's top topics
        (multi-valued) and three dense topic features (slots filled, mean topic score, share of the
        user's top topics the candidate has). Everything else is identical with and without.
    history_clicks
        N1: at most this many of the user's most recent clicks feed the history mean embedding.
    topic_slots
        Width of the video topic-ID feature (``learning.topic_slots``).
    user_topic_slots
        N2: width of the user's top-topics feature (``ranker.top_topics``).
    image_dim
        Width of a dense cover embedding (Baseline+CNN); 0 for none.
    min_count
        IDs seen fewer times than this in the training rows map to the OOV index.
    """

    use_topics: bool = True
    history_clicks: int = 128
    topic_slots: int = 8
    user_topic_slots: int = 4
    image_dim: int = 0
    min_count: int = 1

    @property
    def dense_names(self) -> tuple[str, ...]:
        return DENSE_BASE + (DENSE_TOPIC if self.use_topics else ())


@dataclass
class RawColumns:
    """Raw (not yet indexed) feature values of n rows; the meeting point of both input paths."""

    user_id: np.ndarray  # [n] int64
    video_id: np.ndarray  # [n] int64
    history: np.ndarray  # [n, w] int64 video IDs, -1 padded (left), oldest first
    topic_ids: np.ndarray  # [n, topic_slots] int64, -1 padded
    topic_scores: np.ndarray  # [n, topic_slots] float32
    user_top_topics: np.ndarray  # [n, user_topic_slots] int64, -1 padded
    exposures: np.ndarray  # [n] float64
    clicks: np.ndarray  # [n] float64
    ctr: np.ndarray  # [n] float64
    stats_found: np.ndarray  # [n] bool
    recent_clicks: np.ndarray  # [n] float64, the user's click count (capped at N1)


@dataclass
class EncodedRows:
    """Model inputs of n rows (numpy); index 0 = padding, 1 = OOV in every ID array."""

    user: np.ndarray  # [n] int64
    video: np.ndarray  # [n] int64
    primary: np.ndarray  # [n] int64
    secondary: np.ndarray  # [n] int64
    history: np.ndarray  # [n, w] int32 video indices
    dense: np.ndarray  # [n, d] float32, standardised
    topics: np.ndarray | None = None  # [n, topic_slots] int64 topic indices
    user_topics: np.ndarray | None = None  # [n, user_topic_slots] int64 topic indices
    image: np.ndarray | None = None  # [n, image_dim] float32

    def __len__(self) -> int:
        return len(self.user)

    def take(self, index: np.ndarray | slice) -> EncodedRows:
        """Rows ``index`` of every array."""
        return EncodedRows(
            **{f.name: None if (v := getattr(self, f.name)) is None else v[index] for f in fields(self)}
        )

    def tensors(self) -> dict[str, Any]:
        """The arrays as torch tensors (no copy where possible), keyed by field name."""
        import torch

        return {
            f.name: torch.from_numpy(np.ascontiguousarray(v))
            for f in fields(self)
            if (v := getattr(self, f.name)) is not None
        }


class IdVocabulary:
    """Integer IDs to indices ``FIRST_ID..``; unknown IDs to :data:`OOV`, -1 to :data:`PAD`.

    Indices of known IDs never change when the vocabulary grows, so a model's embedding rows stay valid.
    """

    def __init__(self, ids: np.ndarray | None = None) -> None:
        self.ids_ = np.zeros(0, dtype=np.int64)  # in index order
        self._sorted = np.zeros(0, dtype=np.int64)
        self._order = np.zeros(0, dtype=np.int64)
        if ids is not None:
            self.extend(ids)

    def __len__(self) -> int:
        """Rows an embedding table needs (padding and OOV included)."""
        return FIRST_ID + len(self.ids_)

    def extend(self, ids: np.ndarray) -> int:
        """Add unseen IDs (>= 0) in order of first appearance; returns how many were new."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        ids = ids[ids >= 0]
        uniq, first = np.unique(ids, return_index=True)
        new = uniq[~np.isin(uniq, self.ids_)]
        if not new.size:
            return 0
        new = new[np.argsort(first[np.searchsorted(uniq, new)], kind="stable")]
        self.ids_ = np.concatenate([self.ids_, new])
        self._order = np.argsort(self.ids_, kind="stable")
        self._sorted = self.ids_[self._order]
        return int(new.size)

    def index(self, ids: np.ndarray) -> np.ndarray:
        """Indices of ``ids`` (any shape)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim == 2 and ids.shape[0] > 1 and ids.strides[0] == 0:
            # One request's user features broadcast to every candidate: look them up once.
            return np.broadcast_to(self.index(ids[:1]), ids.shape)
        out = np.full(ids.shape, OOV, dtype=np.int64)
        if self._sorted.size:
            pos = np.clip(np.searchsorted(self._sorted, ids), 0, self._sorted.size - 1)
            hit = self._sorted[pos] == ids
            out[hit] = self._order[pos[hit]] + FIRST_ID
        out[ids < 0] = PAD
        return out


def _frequent(values: np.ndarray, min_count: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64).ravel()
    values = values[values >= 0]
    if min_count <= 1:
        return values
    uniq, counts = np.unique(values, return_counts=True)
    return values[np.isin(values, uniq[counts >= min_count])]


def _list_column(series: pd.Series | None, n: int, width: int, fill, dtype) -> np.ndarray:
    """A column of lists (None/NaN for missing) as a padded [n, width] array."""
    out = np.full((n, width), fill, dtype=dtype)
    if series is None:
        return out
    for i, value in enumerate(series.to_numpy()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        vals = np.asarray(value, dtype=dtype)[:width]
        out[i, : vals.size] = vals
    return out


def _history_array(series: pd.Series | None, n: int, width: int) -> np.ndarray:
    """Lists of recent click IDs (oldest first) as [n, w] keeping the newest ``width``, padded left."""
    if series is None:
        return np.full((n, 0), -1, dtype=np.int64)
    lists = [
        np.asarray([] if v is None or (isinstance(v, float) and np.isnan(v)) else v, dtype=np.int64)[-width:]
        for v in series.to_numpy()
    ]
    w = max((len(v) for v in lists), default=0)
    out = np.full((n, w), -1, dtype=np.int64)
    for i, v in enumerate(lists):
        if v.size:
            out[i, w - v.size :] = v
    return out


def raw_from_frame(rows: pd.DataFrame, spec: FeatureSpec) -> RawColumns:
    """Raw columns of a Feast ``training_data`` frame or a :func:`build_rows` frame.

    Missing feature values (NaN / None, as a point-in-time join gives them) take the same defaults as
    the online fetch: -1 topic slots, 0 scores and counts, CTR 0 and found = False.
    """
    missing = [c for c in ("user_id", "video_id") if c not in rows.columns]
    if missing:
        raise DataError(f"ranker rows: missing column(s) {', '.join(missing)}")
    n = len(rows)

    def numeric(name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in rows.columns:
            return np.zeros(n), np.zeros(n, dtype=bool)
        col = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        found = ~np.isnan(col)
        return np.where(found, col, 0.0), found

    exposures, found = numeric("exposures")
    clicks, _ = numeric("clicks")
    ctr, _ = numeric("ctr")
    recent, _ = numeric("recent_clicks")
    history = _history_array(rows.get("recent_click_ids"), n, spec.history_clicks)
    if "recent_clicks" not in rows.columns and "recent_click_ids" in rows.columns:
        recent = (history >= 0).sum(axis=1).astype(np.float64)
    return RawColumns(
        user_id=rows["user_id"].to_numpy(dtype=np.int64),
        video_id=rows["video_id"].to_numpy(dtype=np.int64),
        history=history,
        topic_ids=_list_column(rows.get("topic_ids"), n, spec.topic_slots, -1, np.int64),
        topic_scores=_list_column(rows.get("topic_scores"), n, spec.topic_slots, 0.0, np.float32),
        user_top_topics=_list_column(rows.get("top_topics"), n, spec.user_topic_slots, -1, np.int64),
        exposures=exposures,
        clicks=clicks,
        ctr=ctr,
        stats_found=found,
        recent_clicks=recent,
    )


def _fit_width(a: np.ndarray, width: int, fill) -> np.ndarray:
    if a.shape[1] >= width:
        return a[:, :width]
    return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)


def raw_from_candidates(
    *, user_id: int, recent_clicks: list[int] | np.ndarray, features: CandidateFeatures, spec: FeatureSpec
) -> RawColumns:
    """Raw columns of the candidates of one request: the online fetch plus the user's click list."""
    n = len(features.video_ids)
    history = np.asarray(list(recent_clicks), dtype=np.int64)[-spec.history_clicks :]
    user_top = _fit_width(
        np.asarray(features.user_top_topics, dtype=np.int64)[None, :], spec.user_topic_slots, -1
    )
    return RawColumns(
        user_id=np.full(n, int(user_id), dtype=np.int64),
        video_id=np.asarray(features.video_ids, dtype=np.int64),
        history=np.broadcast_to(history, (n, history.size)),
        topic_ids=_fit_width(np.asarray(features.topic_ids, dtype=np.int64), spec.topic_slots, -1),
        topic_scores=_fit_width(np.asarray(features.topic_scores, dtype=np.float32), spec.topic_slots, 0.0),
        user_top_topics=np.broadcast_to(user_top, (n, spec.user_topic_slots)),
        exposures=np.asarray(features.exposures, dtype=np.float64),
        clicks=np.asarray(features.clicks, dtype=np.float64),
        ctr=np.asarray(features.ctr, dtype=np.float64),
        stats_found=np.asarray(features.stats_found, dtype=bool),
        recent_clicks=np.full(n, float(features.user_recent_clicks)),
    )


def _dense(raw: RawColumns, spec: FeatureSpec) -> np.ndarray:
    cols = [
        np.log1p(np.maximum(raw.exposures, 0.0)),
        np.log1p(np.maximum(raw.clicks, 0.0)),
        raw.ctr,
        raw.stats_found.astype(np.float64),
        np.log1p(np.maximum(raw.recent_clicks, 0.0)),
    ]
    if spec.use_topics:
        valid = raw.topic_ids >= 0
        n_valid = valid.sum(axis=1)
        user_top = raw.user_top_topics
        # Share of the user's top topics that the candidate carries: the cross feature a linear model
        # cannot build from two separate ID bags.
        shared = ((raw.topic_ids[:, :, None] == user_top[:, None, :]) & valid[:, :, None]).any(axis=1)
        n_user = np.maximum((user_top >= 0).sum(axis=1), 1)
        cols += [
            n_valid / spec.topic_slots,
            np.where(valid, raw.topic_scores, 0.0).sum(axis=1) / np.maximum(n_valid, 1),
            (shared & (user_top >= 0)).sum(axis=1) / n_user,
        ]
    return np.stack(cols, axis=1)


class FeatureEncoder:
    """Fitted vocabularies, the video catalogue and dense scaling; turns rows into :class:`EncodedRows`.

    Parameters
    ----------
    spec
        What to encode.

    Attributes
    ----------
    users_, videos_, topics_ : IdVocabulary
        ID vocabularies (topics only with ``spec.use_topics``).
    primary_classes_, secondary_classes_ : list of str
        Class names; index ``FIRST_ID + i`` for class i.
    catalogue_ : IdVocabulary
        Videos of the catalogue, with ``catalogue_primary_`` / ``catalogue_secondary_`` class indices.
    image_ : ndarray of float32, shape (len(catalogue_), image_dim) or None
        Cover embedding per catalogue row (row 0 and 1 zeros).
    dense_mean_, dense_std_ : ndarray of float64
        Standardisation of the dense features.
    """

    def __init__(self, spec: FeatureSpec | None = None) -> None:
        self.spec = spec or FeatureSpec()

    # -- fitting ------------------------------------------------------------------------------------
    def fit(
        self,
        rows: pd.DataFrame,
        *,
        videos: pd.DataFrame | None = None,
        image_embeddings: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> FeatureEncoder:
        """Learn vocabularies, the catalogue and dense scaling from training rows.

        Parameters
        ----------
        rows
            Training rows (see the module docstring for the columns).
        videos
            Video catalogue with ``video_id``, ``primary_class``, ``secondary_class``; without it (or
            for videos it lacks) the class features are OOV.
        image_embeddings
            ``(video_ids, vectors [m, image_dim])``; required when ``spec.image_dim > 0``.

        Returns
        -------
        FeatureEncoder
            self
        """
        spec = self.spec
        raw = raw_from_frame(rows, spec)
        self.users_ = IdVocabulary(_frequent(raw.user_id, spec.min_count))
        self.videos_ = IdVocabulary(
            _frequent(np.concatenate([raw.video_id, raw.history.ravel()]), spec.min_count)
        )
        self.topics_ = (
            IdVocabulary(
                _frequent(
                    np.concatenate([raw.topic_ids.ravel(), raw.user_top_topics.ravel()]), spec.min_count
                )
            )
            if spec.use_topics
            else None
        )
        self._fit_catalogue(videos, image_embeddings)
        dense = _dense(raw, spec)
        self.dense_mean_ = dense.mean(axis=0) if len(dense) else np.zeros(dense.shape[1])
        std = dense.std(axis=0) if len(dense) else np.ones(dense.shape[1])
        self.dense_std_ = np.where(std > 1e-9, std, 1.0)
        return self

    def _fit_catalogue(
        self, videos: pd.DataFrame | None, image_embeddings: tuple[np.ndarray, np.ndarray] | None
    ) -> None:
        spec = self.spec
        if videos is None:
            videos = pd.DataFrame(
                {"video_id": np.zeros(0, np.int64), "primary_class": [], "secondary_class": []}
            )
        self.catalogue_ = IdVocabulary(videos["video_id"].to_numpy(dtype=np.int64))
        order = self.catalogue_.index(videos["video_id"].to_numpy(dtype=np.int64))
        for level in ("primary", "secondary"):
            column = (
                videos[f"{level}_class"]
                if f"{level}_class" in videos.columns
                else pd.Series([None] * len(videos))
            )
            names = sorted({str(v) for v in column.dropna()})
            lookup = {name: FIRST_ID + i for i, name in enumerate(names)}
            table = np.full(len(self.catalogue_), OOV, dtype=np.int64)
            table[PAD] = OOV
            table[order] = [lookup.get(str(v), OOV) if pd.notna(v) else OOV for v in column]
            setattr(self, f"{level}_classes_", names)
            setattr(self, f"catalogue_{level}_", table)
        self.image_ = None
        if spec.image_dim:
            if image_embeddings is None:
                raise DataError(f"feature spec wants a {spec.image_dim}-dim image embedding; none given")
            ids, vectors = image_embeddings
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != spec.image_dim or len(ids) != len(vectors):
                raise DataError(f"image embeddings: expected (n, {spec.image_dim}) for n video IDs")
            self.image_ = np.zeros((len(self.catalogue_), spec.image_dim), dtype=np.float32)
            idx = self.catalogue_.index(np.asarray(ids, dtype=np.int64))
            known = idx >= FIRST_ID
            self.image_[idx[known]] = vectors[known]

    def extend(self, rows: pd.DataFrame) -> dict[str, int]:
        """Add the users, videos and topics of new rows (daily updates); returns how many were new.

        Dense scaling and the catalogue stay as fitted. A model must grow its embedding tables to
        :meth:`sizes` afterwards (:meth:`ranker.models.Ranker.resize`).
        """
        spec = self.spec
        raw = raw_from_frame(rows, spec)
        added = {
            "users": self.users_.extend(_frequent(raw.user_id, spec.min_count)),
            "videos": self.videos_.extend(
                _frequent(np.concatenate([raw.video_id, raw.history.ravel()]), spec.min_count)
            ),
        }
        if spec.use_topics:
            added["topics"] = self.topics_.extend(
                _frequent(
                    np.concatenate([raw.topic_ids.ravel(), raw.user_top_topics.ravel()]), spec.min_count
                )
            )
        return added

    def sizes(self) -> dict[str, int]:
        """Rows of each embedding table and widths of the dense inputs."""
        return {
            "users": len(self.users_),
            "videos": len(self.videos_),
            "primary": FIRST_ID + len(self.primary_classes_),
            "secondary": FIRST_ID + len(self.secondary_classes_),
            "topics": len(self.topics_) if self.spec.use_topics else 0,
            "dense": len(self.spec.dense_names),
            "image": self.spec.image_dim,
        }

    # -- encoding -----------------------------------------------------------------------------------
    def encode_raw(self, raw: RawColumns) -> EncodedRows:
        """Index and scale raw columns (both input paths end here)."""
        spec = self.spec
        cat = self.catalogue_.index(raw.video_id)
        dense = ((_dense(raw, spec) - self.dense_mean_) / self.dense_std_).astype(np.float32)
        return EncodedRows(
            user=self.users_.index(raw.user_id),
            video=self.videos_.index(raw.video_id),
            primary=self.catalogue_primary_[cat],
            secondary=self.catalogue_secondary_[cat],
            history=self.videos_.index(raw.history).astype(np.int32),  # N1 wide: half the memory
            dense=dense,
            topics=self.topics_.index(raw.topic_ids) if spec.use_topics else None,
            user_topics=self.topics_.index(raw.user_top_topics) if spec.use_topics else None,
            image=self.image_[cat] if self.image_ is not None else None,
        )

    def encode_rows(self, rows: pd.DataFrame) -> EncodedRows:
        """Encode a Feast ``training_data`` frame (+ ``recent_click_ids``) or a :func:`build_rows` frame."""
        return self.encode_raw(raw_from_frame(rows, self.spec))

    def encode_candidates(
        self, *, user_id: int, recent_clicks: list[int] | np.ndarray, features: CandidateFeatures
    ) -> EncodedRows:
        """Encode one request's candidates, as fetched online, for one user."""
        return self.encode_raw(
            raw_from_candidates(
                user_id=user_id, recent_clicks=recent_clicks, features=features, spec=self.spec
            )
        )

    # -- persistence --------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays (for safetensors) and JSON metadata that :meth:`from_state` restores."""
        arrays = {
            "users": self.users_.ids_,
            "videos": self.videos_.ids_,
            "catalogue": self.catalogue_.ids_,
            "catalogue_primary": self.catalogue_primary_,
            "catalogue_secondary": self.catalogue_secondary_,
            "dense_mean": self.dense_mean_,
            "dense_std": self.dense_std_,
        }
        if self.spec.use_topics:
            arrays["topics"] = self.topics_.ids_
        if self.image_ is not None:
            arrays["image"] = self.image_
        meta = {
            "spec": asdict(self.spec),
            "primary_classes": self.primary_classes_,
            "secondary_classes": self.secondary_classes_,
        }
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> FeatureEncoder:
        enc = cls(FeatureSpec(**meta["spec"]))
        enc.users_ = IdVocabulary(arrays["users"])
        enc.videos_ = IdVocabulary(arrays["videos"])
        enc.topics_ = IdVocabulary(arrays["topics"]) if enc.spec.use_topics else None
        enc.catalogue_ = IdVocabulary(arrays["catalogue"])
        enc.catalogue_primary_ = np.asarray(arrays["catalogue_primary"], dtype=np.int64)
        enc.catalogue_secondary_ = np.asarray(arrays["catalogue_secondary"], dtype=np.int64)
        enc.primary_classes_ = list(meta["primary_classes"])
        enc.secondary_classes_ = list(meta["secondary_classes"])
        enc.image_ = np.asarray(arrays["image"], dtype=np.float32) if "image" in arrays else None
        enc.dense_mean_ = np.asarray(arrays["dense_mean"], dtype=np.float64)
        enc.dense_std_ = np.asarray(arrays["dense_std"], dtype=np.float64)
        return enc


# -- building rows without Feast --------------------------------------------------------------------


def _utc(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts)
    return ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")


def click_history(
    rows: pd.DataFrame, clicks: pd.DataFrame, *, history_clicks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's user's last ``history_clicks`` clicks strictly before the row's time.

    Parameters
    ----------
    rows
        ``user_id`` and ``ts`` (or ``event_timestamp``).
    clicks
        The click log: ``user_id``, ``video_id``, ``ts``.
    history_clicks
        N1.

    Returns
    -------
    history : ndarray of int64, shape (n, w)
        Video IDs, oldest first, -1 padded on the left; ``w = min(N1, longest history)``.
    count : ndarray of int64, shape (n,)
        All of the user's clicks before the row (not capped).
    """
    ts_col = "ts" if "ts" in rows.columns else "event_timestamp"
    n = len(rows)
    r_user = rows["user_id"].to_numpy(dtype=np.int64)
    r_ts = _utc(rows[ts_col]).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    c_user = clicks["user_id"].to_numpy(dtype=np.int64)
    c_ts = _utc(clicks["ts"]).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    c_video = clicks["video_id"].to_numpy(dtype=np.int64)
    c_order = np.lexsort((c_ts, c_user))
    c_user, c_ts, c_video = c_user[c_order], c_ts[c_order], c_video[c_order]
    # Rows and clicks in one (user, time) order, a row before a click of the same instant: the count of
    # clicks before a row is then a running sum.
    users = np.concatenate([r_user, c_user])
    times = np.concatenate([r_ts, c_ts])
    kind = np.concatenate([np.zeros(n, np.int8), np.ones(len(c_user), np.int8)])
    order = np.lexsort((kind, times, users))
    is_click = kind[order].astype(np.int64)
    running = np.cumsum(is_click) - is_click
    sorted_users = users[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_users[1:] != sorted_users[:-1]]))
    group = np.cumsum(np.concatenate([[False], sorted_users[1:] != sorted_users[:-1]]))
    before = running - running[starts][group]
    count = np.empty(n, dtype=np.int64)
    row_pos = order[is_click == 0]
    count[row_pos] = before[is_click == 0]
    # Position of each row's user's first click in the sorted click log.
    first = np.searchsorted(c_user, r_user, side="left")
    end = first + count
    width = int(min(history_clicks, count.max(initial=0)))
    idx = end[:, None] - width + np.arange(width)[None, :]
    valid = idx >= np.maximum(first, end - history_clicks)[:, None]
    history = np.where(valid, c_video[np.clip(idx, 0, max(len(c_video) - 1, 0))] if len(c_video) else -1, -1)
    return history.astype(np.int64), count


def top_topics(history: np.ndarray, video_topics: pd.DataFrame, *, n: int, chunk: int = 20000) -> np.ndarray:
    """The ``n`` most frequent topics over each history's videos (ties: smaller ID), -1 padded.

    The rule of the stream worker's ``user_topic_profile`` (``streams.users.top_topics``).
    """
    lookup = IdVocabulary(video_topics["video_id"].to_numpy(dtype=np.int64))
    ids = np.stack(video_topics["topic_ids"].map(lambda v: np.asarray(v, dtype=np.int64)).to_numpy())
    table = np.full((len(lookup), ids.shape[1]), -1, dtype=np.int64)
    table[lookup.index(video_topics["video_id"].to_numpy(dtype=np.int64))] = ids
    table[:FIRST_ID] = -1
    out = np.full((len(history), n), -1, dtype=np.int64)
    for s in range(0, len(history), chunk):
        topics = table[lookup.index(history[s : s + chunk])].reshape(min(chunk, len(history) - s), -1)
        if topics.shape[1] == 0:
            continue
        m = topics.shape[0]
        t = np.sort(topics, axis=1)
        # Run lengths per row: count of each value, read at the run's first position.
        new_run = np.ones_like(t, dtype=bool)
        new_run[:, 1:] = t[:, 1:] != t[:, :-1]
        run_id = np.cumsum(new_run.ravel()) - 1
        run_len = np.bincount(run_id)
        counts = np.where(new_run, run_len[run_id].reshape(t.shape), 0)
        counts[t < 0] = 0
        # Most votes first, then smaller ID: sort by (-count, id) via one composite key.
        key = np.where(counts > 0, -counts * (1 << 40) + t, np.iinfo(np.int64).max)
        pick = np.argsort(key, axis=1, kind="stable")[:, :n]
        chosen = np.take_along_axis(t, pick, axis=1)
        ok = np.take_along_axis(counts, pick, axis=1) > 0
        out[s : s + m, : pick.shape[1]] = np.where(ok, chosen, -1)
    return out


def build_rows(
    interactions: pd.DataFrame,
    video_topics: pd.DataFrame | None,
    *,
    history_clicks: int = 128,
    user_topic_slots: int = 4,
    prior_strength: float = 20.0,
) -> pd.DataFrame:
    """The columns of a Feast ``training_data`` frame, computed from an interaction log, point in time.

    Video counters count the video's exposures and clicks strictly before each row; the smoothed CTR is
    ``(clicks + m p) / (exposures + m)`` with ``p`` the global CTR before the row and ``m =
    prior_strength`` (the stream worker's rule); videos never exposed before have no stats (NaN, as a
    point-in-time join gives them). ``top_topics`` / ``recent_clicks`` / ``recent_click_ids`` come from
    the user's last ``history_clicks`` clicks before the row.

    Parameters
    ----------
    interactions
        Canonical Interactions (``user_id``, ``video_id``, ``ts``, ``clicked``).
    video_topics
        ``video_id``, ``topic_ids``, ``topic_scores``, ``n_topics`` (a topic model's
        ``video_topics.parquet``); None: topic columns are missing (NaN).

    Returns
    -------
    pandas.DataFrame
        Sorted by time, with ``user_id``, ``video_id``, ``ts``, ``clicked`` and the feature columns.
    """
    missing = [c for c in ("user_id", "video_id", "ts", "clicked") if c not in interactions.columns]
    if missing:
        raise DataError(f"interactions: missing column(s) {', '.join(missing)}")
    df = interactions[["user_id", "video_id", "ts", "clicked"]].copy()
    df["ts"] = _utc(df["ts"])
    df = df.sort_values(["ts", "user_id", "video_id"], kind="stable", ignore_index=True)
    clicked = df["clicked"].to_numpy().astype(np.int64)
    video = df["video_id"].to_numpy(dtype=np.int64)
    grouped = pd.Series(clicked).groupby(video)
    exposures = grouped.cumcount().to_numpy(dtype=np.float64)
    clicks = (grouped.cumsum().to_numpy() - clicked).astype(np.float64)
    seen = np.arange(len(df), dtype=np.float64)
    global_clicks = np.cumsum(clicked) - clicked
    p = np.divide(global_clicks, seen, out=np.zeros(len(df)), where=seen > 0)
    ctr = (clicks + prior_strength * p) / (exposures + prior_strength)
    has = exposures > 0
    df["exposures"] = np.where(has, exposures, np.nan)
    df["clicks"] = np.where(has, clicks, np.nan)
    df["ctr"] = np.where(has, ctr, np.nan)
    history, count = click_history(df, df.loc[df["clicked"].astype(bool)], history_clicks=history_clicks)
    df["recent_clicks"] = np.minimum(count, history_clicks)
    df["recent_click_ids"] = [h[h >= 0] for h in history]
    if video_topics is not None:
        table = video_topics.set_index("video_id")
        for col in ("topic_ids", "topic_scores", "n_topics"):
            df[col] = df["video_id"].map(table[col])
        # A user's top topics change only with a new click: compute them once per (user, clicks so far).
        state = df["user_id"].to_numpy(dtype=np.int64) * (int(count.max(initial=0)) + 1) + count
        _, first, inverse = np.unique(state, return_index=True, return_inverse=True)
        df["top_topics"] = list(top_topics(history[first], video_topics, n=user_topic_slots)[inverse])
    return df


def attach_click_history(
    rows: pd.DataFrame, interactions: pd.DataFrame, *, history_clicks: int
) -> pd.DataFrame:
    """Add ``recent_click_ids`` to rows that lack it (e.g. a Feast ``training_data`` frame)."""
    clicks = interactions.loc[interactions["clicked"].astype(bool)]
    history, _ = click_history(rows, clicks, history_clicks=history_clicks)
    out = rows.copy()
    out["recent_click_ids"] = [h[h >= 0] for h in history]
    return out
