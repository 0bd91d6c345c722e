"""The ranker's hot path: features of N3 candidate videos and one user in one Redis round trip.

A read path over Feast's own Redis online-store layout, so Feast's APIs keep working on the same data and
the values are the ones ``FeatureStore.get_online_features`` returns:

- one Redis hash per entity, key = ``serialize_entity_key(entity, v3) + project``; every feature view of
  that entity is a field group in the hash;
- field name = little-endian murmur3-32 of ``"<feature_view>:<feature>"`` (``_ts:<feature_view>`` holds the
  event time); value = a serialized ``feast.types.Value`` protobuf.

The request is one pre-packed RESP pipeline of HMGETs on a dedicated socket, parsed by hiredis; protobuf
values of the known shapes (int64, float, 8-slot int64/float lists) are decoded column-wise with numpy, with
``Value.ParseFromString`` as the fallback for anything else. Like ``get_online_features``, values are not
filtered by the views' TTL; keys that Redis expired (``key_ttl_seconds``) are missing. Missing entities come
back with the defaults below and a False in the found-masks.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from dataclasses import dataclass

import hiredis
import numpy as np

from mtl.errors import ServiceError
from mtl.features.store import open_store

TOPIC_SLOTS = 8
VIDEO_FEATURES = [
    ("video_topics", "topic_ids"),
    ("video_topics", "topic_scores"),
    ("video_topics", "n_topics"),
    ("video_stats", "exposures"),
    ("video_stats", "clicks"),
    ("video_stats", "ctr"),
]
USER_FEATURES = [("user_topic_profile", "top_topics"), ("user_topic_profile", "recent_clicks")]
DEFAULT_TOPIC_ID = -1
DEFAULT_SCORE = 0.0
DEFAULT_COUNT = 0
DEFAULT_CTR = 0.0


@dataclass
class CandidateFeatures:
    """Model-ready arrays, row i for ``video_ids[i]``; missing rows hold the defaults."""

    video_ids: np.ndarray  # [n] int64
    topic_ids: np.ndarray  # [n, 8] int64, -1 padded
    topic_scores: np.ndarray  # [n, 8] float32
    n_topics: np.ndarray  # [n] int64
    exposures: np.ndarray  # [n] int64
    clicks: np.ndarray  # [n] int64
    ctr: np.ndarray  # [n] float32
    topics_found: np.ndarray  # [n] bool: video_topics present online
    stats_found: np.ndarray  # [n] bool: video_stats present online
    user_top_topics: np.ndarray  # [N2] int64, -1 padded
    user_recent_clicks: int
    user_found: bool


def _mmh3(key: str) -> bytes:
    from feast.infra.online_stores.helpers import _mmh3 as feast_mmh3

    return feast_mmh3(key)


def _entity_key_prefix(join_key: str, version: int) -> bytes:
    """The serialized entity key of ``join_key`` without its 8 value bytes (int64, little-endian)."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    def ser(v: int) -> bytes:
        return serialize_entity_key(
            EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=v)]),
            entity_key_serialization_version=version,
        )

    zero, probe = ser(0), ser(-2)
    prefix = zero[:-8]
    if zero != prefix + struct.pack("<q", 0) or probe != prefix + struct.pack("<q", -2):
        raise ServiceError(f"unexpected Feast entity key layout (version {version})")
    return prefix


