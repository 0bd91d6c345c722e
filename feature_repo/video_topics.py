"""Topic IDs of a video: from topic learning (batch), or pushed by the stream for fresh videos.

Batch rows are the ``video_topics.parquet`` files that ``mtl register`` places in
``data/offline/video_topics/``, one file per model version; the newest event_timestamp per video wins.
"""

from datetime import timedelta

from entities import video
from feast import FeatureView, Field, FileSource, PushSource
from feast.types import Array, Float32, Int64, String

video_topics_file = FileSource(
    name="video_topics_file",
    path="data/offline/video_topics",
    timestamp_field="event_timestamp",
    description="One parquet file per registered topic model version.",
)

video_topics_push = PushSource(name="video_topics_push", batch_source=video_topics_file)

video_topics = FeatureView(
    name="video_topics",
    entities=[video],
    ttl=timedelta(days=365),
    schema=[
        Field(name="topic_ids", dtype=Array(Int64), description="8 slots, padded with -1."),
        Field(name="topic_scores", dtype=Array(Float32), description="Cosine to each topic centre, 8 slots."),
        Field(name="n_topics", dtype=Int64),
        Field(name="model_version", dtype=String),
    ],
    source=video_topics_push,
    online=True,
)
