"""Topics of videos for the stream worker: cache, topics file, Feast's online store, the topic model.

Known videos get their topics from ``stream.topics_file`` (a ``video_topics`` parquet) or Feast's online
``video_topics``; freshly published ones from the latest topic model (``TopicModel.assign``, batched),
after which their ``video_topics`` are pushed to Feast. A video whose topics are unknown gets none (and
enters no queue); answers are cached for the life of the worker.
"""

from __future__ import annotations

import logging

from mtl.errors import first_line
from mtl.settings import Settings
from streams.events import VideoPublished

log = logging.getLogger("streams.topics")


class TopicResolver:
    """Topics of videos: cache, then ``stream.topics_file``, then Feast's online ``video_topics``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.s = settings.stream
        self.cache: dict[int, tuple[int, ...]] = {}
        self._file: dict[int, tuple[int, ...]] | None = None
        self._fetcher = None
        self._feast_failed = False
        self._model = None
        self._model_loaded = False

    def _from_file(self) -> dict[int, tuple[int, ...]]:
        if self._file is None:
            self._file = {}
            if self.s.topics_file is not None:
                import pandas as pd

                from streams.queues import topics_of

                self._file = topics_of(pd.read_parquet(self.s.topics_file, columns=["video_id", "topic_ids"]))
        return self._file

    def _from_feast(self, ids: list[int]) -> dict[int, tuple[int, ...]]:
        if self._feast_failed or not ids:
            return {}
        try:
            if self._fetcher is None:
                from mtl.features import CandidateFetcher, open_store

                self._fetcher = CandidateFetcher(open_store(settings=self.settings))
            got = self._fetcher.fetch(ids, 0)
        except Exception as exc:  # noqa: BLE001 - no registry or store: queue nothing for those videos
            log.warning("Feast video_topics unavailable (%s); unknown videos get no topics", first_line(exc))
            self._feast_failed = True
            return {}
        out = {}
        for vid, row, found in zip(ids, got.topic_ids, got.topics_found, strict=True):
            if found:
                out[vid] = tuple(int(t) for t in row if t >= 0)
        return out

    def resolve(self, ids) -> None:
        """Fill the cache for ``ids`` (blocking; call in a thread). Unknown videos cache as no topics."""
        missing = [v for v in ids if v not in self.cache]
        if not missing:
            return
        f = self._from_file()
        rest = []
        for v in missing:
            if v in f:
                self.cache[v] = f[v]
            else:
                rest.append(v)
        feast = self._from_feast(rest)
        for v in rest:
            self.cache[v] = feast.get(v, ())

    def model(self):
        if not self._model_loaded:
            self._model_loaded = True
            if self.s.assign_with_model:
                from topic_learning.registry import ModelRegistry

                try:
                    self._model = ModelRegistry(
                        self.settings.artifact_dir / "topics" / self.s.model_corpus
                    ).latest()
                except Exception as exc:  # noqa: BLE001
                    log.warning(
                        "topic model unavailable (%s); published videos use Feast topics", first_line(exc)
                    )
        return self._model

    def assign(self, published: list[VideoPublished]) -> None:
        """Topics of freshly published videos (model, batched), pushed to Feast; else resolved."""
        model = self.model()
        if model is None:
            self.resolve([p.video_id for p in published])
            return
        import pandas as pd

        df = pd.DataFrame(
            {
                "video_id": [p.video_id for p in published],
                "title": [p.title for p in published],
                "tags": [list(p.tags) for p in published],
                "primary_class": [p.primary_class for p in published],
                "secondary_class": [p.secondary_class for p in published],
                "cover": [p.cover for p in published],
                "published_at": pd.to_datetime([p.ts for p in published], unit="s", utc=True),
            }
        )
        rows = model.assign(df)
        for vid, ids in zip(rows["video_id"], rows["topic_ids"], strict=True):
            self.cache[int(vid)] = tuple(int(t) for t in ids if t >= 0)
        if self.s.feast_push:
            from mtl.features import push_video_topics

            push_video_topics(rows)
