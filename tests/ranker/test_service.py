"""The ranking service: HTTP contract with stand-ins, then the real server on the real Redis and Feast."""

from __future__ import annotations

import contextlib
import math
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from mtl.connections import redacted_url
from mtl.errors import ServiceError
from mtl.features.fetch import CandidateFeatures
from mtl.settings import RankerSettings, load_settings
from ranker.api import Health, Recommendation, create_app
from ranker.explorer import Catalogue
from ranker.service import RankingService

N3 = 50


# --- stand-ins with the interfaces of ranker.candidates, ranker.scorer and the Feast fetcher ---


@dataclass
class StandinCandidateSet:
    video_ids: np.ndarray
    topics: list[int]
    source: str
    from_topic: np.ndarray


@dataclass
class StandinCandidates:
    """User 1 and 2 have clicks; anyone else gets the cold-start queue."""

    users: dict[int, StandinCandidateSet]
    cold: StandinCandidateSet
    error: Exception | None = None
    calls: list[tuple[int, int | None]] = field(default_factory=list)

    def generate(self, user_id: int, *, n: int | None = None) -> StandinCandidateSet:
        self.calls.append((user_id, n))
        if self.error is not None:
            raise self.error
        return self.users.get(user_id, self.cold)


class StandinFetcher:
    """Video v has topics [v % 7, v % 11] (video 3 has none online) and CTR ctr[v]."""

    def __init__(self, ctr: dict[int, float]):
        self.ctr = ctr
        self.error: Exception | None = None
        self.closed = False

    def fetch(self, video_ids, user_id: int) -> CandidateFeatures:
        if self.error is not None:
            raise self.error
        ids = np.asarray(video_ids, dtype=np.int64)
        n = ids.size
        topic_ids = np.full((n, 8), -1, dtype=np.int64)
        found = ids != 3
        topic_ids[found, 0] = ids[found] % 7
        topic_ids[found, 1] = ids[found] % 11
        return CandidateFeatures(
            video_ids=ids,
            topic_ids=topic_ids,
            topic_scores=np.zeros((n, 8), dtype=np.float32),
            n_topics=found.astype(np.int64) * 2,
            exposures=np.zeros(n, dtype=np.int64),
            clicks=np.zeros(n, dtype=np.int64),
            ctr=np.array([self.ctr.get(int(v), 0.0) for v in ids], dtype=np.float32),
            topics_found=found,
            stats_found=np.ones(n, dtype=bool),
            user_top_topics=np.full(4, -1, dtype=np.int64),
            user_recent_clicks=0,
            user_found=False,
        )

    def close(self) -> None:
        self.closed = True


class StandinScorer:
    """Scores are the candidates' CTR; remembers what it was given."""

    def __init__(self):
        self.seen: list[tuple[int, list[int]]] = []

    def score(self, *, user_id: int, recent_clicks: list[int], features: CandidateFeatures) -> np.ndarray:
        self.seen.append((user_id, list(recent_clicks)))
        return features.ctr.astype(np.float64)


class StandinRedis:
    """``lrange`` over a dict of lists, ``ping``; ``down`` makes both raise like redis-py."""

    def __init__(self, lists: dict[str, list[bytes]]):
        self.lists = lists
        self.down = False
        self.closed = False

    def _check(self) -> None:
        if self.down:
            import redis

            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    def lrange(self, key: str, start: int, end: int) -> list[bytes]:
        self._check()
        return self.lists.get(key, [])[start : end + 1]

    def ping(self) -> bool:
        self._check()
        return True

    def close(self) -> None:
        self.closed = True


def _set(ids, topics, source="topics") -> StandinCandidateSet:
    ids = np.asarray(ids, dtype=np.int64)
    origin = np.array([topics[i % len(topics)] for i in range(ids.size)] if topics else [-1] * ids.size)
    return StandinCandidateSet(ids, list(topics), source, origin.astype(np.int64))


@pytest.fixture
def parts():
    settings = load_settings(
        ranker={"candidates": N3, "history_clicks": 3, "top_topics": 4},
        stream={"user_prefix": "test:u", "queue_prefix": "test:q"},
        redis_url="redis://user:s3cret@127.0.0.1:1/0",
    )
    rng = np.random.default_rng(0)
    ctr = {v: float(x) for v, x in enumerate(rng.random(200))}
    ctr[10] = ctr[11] = 1.0  # a tie at the top: the generator's order must decide
    candidates = StandinCandidates(
        users={
            1: _set([11, 10, *range(20, 60)], [5, 6, 2, 9]),
            2: _set([], [1]),
        },
        cold=_set([100, 101, 102, 3], [], source="cold_start"),
    )
    fetcher = StandinFetcher(ctr)
    scorer = StandinScorer()
    client = StandinRedis({"test:u:1": [b"7", b"8", b"9", b"10", b"11"]})
    service = RankingService(
        candidates=candidates,
        features=fetcher,
        scorer=scorer,
        redis_client=client,
        settings=settings,
        scorer_name="ctr",
        feast_project="t_standin",
    )
    return service, candidates, fetcher, scorer, client, ctr


