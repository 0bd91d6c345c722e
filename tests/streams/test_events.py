import random

import orjson
import pytest

from streams import wire
from streams.event_ids import event_hash
from streams.events import (
    CLICK,
    EXPOSURE,
    PUBLISHED,
    Click,
    Exposure,
    Rejected,
    VideoPublished,
    dead_letter,
    encode_event,
    parse_batch,
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
            "mistyped field: video_id must be an integer from 0 to 2**63 - 1",
        ),
        (
            orjson.dumps({"type": "exposure", "event_id": "x", "user_id": 2**63, "video_id": 2, "ts": NOW}),
            "mistyped field: user_id must be an integer from 0 to 2**63 - 1",
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


def _mutants(seed: int, n: int) -> list[bytes | None]:
    """Exposures and clicks as ``mtl replay`` writes them, many slightly broken, plus other values."""
    rng = random.Random(seed)
    ids = ["e1", "r:x:123456789", "a" * 64, "a" * 65, "é", 'q"uote', "back\\slash", "tab\t", ""]
    numbers = [0, 7, 12345, 10**17, 10**18, 2**63 - 1, 2**63, -1, True, 1.5, "3", None]
    times = [NOW, NOW + 0.5, 1593561600.1234567, 1.6e9, 1700000000, 5, NOW + 1e7, "x", 1600000000.123456789]
    out: list[bytes | None] = []
    for i in range(n):
        r = rng.random()
        if r < 0.02:
            out.append(None)
            continue
        if r < 0.04:
            out.append(
                orjson.dumps({"type": "video_published", "video_id": i, "title": "t", "tags": [], "ts": NOW})
            )
            continue
        d = {
            "type": rng.choice(["exposure", "click", "exposure", "click", "like"]),
            "event_id": rng.choice(ids) if rng.random() < 0.3 else f"r:x:{i}",
            "user_id": rng.choice(numbers) if rng.random() < 0.2 else rng.randrange(10**6),
            "video_id": rng.choice(numbers) if rng.random() < 0.2 else rng.randrange(10**5),
            "ts": rng.choice(times) if rng.random() < 0.3 else 1.6e9 + rng.random() * 1e8,
        }
        if rng.random() < 0.05:
            del d[rng.choice(list(d))]
        if rng.random() < 0.03:
            d["extra"] = 1
        raw = bytearray(orjson.dumps(d))
        for _ in range(rng.choice([0] * 10 + [1, 2])):  # a byte changed, added or lost
            at = rng.randrange(len(raw))
            op = rng.randrange(3)
            char = rng.choice(b' {}":,.0123456789-eE\\\n\x00\x7f\xc3a')
            if op == 0:
                raw[at] = char
            elif op == 1:
                raw.insert(at, char)
            else:
                del raw[at]
        out.append(bytes(raw))
    return out


def _as_rows(raws):
    """What parse_event makes of each value: (kind, video, user, ts, id hash) or the rejection."""
    kinds = {Exposure: EXPOSURE, Click: CLICK, VideoPublished: PUBLISHED}
    rows = []
    for raw in raws:
        e = parse_event(raw, now=NOW)
        if type(e) is Rejected:
            rows.append(("rejected", e.reason, e.original))
        else:
            rows.append((kinds[type(e)], e.video_id, getattr(e, "user_id", -1), e.ts, event_hash(e.event_id)))
    return rows


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parse_batch_is_parse_event_of_every_value(seed, compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(wire, "_wire", None)
    raws = _mutants(seed, 4000)
    events, rejected = parse_batch(raws, now=NOW)
    got: dict[int, tuple] = {row: ("rejected", r.reason, r.original) for row, r in rejected}
    for i, row in enumerate(events.rows.tolist()):
        got[row] = (
            int(events.kind[i]),
            int(events.video[i]),
            int(events.user[i]),
            float(events.ts[i]),
            int(events.hash[i]),
        )
    assert events.rows.tolist() == sorted(events.rows.tolist())
    assert [got[i] for i in range(len(raws))] == _as_rows(raws)
    assert set(events.published) == {
        r for r, k in zip(events.rows.tolist(), events.kind.tolist(), strict=True) if k == 2
    }


def test_the_scanner_is_built():
    # optional in the build (an install without a compiler goes on, slower): the test set-up has one
    assert wire._wire is not None, "streams._wire did not build: a C compiler and Python's headers are needed"


def test_plain_values_take_the_scanner_others_not():
    plain = encode_event(Exposure("r:x:1", 3, 7, NOW))
    found = wire.scan([plain, encode_event(Click("c", 0, 10**17, 1593561600.1234567)), plain + b" ", None])
    assert found.plain.tolist() == [True, True, False, False]
    assert found.click.tolist() == [False, True]
    assert found.user.tolist() == [3, 0] and found.video.tolist() == [7, 10**17]
    assert found.ts.tolist() == [NOW, 1593561600.1234567]
    assert found.hash.tolist() == [event_hash("r:x:1"), event_hash("c")]
    assert found.size.tolist() == [len(plain), len(encode_event(Click("c", 0, 10**17, 1593561600.1234567)))]


def test_scanner_rounds_times_like_float():
    rng = random.Random(5)
    texts = [
        f"{rng.randrange(10**9, 2 * 10**9)}.{rng.randrange(10**k):0{k}d}"
        for k in range(1, 14)
        for _ in range(300)
    ]
    raws = [
        b'{"type":"click","event_id":"c","user_id":1,"video_id":2,"ts":' + t.encode() + b"}" for t in texts
    ]
    found = wire.scan(raws)
    assert found.plain.all()  # up to 24 characters, however many digits
    assert found.ts.tolist() == [float(t) for t in texts]
