"""Where topic models of one corpus live: one directory per model_version, newest found by name."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from mtl.errors import DataError
from topic_learning.model import TopicModel
from topic_learning.pipeline import LearnReport

VIDEO_TOPICS_FILE = "video_topics.parquet"
REPORT_FILE = "report.json"


class ModelRegistry:
    """``<root>/<model_version>/`` holds a :class:`TopicModel`, its ``video_topics`` and its report."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        # Versions start with a UTC timestamp, so name order is training order.
        return sorted(p.name for p in self.root.iterdir() if (p / "model.json").is_file())

    def latest(self) -> TopicModel | None:
        versions = self.versions()
        return TopicModel.load(self.root / versions[-1]) if versions else None

    def load(self, directory: Path) -> TopicModel:
        if not (Path(directory) / "model.json").is_file():
            raise DataError(f"{directory}: not a topic model directory (model.json missing)")
        return TopicModel.load(directory)

    def save(
        self,
        model: TopicModel,
        video_topics: pd.DataFrame,
        report: LearnReport,
        *,
        directory: Path | None = None,
    ) -> Path:
        path = Path(directory) if directory is not None else self.root / model.model_version
        model.save(path)
        video_topics.to_parquet(path / VIDEO_TOPICS_FILE, index=False)
        (path / REPORT_FILE).write_text(json.dumps(asdict(report), indent=2))
        return path
