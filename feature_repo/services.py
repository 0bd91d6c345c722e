"""What the ranker reads for one (user, candidate video) pair."""

from feast import FeatureService
from user_topic_profile import user_topic_profile
from video_stats import video_stats
from video_topics import video_topics

ranker = FeatureService(
    name="ranker",
    features=[
        video_topics[["topic_ids", "topic_scores", "n_topics"]],
        video_stats[["exposures", "clicks", "ctr"]],
        user_topic_profile,
    ],
    description="Features of the Wide&Deep ranker.",
)
