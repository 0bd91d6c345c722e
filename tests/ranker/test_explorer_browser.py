"""The topic explorer in a real headless Chromium, on queues the real stream worker filled.

A synthetic corpus with covers is replayed through Kafka into a real `mtl stream worker` (Feast pushes on,
private Feast project), the ranking service with the explorer runs on uvicorn, and Chromium (driven by
Selenium over the system ``chromedriver``; nothing is downloaded) opens the topic index, follows a topic
link, checks that the covers loaded, then sees a video's CTR and exposures change without a reload while
more clicks on it stream in. Screenshots go to ``artifacts/screenshots/``; with ``MTL_UPDATE_DOCS_IMAGES=1``
the topic page is also copied to ``docs/images/explorer.png``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import time
import uuid
from collections.abc import Iterator

import orjson
import pytest

from mtl.paths import project_root

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="the browser test needs the system chromium and chromedriver "
        "(apt-get install chromium chromium-driver; .ci/system-deps installs them)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("selenium") is None,
        reason="the browser test needs selenium (pip install -e '.[dev]')",
    ),
]

EXTRA_CLICKS = 15
SHOTS = project_root() / "artifacts" / "screenshots"
DOCS_IMAGE = project_root() / "docs" / "images" / "explorer.png"


@contextlib.contextmanager
def chromium_driver() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI containers run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    # both paths are given, so Selenium Manager (which would download a browser or driver) never runs
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def shot(browser, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"explorer-{name}.png"))


def cards(browser) -> list[dict]:
    """The topic page's cards in page order, as their data attributes (one WebDriver round trip)."""
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#queue figure.card'), e => ({...e.dataset}))"
    )
    return [
        {
            "video": int(r["videoId"]),
            "ctr": float(r["ctr"]),
            "exposures": int(r["exposures"]) if r["exposures"] else None,
            "fresh": r["fresh"] == "1",
            "rank": int(r["rank"]),
        }
        for r in rows
    ]


def burst(video: int, n: int, *, after: float) -> list[tuple[bytes, bytes]]:
    """``n`` exposures of ``video``, each clicked, by ``n`` new users, from ``after`` on."""
    out = []
    for i in range(n):
        for kind in ("exposure", "click"):
            event = {"type": kind, "event_id": f"extra:{kind}:{i}", "user_id": 10**6 + i, "video_id": video}
            out.append((str(video).encode(), orjson.dumps({**event, "ts": after + i})))
    return out


