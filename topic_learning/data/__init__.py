"""Data sets in one canonical form: synthetic data with planted topics, KuaiRec and MovieLens."""

from topic_learning.data.dataset import Dataset, prepare_directory
from topic_learning.data.kuairec import load_kuairec
from topic_learning.data.movielens import load_movielens
from topic_learning.data.schema import (
    INTERACTIONS_SCHEMA,
    SCHEMA_VERSION,
    USERS_SCHEMA,
    VIDEOS_SCHEMA,
    validate_interactions,
    validate_users,
    validate_videos,
)
from topic_learning.data.synthetic import TAXONOMY, SyntheticConfig, generate, tag_vocabulary

LOADERS = {"kuairec": load_kuairec, "movielens": load_movielens}
"""Real data sets by name: each loader reads ``<data_dir>/<its folder>`` in place."""

__all__ = [
    "INTERACTIONS_SCHEMA",
    "LOADERS",
    "SCHEMA_VERSION",
    "TAXONOMY",
    "USERS_SCHEMA",
    "VIDEOS_SCHEMA",
    "Dataset",
    "SyntheticConfig",
    "generate",
    "load_kuairec",
    "load_movielens",
    "prepare_directory",
    "tag_vocabulary",
    "validate_interactions",
    "validate_users",
    "validate_videos",
]
