"""Push functions for the stream worker and the ranker: rows go straight to Feast's PushSources.

``video_topics`` pushes are online only (topics of freshly published videos; the offline topics are the
registered model files). ``video_stats`` and ``user_topic_profile`` go online and offline, so training
data can be rebuilt point in time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from mtl.errors import DataError
from mtl.features.register import validate_topics_table
from mtl.features.store import USER_TOPIC_PROFILE_SCHEMA, VIDEO_STATS_SCHEMA, open_store
from mtl.settings import get_settings


def _conform(df: pd.DataFrame, schema: pa.Schema, name: str) -> pd.DataFrame:
    missing = [f.name for f in schema if f.name not in df.columns]
    if missing:
        raise DataError(f"{name}: missing column(s) {', '.join(missing)}")
    try:
        table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise DataError(f"{name}: {str(exc).splitlines()[0][:200]}") from None
    return table.to_pandas()


def _push(name: str, df: pd.DataFrame, offline: bool, store) -> None:
    from feast.data_source import PushMode

    store = store or open_store()
    store.push(name, df, to=PushMode.ONLINE_AND_OFFLINE if offline else PushMode.ONLINE)


def push_video_topics(df: pd.DataFrame, *, store=None) -> None:
    """Topics of freshly published videos, online only (same columns and checks as ``mtl register``)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = validate_topics_table(table, slots=get_settings().learning.topic_slots, name="video topics push")
    _push("video_topics_push", table.to_pandas(), False, store)


def push_video_stats(df: pd.DataFrame, *, store=None) -> None:
    """Per-video counters (video_id, exposures, clicks, ctr, updated_at, event_timestamp).

    Written online and offline.
    """
    _push("video_stats_push", _conform(df, VIDEO_STATS_SCHEMA, "video stats push"), True, store)


def push_user_topic_profile(df: pd.DataFrame, *, store=None) -> None:
    """Per-user top topics (user_id, top_topics [N2, -1 padded], recent_clicks, event_timestamp).

    Written online and offline.
    """
    slots = get_settings().ranker.top_topics
    out = _conform(df, USER_TOPIC_PROFILE_SCHEMA, "user topic profile push")
    lengths = np.array([len(v) for v in out["top_topics"]])
    if (lengths != slots).any():
        raise DataError(f"user topic profile push: top_topics must have {slots} slots")
    _push("user_topic_profile_push", out, True, store)
