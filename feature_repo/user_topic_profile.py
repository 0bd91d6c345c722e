"""A user's top topics (N2 slots, padded with -1) from recent clicks, pushed by the stream worker."""

from datetime import timedelta

from entities import user
from feast import FeatureView, Field, FileSource, PushSource
from feast.types import Array, Int64

user_topic_profile_file = FileSource(
    name="user_topic_profile_file",
    path="data/offline/user_topic_profile.parquet",
    timestamp_field="event_timestamp",
    description="Offline copy of every push, for point-in-time training data.",
)

user_topic_profile_push = PushSource(name="user_topic_profile_push", batch_source=user_topic_profile_file)

user_topic_profile = FeatureView(
    name="user_topic_profile",
    entities=[user],
    ttl=timedelta(days=30),
    schema=[
        Field(name="top_topics", dtype=Array(Int64), description="N2 slots, padded with -1."),
        Field(name="recent_clicks", dtype=Int64),
    ],
    source=user_topic_profile_push,
    online=True,
)
