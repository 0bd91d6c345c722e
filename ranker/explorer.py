"""The topic explorer: the topic queues in Redis as web pages (the paper's Fig. 4), served by the ranker.

Pages are rendered on the server with Jinja2 (``ranker/templates``); the only script
(``ranker/static/explorer.js``) refreshes a topic page in place:

- ``GET /`` and ``GET /topics``: every topic queue, largest first (``?sort=size|fresh|ctr|topic``,
  ``?page=``): size, fresh videos, mean smoothed CTR, the most common tags of its videos and its best
  covers;
- ``GET /topics/{id}``: one queue, best first, as a grid of covers with title, CTR, exposures and a
  fresh marker; it polls ``GET /api/topics/{id}`` every ``refresh_s`` and updates values and order;
- ``GET /users/{id}``: a user's topic counts, recent clicks and the service's own recommendations;
- ``GET /covers/{video_id}``: the video's cover image from the catalogue.

Where the numbers come from:

- a queue, its order and its fresh part: ``P:<topic>`` and ``P:<topic>:fresh`` (:mod:`streams.queue_store`),
  read in one pipeline;
- CTR: the queue score, the smoothed CTR the stream worker ranks by. Feast's ``video_stats.ctr`` is the
  same quantity but is pushed separately and can lag the queue; the score is written atomically with the
  order, so the CTR shown always agrees with the order shown, and it is what candidate generation reads;
- exposures and clicks: Feast's ``video_stats`` through the service's batched online read
  (:class:`mtl.features.fetch.CandidateFetcher`, one round trip for the whole queue); shown as missing
  where the worker pushes no stats (``stream.feast_push`` off);
- titles, tags and covers: the catalogue, a data set directory (``videos.parquet``) read once at startup
  (``ranker.catalogue``; None: the demo corpus when ``make demo`` wrote one). Without one the pages show
  video ids.

Topic ids are found with ``SCAN MATCH P:*`` (the worker keeps no registry of topics); that walks the
whole key space in chunks, a few milliseconds per 10,000 keys.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import redis
from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from mtl.errors import ConfigError, DataError, ServiceError, first_line
from mtl.settings import Settings

if TYPE_CHECKING:
    from ranker.service import RankingService

SORT_KEYS = ("size", "fresh", "ctr", "topic")
"""Orders of the topic index: queue size, fresh videos, mean CTR (descending), topic id (ascending)."""


@dataclass(frozen=True)
class ExplorerConfig:
    """Sizes of the explorer's pages.

    Parameters
    ----------
    page_size : int, default 50
        Topics per index page; a page reads the whole queues of its topics only.
    strip_covers : int, default 6
        Best covers shown next to each topic of the index.
    top_tags : int, default 5
        Most common tags shown per topic.
    refresh_s : float, default 2.0
        How often a topic page polls its queue.
    user_topics : int, default 12
        Topics listed on a user page (most clicked first).
    recent_clicks : int, default 12
        Recent clicks shown on a user page (newest first).
    """

    page_size: int = 50
    strip_covers: int = 6
    top_tags: int = 5
    refresh_s: float = 2.0
    user_topics: int = 12
    recent_clicks: int = 12


# -------------------------------------------------------------------------------------------- catalogue


class Catalogue:
    """Titles, tags and cover files of a data set's videos, by video id.

    Parameters
    ----------
    video_ids, titles, tags, covers : iterables of equal length
        One entry per video; a title or cover may be None, ``covers`` holds absolute paths.
    root : Path or None
        The data set directory, for display.
    """

    def __init__(
        self,
        video_ids: Iterable[int] = (),
        titles: Iterable[str | None] = (),
        tags: Iterable[Iterable[str] | None] = (),
        covers: Iterable[str | Path | None] = (),
        *,
        root: Path | None = None,
    ) -> None:
        ids = [int(v) for v in video_ids]
        self.root = root
        self.titles_ = dict(zip(ids, titles, strict=True))
        self.tags_ = {v: tuple(t) if t is not None else () for v, t in zip(ids, tags, strict=True)}
        self.covers_ = {v: Path(c) for v, c in zip(ids, covers, strict=True) if c is not None}

    @classmethod
    def load(cls, directory: Path | str) -> Catalogue:
        """Read ``video_id``, ``title``, ``tags`` and ``cover`` of ``directory/videos.parquet``.

        Relative cover paths are relative to ``directory`` (as :meth:`topic_learning.data.Dataset.save`
        writes them). Raises :class:`~mtl.errors.DataError` naming the file when it is missing or lacks a
        column.
        """
        import pyarrow.parquet as pq

        directory = Path(directory).absolute()
        path = directory / "videos.parquet"
        if not path.is_file():
            raise DataError(f"{path}: catalogue videos.parquet not found")
        columns = ["video_id", "title", "tags", "cover"]
        try:
            table = pq.read_table(path, columns=columns)
        except Exception as exc:  # pyarrow raises several types for a bad or short file
            raise DataError(f"{path}: cannot read the catalogue: {first_line(exc)}") from None
        covers = [None if c is None else directory / c for c in table.column("cover").to_pylist()]
        return cls(
            table.column("video_id").to_pylist(),
            table.column("title").to_pylist(),
            table.column("tags").to_pylist(),
            covers,
            root=directory,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalogue:
        """``ranker.catalogue``; None: the demo corpus when it exists, else an empty catalogue."""
        path = settings.ranker.catalogue
        if path is not None:
            if not Path(path).is_dir():
                raise ConfigError(f"ranker.catalogue: {path} is not a data set directory")
            return cls.load(path)
        from topic_learning.corpus import synthetic_dir

        demo = synthetic_dir(settings)
        return cls.load(demo) if (demo / "videos.parquet").is_file() else cls()

    def __len__(self) -> int:
        return len(self.titles_)

    def title(self, video_id: int) -> str | None:
        return self.titles_.get(video_id)

    def tags(self, video_id: int) -> tuple[str, ...]:
        return self.tags_.get(video_id, ())

    def cover(self, video_id: int) -> Path | None:
        """The cover file of ``video_id`` when the catalogue names one."""
        return self.covers_.get(video_id)

    def top_tags(self, video_ids: Iterable[int], n: int) -> list[str]:
        """The ``n`` most common tags among ``video_ids`` (ties: first seen)."""
        counts = Counter(tag for v in video_ids for tag in self.tags_.get(v, ()))
        return [tag for tag, _ in counts.most_common(n)]


# ----------------------------------------------------------------------------------------- what pages show


@dataclass
class QueueVideo:
    """One video of a topic queue, as a card shows it."""

    video_id: int
    rank: int
    ctr: float
    fresh: bool
    exposures: int | None
    clicks: int | None
    title: str | None
    cover: bool


@dataclass
class TopicSummary:
    """One row of the topic index."""

    topic_id: int
    size: int
    fresh: int
    mean_ctr: float | None = None
    top_tags: list[str] = field(default_factory=list)
    best: list[QueueVideo] = field(default_factory=list)


@dataclass
class TopicQueue:
    """A topic's whole queue, best first."""

    topic_id: int
    size: int
    fresh: int
    mean_ctr: float | None
    top_tags: list[str]
    videos: list[QueueVideo]

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic_id": self.topic_id,
            "size": self.size,
            "fresh": self.fresh,
            "mean_ctr": self.mean_ctr,
            "top_tags": self.top_tags,
            "videos": [v.__dict__ for v in self.videos],
        }


