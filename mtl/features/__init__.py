"""Topic features in Feast: ``feature_repo/``, registration, pushes, training data, online fetch."""

from mtl.features.fetch import CandidateFeatures, CandidateFetcher, fetch_candidate_features
from mtl.features.history import training_data
from mtl.features.push import push_user_topic_profile, push_video_stats, push_video_topics
from mtl.features.register import Registration, register_topics, validate_topics_table
from mtl.features.store import apply_repo, open_store, redis_connection_string

__all__ = [
    "CandidateFeatures",
    "CandidateFetcher",
    "Registration",
    "apply_repo",
    "fetch_candidate_features",
    "open_store",
    "push_user_topic_profile",
    "push_video_stats",
    "push_video_topics",
    "redis_connection_string",
    "register_topics",
    "training_data",
    "validate_topics_table",
]
