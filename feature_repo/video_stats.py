"""Exposure and click counters of a video, pushed by the stream worker (online and offline)."""

from datetime import timedelta

from entities import video
from feast import FeatureView, Field, FileSource, PushSource
from feast.types import Float32, Int64, UnixTimestamp

video_stats_file = FileSource(
    name="video_stats_file",
    path="data/offline/video_stats.parquet",
    timestamp_field="event_timestamp",
    description="Offline copy of every push, for point-in-time training data.",
)

video_stats_push = PushSource(name="video_stats_push", batch_source=video_stats_file)

video_stats = FeatureView(
    name="video_stats",
    entities=[video],
    ttl=timedelta(days=7),
    schema=[
        Field(name="exposures", dtype=Int64),
        Field(name="clicks", dtype=Int64),
        Field(name="ctr", dtype=Float32, description="Smoothed click-through rate."),
        Field(name="updated_at", dtype=UnixTimestamp),
    ],
    source=video_stats_push,
    online=True,
)
