"""The topic explorer's pages: HTML, JSON and covers with stand-ins, then on the real Redis."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from mtl.errors import ConfigError, DataError
from mtl.features.fetch import CandidateFeatures
from mtl.settings import load_settings
from ranker.api import create_app
from ranker.explorer import Catalogue, ExplorerConfig, TopicExplorer, parse_id
from ranker.scorer import CtrScorer
from ranker.service import RankingService

P, U = "ex:q", "ex:u"

# topic -> queue [(video, smoothed CTR)]; fresh members per topic
QUEUES = {
    3: [(10, 0.12), (11, 0.10), (12, 0.05), (13, 0.04)],
    7: [(20, 0.30), (21, 0.02)],
    11: [(30, 0.08), (31, 0.07), (10, 0.06)],
}
FRESH = {3: {13}, 11: {31}}


class StandinRedis:
    """The reads the explorer and the service make, over dicts; ``down`` makes them fail like redis-py."""

    def __init__(self) -> None:
        self.zsets: dict[str, dict[str, float]] = {}
        self.hashes: dict[str, dict[bytes, bytes]] = {}
        self.lists: dict[str, list[bytes]] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            import redis

            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    def scan_iter(self, match: str, count: int = 10):
        self._check()
        assert match.endswith(":*")
        keys = [*self.zsets, *self.hashes, *self.lists]
        return iter([k.encode() for k in keys if k.startswith(match[:-1])])

    def pipeline(self, transaction: bool = False) -> StandinPipeline:
        return StandinPipeline(self)

    def zcard(self, key: str) -> int:
        return len(self.zsets.get(key, {}))

    def zrevrange(self, key: str, start: int, end: int, withscores: bool = False):
        rows = sorted(self.zsets.get(key, {}).items(), key=lambda e: (e[1], e[0]), reverse=True)
        rows = rows[start : None if end == -1 else end + 1]
        return [(m.encode(), s) for m, s in rows] if withscores else [m.encode() for m, _ in rows]

    def zrange(self, key: str, start: int, end: int):
        return list(reversed(self.zrevrange(key, 0, -1)))[start : None if end == -1 else end + 1]

    def hgetall(self, key: str) -> dict[bytes, bytes]:
        return dict(self.hashes.get(key, {}))

    def lrange(self, key: str, start: int, end: int) -> list[bytes]:
        self._check()
        return self.lists.get(key, [])[start : end + 1]

    def ping(self) -> bool:
        self._check()
        return True

    def close(self) -> None:
        pass


class StandinPipeline:
    def __init__(self, client: StandinRedis) -> None:
        self.client, self.calls = client, []

    def __getattr__(self, name: str):
        def queue(*args, **kwargs):
            self.calls.append((name, args, kwargs))

        return queue

    def execute(self) -> list:
        self.client._check()
        return [getattr(self.client, name)(*args, **kwargs) for name, args, kwargs in self.calls]


class StandinFetcher:
    """Video v has ``100 + v`` exposures and ``v`` clicks online, except video 12 (no stats)."""

    def fetch(self, video_ids, user_id: int) -> CandidateFeatures:
        ids = np.asarray(video_ids, dtype=np.int64)
        n = ids.size
        found = ids != 12
        return CandidateFeatures(
            video_ids=ids,
            topic_ids=np.stack([ids % 5, np.full(n, -1)], axis=1).repeat(4, axis=1)[:, :8],
            topic_scores=np.zeros((n, 8), dtype=np.float32),
            n_topics=np.ones(n, dtype=np.int64),
            exposures=np.where(found, 100 + ids, 0),
            clicks=np.where(found, ids, 0),
            ctr=(ids / 1000).astype(np.float32),
            topics_found=np.ones(n, dtype=bool),
            stats_found=found,
            user_top_topics=np.full(4, -1, dtype=np.int64),
            user_recent_clicks=0,
            user_found=False,
        )


class StandinCandidates:
    def generate(self, user_id: int, *, n: int | None = None):
        from ranker.candidates import CandidateSet

        ids = np.array([20, 30, 11], dtype=np.int64)
        return CandidateSet(ids, [7, 11], "topics", np.array([7, 11, 3], dtype=np.int64))


@pytest.fixture
def catalogue(tmp_path) -> Catalogue:
    """Videos 10-31 with titles and tags; covers for all but video 21 (tiny PNGs)."""
    from PIL import Image

    ids = [10, 11, 12, 13, 20, 21, 30, 31]
    covers = []
    for v in ids:
        if v == 21:
            covers.append(None)
            continue
        path = tmp_path / "covers" / f"{v}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8), (v * 7 % 255, 80, 160)).save(path)
        covers.append(path)
    tags = [["cats", "pets"] if v < 20 else ["cars"] if v < 30 else ["<b>bold</b>", "cats"] for v in ids]
    return Catalogue(ids, [f"title {v}" for v in ids], tags, covers, root=tmp_path)


@pytest.fixture
def world(catalogue):
    redis_stub = StandinRedis()
    for t, queue in QUEUES.items():
        redis_stub.zsets[f"{P}:{t}"] = {str(v): s for v, s in queue}
        if t in FRESH:
            redis_stub.zsets[f"{P}:{t}:fresh"] = {str(v): s for v, s in queue if v in FRESH[t]}
    # keys of the same prefix that are not topic queues: partition candidates, totals, the global queue
    redis_stub.zsets[f"{P}:3:r:0"] = {"10": 0.12}
    redis_stub.zsets[f"{P}:global"] = {"20": 0.3}
    redis_stub.hashes[f"{P}:totals"] = {b"0": b"1 1"}
    redis_stub.hashes[f"{U}:5:topics"] = {b"3": b"2", b"7": b"4", b"11": b"1", b"9": b"0"}
    redis_stub.lists[f"{U}:5"] = [b"10", b"20", b"21"]
    settings = load_settings(
        ranker={"candidates": 20, "top_topics": 2, "default_k": 3},
        stream={"queue_prefix": P, "user_prefix": U},
        redis_url="redis://127.0.0.1:1/0",
    )
    service = RankingService(
        candidates=StandinCandidates(),
        features=StandinFetcher(),
        scorer=CtrScorer(),
        redis_client=redis_stub,
        settings=settings,
        scorer_name="ctr",
    )
    return service, redis_stub, catalogue


@pytest.fixture
def client(world):
    service, _, catalogue = world
    with TestClient(create_app(service, catalogue=catalogue)) as c:
        yield c


def rows(html: str, tag: str, attr: str) -> list[str]:
    return re.findall(rf'<{tag} [^>]*{attr}="([^"]*)"', html)


def test_index_lists_topic_queues_largest_first_with_tags_ctr_and_covers(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    # only P:<int> keys are topics: not P:3:r:0, P:global, P:totals
    assert rows(html, "tr", "data-topic") == ["3", "11", "7"]
    assert rows(html, "tr", "data-size") == ["4", "3", "2"]
    assert rows(html, "tr", "data-fresh") == ["1", "1", "0"]
    mean = [float(x) for x in rows(html, "tr", "data-mean-ctr")]
    assert mean == pytest.approx([np.mean([s for _, s in QUEUES[t]]) for t in (3, 11, 7)])
    assert 'href="/topics/3"' in html and "3 topic queues holding 9 videos" in html
    row = html[html.index('id="t-11"') : html.index('id="t-7"')]
    assert row.index(">cats<") < row.index("&lt;b&gt;bold&lt;/b&gt;")  # most common first, escaped
    assert "<b>bold</b>" not in html
    # the best covers of topic 3, best first
    strip = re.findall(r'src="/covers/(\d+)"', html[html.index('id="t-3"') : html.index('id="t-11"')])
    assert strip == ["10", "11", "12", "13"]
    assert client.get("/topics").text.count('class="topic-link"') == 3


@pytest.mark.parametrize(
    ("sort", "order"), [("topic", ["3", "7", "11"]), ("ctr", ["7", "3", "11"]), ("fresh", ["3", "11", "7"])]
)
def test_index_sorts(client, sort, order):
    assert rows(client.get(f"/topics?sort={sort}").text, "tr", "data-topic") == order


def test_index_pages(world):
    service, _, catalogue = world
    app = create_app(service, catalogue=catalogue, explorer_config=ExplorerConfig(page_size=2))
    with TestClient(app) as c:
        first, second = c.get("/topics").text, c.get("/topics?page=2").text
        assert c.get("/topics?page=9").status_code == 200  # clamped to the last page
    assert rows(first, "tr", "data-topic") == ["3", "11"] and "page 1 of 2" in first
    assert rows(second, "tr", "data-topic") == ["7"] and "?sort=size&page=1" in second


def test_bad_sort_is_a_400_page(client):
    r = client.get("/topics?sort=random")
    assert r.status_code == 400 and "sort must be one of size, fresh, ctr, topic" in r.text


def test_topic_page_is_the_queue_best_first_with_stats_and_fresh_markers(client):
    r = client.get("/topics/3")
    assert r.status_code == 200
    html = r.text
    assert rows(html, "figure", "data-video-id") == ["10", "11", "12", "13"]
    assert [float(x) for x in rows(html, "figure", "data-ctr")] == [0.12, 0.10, 0.05, 0.04]
    assert rows(html, "figure", "data-fresh") == ["0", "0", "0", "1"]
    # exposures from the online stats; video 12 has none
    assert rows(html, "figure", "data-exposures") == ["110", "111", "", "113"]
    card = html[html.index('id="v-12"') :]
    assert "title 12" in card[:800] and "–</span> exp" in card[:800]
    assert 'src="/covers/10"' in html and 'data-api="/api/topics/3"' in html
    assert 'data-refresh-ms="2000"' in html and "/static/explorer.js" in html
    assert "12.00%" in html  # CTR as a percentage


def test_topic_page_without_a_cover_or_title(world):
    service, _, _ = world
    with TestClient(create_app(service, catalogue=Catalogue())) as c:
        html = c.get("/topics/7").text
    assert "video 20" in html and "video 21" in html and "/covers/" not in html
    assert 'class="nocover">#21<' in html


def test_topic_json_matches_the_queue(client):
    body = client.get("/api/topics/11").json()
    assert body["topic_id"] == 11 and body["size"] == 3 and body["fresh"] == 1
    assert [v["video_id"] for v in body["videos"]] == [30, 31, 10]
    assert [v["rank"] for v in body["videos"]] == [1, 2, 3]
    assert body["videos"][1] == {
        "video_id": 31,
        "rank": 2,
        "ctr": 0.07,
        "fresh": True,
        "exposures": 131,
        "clicks": 31,
        "title": "title 31",
        "cover": True,
    }
    assert body["mean_ctr"] == pytest.approx(0.07) and body["top_tags"][0] == "cats"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/topics/abc", "no topic &#39;abc&#39;: topic ids are non-negative integers"),
        ("/topics/-1", "topic ids are non-negative integers"),
        ("/topics/999", "topic 999 has no queue (no key ex:q:999 in Redis)"),
        ("/users/x1", "user ids are non-negative integers"),
    ],
)
def test_bad_ids_are_404_pages(client, path, words):
    r = client.get(path)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "404 · Not found" in r.text and words in r.text


def test_bad_ids_in_json_and_covers_are_404(client):
    assert client.get("/api/topics/999").json() == {"error": "topic 999 has no queue"}
    assert client.get("/api/topics/x").status_code == 404
    for path in ("/covers/21", "/covers/999", "/covers/abc"):
        r = client.get(path)
        assert r.status_code == 404 and "error" in r.json()


def test_cover_is_the_catalogue_file(client, catalogue):
    r = client.get("/covers/11")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == Path(catalogue.cover(11)).read_bytes()
    assert "max-age" in r.headers["cache-control"]


def test_user_page_shows_topics_clicks_and_recommendations(client):
    r = client.get("/users/5")
    assert r.status_code == 200
    html = r.text
    topics = html[html.index('id="user-topics"') :]
    assert rows(topics, "li", "data-topic") == ["7", "3", "11"]  # most clicked first, zero counts dropped
    assert topics.count('class="source"') == 2  # N2 = 2
    recs = html[html.index('id="recommendations"') :]
    # the service's own ranking: CtrScorer over the stand-in CTR (video id / 1000)
    assert rows(recs, "figure", "data-video-id") == ["30", "20", "11"]
    assert 'href="/topics/7">topic 7</a>' in recs and "title 30" in recs
    assert 'src="/covers/21"' in html  # recent clicks, newest first, with the cover fallback
    assert html.index('src="/covers/10"') < html.index('src="/covers/20"')


def test_user_without_clicks_and_lookup_form(client):
    html = client.get("/users/77").text
    assert "No clicks yet" in html
    r = client.get("/users", params={"user_id": " 5 "}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/users/5"
    r = client.get("/users", params={"user_id": "//evil.example/x?y"}, follow_redirects=False)
    assert r.headers["location"] == "/users/%2F%2Fevil.example%2Fx%3Fy"


def test_redis_down_is_a_503_page_and_json(client, world):
    _, redis_stub, _ = world
    redis_stub.down = True
    for path in ("/", "/topics/3", "/users/5"):
        r = client.get(path)
        assert r.status_code == 503, path
        assert "503 · Service unavailable" in r.text and "Redis unavailable" in r.text
    r = client.get("/api/topics/3")
    assert r.status_code == 503 and r.json()["error"].startswith("Redis unavailable")


def test_static_script_is_served(client):
    r = client.get("/static/explorer.js")
    assert r.status_code == 200 and "setTimeout(poll" in r.text


def test_catalogue_reads_a_data_set(tmp_path):
    from topic_learning.data import SyntheticConfig, generate

    data = generate(
        SyntheticConfig(n_videos=12, n_users=3, n_days=1, n_exposures=20, seed=1, workers=1),
        tmp_path / "corpus",
        progress=False,
    )
    cat = Catalogue.load(tmp_path / "corpus")
    assert len(cat) == 12 and cat.root == (tmp_path / "corpus").absolute()
    row = data.videos.iloc[4]
    assert cat.title(int(row.video_id)) == row.title and list(cat.tags(int(row.video_id))) == list(row.tags)
    assert cat.cover(int(row.video_id)) == Path(row.cover) and cat.cover(int(row.video_id)).is_file()
    assert cat.title(999) is None and cat.cover(999) is None and cat.tags(999) == ()


def test_catalogue_from_settings(tmp_path):
    with pytest.raises(DataError, match="videos.parquet not found"):
        Catalogue.load(tmp_path)
    with pytest.raises(ConfigError, match="is not a data set directory"):
        Catalogue.from_settings(load_settings(ranker={"catalogue": tmp_path / "nope"}))
    # no catalogue named and no demo corpus under the artifact dir: pages show ids
    assert len(Catalogue.from_settings(load_settings(artifact_dir=tmp_path))) == 0


def test_parse_id():
    assert parse_id("42", "topic") == 42
    for bad in ("", "4.2", "-3", "١٢", "9" * 20):
        with pytest.raises(DataError):
            parse_id(bad, "topic")


def test_scan_pattern_escapes_glob_characters(world):
    service, _, catalogue = world
    odd = service.settings.model_copy(
        update={"stream": service.settings.stream.model_copy(update={"queue_prefix": "a*[b]?"})}
    )
    explorer = TopicExplorer(redis_client=service.redis_client, settings=odd, catalogue=catalogue)
    assert explorer._scan_pattern == r"a\*\[b\]\?:*"


def test_serve_options_override_the_settings(monkeypatch, tmp_path):
    from mtl.cli.serve import serve_settings

    monkeypatch.setenv("MTL_RANKER__SERVE_PORT", "8123")
    monkeypatch.setenv("MTL_RANKER__CANDIDATES", "77")
    s = serve_settings()
    assert s.ranker.serve_port == 8123 and s.ranker.serve_host == "127.0.0.1"
    s = serve_settings(port=9000, host="0.0.0.0", redis_timeout=0.25, catalogue=tmp_path)
    assert (s.ranker.serve_port, s.ranker.serve_host, s.ranker.redis_timeout_s) == (9000, "0.0.0.0", 0.25)
    assert s.ranker.catalogue == tmp_path and s.ranker.candidates == 77  # the rest of the section stays


def test_serve_help_names_the_explorer():
    from mtl.cli import main

    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "--catalogue" in result.output and "ranker.serve_port" in result.output


# --- the real Redis: queues written under a unique prefix, the explorer's reads and pages ---


@pytest.mark.integration
def test_pages_on_real_redis(services, redis_client, unique_name, catalogue):
    from ranker.service import service_redis_client

    settings = load_settings(
        redis_url=services.redis_url,
        stream={"queue_prefix": f"{unique_name}:q", "user_prefix": f"{unique_name}:u"},
    )
    for t, queue in QUEUES.items():
        redis_client.zadd(f"{unique_name}:q:{t}", {str(v): s for v, s in queue})
        if t in FRESH:
            redis_client.zadd(f"{unique_name}:q:{t}:fresh", {str(v): s for v, s in queue if v in FRESH[t]})
    redis_client.zadd(f"{unique_name}:q:3:r:0", {"10": 0.12})
    redis_client.hset(f"{unique_name}:u:5:topics", mapping={"3": 2, "7": 4})
    client = service_redis_client(settings, timeout_s=1.0)
    explorer = TopicExplorer(redis_client=client, settings=settings, catalogue=catalogue)
    try:
        assert explorer.topic_ids() == [3, 7, 11]
        index = explorer.index(sort="size")
        assert [t.topic_id for t in index.topics] == [3, 11, 7] and index.total_videos == 9
        queue = explorer.queue(11)
        assert [(v.video_id, v.ctr, v.fresh) for v in queue.videos] == [
            (30, 0.08, False),
            (31, 0.07, True),
            (10, 0.06, False),
        ]
        assert queue.videos[0].exposures is None  # no Feast fetcher here
        assert explorer.queue(12) is None
        assert explorer.user(5).topic_counts == [(7, 4), (3, 2)]
    finally:
        client.close()
