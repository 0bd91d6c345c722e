"""The ranking service: a user's candidates, their online features, their scores, the top k.

One request is three Redis round trips, all on connections opened once per process:

1. the candidate generator's Lua script: the user's top N2 topics and N3 videos from their queues
   (or the cold-start queue for a user without clicks);
2. ``LRANGE`` of the user's recent clicks (the scorer's history input);
3. the pipelined Feast read of the candidates' and the user's features (:class:`CandidateFetcher`).

Then the scorer (the trained model when there is one, else the videos' smoothed CTR) and a sort.
Every Redis client here has short socket timeouts and no retry back-off, so an outage becomes a
:class:`~mtl.errors.ServiceError` (HTTP 503) in about ``ranker.redis_timeout_s``, never a hang. Every
option of the service is in ``settings.ranker`` (:class:`mtl.settings.RankerSettings`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import redis

from mtl.connections import redacted_url
from mtl.errors import ConfigError, ServiceError, first_line
from mtl.settings import Settings, get_settings

if TYPE_CHECKING:
    from mtl.features.fetch import CandidateFeatures
    from ranker.candidates import CandidateSet


class CandidateSource(Protocol):
    def generate(self, user_id: int, *, n: int | None = None) -> CandidateSet: ...


class FeatureSource(Protocol):
    def fetch(self, video_ids: Any, user_id: int) -> CandidateFeatures: ...


class Scorer(Protocol):
    def score(self, *, user_id: int, recent_clicks: list[int], features: CandidateFeatures) -> np.ndarray: ...


@dataclass
class RankedVideo:
    """One recommendation: the video, its score and its topic IDs (no -1 padding)."""

    video_id: int
    score: float
    topic_ids: list[int]
    from_topic: int


@dataclass
class Ranking:
    """The answer to one request, best video first, with the time each stage took."""

    user_id: int
    source: str
    user_topics: list[int]
    candidates: int
    videos: list[RankedVideo]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "source": self.source,
            "user_topics": self.user_topics,
            "candidates": self.candidates,
            "items": [v.__dict__ for v in self.videos],
        }


def service_redis_client(settings: Settings, *, timeout_s: float) -> redis.Redis:
    """A redis-py client that fails fast: redis-py's default retry backs off ~9 s on a refused connection."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from mtl.connections import redis_client

    return redis_client(
        settings,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        # one immediate retry survives a pooled connection that a Redis restart closed; a timeout is not
        # retried, so a hung Redis costs one timeout
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )


def find_model(settings: Settings) -> Path | None:
    """The trained ranker ``mtl`` saves by default (``<artifact_dir>/ranker/default/``), if there is one."""
    from ranker.scorer import default_ranker_dir
    from ranker.training import META_FILE

    path = default_ranker_dir(settings.artifact_dir)
    return path if (path / META_FILE).is_file() else None