def test_explorer_in_chromium_refreshes_a_topic_live(
    services, redis_client, tmp_path, monkeypatch, workers, stream_case_factory, serve_app
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from mtl.features.store import apply_repo, copy_repo, delete_project_keys, open_store
    from mtl.settings import load_settings
    from ranker.api import create_app
    from topic_learning.data import SyntheticConfig

    timings: dict[str, float] = {}
    tick = time.monotonic()
    case = stream_case_factory(
        SyntheticConfig(n_videos=150, n_users=100, n_days=1, n_exposures=5000, seed=11, workers=1)
    )
    # a private Feast project: the worker pushes video_stats there, the explorer reads exposures from it
    monkeypatch.setenv("REDIS_URL", services.redis_url)
    project = f"t_{uuid.uuid4().hex[:10]}"
    repo = copy_repo(tmp_path / "repo", project)
    apply_repo(open_store(repo))
    proc = workers.start(case.env(MTL_STREAM__FEAST_PUSH="true", MTL_FEAST_REPO_PATH=str(repo)))
    try:
        case.produce()
        case.wait(lambda: not case.mismatched_topics(redis_client), 90, "queues of the whole log", [proc])
        timings["corpus + worker + replay"] = time.monotonic() - tick

        settings = load_settings(
            redis_url=services.redis_url,
            feast_repo_path=repo,
            artifact_dir=tmp_path / "artifacts",
            stream={"queue_prefix": case.prefix, "user_prefix": case.user_prefix},
            ranker={"catalogue": tmp_path / "corpus"},
        )
        tick = time.monotonic()
        with serve_app(create_app(settings=settings)) as url, chromium_driver() as browser:
            wait = WebDriverWait(browser, 30, poll_frequency=0.2)
            browser.get(url + "/")
            rows = browser.find_elements(By.CSS_SELECTOR, "table#topics tbody tr")
            sizes = [int(r.get_attribute("data-size")) for r in rows]
            assert sizes == sorted((len(q) for q in case.expected.values() if q), reverse=True)
            shot(browser, "index")

            # follow the largest topic's link, as a user would
            topic = int(rows[0].get_attribute("data-topic"))
            rows[0].find_element(By.CSS_SELECTOR, "a.topic-link").click()
            wait.until(lambda b: b.current_url.endswith(f"/topics/{topic}"))
            # exposures come from Feast's video_stats, which the worker pushes with its queue writes
            wait.until(lambda b: all(c["exposures"] is not None for c in cards(b)))
            expected = case.expected[topic]
            best_first = sorted(expected, key=lambda v: (expected[v], str(v)), reverse=True)
            before = cards(browser)
            assert [c["video"] for c in before] == best_first
            assert [c["ctr"] for c in before] == pytest.approx([expected[v] for v in best_first], abs=1e-12)
            # the covers in view were fetched from /covers/<id> and decoded
            images = browser.find_elements(By.CSS_SELECTOR, "#queue figure.card img")[:10]
            assert len(images) == 10
            decoded = "return arguments[0].complete && arguments[0].naturalWidth > 0"
            wait.until(lambda b: all(b.execute_script(decoded, img) for img in images))
            shot(browser, "topic-before")

            # a ranked video from the lower half of the queue gets a burst of clicked exposures
            ranked = [c for c in before if not c["fresh"]]
            target = ranked[len(ranked) // 2]
            browser.execute_script("window.notReloaded = true")
            refreshes = int(browser.find_element(By.ID, "queue").get_attribute("data-refreshes"))
            last_ts = max(orjson.loads(v)["ts"] for _, v in case.records)
            tick_events = time.monotonic()
            case.produce(burst(target["video"], EXTRA_CLICKS, after=last_ts + 1))

            def shown(b) -> dict:
                return next(c for c in cards(b) if c["video"] == target["video"])

            wait.until(
                lambda b: (
                    shown(b)["ctr"] > target["ctr"] + 0.02
                    and shown(b)["exposures"] == target["exposures"] + EXTRA_CLICKS
                ),
                message=f"video {target['video']}'s CTR and exposures on the page did not change",
            )
            timings["events to page"] = time.monotonic() - tick_events
            assert browser.execute_script("return window.notReloaded === true"), "the page was reloaded"
            assert int(browser.find_element(By.ID, "queue").get_attribute("data-refreshes")) > refreshes
            # it moved up, and the page still shows the queue in order
            after = cards(browser)
            assert [c["rank"] for c in after] == list(range(1, len(after) + 1))
            order = [c["video"] for c in after]
            assert order.index(target["video"]) < best_first.index(target["video"])
            # the picture without change highlights (a refit of the prior may flash every card once more)
            wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, "#queue .changed"))
            time.sleep(0.7)  # the highlight's fade-out
            shot(browser, "topic-after")

            # a user page: the worker's topic counts, and the service's recommendations with covers
            user, clicks = max(case.expected_users().items(), key=lambda uc: (len(uc[1]), -uc[0]))
            browser.get(f"{url}/users/{user}")
            listed = browser.find_elements(By.CSS_SELECTOR, "#user-topics li")
            counts = {
                int(t): int(n) for t, n in redis_client.hgetall(f"{case.user_prefix}:{user}:topics").items()
            }
            best = sorted(counts, key=lambda t: (-counts[t], t))[: len(listed)]
            assert [int(li.get_attribute("data-topic")) for li in listed] == best
            recommended = browser.find_elements(By.CSS_SELECTOR, "#recommendations figure.card")
            assert len(recommended) == settings.ranker.default_k
            assert not {int(r.get_attribute("data-video-id")) for r in recommended} & set(clicks)
            shot(browser, "user")
            browser.get(f"{url}/topics/999999")
            assert "topic 999999 has no queue" in browser.find_element(By.ID, "error-message").text
            timings["browser"] = time.monotonic() - tick
        if os.environ.get("MTL_UPDATE_DOCS_IMAGES") == "1":
            DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SHOTS / "explorer-topic-after.png", DOCS_IMAGE)
        print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    finally:
        workers.stop(proc)
        delete_project_keys(services.redis_url, project)
