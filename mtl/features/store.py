"""Open the project's Feast repository against the configured Redis, and the offline files it reads.

``feature_repo/feature_store.yaml`` reads the online store's connection string from ``FEAST_REDIS_CONNECTION``
(Feast expands ``${VAR}`` in that file); :func:`open_store` sets it from the ``redis_url`` setting, and
``mtl features env`` prints it for Feast's own CLI.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from mtl.connections import redis_tls_kwargs
from mtl.errors import ConfigError, ServiceError, first_line
from mtl.settings import RedisSettings, Settings, get_settings

REDIS_ENV_VAR = "FEAST_REDIS_CONNECTION"

VIDEO_TOPICS_DIR = Path("data/offline/video_topics")
VIDEO_STATS_FILE = Path("data/offline/video_stats.parquet")
USER_TOPIC_PROFILE_FILE = Path("data/offline/user_topic_profile.parquet")

_TS = pa.timestamp("us", tz="UTC")

VIDEO_TOPICS_SCHEMA = pa.schema(
    [
        ("video_id", pa.int64()),
        ("topic_ids", pa.list_(pa.int64())),
        ("topic_scores", pa.list_(pa.float32())),
        ("n_topics", pa.int64()),
        ("model_version", pa.string()),
        ("event_timestamp", _TS),
    ]
)
VIDEO_STATS_SCHEMA = pa.schema(
    [
        ("video_id", pa.int64()),
        ("exposures", pa.int64()),
        ("clicks", pa.int64()),
        ("ctr", pa.float32()),
        ("updated_at", _TS),
        ("event_timestamp", _TS),
    ]
)
USER_TOPIC_PROFILE_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("top_topics", pa.list_(pa.int64())),
        ("recent_clicks", pa.int64()),
        ("event_timestamp", _TS),
    ]
)


def redis_connection_string(url: str, tls: RedisSettings | None = None) -> str:
    """``redis://[user:password@]host:port/db`` as Feast's connection string.

    That is ``host:port,db=N[,username=..][,password=..][,ssl=true]``, plus for ``rediss://`` the TLS files
    of ``tls`` as redis-py's ``ssl_*`` arguments, which Feast passes on to ``redis.Redis``.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        raise ConfigError(f"redis_url must start with redis:// or rediss://, got {url!r}")
    host = parsed.hostname or "localhost"
    try:
        port = parsed.port or 6379
    except ValueError:
        raise ConfigError(f"redis_url has a bad port: {url!r}") from None
    path = parsed.path.strip("/")
    if path and not path.isdigit():
        raise ConfigError(f"redis_url database must be a number, got {path!r}")
    parts = [f"{host}:{port}", f"db={int(path) if path else 0}"]
    if parsed.username:
        parts.append(f"username={unquote(parsed.username)}")
    if parsed.password:
        password = unquote(parsed.password)
        if "," in password:
            raise ConfigError("a Redis password for Feast cannot contain ','")
        parts.append(f"password={password}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    for name, value in (redis_tls_kwargs(url, tls) if tls is not None else {}).items():
        if "," in value:
            raise ConfigError(f"redis.{name} for Feast cannot contain ',': {value!r}")
        parts.append(f"{name}={value}")
    return ",".join(parts)


def ensure_offline_files(repo_path: Path) -> None:
    """Create the push sources' offline parquet files (empty, right schema) and the topics directory.

    Feast's file offline store appends pushes to an existing file, so the files must exist first.
    """
    (repo_path / VIDEO_TOPICS_DIR).mkdir(parents=True, exist_ok=True)
    for rel, schema in (
        (VIDEO_STATS_FILE, VIDEO_STATS_SCHEMA),
        (USER_TOPIC_PROFILE_FILE, USER_TOPIC_PROFILE_SCHEMA),
    ):
        path = repo_path / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(schema.empty_table(), path)


def open_store(repo_path: Path | None = None, settings: Settings | None = None):
    """A ``feast.FeatureStore`` on ``repo_path`` (default: ``feast_repo_path``) and ``redis_url``."""
    from feast import FeatureStore

    settings = settings or get_settings()
    repo_path = Path(repo_path or settings.feast_repo_path)
    if not (repo_path / "feature_store.yaml").is_file():
        raise ConfigError(f"not a Feast repository (no feature_store.yaml): {repo_path}")
    os.environ[REDIS_ENV_VAR] = redis_connection_string(settings.redis_url, settings.redis)
    ensure_offline_files(repo_path)
    try:
        return FeatureStore(repo_path=str(repo_path))
    except Exception as exc:  # Feast raises many types for a bad repo; the user needs one line
        raise ConfigError(f"cannot open Feast repository {repo_path}: {first_line(exc)}") from None


def apply_repo(store) -> None:
    """``feast apply`` from Python: register every definition in the store's repository."""
    import contextlib
    import io
    import sys

    from feast.repo_operations import apply_total

    repo_path = Path(store.repo_path).resolve()
    cwd, path0 = os.getcwd(), list(sys.path)
    sys.path.insert(0, str(repo_path))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            apply_total(store.config, repo_path, skip_source_validation=True)
    except Exception as exc:
        raise ServiceError(f"feast apply failed in {repo_path}: {first_line(exc)}") from None
    finally:
        os.chdir(cwd)
        sys.path[:] = path0
    store.refresh_registry()


def copy_repo(dest: Path, project: str, source: Path | None = None) -> Path:
    """A copy of the feature repo's definitions at ``dest`` with its own project name (keys, registry, data).

    Tests and benchmarks use it so they never touch the user's registry or online rows.
    """
    import shutil

    source = Path(source or get_settings().feast_repo_path)
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.suffix == ".py" or item.name == ".feastignore":
            shutil.copy2(item, dest / item.name)
    text = (source / "feature_store.yaml").read_text()
    lines = [f"project: {project}" if ln.startswith("project:") else ln for ln in text.splitlines()]
    (dest / "feature_store.yaml").write_text("\n".join(lines) + "\n")
    return dest


def delete_project_keys(redis_url: str, project: str, *, settings: Settings | None = None) -> int:
    """Delete every online row of ``project`` (keys end with the project name).

    TLS files come from ``settings`` (default: the process settings).
    """
    import redis

    tls = redis_tls_kwargs(redis_url, (settings or get_settings()).redis)
    client = redis.Redis.from_url(redis_url, **tls)
    try:
        keys = list(client.scan_iter(match=f"*{project}", count=5000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
        return len(keys)
    finally:
        client.close()
