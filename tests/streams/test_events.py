import orjson
import pytest

from streams.events import (
    Click,
    Exposure,
    Rejected,
    VideoPublished,
    dead_letter,
    encode_event,
    parse_event,
)

NOW = 1_700_000_000.0


def ok(d):
    return parse_event(orjson.dumps(d), now=NOW)


def test_round_trip_all_types():
    for ev in (
        Exposure("e1", 3, 7, NOW - 5),
        Click("c1", 3, 7, NOW - 4),
        VideoPublished("p:7", 7, "a title", ("x", "y"), NOW - 10, cover=None, secondary_class="s"),
    ):
        assert parse_event(encode_event(ev), now=NOW) == ev


def test_published_event_id_defaults():
    ev = ok({"type": "video_published", "video_id": 5, "title": "t", "tags": [], "ts": NOW})
    assert isinstance(ev, VideoPublished) and ev.event_id == "p:5"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "bad json"),
        (b"[1, 2]", "bad json"),
        (orjson.dumps({"type": "like", "event_id": "x"}), "unknown event type"),
        (orjson.dumps({"event_id": "x"}), "unknown event type"),
        (orjson.dumps({"type": "click", "user_id": 1, "video_id": 2, "ts": NOW}), "missing field: event_id"),
        (
            orjson.dumps({"type": "click", "event_id": "x", "user_id": "1", "video_id": 2, "ts": NOW}),
            "mistyped field: user_id",
        ),
        (
            orjson.dumps({"type": "exposure", "event_id": "x", "user_id": True, "video_id": 2, "ts": NOW}),
            "mistyped field: user_id",
        ),
        (
            orjson.dumps({"type": "exposure", "event_id": "x", "user_id": 1, "video_id": -2, "ts": NOW}),
            "mistyped field: video_id must be a non-negative integer",
        ),
        (
            orjson.dumps({"type": "exposure", "event_id": "x", "user_id": 1, "video_id": 2, "ts": 5}),
            "absurd timestamp",
        ),
        (
            orjson.dumps({"type": "exposure", "event_id": "x", "user_id": 1, "video_id": 2, "ts": NOW + 1e7}),
            "absurd timestamp",
        ),
        (
            orjson.dumps({"type": "video_published", "video_id": 1, "title": "t", "tags": [1], "ts": NOW}),
            "mistyped field: tags",
        ),
        (b"", "bad json"),
    ],
)
def test_rejections(raw, reason):
    r = parse_event(raw, now=NOW)
    assert isinstance(r, Rejected)
    assert r.reason.startswith(reason), r.reason
    assert r.original == raw


def test_oversized():
    raw = orjson.dumps({"type": "video_published", "video_id": 1, "title": "t" * 500, "tags": [], "ts": NOW})
    r = parse_event(raw, max_bytes=100, now=NOW)
    assert isinstance(r, Rejected) and r.reason.startswith("oversized payload")


def test_dead_letter_keeps_original():
    import base64

    d = orjson.loads(dead_letter(Rejected("bad json: x", b"\xff\x00"), topic="t", partition=1, offset=9))
    assert d["reason"] == "bad json: x" and base64.b64decode(d["original"]) == b"\xff\x00"
    assert (d["topic"], d["partition"], d["offset"]) == ("t", 1, 9)