@pytest.fixture
def client(parts):
    with TestClient(create_app(parts[0], catalogue=Catalogue())) as c:
        yield c


def test_known_user_gets_k_best_candidates_with_topics(client, parts):
    _, candidates, _, scorer, _, ctr = parts
    r = client.get("/recommend", params={"user_id": 1, "k": 5})
    assert r.status_code == 200, r.text
    body = Recommendation.model_validate(r.json())
    assert body.source == "topics" and body.user_topics == [5, 6, 2, 9] and body.candidates == 42
    ids = [it.video_id for it in body.items]
    pool = [11, 10, *range(20, 60)]
    expected = sorted(pool, key=lambda v: -ctr[v])[:5]
    assert ids == expected and ids[:2] == [11, 10]  # equal scores keep the generator's order
    scores = [it.score for it in body.items]
    assert scores == sorted(scores, reverse=True)
    assert body.items[2].topic_ids == [ids[2] % 7, ids[2] % 11]
    assert {it.from_topic for it in body.items} <= {5, 6, 2, 9}
    # the generator is asked for N3; the scorer gets the N1 newest clicks, oldest first (the Redis list
    # is newest first)
    assert candidates.calls[-1] == (1, N3)
    assert scorer.seen[-1] == (1, [9, 8, 7])
    assert "features;dur=" in r.headers["server-timing"]


def test_default_k_and_k_equal_to_n3(client):
    assert len(client.get("/recommend?user_id=1").json()["items"]) == RankerSettings().default_k
    assert len(client.get(f"/recommend?user_id=1&k={N3}").json()["items"]) == 42


def test_unknown_user_gets_cold_start(client, parts):
    r = client.get("/recommend", params={"user_id": 123456, "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "cold_start" and body["user_topics"] == []
    assert len(body["items"]) == 3 and {it["video_id"] for it in body["items"]} <= {100, 101, 102, 3}
    assert parts[3].seen[-1] == (123456, [])


def test_video_without_online_topics_has_empty_topic_ids(client):
    items = client.get("/recommend", params={"user_id": 99, "k": 4}).json()["items"]
    assert next(it for it in items if it["video_id"] == 3)["topic_ids"] == []


def test_no_candidates_is_an_empty_answer(client):
    r = client.get("/recommend", params={"user_id": 2, "k": 4})
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["candidates"] == 0


def test_nan_scores_go_last(parts):
    service, *_ = parts

    class NanScorer:
        def score(self, *, user_id, recent_clicks, features):
            out = features.ctr.astype(np.float64)
            out[0] = math.nan
            return out

    service.scorer = NanScorer()
    ranking = service.recommend(99, k=4)
    assert ranking.videos[-1].video_id == 100 and all(not math.isnan(v.score) for v in ranking.videos[:3])


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("", "user_id: Field required"),
        ("user_id=-1", "user_id: Input should be greater than or equal to 0"),
        ("user_id=abc", "user_id: Input should be a valid integer"),
        ("user_id=1.5", "user_id: Input should be a valid integer"),
        ("user_id=1&k=0", "k: Input should be greater than or equal to 1"),
        (f"user_id=1&k={N3 + 1}", f"k: Input should be less than or equal to {N3}"),
        ("user_id=1&k=x", "k: Input should be a valid integer"),
    ],
)
def test_bad_request_is_400_with_one_line(client, query, words):
    r = client.get(f"/recommend?{query}")
    assert r.status_code == 400
    assert words in r.json()["error"] and "\n" not in r.json()["error"]


@pytest.mark.parametrize("where", ["candidates", "clicks", "features"])
def test_redis_outage_is_503_with_one_line(client, parts, where):
    _, candidates, fetcher, _, redis_stub, _ = parts
    if where == "candidates":
        candidates.error = ServiceError("cannot reach Redis at 127.0.0.1:1: connection refused")
    elif where == "clicks":
        redis_stub.down = True
    else:
        fetcher.error = ServiceError("lost the connection to Redis at 127.0.0.1:1")
    r = client.get("/recommend", params={"user_id": 1})
    assert r.status_code == 503
    assert "Redis" in r.json()["error"] and "\n" not in r.json()["error"]