def _resp(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


def _tls_context(params: dict) -> ssl.SSLContext:
    """TLS of the fetch socket from the connection string's ``ssl_*`` options, as redis-py reads them."""
    context = ssl.create_default_context(cafile=params.get("ssl_ca_certs"))
    if params.get("ssl_certfile"):
        context.load_cert_chain(params["ssl_certfile"], params.get("ssl_keyfile"))
    if params.get("ssl_cert_reqs") == "none":
        context.check_hostname = False  # must go first: CERT_NONE is refused while it is on
        context.verify_mode = ssl.CERT_NONE
    return context


class _RespSocket:
    """A minimal pipelined RESP2 client: send pre-packed commands, read N replies with hiredis."""

    def __init__(
        self,
        host: str,
        port: int,
        db: int,
        password: str | None,
        username: str | None,
        tls: ssl.SSLContext | None,
    ):
        self._addr = (host, int(port))
        self._setup = []
        if password is not None:
            auth = (username.encode(), password.encode()) if username else (password.encode(),)
            self._setup.append(_resp(b"AUTH", *auth))
        if db:
            self._setup.append(_resp(b"SELECT", str(db).encode()))
        self._tls = tls
        self._sock: socket.socket | None = None
        self._buf = bytearray(1 << 20)

    def _connect(self) -> None:
        try:
            sock = socket.create_connection(self._addr, timeout=5.0)
        except OSError as exc:
            raise ServiceError(f"cannot reach Redis at {self._addr[0]}:{self._addr[1]}: {exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self._addr[0])
        self._sock = sock
        if self._setup:
            self._roundtrip(b"".join(self._setup), len(self._setup))

    def _roundtrip(self, payload: bytes, n: int) -> list:
        sock = self._sock
        sock.sendall(payload)
        reader = hiredis.Reader()
        out = []
        buf = self._buf
        view = memoryview(buf)
        while len(out) < n:
            got = sock.recv_into(buf)
            if not got:
                raise ConnectionError("Redis closed the connection")
            reader.feed(view[:got])
            reply = reader.gets()
            while reply is not False:
                if isinstance(reply, hiredis.ReplyError):
                    raise ServiceError(f"Redis error: {reply}")
                out.append(reply)
                reply = reader.gets()
        return out

    def pipeline(self, payload: bytes, n: int) -> list:
        for attempt in (0, 1):
            if self._sock is None:
                self._connect()
            try:
                return self._roundtrip(payload, n)
            except (OSError, ConnectionError):
                self.close()
                if attempt:
                    raise ServiceError(
                        f"lost the connection to Redis at {self._addr[0]}:{self._addr[1]}"
                    ) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


# --- column decoders: each takes the present blobs of one field, returns values or None (use fallback) ---


def _varints(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode concatenated protobuf varints: (values as int64, end mask)."""
    ends = data < 0x80
    groups = np.concatenate(([0], np.cumsum(ends)[:-1]))
    starts = np.flatnonzero(np.concatenate(([True], ends[:-1])))
    pos = np.arange(data.size) - starts[groups]
    parts = (data & 0x7F).astype(np.uint64) << (7 * pos).astype(np.uint64)
    return np.bitwise_or.reduceat(parts, starts).view(np.int64), ends


def _blob_layout(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    lens = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    return data, lens, starts


def _decode_int64(blobs: list[bytes]) -> np.ndarray | None:
    """``Value(int64_val=x)`` = 0x20 + varint."""
    data, lens, starts = _blob_layout(blobs)
    if (lens < 2).any() or (data[starts] != 0x20).any():
        return None
    keep = np.ones(data.size, dtype=bool)
    keep[starts] = False
    values, ends = _varints(data[keep])
    return values if values.size == len(blobs) and ends[-1] else None


def _decode_float(blobs: list[bytes]) -> np.ndarray | None:
    """``Value(float_val=x)`` = 0x35 + 4 bytes little-endian."""
    joined = b"".join(blobs)
    if len(joined) != 5 * len(blobs):
        return None
    rec = np.frombuffer(joined, dtype=[("t", "u1"), ("v", "<f4")])
    return rec["v"].copy() if (rec["t"] == 0x35).all() else None


def _decode_int64_list(blobs: list[bytes], slots: int) -> np.ndarray | None:
    """``Value(int64_list_val=Int64List(val=[...]))`` = 0x72 L1 0x0a L2 varints (L1, L2 < 128)."""
    data, lens, starts = _blob_layout(blobs)
    if (lens < 4).any():
        return None
    if (
        (data[starts] != 0x72).any()
        or (data[starts + 1].astype(np.int64) != lens - 2).any()
        or (data[starts + 2] != 0x0A).any()
        or (data[starts + 3].astype(np.int64) != lens - 4).any()
    ):
        return None
    keep = np.ones(data.size, dtype=bool)
    for k in range(4):
        keep[starts + k] = False
    values, ends = _varints(data[keep])
    if values.size != slots * len(blobs) or not ends[-1]:
        return None
    # every blob must hold exactly `slots` values: count ends per blob
    per_blob = np.add.reduceat(ends.astype(np.int64), np.concatenate(([0], np.cumsum(lens - 4)[:-1])))
    return values.reshape(-1, slots) if (per_blob == slots).all() else None


def _decode_float_list(blobs: list[bytes], slots: int) -> np.ndarray | None:
    """``Value(float_list_val=FloatList(val=[...]))`` = 0x82 0x01 L1 0x0a L2 + 4*slots bytes."""
    width = 5 + 4 * slots
    joined = b"".join(blobs)
    if len(joined) != width * len(blobs) or 4 * slots + 2 >= 128:
        return None
    rec = np.frombuffer(joined, dtype=[("h", "u1", 5), ("v", "<f4", slots)])
    head = np.array([0x82, 0x01, 4 * slots + 2, 0x0A, 4 * slots], dtype=np.uint8)
    return rec["v"].copy() if (rec["h"] == head).all() else None


def _proto_value(blob: bytes):
    from feast.protos.feast.types.Value_pb2 import Value

    v = Value()
    v.ParseFromString(blob)
    kind = v.WhichOneof("val")
    if kind is None:
        return None
    got = getattr(v, kind)
    return list(got.val) if kind.endswith("_list_val") else got


def _fallback_scalar(blobs: list[bytes], dtype) -> np.ndarray:
    return np.array([_proto_value(b) for b in blobs], dtype=dtype)


def _fallback_list(blobs: list[bytes], slots: int, fill, dtype) -> np.ndarray:
    out = np.full((len(blobs), slots), fill, dtype=dtype)
    for i, b in enumerate(blobs):
        vals = (_proto_value(b) or [])[:slots]
        out[i, : len(vals)] = vals
    return out


class CandidateFetcher:
    """Reuse one per process (or thread): it holds the key layout and a Redis socket."""

    def __init__(self, store=None, *, topic_slots: int = TOPIC_SLOTS, user_slots: int | None = None):
        from feast.infra.online_stores.redis import RedisOnlineStore

        from mtl.settings import get_settings

        store = store or open_store()
        config = store.config
        self.topic_slots = topic_slots
        self.user_slots = user_slots or get_settings().ranker.top_topics
        version = config.entity_key_serialization_version
        project = config.project.encode()
        nodes, params = RedisOnlineStore._parse_connection_string(config.online_store.connection_string)
        pw = params.get("password")
        self._conn = _RespSocket(
            nodes[0]["host"],
            int(nodes[0]["port"]),
            int(params.get("db", 0) or 0),
            None if pw is None else str(pw),
            params.get("username"),
            _tls_context(params) if params.get("ssl", False) else None,
        )
        self._lock = threading.Lock()
        video_fields = [_mmh3(f"{fv}:{f}") for fv, f in VIDEO_FEATURES]
        user_fields = [_mmh3(f"{fv}:{f}") for fv, f in USER_FEATURES]
        vprefix = _entity_key_prefix("video_id", version)
        uprefix = _entity_key_prefix("user_id", version)
        # One HMGET per video: [head][8 id bytes][tail]; packed for all rows at once with numpy.
        vkey_len = len(vprefix) + 8 + len(project)
        head = b"*%d\r\n$5\r\nHMGET\r\n$%d\r\n" % (2 + len(video_fields), vkey_len) + vprefix
        tail = project + b"\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(f), f) for f in video_fields)
        self._row_template = np.frombuffer(head + b"\0" * 8 + tail, dtype=np.uint8)
        self._id_offset = len(head)
        self._user_cmd = (uprefix, project, user_fields)

    def close(self) -> None:
        self._conn.close()

    def _user_command(self, user_id: int) -> bytes:
        uprefix, project, fields = self._user_cmd
        return _resp(b"HMGET", uprefix + struct.pack("<q", int(user_id)) + project, *fields)

    def fetch(self, video_ids, user_id: int) -> CandidateFeatures:
        ids = np.ascontiguousarray(np.asarray(video_ids, dtype=np.int64).reshape(-1))
        n = ids.size
        rows = np.tile(self._row_template, (n, 1))
        rows[:, self._id_offset : self._id_offset + 8] = ids.astype("<i8").view(np.uint8).reshape(n, 8)
        payload = rows.tobytes() + self._user_command(user_id)
        with self._lock:
            replies = self._conn.pipeline(payload, n + 1)
        user_reply = replies.pop()
        return self._decode(ids, replies, user_reply)

    def _decode(self, ids: np.ndarray, replies: list, user_reply: list) -> CandidateFeatures:
        n = ids.size
        slots = self.topic_slots
        cols = list(zip(*replies, strict=True)) if n else [()] * len(VIDEO_FEATURES)

        def column(i: int):
            col = cols[i]
            mask = np.fromiter((b is not None for b in col), dtype=bool, count=n)
            blobs = [b for b in col if b is not None]
            return mask, blobs

        def scalar(i, decoder, dtype, default):
            mask, blobs = column(i)
            out = np.full(n, default, dtype=dtype)
            if blobs:
                vals = decoder(blobs)
                out[mask] = vals if vals is not None else _fallback_scalar(blobs, dtype)
            return out, mask

        def listed(i, decoder, dtype, fill):
            mask, blobs = column(i)
            out = np.full((n, slots), fill, dtype=dtype)
            if blobs:
                vals = decoder(blobs, slots)
                out[mask] = vals if vals is not None else _fallback_list(blobs, slots, fill, dtype)
            return out, mask

        topic_ids, topics_found = listed(0, _decode_int64_list, np.int64, DEFAULT_TOPIC_ID)
        topic_scores, _ = listed(1, _decode_float_list, np.float32, DEFAULT_SCORE)
        n_topics, _ = scalar(2, _decode_int64, np.int64, DEFAULT_COUNT)
        exposures, _ = scalar(3, _decode_int64, np.int64, DEFAULT_COUNT)
        clicks, _ = scalar(4, _decode_int64, np.int64, DEFAULT_COUNT)
        ctr, stats_found = scalar(5, _decode_float, np.float32, DEFAULT_CTR)

        top_blob, recent_blob = user_reply
        user_top = np.full(self.user_slots, DEFAULT_TOPIC_ID, dtype=np.int64)
        if top_blob is not None:
            vals = (_proto_value(top_blob) or [])[: self.user_slots]
            user_top[: len(vals)] = vals
        recent = _proto_value(recent_blob) if recent_blob is not None else None
        return CandidateFeatures(
            video_ids=ids,
            topic_ids=topic_ids,
            topic_scores=topic_scores,
            n_topics=n_topics,
            exposures=exposures,
            clicks=clicks,
            ctr=ctr,
            topics_found=topics_found,
            stats_found=stats_found,
            user_top_topics=user_top,
            user_recent_clicks=int(recent) if recent is not None else DEFAULT_COUNT,
            user_found=top_blob is not None or recent_blob is not None,
        )


_default: CandidateFetcher | None = None


def fetch_candidate_features(
    video_ids, user_id: int, *, fetcher: CandidateFetcher | None = None
) -> CandidateFeatures:
    """Features of the candidate videos and the user, from the project's online store, in one round trip."""
    global _default
    if fetcher is None:
        if _default is None:
            _default = CandidateFetcher()
        fetcher = _default
    return fetcher.fetch(video_ids, user_id)
