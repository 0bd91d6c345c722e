"""Entities: a video and a user, both keyed by an int64 id."""

from feast import Entity, ValueType

video = Entity(name="video", join_keys=["video_id"], value_type=ValueType.INT64, description="A video.")
user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64, description="A user.")