@dataclass
class TopicIndex:
    """One page of the topic index."""

    topics: list[TopicSummary]
    total_topics: int
    total_videos: int
    page: int
    pages: int
    sort: str


@dataclass
class UserView:
    """What the user page shows besides the recommendations."""

    user_id: int
    topic_counts: list[tuple[int, int]]  # (topic, clicks), most clicked first
    recent_clicks: list[int]  # newest first


def _int(raw: bytes | str) -> int:
    return int(raw.decode() if isinstance(raw, bytes) else raw)


def _redis_down(exc: Exception) -> ServiceError:
    return ServiceError(f"Redis unavailable: {first_line(exc)}")


class TopicExplorer:
    """Reads the topic queues, user topic counts and online stats that the explorer's pages show.

    Parameters
    ----------
    redis_client : redis.Redis
        Reads queues and user keys (the ranking service's fast-failing client).
    settings : Settings
        ``stream.queue_prefix`` and ``stream.user_prefix``.
    catalogue : Catalogue
        Titles, tags and covers.
    features : object or None
        ``fetch(video_ids, user_id)`` returning ``CandidateFeatures`` (Feast's online read) for exposures
        and clicks; None: the pages show none.
    config : ExplorerConfig or None
        Page sizes; None: the defaults.
    """

    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        settings: Settings,
        catalogue: Catalogue,
        features: Any = None,
        config: ExplorerConfig | None = None,
    ) -> None:
        self.redis = redis_client
        self.settings = settings
        self.catalogue = catalogue
        self.features = features
        self.config = config or ExplorerConfig()
        prefix = settings.stream.queue_prefix
        self._queue_key = re.compile(rb"^" + re.escape(prefix.encode()) + rb":(\d+)$")
        # SCAN patterns treat * ? [ ] \ as wildcards: a prefix holding one must match only itself
        self._scan_pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + ":*"

    @classmethod
    def from_service(
        cls, service: RankingService, *, catalogue: Catalogue, config: ExplorerConfig | None = None
    ) -> TopicExplorer:
        """The explorer on the service's Redis client, settings and Feast fetcher."""
        return cls(
            redis_client=service.redis_client,
            settings=service.settings,
            catalogue=catalogue,
            features=service.features,
            config=config,
        )

    @property
    def queue_prefix(self) -> str:
        return self.settings.stream.queue_prefix

    def topic_ids(self) -> list[int]:
        """Every topic with a queue key, ascending."""
        try:
            keys = self.redis.scan_iter(match=self._scan_pattern, count=10_000)
            found = {int(m.group(1)) for k in keys if (m := self._queue_key.match(_bytes(k)))}
        except (redis.RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        return sorted(found)

    def index(self, *, sort: str = "size", page: int = 1) -> TopicIndex:
        """One page of topics in ``sort`` order, with tags, mean CTR and best covers of each."""
        if sort not in SORT_KEYS:
            raise DataError(f"sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
        p = self.queue_prefix
        topics = self.topic_ids()
        try:
            pipe = self.redis.pipeline(transaction=False)
            for t in topics:
                pipe.zcard(f"{p}:{t}")
                pipe.zcard(f"{p}:{t}:fresh")
            cards = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        rows = [
            TopicSummary(topic_id=t, size=int(cards[2 * i]), fresh=int(cards[2 * i + 1]))
            for i, t in enumerate(topics)
        ]
        rows = [r for r in rows if r.size > 0]  # a queue emptied between SCAN and ZCARD
        total_videos = sum(r.size for r in rows)
        if sort == "ctr":
            # a mean needs every score: this order reads every queue, not only the page's
            self._fill(rows, with_videos=False)
            rows.sort(key=lambda r: (-(r.mean_ctr or 0.0), r.topic_id))
        elif sort in ("size", "fresh"):
            rows.sort(key=lambda r: (-getattr(r, sort), r.topic_id))
        size = self.config.page_size
        pages = max(1, -(-len(rows) // size))
        page = min(max(1, page), pages)
        shown = rows[(page - 1) * size : page * size]
        self._fill(shown, with_videos=True)
        return TopicIndex(shown, len(rows), total_videos, page, pages, sort)

    def _fill(self, rows: list[TopicSummary], *, with_videos: bool) -> None:
        """Mean CTR (and top tags and best videos) of ``rows`` from their whole queues, one pipeline."""
        p = self.queue_prefix
        try:
            pipe = self.redis.pipeline(transaction=False)
            for r in rows:
                pipe.zrevrange(f"{p}:{r.topic_id}", 0, -1, withscores=True)
                if with_videos:
                    pipe.zrange(f"{p}:{r.topic_id}:fresh", 0, -1)
            replies = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        step = 2 if with_videos else 1
        for i, r in enumerate(rows):
            queue = [(_int(m), float(s)) for m, s in replies[step * i]]
            r.mean_ctr = float(np.mean([s for _, s in queue])) if queue else None
            if with_videos:
                fresh = {_int(m) for m in replies[step * i + 1]}
                ids = [v for v, _ in queue]
                r.top_tags = self.catalogue.top_tags(ids, self.config.top_tags)
                r.best = self._videos(queue[: self.config.strip_covers], fresh, stats=False)

    def queue(self, topic_id: int) -> TopicQueue | None:
        """The queue of ``topic_id`` best first, with online stats; None when the topic has no queue."""
        p = self.queue_prefix
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrevrange(f"{p}:{topic_id}", 0, -1, withscores=True)
            pipe.zrange(f"{p}:{topic_id}:fresh", 0, -1)
            rows, fresh_rows = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        if not rows:
            return None
        queue = [(_int(m), float(s)) for m, s in rows]
        fresh = {_int(m) for m in fresh_rows}
        videos = self._videos(queue, fresh, stats=True)
        return TopicQueue(
            topic_id=topic_id,
            size=len(queue),
            fresh=sum(v.fresh for v in videos),
            mean_ctr=float(np.mean([s for _, s in queue])),
            top_tags=self.catalogue.top_tags([v for v, _ in queue], self.config.top_tags),
            videos=videos,
        )

    def _videos(self, queue: list[tuple[int, float]], fresh: set[int], *, stats: bool) -> list[QueueVideo]:
        exposures: list[int | None] = [None] * len(queue)
        clicks: list[int | None] = [None] * len(queue)
        if stats and self.features is not None and queue:
            ids = np.array([v for v, _ in queue], dtype=np.int64)
            try:
                feats = self.features.fetch(ids, 0)
            except (redis.RedisError, OSError) as exc:
                raise _redis_down(exc) from None
            found = feats.stats_found.tolist()
            exposures = [int(e) if f else None for e, f in zip(feats.exposures.tolist(), found, strict=True)]
            clicks = [int(c) if f else None for c, f in zip(feats.clicks.tolist(), found, strict=True)]
        cat = self.catalogue
        return [
            QueueVideo(
                video_id=v,
                rank=i + 1,
                ctr=s,
                fresh=v in fresh,
                exposures=exposures[i],
                clicks=clicks[i],
                title=cat.title(v),
                cover=cat.cover(v) is not None,
            )
            for i, (v, s) in enumerate(queue)
        ]

    def user(self, user_id: int) -> UserView:
        """The user's topic counts over their last N1 clicks and their newest clicks."""
        key = f"{self.settings.stream.user_prefix}:{user_id}"
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(f"{key}:topics")
            pipe.lrange(key, 0, self.config.recent_clicks - 1)
            counts, recent = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        pairs = [(_int(t), _int(c)) for t, c in counts.items()]
        pairs = sorted(((t, c) for t, c in pairs if c > 0), key=lambda tc: (-tc[1], tc[0]))
        return UserView(user_id, pairs, [_int(v) for v in recent])


def _bytes(key: bytes | str) -> bytes:
    return key if isinstance(key, bytes) else key.encode()


def parse_id(raw: str, what: str) -> int:
    """A non-negative integer id from a URL segment, or a DataError that the pages turn into a 404."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise DataError(f"no {what} {raw[:40]!r}: {what} ids are non-negative integers")
    return int(raw)


# ---------------------------------------------------------------------------------------------- the pages


class PageError(Exception):
    """An HTML page that cannot be shown: rendered as the error page with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _templates() -> Jinja2Templates:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("ranker", "templates"), autoescape=select_autoescape())
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.2f}%"
    env.filters["count"] = lambda x: "–" if x is None else f"{x:,}"
    return Jinja2Templates(env=env)


def add_explorer(app: FastAPI) -> None:
    """Add the explorer's pages, JSON and static files to ``app``.

    The routes use ``app.state.explorer`` (a :class:`TopicExplorer`) and ``app.state.service`` (for the
    user page's recommendations), which the app's lifespan sets.
    """
    templates = _templates()
    app.mount("/static", StaticFiles(packages=[("ranker", "static")]), name="static")

    def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        explorer: TopicExplorer = request.app.state.explorer
        context.setdefault("catalogue", explorer.catalogue)
        context.setdefault("queue_prefix", explorer.queue_prefix)
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> HTMLResponse:
        title = {400: "Bad request", 404: "Not found", 503: "Service unavailable"}.get(exc.status, "Error")
        return render(request, "error.html", exc.status, title=title, status=exc.status, message=exc.message)

    def page_call(fn, *args, **kwargs):
        """Run a read for a page: bad ids are 404 pages, an unreachable Redis a 503 page."""
        try:
            return fn(*args, **kwargs)
        except DataError as exc:
            raise PageError(404, first_line(exc)) from None
        except ServiceError as exc:
            raise PageError(503, first_line(exc)) from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/topics", response_class=HTMLResponse, include_in_schema=False)
    def topic_index(request: Request, sort: str = "size", page: int = Query(1, ge=1)) -> HTMLResponse:
        explorer: TopicExplorer = request.app.state.explorer
        if sort not in SORT_KEYS:
            raise PageError(400, f"sort must be one of {', '.join(SORT_KEYS)}, got {sort[:40]!r}")
        index = page_call(explorer.index, sort=sort, page=page)
        return render(request, "index.html", index=index, sort_keys=SORT_KEYS)

    @app.get("/topics/{topic_id}", response_class=HTMLResponse, include_in_schema=False)
    def topic_page(request: Request, topic_id: str) -> HTMLResponse:
        explorer: TopicExplorer = request.app.state.explorer
        t = page_call(parse_id, topic_id, "topic")
        queue = page_call(explorer.queue, t)
        if queue is None:
            raise PageError(404, f"topic {t} has no queue (no key {explorer.queue_prefix}:{t} in Redis)")
        return render(request, "topic.html", queue=queue, refresh_ms=int(1000 * explorer.config.refresh_s))

    @app.get(
        "/api/topics/{topic_id}",
        summary="A topic queue, best first, with CTR (queue score), exposures and clicks (Feast).",
        responses={404: {"description": "No such topic queue."}, 503: {"description": "Redis is down."}},
    )
    def topic_json(request: Request, topic_id: str) -> Response:
        explorer: TopicExplorer = request.app.state.explorer
        try:
            t = parse_id(topic_id, "topic")
        except DataError as exc:
            return _json_error(404, first_line(exc))
        queue = explorer.queue(t)  # ServiceError: the app's JSON 503
        if queue is None:
            return _json_error(404, f"topic {t} has no queue")
        return Response(orjson.dumps(queue.to_dict()), media_type="application/json")

    @app.get("/users", include_in_schema=False)
    def user_lookup(user_id: str = "") -> RedirectResponse:
        from urllib.parse import quote

        # quoted: whatever was typed stays one path segment of this site (the page then 404s a bad id)
        return RedirectResponse(f"/users/{quote(user_id.strip() or 'none', safe='')}", status_code=303)

    @app.get("/users/{user_id}", response_class=HTMLResponse, include_in_schema=False)
    def user_page(request: Request, user_id: str) -> HTMLResponse:
        explorer: TopicExplorer = request.app.state.explorer
        service: RankingService = request.app.state.service
        u = page_call(parse_id, user_id, "user")
        view = page_call(explorer.user, u)
        ranking = page_call(service.recommend, u, k=min(service.settings.ranker.default_k, service.max_k))
        cat = explorer.catalogue
        return render(
            request,
            "user.html",
            view=view,
            ranking=ranking,
            top_n=service.settings.ranker.top_topics,
            titles={v.video_id: cat.title(v.video_id) for v in ranking.videos}
            | {v: cat.title(v) for v in view.recent_clicks},
        )

    @app.get("/covers/{video_id}", include_in_schema=False)
    def cover(request: Request, video_id: str) -> Response:
        explorer: TopicExplorer = request.app.state.explorer
        try:
            v = parse_id(video_id, "video")
        except DataError as exc:
            return _json_error(404, first_line(exc))
        path = explorer.catalogue.cover(v)
        if path is None or not path.is_file():
            return _json_error(404, f"video {v} has no cover in the catalogue")
        # a video's cover never changes: let the browser keep it while a page refreshes
        return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


def _json_error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status_code=status, media_type="application/json")


__all__ = [
    "Catalogue",
    "ExplorerConfig",
    "QueueVideo",
    "TopicExplorer",
    "TopicIndex",
    "TopicQueue",
    "TopicSummary",
    "UserView",
    "add_explorer",
    "parse_id",
]
