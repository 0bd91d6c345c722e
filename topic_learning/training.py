"""End-to-end multimodal multi-task fine-tuning: encoders -> z -> MMoE -> three task losses."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from topic_learning.encoders import BaseTextEncoder, ImageEncoder
from topic_learning.mmoe import MMoE, multitask_loss
from topic_learning.tags import TagEmbedding


@dataclass
class LabelSpace:
    """The classes of the three tasks: primary classes, secondary classes, the M^3 most frequent tags."""

    primary: list[str]
    secondary: list[str]
    tags: list[str]

    @classmethod
    def fit(cls, videos: pd.DataFrame, *, max_tags: int) -> LabelSpace:
        counts = pd.Series([t for tags in videos["tags"] for t in set(tags)], dtype=object).value_counts()
        # Frequency, then name: the label order must not depend on row order.
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:max_tags]
        return cls(
            primary=sorted(videos["primary_class"].dropna().unique().tolist()),
            secondary=sorted(videos["secondary_class"].dropna().unique().tolist()),
            tags=[tag for tag, _ in ranked],
        )

    @property
    def sizes(self) -> tuple[int, int, int]:
        # A task with no labels still gets one output so the tower has a shape; it is never trained.
        return (max(1, len(self.primary)), max(1, len(self.secondary)), max(1, len(self.tags)))

    def encode(self, videos: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Class indices (-1 when missing or unknown) and per-video tag index arrays."""
        primary = _index(videos["primary_class"], self.primary)
        secondary = _index(videos["secondary_class"], self.secondary)
        lookup = {tag: i for i, tag in enumerate(self.tags)}
        tags = [
            np.unique(np.asarray([lookup[t] for t in row if t in lookup], dtype=np.int64))
            for row in videos["tags"]
        ]
        return primary, secondary, tags

    def tag_table(self, tag_embedding: TagEmbedding | None) -> np.ndarray | None:
        """Embedding of each tag of the tag task, in label order (zero rows: tags it does not know)."""
        if tag_embedding is None or not self.tags:
            return None
        table, _ = tag_embedding.video_vectors([[tag] for tag in self.tags])
        return table

    def to_dict(self) -> dict:
        return {"primary": self.primary, "secondary": self.secondary, "tags": self.tags}

    @classmethod
    def from_dict(cls, data: dict) -> LabelSpace:
        return cls(primary=list(data["primary"]), secondary=list(data["secondary"]), tags=list(data["tags"]))


def _index(values: pd.Series, classes: list[str]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    return np.asarray([lookup.get(v, -1) if isinstance(v, str) else -1 for v in values], dtype=np.int64)


class MultimodalNet(nn.Module):
    """``z = [f_C(cover), f_T(title)]`` followed by the MMoE head.

    Either encoder may be absent (a corpus without covers has no image branch, not a fake one).
    A missing cover in a corpus with covers contributes a zero image feature.
    """

    def __init__(self, *, image: ImageEncoder | None, text: BaseTextEncoder | None, mmoe: MMoE) -> None:
        super().__init__()
        if image is None and text is None:
            raise ValueError("at least one of the image and text encoders is needed")
        self.image = image
        self.text = text
        self.mmoe = mmoe

    @staticmethod
    def z_dim(image: ImageEncoder | None, text: BaseTextEncoder | None) -> int:
        return (image.out_dim if image is not None else 0) + (text.out_dim if text is not None else 0)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, covers: Sequence[str | None] | None, titles: Sequence[str]) -> torch.Tensor:
        """z for a batch; gradients flow into the encoders unless they are frozen."""
        parts = []
        device = self.device
        if self.image is not None:
            parts.append(self._image_features(covers or [None] * len(titles), device))
        if self.text is not None:
            batch = self.text.tokenize(list(titles))
            parts.append(self.text(**{k: v.to(device) for k, v in batch.items()}))
        return torch.cat(parts, dim=1)

    def _image_features(self, covers: Sequence[str | None], device: torch.device) -> torch.Tensor:
        present = [i for i, c in enumerate(covers) if isinstance(c, str) and c]
        out = torch.zeros((len(covers), self.image.out_dim), device=device)
        if present:
            pixels = self.image.preprocess([covers[i] for i in present]).to(device)
            out[torch.as_tensor(present, device=device)] = self.image(pixels)
        return out

    def forward(self, covers: Sequence[str | None] | None, titles: Sequence[str]) -> list[torch.Tensor]:
        return self.mmoe(self.encode(covers, titles))