class RankingService:
    """Candidates → features → scores → top k, with every collaborator built once.

    Parameters
    ----------
    candidates : CandidateSource
        ``generate(user_id, n=...)`` returning a ``CandidateSet``.
    features : FeatureSource
        ``fetch(video_ids, user_id)`` returning ``CandidateFeatures`` (the Feast online read).
    scorer : Scorer
        ``score(user_id=, recent_clicks=, features=)`` returning one probability per candidate.
    redis_client : redis.Redis
        Reads the user's recent clicks and answers /health's ping.
    settings : Settings
        Sizes (N1, N2, N3), key prefixes and the service options (``settings.ranker``).
    scorer_name : str
        ``"model"`` or ``"ctr"``, reported by /health.
    model_path : Path or None
        The trained model's directory, when ``scorer_name`` is ``"model"``.
    feast_project : str or None
        Reported by /health.
    """

    def __init__(
        self,
        *,
        candidates: CandidateSource,
        features: FeatureSource,
        scorer: Scorer,
        redis_client: redis.Redis,
        settings: Settings,
        scorer_name: str,
        model_path: Path | None = None,
        feast_project: str | None = None,
    ):
        self.candidates = candidates
        self.features = features
        self.scorer = scorer
        self.redis_client = redis_client
        self.settings = settings
        self.scorer_name = scorer_name
        self.model_path = model_path
        self.feast_project = feast_project

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RankingService:
        """The real service: candidate generator on Redis, Feast fetcher, model or CTR scorer.

        Reads ``settings.ranker``: ``model_path`` (None: the default model when trained, else CTR),
        ``redis_timeout_s`` and ``torch_threads``. Nothing here talks to Redis yet, so the service starts
        (and /health says why it is unhealthy) while Redis is down.
        """
        from mtl.features.fetch import CandidateFetcher
        from mtl.features.store import open_store
        from ranker.candidates import CandidateGenerator
        from ranker.scorer import CtrScorer, load_scorer

        settings = settings or get_settings()
        r = settings.ranker
        model_path = r.model_path
        if model_path is not None and not Path(model_path).exists():
            raise ConfigError(f"ranker model not found: {model_path}")
        if model_path is None:
            model_path = find_model(settings)
        if model_path is not None:
            import torch

            torch.set_num_threads(r.torch_threads)
            scorer, scorer_name = load_scorer(Path(model_path)), "model"
        else:
            scorer, scorer_name = CtrScorer(), "ctr"
        client = service_redis_client(settings, timeout_s=r.redis_timeout_s)
        store = open_store(settings=settings)
        return cls(
            candidates=CandidateGenerator(redis=client, settings=settings),
            features=CandidateFetcher(store, user_slots=settings.ranker.top_topics),
            scorer=scorer,
            redis_client=client,
            settings=settings,
            scorer_name=scorer_name,
            model_path=None if model_path is None else Path(model_path),
            feast_project=store.config.project,
        )

    @property
    def max_k(self) -> int:
        """N3: a request cannot ask for more videos than there are candidates."""
        return self.settings.ranker.candidates

    def recommend(self, user_id: int, *, k: int) -> Ranking:
        """The ``k`` best-scored candidates of ``user_id``; ServiceError when Redis cannot answer."""
        try:
            return self._recommend(int(user_id), int(k))
        except ServiceError:
            raise
        except (redis.RedisError, OSError) as exc:
            raise ServiceError(f"Redis unavailable: {first_line(exc)}") from None

    def _recommend(self, user_id: int, k: int) -> Ranking:
        tick = time.perf_counter()
        cands = self.candidates.generate(user_id, n=self.max_k)
        t_cand = time.perf_counter()
        raw = self.redis_client.lrange(
            f"{self.settings.stream.user_prefix}:{user_id}", 0, self.settings.ranker.history_clicks - 1
        )
        # the list is newest first; the scorer's history is oldest first (as in its training rows)
        recent_clicks = [int(v) for v in reversed(raw)]
        ids = np.asarray(cands.video_ids, dtype=np.int64)
        t_clicks = time.perf_counter()
        if ids.size == 0:
            return Ranking(user_id, cands.source, list(map(int, cands.topics)), 0, [])
        feats = self.features.fetch(ids, user_id)
        t_feat = time.perf_counter()
        scores = np.asarray(
            self.scorer.score(user_id=user_id, recent_clicks=recent_clicks, features=feats), dtype=np.float64
        ).reshape(-1)
        if scores.size != ids.size:
            raise RuntimeError(f"scorer returned {scores.size} scores for {ids.size} candidates")
        # NaN would sort unpredictably; such a candidate goes last. A stable sort keeps the generator's
        # best-first order among equal scores.
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")[:k]
        t_score = time.perf_counter()
        topic_rows = feats.topic_ids[order]
        from_topic = np.asarray(cands.from_topic, dtype=np.int64)
        videos = [
            RankedVideo(
                video_id=int(ids[i]),
                score=float(scores[i]),
                topic_ids=[int(t) for t in row if t >= 0],
                from_topic=int(from_topic[i]) if from_topic.size == ids.size else -1,
            )
            for i, row in zip(order.tolist(), topic_rows, strict=True)
        ]
        timings = {
            "candidates": (t_cand - tick) * 1e3,
            "clicks": (t_clicks - t_cand) * 1e3,
            "features": (t_feat - t_clicks) * 1e3,
            "score": (t_score - t_feat) * 1e3,
        }
        return Ranking(user_id, cands.source, list(map(int, cands.topics)), int(ids.size), videos, timings)

    def health(self) -> dict[str, Any]:
        """Redis reachable by both the service's client and the Feast fetcher; what scores; the sizes."""
        redis_ok, error = True, None
        tick = time.perf_counter()
        try:
            self.redis_client.ping()
            self.features.fetch(np.empty(0, dtype=np.int64), 0)
        except (ServiceError, redis.RedisError, OSError) as exc:
            redis_ok, error = False, first_line(exc)
        s = self.settings
        return {
            "status": "ok" if redis_ok else "unavailable",
            "redis": {
                "ok": redis_ok,
                "url": redacted_url(s.redis_url),
                "latency_ms": (time.perf_counter() - tick) * 1e3,
                "error": error,
            },
            "scorer": self.scorer_name,
            "model": None if self.model_path is None else str(self.model_path),
            "settings": {
                "history_clicks": s.ranker.history_clicks,
                "top_topics": s.ranker.top_topics,
                "candidates": s.ranker.candidates,
                "queue_prefix": s.stream.queue_prefix,
                "user_prefix": s.stream.user_prefix,
                "feast_project": self.feast_project,
                "redis_timeout_s": s.ranker.redis_timeout_s,
            },
        }

    def close(self) -> None:
        """Close the Redis connections (the fetcher's socket and the client's pool)."""
        close = getattr(self.features, "close", None)
        if close is not None:
            close()
        self.redis_client.close()
