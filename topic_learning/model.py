"""The topic model as a versioned artifact: everything needed to assign topics to a new video.

On disk (no pickles of live objects)::

    <dir>/model.json          version, settings, label space, MMoE config, topic-ID bookkeeping
    <dir>/net.safetensors     fine-tuned encoders + MMoE weights
    <dir>/centres.safetensors topic centres and their stable topic IDs
    <dir>/topics.faiss        inner-product index over the centres
    <dir>/tags/               tag embedding table (see topic_learning.tags)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file as save_torch

from mtl.errors import DataError
from mtl.settings import LearningSettings
from topic_learning.clustering import HalfMeans, assign_topics, centre_index
from topic_learning.encoders import build_image_encoder, build_text_encoder
from topic_learning.mmoe import MMoE, MMoEConfig
from topic_learning.tag_weight import TagHalf
from topic_learning.tags import TagEmbedding
from topic_learning.training import LabelSpace, MultimodalNet, embed_videos_and_tags

FORMAT_VERSION = 1
PAPER_TOPIC_THRESHOLD = 0.6


@dataclass
class TopicModel:
    """Encoders + MMoE, tag embeddings and topic centres, with stable topic IDs.

    Attributes
    ----------
    model_version : str
        Unique, sortable by training time.
    settings : LearningSettings
        The settings the model was trained with (assignment reuses tau_3, slots, min_topics).
    labels : LabelSpace
        Classes of the three MMoE tasks.
    net : MultimodalNet
        Fine-tuned encoders and MMoE head.
    tag_embedding : TagEmbedding or None
        Skip-gram tag vectors; None when the corpus has no tags.
    centres : ndarray of float32, shape (K, d)
        Unit topic centres.
    means : HalfMeans or None
        Corpus means of the representation halves, subtracted before the cosine.
    topic_ids : ndarray of int64, shape (K,)
        The stable ID of each centre.
    next_topic_id : int
        The first ID never used by this model's lineage.
    retired_topic_ids : list of int
        IDs of earlier versions that no centre carries any more.
    merged_into : dict of int to int
        Retired IDs of the previous version whose topic lives on in another ID (merged by the retrain).
    threshold : float
        tau_3 in force: ``settings.topic_threshold``, or the one calibrated when that is ``auto``.
    tag_half : TagHalf
        Weight of the tag half of ``a`` and what untagged videos get in it.
    """

    model_version: str
    settings: LearningSettings
    labels: LabelSpace
    net: MultimodalNet
    tag_embedding: TagEmbedding | None
    centres: np.ndarray
    topic_ids: np.ndarray
    next_topic_id: int
    means: HalfMeans | None = None
    retired_topic_ids: list[int] = field(default_factory=list)
    merged_into: dict[int, int] = field(default_factory=dict)
    previous_version: str | None = None
    has_image: bool = False
    has_text: bool = True
    pretrained: bool = True  # encoders started from packaged weights (this also fixes image normalisation)
    threshold: float | None = None  # None: settings.topic_threshold (a number in models before auto)
    tag_half: TagHalf = field(default_factory=TagHalf)
    index: faiss.Index | None = field(default=None, repr=False)  # built from the centres when not given

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = centre_index(self.centres)
        if self.threshold is None:
            chosen = self.settings.topic_threshold
            self.threshold = PAPER_TOPIC_THRESHOLD if chosen == "auto" else float(chosen)

    @cached_property
    def _tag_table(self) -> np.ndarray | None:
        # built once: the stream assigns published videos batch after batch
        return self.labels.tag_table(self.tag_embedding)

    @property
    def n_topics(self) -> int:
        return len(self.centres)

    def representations(self, videos: pd.DataFrame, *, progress: bool = False) -> np.ndarray:
        """``a`` for each video: L2-normalised [z || w * mean tag vector]."""
        tag_table = self._tag_table if self.tag_half.fill == "predicted" else None
        z, predicted = embed_videos_and_tags(
            self.net,
            videos,
            batch_size=self.settings.embed_batch_size,
            representation=self.settings.video_representation,
            tag_table=tag_table,
            progress=progress,
        )
        tag_vectors = has_tags = None
        if self.tag_embedding is not None:
            tag_vectors, has_tags = self.tag_embedding.video_vectors(list(videos["tags"]))
        return self.tag_half.representation(z, tag_vectors, has_tags, predicted, self.means)

    def assign(
        self, videos: pd.DataFrame, *, progress: bool = False, event_timestamp: datetime | None = None
    ) -> pd.DataFrame:
        """The ``video_topics`` rows of ``videos`` (fresh or known), computed in batches."""
        return self.assign_representations(
            videos["video_id"].to_numpy(), self.representations(videos, progress=progress), event_timestamp
        )

    def assign_representations(
        self, video_ids: np.ndarray, representations: np.ndarray, event_timestamp: datetime | None = None
    ) -> pd.DataFrame:
        s = self.settings
        ids, scores = assign_topics(
            representations,
            self.index,
            self.topic_ids,
            slots=s.topic_slots,
            threshold=self.threshold,
            min_topics=s.min_topics,
        )
        when = pd.Timestamp(event_timestamp or datetime.now(UTC))
        return pd.DataFrame(
            {
                "video_id": np.asarray(video_ids, dtype=np.int64),
                "topic_ids": list(ids),
                "topic_scores": list(scores),
                "n_topics": (ids >= 0).sum(axis=1).astype(np.int64),
                "model_version": self.model_version,
                "event_timestamp": when,
            }
        )

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: Path | str) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        save_torch(state, str(directory / "net.safetensors"))
        arrays = {
            "centres": np.ascontiguousarray(self.centres, dtype=np.float32),
            "topic_ids": self.topic_ids,
        }
        if self.means is not None:
            arrays["z_mean"] = np.ascontiguousarray(self.means.z, dtype=np.float32)
            if self.means.tags is not None:
                arrays["tag_mean"] = np.ascontiguousarray(self.means.tags, dtype=np.float32)
        save_numpy(arrays, str(directory / "centres.safetensors"))
        faiss.write_index(self.index, str(directory / "topics.faiss"))
        if self.tag_embedding is not None:
            self.tag_embedding.save(directory / "tags")
        meta = {
            "format_version": FORMAT_VERSION,
            "model_version": self.model_version,
            "previous_version": self.previous_version,
            "created_at": datetime.now(UTC).isoformat(),
            "settings": self.settings.model_dump(mode="json"),
            "labels": self.labels.to_dict(),
            "mmoe": self.net.mmoe.config.to_dict(),
            "has_image": self.has_image,
            "has_text": self.has_text,
            "pretrained": self.pretrained,
            "next_topic_id": int(self.next_topic_id),
            "retired_topic_ids": [int(i) for i in self.retired_topic_ids],
            "merged_into": {str(k): int(v) for k, v in self.merged_into.items()},
            "has_tags": self.tag_embedding is not None,
            "topic_threshold": self.threshold,
            "tag_weight": self.tag_half.weight,
            "untagged_tags": self.tag_half.fill,
        }
        (directory / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        return directory

    @classmethod
    def load(cls, directory: Path | str) -> TopicModel:
        directory = Path(directory)
        meta_path = directory / "model.json"
        if not meta_path.is_file():
            raise DataError(f"{meta_path}: not a topic model directory (model.json missing)")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{meta_path}: invalid JSON ({exc.msg})") from None
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataError(f"{meta_path}: unsupported format_version {meta.get('format_version')!r}")
        settings = LearningSettings.model_validate(meta["settings"])
        net = build_net(
            settings,
            MMoEConfig.from_dict(meta["mmoe"]),
            has_image=meta["has_image"],
            has_text=meta["has_text"],
            pretrained=meta["pretrained"],
        )
        net.load_state_dict(load_torch(str(directory / "net.safetensors")))
        net.eval()
        arrays = load_numpy(str(directory / "centres.safetensors"))
        return cls(
            model_version=meta["model_version"],
            settings=settings,
            labels=LabelSpace.from_dict(meta["labels"]),
            net=net,
            tag_embedding=TagEmbedding.load(directory / "tags") if meta["has_tags"] else None,
            centres=arrays["centres"],
            means=HalfMeans(z=arrays["z_mean"], tags=arrays.get("tag_mean")) if "z_mean" in arrays else None,
            topic_ids=arrays["topic_ids"].astype(np.int64),
            next_topic_id=int(meta["next_topic_id"]),
            retired_topic_ids=list(meta["retired_topic_ids"]),
            merged_into={int(k): int(v) for k, v in meta.get("merged_into", {}).items()},
            previous_version=meta.get("previous_version"),
            has_image=meta["has_image"],
            has_text=meta["has_text"],
            pretrained=meta["pretrained"],
            # models saved before these keys used the paper's rule: w = 1, zero fill, tau_3 from settings
            threshold=meta.get("topic_threshold"),
            tag_half=TagHalf(
                weight=float(meta.get("tag_weight", 1.0)), fill=meta.get("untagged_tags", "zero")
            ),
            index=faiss.read_index(str(directory / "topics.faiss")),
        )


def build_net(
    settings: LearningSettings,
    mmoe_config: MMoEConfig | None,
    *,
    has_image: bool,
    has_text: bool,
    task_sizes: tuple[int, int, int] | None = None,
    pretrained: bool = True,
) -> MultimodalNet:
    """Encoders from settings plus an MMoE head sized for them (or from a saved config)."""
    image = (
        build_image_encoder(settings, pretrained=pretrained, image_size=settings.image_size)
        if has_image
        else None
    )
    text = build_text_encoder(settings, max_length=settings.text_max_length) if has_text else None
    if mmoe_config is None:
        mmoe_config = MMoEConfig(
            input_dim=MultimodalNet.z_dim(image, text),
            task_sizes=task_sizes or (1, 1, 1),
            n_experts=settings.n_experts,
            tag_loss=settings.tag_loss,
        )
    net = MultimodalNet(image=image, text=text, mmoe=MMoE(mmoe_config))
    return net.to(settings.device)


def new_model_version(now: datetime | None = None) -> str:
    """Sortable by time, unique enough for one trainer: ``20261127T031500-1a2b3c``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{np.random.default_rng().integers(16**6):06x}"
