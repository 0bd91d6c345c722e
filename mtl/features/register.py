"""``mtl register``: put a topic model's ``video_topics.parquet`` into the Feast repo and the online store."""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mtl.errors import DataError, ServiceError
from mtl.features.store import VIDEO_TOPICS_DIR, VIDEO_TOPICS_SCHEMA, apply_repo, open_store
from mtl.settings import Settings, get_settings

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Registration:
    model_version: str
    rows: int
    path: Path
    copied: bool  # False: the same table was already registered (idempotent re-run)


def read_topics_table(path: Path, *, slots: int) -> pa.Table:
    """Read and validate a ``video_topics`` table; any problem is one ``DataError`` line naming the file."""
    if not Path(path).is_file():
        raise DataError(f"topics table not found: {path}")
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise DataError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0][:200]})") from None
    return validate_topics_table(table, slots=slots, name=str(path))


def validate_topics_table(table: pa.Table, *, slots: int, name: str = "topics table") -> pa.Table:
    """The table cast to :data:`VIDEO_TOPICS_SCHEMA` (column order too), or ``DataError``."""
    missing = [f.name for f in VIDEO_TOPICS_SCHEMA if f.name not in table.column_names]
    if missing:
        raise DataError(f"{name}: missing column(s) {', '.join(missing)}")
    columns = []
    for field in VIDEO_TOPICS_SCHEMA:
        col = table[field.name]
        if field.name == "event_timestamp" and pa.types.is_timestamp(col.type) and col.type.tz is None:
            raise DataError(f"{name}: event_timestamp must be timezone-aware (UTC)")
        try:
            columns.append(col.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise DataError(f"{name}: column {field.name} is {col.type}, expected {field.type}") from None
    table = pa.Table.from_arrays(columns, schema=VIDEO_TOPICS_SCHEMA)
    if table.num_rows == 0:
        raise DataError(f"{name}: no rows")
    for col in table.column_names:
        if table[col].null_count:
            raise DataError(f"{name}: column {col} has {table[col].null_count} null value(s)")
    for col in ("topic_ids", "topic_scores"):
        lengths = pc.list_value_length(table[col]).to_numpy()
        bad = np.flatnonzero(lengths != slots)
        if bad.size:
            raise DataError(
                f"{name}: {col} must have {slots} slots; row {int(bad[0])} has {int(lengths[bad[0]])} "
                f"({bad.size} bad row(s))"
            )
    ids = np.asarray(table["topic_ids"].combine_chunks().flatten()).reshape(-1, slots)
    if (ids < -1).any():
        raise DataError(f"{name}: topic_ids must be >= 0, or -1 for an empty slot")
    counted = (ids >= 0).sum(axis=1)
    n_topics = table["n_topics"].to_numpy()
    bad = np.flatnonzero(counted != n_topics)
    if bad.size:
        raise DataError(
            f"{name}: n_topics disagrees with topic_ids in {bad.size} row(s), first row {int(bad[0])}"
        )
    versions = pc.unique(table["model_version"]).to_pylist()
    if len(versions) != 1:
        raise DataError(f"{name}: expected one model_version, found {len(versions)}")
    if not _VERSION_RE.match(versions[0]):
        raise DataError(f"{name}: model_version {versions[0]!r} is empty or not usable as a file name")
    keys = pa.table({"v": table["video_id"], "t": table["event_timestamp"]})
    if keys.group_by(["v", "t"]).aggregate([]).num_rows != table.num_rows:
        raise DataError(f"{name}: duplicate video_id for the same event_timestamp")
    return table


def register_topics(
    path: Path, *, repo_path: Path | None = None, settings: Settings | None = None
) -> Registration:
    """Validate, place under ``data/offline/video_topics/``, apply the repo, materialise the new rows.

    Never overwrites another model version's file; re-registering the same table changes nothing.
    Online, each video keeps the row with the newest event_timestamp, so a newer model version
    replaces the topics of every video it covers.
    """
    settings = settings or get_settings()
    table = read_topics_table(Path(path), slots=settings.learning.topic_slots)
    version = table["model_version"][0].as_py()
    store = open_store(repo_path, settings)
    out_dir = Path(store.repo_path) / VIDEO_TOPICS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"video_topics-{version}.parquet"
    copied = True
    if dest.exists():
        if not pq.read_table(dest).equals(table):
            raise DataError(f"{path}: model_version {version} is already registered with other rows ({dest})")
        copied = False
    else:
        tmp = out_dir / f".tmp-{version}-{os.getpid()}.parquet"  # dot files are not read by the source
        pq.write_table(table, tmp)
        os.replace(tmp, dest)
    apply_repo(store)
    ts = table["event_timestamp"]
    start = pc.min(ts).as_py()
    end = pc.max(ts).as_py() + timedelta(seconds=1)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            store.materialize(start_date=start, end_date=end, feature_views=["video_topics"])
    except Exception as exc:
        raise ServiceError(f"materialising video_topics failed: {str(exc).splitlines()[0][:300]}") from None
    return Registration(version, table.num_rows, dest, copied)
