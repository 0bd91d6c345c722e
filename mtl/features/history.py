"""Ranker training data the Feast way: point-in-time joins with ``get_historical_features``."""

from __future__ import annotations

import pandas as pd

from mtl.errors import DataError
from mtl.features.store import open_store

TRAINING_FEATURES = "ranker"  # the FeatureService


def training_data(interactions: pd.DataFrame, *, store=None) -> pd.DataFrame:
    """The ``ranker`` features of each interaction row as they were at that instant.

    Rows hold user_id, video_id, event_timestamp (or ts) and any labels. Each feature is the newest value
    at or before the row's time and within the view's TTL, so nothing that happened after an exposure
    leaks into its row. Row order and extra columns are kept.
    """
    df = interactions.copy()
    if "event_timestamp" not in df.columns and "ts" in df.columns:
        df = df.rename(columns={"ts": "event_timestamp"})
    missing = [c for c in ("user_id", "video_id", "event_timestamp") if c not in df.columns]
    if missing:
        raise DataError(f"interactions: missing column(s) {', '.join(missing)}")
    ts = pd.to_datetime(df["event_timestamp"])
    df["event_timestamp"] = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    df["user_id"] = df["user_id"].astype("int64")
    df["video_id"] = df["video_id"].astype("int64")
    df["_row"] = range(len(df))
    store = store or open_store()
    service = store.get_feature_service(TRAINING_FEATURES)
    out = store.get_historical_features(entity_df=df, features=service).to_df()
    return out.sort_values("_row").drop(columns="_row").reset_index(drop=True)