def test_unexpected_error_is_500_json(parts):
    service, candidates, *_ = parts
    candidates.error = KeyError("boom")
    with TestClient(create_app(service, catalogue=Catalogue()), raise_server_exceptions=False) as c:
        r = c.get("/recommend", params={"user_id": 1})
    assert r.status_code == 500 and r.json()["error"].startswith("internal error")


def test_health_reports_scorer_settings_and_redis(client, parts):
    r = client.get("/health")
    assert r.status_code == 200
    body = Health.model_validate(r.json())
    assert body.status == "ok" and body.scorer == "ctr" and body.model is None
    assert body.settings["candidates"] == N3 and body.settings["feast_project"] == "t_standin"
    assert "s3cret" not in r.text and body.redis.url == "redis://user:***@127.0.0.1:1/0"
    parts[4].down = True
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["redis"]["ok"] is False
    assert "Connection refused" in r.json()["redis"]["error"]


def test_shutdown_closes_connections(parts):
    service, _, fetcher, _, redis_stub, _ = parts
    with TestClient(create_app(service, catalogue=Catalogue())):
        pass
    assert fetcher.closed and redis_stub.closed


def test_openapi_declares_models_and_400_503_not_422(client):
    schema = client.get("/openapi.json").json()
    op = schema["paths"]["/recommend"]["get"]
    assert set(op["responses"]) == {"200", "400", "503"}
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Recommendation")
    params = {p["name"]: p for p in op["parameters"]}
    assert params["user_id"]["required"] and params["k"]["schema"]["maximum"] == N3
    assert {"Recommendation", "RecommendedVideo", "Health", "ErrorBody"} <= set(
        schema["components"]["schemas"]
    )
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_redacted_url():
    assert redacted_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redacted_url("rediss://:pw@h:1/2") == "rediss://:***@h:1/2"