@dataclass
class TrainingBatch:
    covers: list[str | None] | None
    titles: list[str]
    primary: torch.Tensor
    secondary: torch.Tensor
    tags: torch.Tensor
    rows: np.ndarray


def iterate_batches(
    videos: pd.DataFrame, labels: LabelSpace, *, batch_size: int, seed: int
) -> Iterator[TrainingBatch]:
    """Endless shuffled mini-batches with targets; a new permutation every epoch."""
    primary, secondary, tag_index = labels.encode(videos)
    titles = videos["title"].fillna("").astype(str).tolist()
    covers = videos["cover"].tolist() if "cover" in videos and videos["cover"].notna().any() else None
    n_tags = labels.sizes[2]
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(videos))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            tags = torch.zeros((len(rows), n_tags))
            for r, i in enumerate(rows):
                tags[r, tag_index[i]] = 1.0
            yield TrainingBatch(
                covers=[covers[i] for i in rows] if covers is not None else None,
                titles=[titles[i] for i in rows],
                primary=torch.as_tensor(primary[rows]),
                secondary=torch.as_tensor(secondary[rows]),
                tags=tags,
                rows=rows,
            )


def fit_multitask(
    net: MultimodalNet,
    videos: pd.DataFrame,
    labels: LabelSpace,
    *,
    iterations: int,
    batch_size: int,
    learning_rate: float,
    freeze_encoders: bool,
    tag_loss: str,
    seed: int,
    train_rows: np.ndarray | None = None,
    progress: bool = True,
) -> tuple[list[dict[str, float]], np.ndarray | None]:
    """Adam on the summed task losses.

    With ``freeze_encoders`` the encoders run once over the corpus and the MMoE trains on the cached
    z: the same optimisation of the head, without re-encoding every batch (CPU-friendly).
    ``train_rows`` (positions in ``videos``) limits the batches to those videos, e.g. to keep a
    validation split unseen; the cached z still covers every video.

    Returns
    -------
    history : list of dict
        Per-iteration task losses (also shown on the progress bar).
    cached_z : ndarray or None
        z of every video in row order when the encoders were frozen (they did not change), else None.
    """
    torch.manual_seed(seed)
    for encoder in (net.image, net.text):
        if encoder is not None:
            encoder.requires_grad_(not freeze_encoders)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=learning_rate)
    device = net.device
    history: list[dict[str, float]] = []
    rows = np.arange(len(videos)) if train_rows is None else np.asarray(train_rows, dtype=np.int64)
    batches = iterate_batches(videos.iloc[rows], labels, batch_size=batch_size, seed=seed)
    cached_z = None
    if freeze_encoders:
        cached_z = torch.as_tensor(embed_videos(net, videos, batch_size=batch_size, progress=progress))
    net.train()
    bar = tqdm(range(iterations), desc="MMoE fine-tuning", unit="it", disable=not progress)
    for _ in bar:
        batch = next(batches)
        if cached_z is not None:
            logits = net.mmoe(cached_z[rows[batch.rows]].to(device))
        else:
            logits = net(batch.covers, batch.titles)
        loss, parts = multitask_loss(
            logits,
            batch.primary.to(device),
            batch.secondary.to(device),
            batch.tags.to(device),
            tag_loss=tag_loss,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(parts)
        bar.set_postfix({name: f"{value:.3f}" for name, value in parts.items()})
    net.eval()
    return history, (cached_z.numpy() if cached_z is not None else None)


@torch.inference_mode()
def embed_videos(
    net: MultimodalNet,
    videos: pd.DataFrame,
    *,
    batch_size: int,
    representation: str = "z",
    progress: bool = True,
) -> np.ndarray:
    """The learned representation of every video, in row order, computed in batches.

    ``representation="z"`` is the encoder output (the paper's choice); ``"mixture"`` concatenates
    the three task mixtures of the experts.
    """
    vectors, _ = embed_videos_and_tags(
        net, videos, batch_size=batch_size, representation=representation, progress=progress
    )
    return vectors


@torch.inference_mode()
def embed_videos_and_tags(
    net: MultimodalNet,
    videos: pd.DataFrame,
    *,
    batch_size: int,
    representation: str = "z",
    tag_table: np.ndarray | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`embed_videos`, plus each video's predicted tag vector when ``tag_table`` is given.

    The predicted tag vector (:func:`predicted_tag_vectors`) comes from the same encoder pass, so a
    video is encoded once whatever it is used for.
    """
    net.eval()
    titles = videos["title"].fillna("").astype(str).tolist()
    covers = videos["cover"].tolist() if "cover" in videos and videos["cover"].notna().any() else None
    chunks, tag_chunks = [], []
    bar = tqdm(total=len(titles), desc="encoding videos", unit="video", disable=not progress)
    for start in range(0, len(titles), batch_size):
        stop = start + batch_size
        z = net.encode(covers[start:stop] if covers is not None else None, titles[start:stop])
        if tag_table is not None:
            tag_chunks.append(_expected_tags(net, z, tag_table))
        if representation == "mixture":
            z = mixture_of(net, z)
        chunks.append(z.float().cpu().numpy())
        bar.update(len(titles[start:stop]))
    bar.close()
    width = net.mmoe.config.input_dim if representation == "z" else 3 * net.mmoe.config.expert_dim
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, width), dtype=np.float32)
    if tag_table is None:
        return vectors, None
    tags = np.concatenate(tag_chunks) if tag_chunks else np.zeros((0, tag_table.shape[1]), np.float32)
    return vectors, tags


@torch.inference_mode()
def predicted_tag_vectors(
    net: MultimodalNet, z: np.ndarray, tag_table: np.ndarray, *, batch_size: int
) -> np.ndarray:
    """The tag vector the tag task expects for each encoder output ``z``: ``sum_j p_j e_j``.

    ``p`` is the tag tower's distribution over the label space's tags and ``tag_table[j]`` the
    embedding of tag ``j``; a video with no tags of its own can stand in the tag half of ``a`` with
    what its cover and title say its tags would be.
    """
    net.eval()
    device = net.device
    chunks = [
        _expected_tags(net, torch.as_tensor(z[i : i + batch_size]).to(device), tag_table)
        for i in range(0, len(z), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, tag_table.shape[1]), dtype=np.float32)


def _expected_tags(net: MultimodalNet, z: torch.Tensor, tag_table: np.ndarray) -> np.ndarray:
    logits = net.mmoe(z)[2]
    if net.mmoe.config.tag_loss == "bce":
        probs = torch.sigmoid(logits)
        probs = probs / probs.sum(dim=1, keepdim=True).clamp_min(1e-12)
    else:
        probs = torch.softmax(logits, dim=1)
    table = torch.as_tensor(tag_table, dtype=probs.dtype, device=probs.device)
    return (probs[:, : len(table)] @ table).float().cpu().numpy()


def mixture_of(net: MultimodalNet, z: torch.Tensor) -> torch.Tensor:
    """The three task mixtures of the experts for z, concatenated (the ``mixture`` representation)."""
    return torch.cat(net.mmoe.mixtures(z), dim=1)


@torch.inference_mode()
def mixtures_from_z(net: MultimodalNet, z: np.ndarray, *, batch_size: int) -> np.ndarray:
    """:func:`mixture_of` over an already encoded corpus, in batches."""
    net.eval()
    device = net.device
    chunks = [
        mixture_of(net, torch.as_tensor(z[i : i + batch_size]).to(device)).float().cpu().numpy()
        for i in range(0, len(z), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, 3 * net.mmoe.config.expert_dim), np.float32)
