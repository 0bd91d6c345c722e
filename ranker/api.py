"""The HTTP face of the ranking service (FastAPI): ``GET /recommend``, ``GET /health``, ``/openapi.json``,
and the topic explorer's pages (``/``, ``/topics/{id}``, ``/users/{id}``, ``/covers/{id}``;
:mod:`ranker.explorer`).

Endpoints are plain ``def`` functions, so FastAPI runs their blocking Redis calls in its threadpool and
the event loop stays free. Errors are JSON ``{"error": "<one line>"}``: 400 for a bad request, 503 when
Redis (queues, click lists or Feast's online store) cannot answer, 500 (logged) for a bug. The explorer's
HTML pages answer with an HTML error page instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, Field

from mtl.errors import ServiceError, first_line
from mtl.settings import Settings, get_settings
from ranker.explorer import Catalogue, ExplorerConfig, TopicExplorer, add_explorer
from ranker.service import RankingService


class RecommendedVideo(BaseModel):
    video_id: int = Field(description="The recommended video.")
    score: float = Field(description="Ranker score (click probability), higher first.")
    topic_ids: list[int] = Field(description="The video's topic IDs (Feast video_topics, no padding).")
    from_topic: int = Field(description="The user topic whose queue supplied the video (-1: cold start).")


class Recommendation(BaseModel):
    user_id: int
    source: Literal["topics", "cold_start"] = Field(
        description="topics: from the queues of the user's top topics; cold_start: user without clicks."
    )
    user_topics: list[int] = Field(description="The user's top N2 topics, from their recent clicks.")
    candidates: int = Field(description="Candidates scored (at most N3).")
    items: list[RecommendedVideo] = Field(description="The k best-scored candidates, best first.")


class RedisHealth(BaseModel):
    ok: bool
    url: str = Field(description="redis_url without its password.")
    latency_ms: float
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    redis: RedisHealth
    scorer: Literal["model", "ctr"] = Field(description="model: a trained ranker; ctr: smoothed CTR.")
    model: str | None = Field(description="The trained model's file, when scorer is model.")
    settings: dict[str, Any] = Field(description="Sizes and key prefixes in use.")


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in one line.")


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    # orjson straight to bytes: FastAPI's response_model path would validate and re-encode every item
    # (N3 of them at k = N3); tests check the bodies against the declared models instead.
    return Response(
        orjson.dumps(body), status_code=status_code, media_type="application/json", headers=headers
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = str(err["loc"][-1]) if err.get("loc") else "request"
        got = f" (got {str(err['input'])[:40]!r})" if err.get("type") != "missing" and "input" in err else ""
        parts.append(f"{where}: {err['msg']}{got}")
    return "; ".join(parts)


def create_app(
    service: RankingService | None = None,
    *,
    settings: Settings | None = None,
    catalogue: Catalogue | None = None,
    explorer_config: ExplorerConfig | None = None,
) -> FastAPI:
    """The FastAPI app around ``service``, or around one built at startup from ``settings``.

    The app owns the service: its Redis connections are closed at shutdown. Without a service this is
    also a uvicorn factory for several worker processes, each with its own connections:
    ``uvicorn --factory ranker.api:create_app --workers 4``. ``catalogue`` (titles, tags, covers of the
    explorer's pages) defaults to :meth:`Catalogue.from_settings`, read at startup.
    """
    settings = service.settings if service is not None else (settings or get_settings())
    max_k = settings.ranker.candidates
    default_k = min(settings.ranker.default_k, max_k)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        titles = catalogue if catalogue is not None else Catalogue.from_settings(settings)
        app.state.service = service or RankingService.from_settings(settings)
        app.state.explorer = TopicExplorer.from_service(
            app.state.service, catalogue=titles, config=explorer_config
        )
        try:
            yield
        finally:
            app.state.service.close()

    app = FastAPI(
        title="mtl-topics ranker",
        summary="Topic-aware candidates from Redis queues, Feast features, Wide&Deep or CTR scores.",
        version="0.1.0",
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return _json({"error": _validation_message(exc)}, 400)

    @app.exception_handler(ServiceError)
    async def unavailable(request: Request, exc: ServiceError) -> Response:
        return _json({"error": first_line(exc)}, 503)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        return _json({"error": f"internal error: {first_line(exc)}"}, 500)

    errors = {400: {"model": ErrorBody}, 503: {"model": ErrorBody}}

    @app.get(
        "/recommend",
        response_model=Recommendation,
        responses=errors,
        summary="The k best videos for a user.",
    )
    def recommend(
        request: Request,
        user_id: int = Query(ge=0, description="The user; one without clicks gets the cold-start queue."),
        k: int = Query(default_k, ge=1, le=max_k, description=f"Videos to return, 1..N3 ({max_k})."),
    ) -> Response:
        ranking = request.app.state.service.recommend(user_id, k=k)
        timing = ", ".join(f"{name};dur={ms:.3f}" for name, ms in ranking.timings_ms.items())
        return _json(ranking.to_dict(), headers={"Server-Timing": timing} if timing else None)

    @app.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health, "description": "Redis cannot be reached."}},
        summary="Redis reachable, which scorer, settings in use.",
    )
    def health(request: Request) -> Response:
        body = request.app.state.service.health()
        return _json(body, 200 if body["status"] == "ok" else 503)

    def openapi() -> dict[str, Any]:
        # Bad parameters answer 400 (handler above), not FastAPI's default 422: keep the schema truthful.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            for path in schema.get("paths", {}).values():
                for op in path.values():
                    op.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    add_explorer(app)
    return app


__all__ = ["ErrorBody", "Health", "Recommendation", "RecommendedVideo", "create_app"]