def test_serve_refuses_a_port_in_use_in_one_line():
    from mtl.cli.serve import bind

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        with pytest.raises(ServiceError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
            bind("127.0.0.1", busy.getsockname()[1])
    finally:
        busy.close()


def test_serve_missing_model_is_a_usage_error(tmp_path):
    from mtl.cli import main

    result = CliRunner().invoke(main, ["serve", "--model", str(tmp_path / "nope.pt")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_from_settings_scores_with_the_default_model_else_ctr(tmp_path, monkeypatch):
    import torch

    import ranker.scorer
    from mtl.errors import ConfigError
    from mtl.features.store import copy_repo

    repo = copy_repo(tmp_path / "repo", "t_unit")
    # nothing listens on port 1: building the service must not need Redis
    settings = load_settings(
        feast_repo_path=repo, artifact_dir=tmp_path / "artifacts", redis_url="redis://127.0.0.1:1/0"
    )
    service = RankingService.from_settings(settings)
    assert service.scorer_name == "ctr" and service.model_path is None and service.feast_project == "t_unit"
    service.close()
    # the same, built by the app at startup (uvicorn --factory): up, and says Redis is unreachable
    with TestClient(create_app(settings=settings)) as c:
        health = c.get("/health")
        assert health.status_code == 503 and health.json()["settings"]["feast_project"] == "t_unit"

    default = tmp_path / "artifacts" / "ranker" / "default"
    default.mkdir(parents=True)
    (default / "ranker.json").write_text("{}")
    loaded = []
    monkeypatch.setattr(ranker.scorer, "load_scorer", lambda path: loaded.append(path) or StandinScorer())
    threads = torch.get_num_threads()
    try:
        service = RankingService.from_settings(settings)
        assert torch.get_num_threads() == settings.ranker.torch_threads
    finally:
        torch.set_num_threads(threads)
    assert service.scorer_name == "model" and service.model_path == default and loaded == [default]
    assert service.health()["model"] == str(default)
    service.close()
    missing = settings.model_copy(
        update={"ranker": settings.ranker.model_copy(update={"model_path": tmp_path / "nope"})}
    )
    with pytest.raises(ConfigError, match="ranker model not found"):
        RankingService.from_settings(missing)


# --- the real server: uvicorn in a thread, real Redis, a Feast repo copy, the real generator/fetcher ---


@pytest.fixture
def world(services, tmp_path, unique_name, monkeypatch):
    """A small world in the real Redis (unique prefixes) and a Feast repo copy (unique project)."""
    from benchmarks.common import delete_prefix
    from benchmarks.service import bench_settings, fill_world
    from mtl.connections import redis_client
    from mtl.features.store import apply_repo, copy_repo, delete_project_keys, open_store

    monkeypatch.setenv("REDIS_URL", services.redis_url)
    project = f"t_{uuid.uuid4().hex[:10]}"
    repo = copy_repo(tmp_path / "repo", project)
    # an empty artifact dir: no trained model is found, so the service scores with CtrScorer
    base = load_settings(artifact_dir=tmp_path / "artifacts", ranker={"history_clicks": 20})
    settings = bench_settings(base, name=unique_name, repo=repo, candidates=60)
    store = open_store(repo, settings)
    apply_repo(store)
    client = redis_client(settings)
    try:
        data = fill_world(client, store, settings, videos=400, topics=8, users=6, favourite_topics=2, seed=3)
        yield settings, data, client
    finally:
        delete_prefix(client, unique_name)
        delete_project_keys(services.redis_url, project)
        client.close()


@pytest.mark.integration
def test_real_server_on_real_redis_and_feast(world, serve_app):
    import httpx

    from ranker.candidates import CandidateGenerator

    settings, data, client = world
    service = RankingService.from_settings(settings)
    assert service.scorer_name == "ctr" and service.model_path is None
    app = create_app(service, catalogue=Catalogue())
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        health = http.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["settings"]["queue_prefix"] == settings.stream.queue_prefix

        user = 2
        r = http.get("/recommend", params={"user_id": user, "k": 7})
        assert r.status_code == 200, r.text
        body = Recommendation.model_validate(r.json())
        counts = data.topic_counts[user]
        top = sorted(counts, key=lambda t: (-counts[t], t))[: settings.ranker.top_topics]
        assert body.source == "topics" and body.user_topics == top and body.candidates == 60
        assert len(body.items) == 7
        scores = [it.score for it in body.items]
        assert scores == sorted(scores, reverse=True)
        candidates = set(
            CandidateGenerator(redis=client, settings=settings).generate(user).video_ids.tolist()
        )
        for it in body.items:
            assert it.video_id in candidates and it.video_id not in data.clicks[user]
            expected = data.topic_ids[it.video_id]
            assert it.topic_ids == expected[expected >= 0].tolist()  # read back from Feast
            assert it.from_topic in top

        r = http.get("/recommend", params={"user_id": 10**9, "k": 5})
        assert r.status_code == 200
        cold = r.json()
        assert cold["source"] == "cold_start" and cold["user_topics"] == [] and len(cold["items"]) == 5
        assert {it["from_topic"] for it in cold["items"]} == {-1}

        # concurrent requests share one fetcher socket and one Redis pool: no answer may get another's data
        def ask(u: int) -> tuple[int, dict]:
            return u, http.get("/recommend", params={"user_id": u, "k": 3}).json()

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(ask, [u for u in sorted(data.clicks) for _ in range(6)]))
        for u, got in answers:
            c = data.topic_counts[u]
            assert got["user_topics"] == sorted(c, key=lambda t: (-c[t], t))[: settings.ranker.top_topics]
            for it in got["items"]:
                expected = data.topic_ids[it["video_id"]]
                assert it["topic_ids"] == expected[expected >= 0].tolist()
                assert it["score"] == pytest.approx(float(data.ctr[it["video_id"]]))  # CtrScorer

        r = http.get("/recommend", params={"user_id": -3})
        assert r.status_code == 400 and "user_id" in r.json()["error"]
        r = http.get("/recommend", params={"user_id": 1, "k": 61})
        assert r.status_code == 400 and "k" in r.json()["error"]


@pytest.mark.integration
@pytest.mark.parametrize("outage", ["closed port", "hung server"])
def test_redis_outage_answers_503_not_a_hang(world, outage, serve_app):
    import httpx

    from mtl.devstack.process import free_port

    settings, _, _ = world
    with contextlib.ExitStack() as stack:
        if outage == "closed port":
            port = free_port()
        else:  # accepts connections (the kernel does) and never answers
            hung = stack.enter_context(socket.socket())
            hung.bind(("127.0.0.1", 0))
            hung.listen(16)
            port = hung.getsockname()[1]
        down = settings.model_copy(
            update={
                "redis_url": f"redis://127.0.0.1:{port}/0",
                "ranker": settings.ranker.model_copy(update={"redis_timeout_s": 0.5}),
            }
        )
        service = RankingService.from_settings(down)
        url = stack.enter_context(serve_app(create_app(service, catalogue=Catalogue())))
        # the httpx timeout is the bound: a hanging service fails the test instead of stalling it
        http = stack.enter_context(httpx.Client(base_url=url, timeout=10))
        r = http.get("/recommend", params={"user_id": 1})
        assert r.status_code == 503
        assert "Redis" in r.json()["error"] and "\n" not in r.json()["error"]
        h = http.get("/health")
        assert h.status_code == 503 and h.json()["redis"]["ok"] is False
