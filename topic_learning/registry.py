"""Where topic models of one corpus live: one directory per model_version, newest found by name."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from mtl.errors import DataError
from mtl.settings import LearningSettings
from topic_learning.data import Dataset
from topic_learning.model import TopicModel
from topic_learning.pipeline import LearnReport, learn_topics

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

    def latest_with_topics(self, corpus: str) -> Path:
        """The newest version directory holding its ``video_topics`` (what rankers and evaluations read)."""
        versions = [v for v in self.versions() if (self.root / v / VIDEO_TOPICS_FILE).is_file()]
        if not versions:
            raise DataError(
                f"no topic model for {corpus} under {self.root}: run `mtl learn --corpus {corpus}` first"
            )
        return self.root / versions[-1]

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
        trained_on: str = "",
    ) -> Path:
        path = Path(directory) if directory is not None else self.root / model.model_version
        model.save(path)
        video_topics.to_parquet(path / VIDEO_TOPICS_FILE, index=False)
        (path / REPORT_FILE).write_text(json.dumps({**asdict(report), "trained_on": trained_on}, indent=2))
        return path

    def reusable(self, *, trained_on: str, settings: LearningSettings) -> Path | None:
        """The latest model if it was trained on ``trained_on`` with exactly these settings."""
        versions = self.versions()
        if not versions:
            return None
        path = self.root / versions[-1]
        try:
            report = json.loads((path / REPORT_FILE).read_text())
            meta = json.loads((path / "model.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None
        same = report.get("trained_on") == trained_on and meta.get("settings") == settings.model_dump(
            mode="json"
        )
        return path if same and (path / VIDEO_TOPICS_FILE).is_file() else None


def learn_and_save(
    dataset: Dataset,
    settings: LearningSettings,
    registry: ModelRegistry,
    *,
    previous: TopicModel | None,
    progress: bool = True,
    directory: Path | None = None,
) -> tuple[Path, TopicModel, LearnReport]:
    """Train on a data set, assign its topics and store all of it as a new model version."""
    model, video_topics, report = learn_topics(dataset.videos, settings, previous=previous, progress=progress)
    path = registry.save(
        model, video_topics, report, directory=directory, trained_on=str(dataset.root or dataset.source)
    )
    return path, model, report


def report_lines(report: LearnReport, model: TopicModel) -> list[str]:
    """Human summary of a training run, for ``mtl learn`` and ``mtl demo``."""
    lines = [f"  note: {note}" for note in report.notes]
    lines.append(
        f"  videos {report.n_videos}, topics {report.n_topics} (K-means {report.kmeans_topics}), "
        f"tau_3 {report.topic_threshold:.3f}, mean topics per video {report.mean_topics_per_video:.2f}, "
        f"tag weight {report.tag_weight:g} (untagged: {report.untagged_tags}), "
        f"videos without known tags {report.videos_without_tags}"
    )
    if model.previous_version:
        lines.append(
            f"  topic IDs vs {model.previous_version}: kept {report.kept_topic_ids}, "
            f"new {report.new_topic_ids}, retired {report.retired_topic_ids} "
            f"(of which {len(report.merged_into)} merged into a kept topic)"
        )
    lines.append("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()))
    return lines
