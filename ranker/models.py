"""CTR models of the ranking module: LR, Embedding&MLP, DCN and Wide&Deep over one embeddings layer.

Every model reads :class:`~ranker.features.EncodedRows` as tensors and returns one logit per row. The
shared :class:`FieldEmbeddings` turns the ID features into vectors: user, video, primary and secondary
class; the masked mean of the user's recent click videos (through the video table, as in the paper's
"mean embedding from the historical click videos"); and with topics the masked mean of the candidate's
topic IDs and of the user's top topics. Dense features (and an optional cover embedding) are appended.

- ``lr``: every ID has a scalar weight (embedding dim 1), plus a linear map of the dense inputs;
- ``emlp``: embeddings and dense inputs concatenated into an MLP;
- ``dcn``: a cross network (Wang et al. 2017: ``x_{l+1} = x_0 (x_l . w_l) + b_l + x_l``) beside the MLP;
- ``wide_deep``: the ``lr`` model (wide) plus the ``emlp`` model (deep), logits summed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from ranker.features import PAD

ModelKind = Literal["lr", "emlp", "dcn", "wide_deep"]
MODEL_KINDS: tuple[str, ...] = ("lr", "emlp", "dcn", "wide_deep")


@dataclass
class RankerConfig:
    """Architecture of a ranking model.

    Parameters
    ----------
    kind
        ``lr``, ``emlp``, ``dcn`` or ``wide_deep`` (the paper's production framework).
    embedding_dim
        Width of every ID embedding (the ``lr`` model and the wide part use 1).
    hidden
        Widths of the MLP layers (``emlp``, ``dcn``, the deep part of ``wide_deep``).
    cross_layers
        Cross layers of ``dcn``.
    dropout
        Dropout after each hidden layer.
    """

    kind: ModelKind = "wide_deep"
    embedding_dim: int = 16
    hidden: tuple[int, ...] = field(default=(128, 64))
    cross_layers: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        from mtl.errors import ConfigError

        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"unknown ranker model {self.kind!r}: use {', '.join(MODEL_KINDS)}")
        self.hidden = tuple(int(h) for h in self.hidden)


def masked_mean(table: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
    """Mean embedding of the non-padding ``ids`` [n, s] of each row, [n, d]; zeros for a row of padding.

    ``embedding_bag`` over the present IDs only, instead of gathering and masking every slot: the N1-wide
    click history is mostly padding.
    """
    if ids.shape[1] == 0:
        return table.weight.new_zeros((ids.shape[0], table.embedding_dim))
    present = ids != PAD
    counts = present.sum(dim=1)
    offsets = torch.cumsum(counts, dim=0) - counts
    # Only the present IDs, as one flat bag list: backward scatters far fewer rows than the padded grid.
    return nn.functional.embedding_bag(ids[present], table.weight, offsets, mode="mean")


class FieldEmbeddings(nn.Module):
    """One table per ID kind; output = [user, video, primary, secondary, history, (topics, user topics)].

    Parameters
    ----------
    sizes
        Rows per table (:meth:`ranker.features.FeatureEncoder.sizes`).
    dim
        Embedding width.
    """

    def __init__(self, sizes: dict[str, int], dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.user = nn.Embedding(sizes["users"], dim, padding_idx=PAD)
        self.video = nn.Embedding(sizes["videos"], dim, padding_idx=PAD)
        self.primary = nn.Embedding(sizes["primary"], dim, padding_idx=PAD)
        self.secondary = nn.Embedding(sizes["secondary"], dim, padding_idx=PAD)
        self.topic = nn.Embedding(sizes["topics"], dim, padding_idx=PAD) if sizes.get("topics") else None
        scale = 0.05 if dim > 1 else 0.0  # a linear model starts at zero weights
        for table in self.tables():
            nn.init.normal_(table.weight, std=scale) if scale else nn.init.zeros_(table.weight)

    def tables(self) -> list[nn.Embedding]:
        return [t for t in (self.user, self.video, self.primary, self.secondary, self.topic) if t is not None]

    @property
    def n_fields(self) -> int:
        return 5 + (2 if self.topic is not None else 0)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """[n, n_fields, dim]."""
        parts = [
            self.user(x["user"]),
            self.video(x["video"]),
            self.primary(x["primary"]),
            self.secondary(x["secondary"]),
            masked_mean(self.video, x["history"]),
        ]
        if self.topic is not None:
            parts.append(masked_mean(self.topic, x["topics"]))
            parts.append(masked_mean(self.topic, x["user_topics"]))
        return torch.stack(parts, dim=1)

    def resize(self, sizes: dict[str, int]) -> None:
        """Grow the tables to ``sizes`` (new rows start small and random, or zero for dim 1)."""
        for name, key in (("user", "users"), ("video", "videos"), ("topic", "topics")):
            table = getattr(self, name)
            if table is None or sizes[key] <= table.num_embeddings:
                continue
            grown = nn.Embedding(sizes[key], self.dim, padding_idx=PAD)
            with torch.no_grad():
                if self.dim > 1:
                    nn.init.normal_(grown.weight, std=0.05)
                else:
                    nn.init.zeros_(grown.weight)
                grown.weight[: table.num_embeddings] = table.weight
            setattr(self, name, grown)


def _mlp(in_dim: int, hidden: tuple[int, ...], dropout: float) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        in_dim = width
    return nn.Sequential(*layers), in_dim


class _Linear(nn.Module):
    """LR: sum of per-ID scalar weights plus a linear map of the dense (and image) inputs."""

    def __init__(self, sizes: dict[str, int]) -> None:
        super().__init__()
        self.embeddings = FieldEmbeddings(sizes, 1)
        self.dense = nn.Linear(sizes["dense"] + sizes["image"], 1)

    def forward(self, x: dict[str, torch.Tensor], dense: torch.Tensor) -> torch.Tensor:
        return self.embeddings(x).sum(dim=(1, 2)) + self.dense(dense).squeeze(-1)


class _Deep(nn.Module):
    """Embeddings and dense inputs into an MLP; optionally a cross network beside it (DCN)."""

    def __init__(self, sizes: dict[str, int], config: RankerConfig, *, cross: bool) -> None:
        super().__init__()
        self.embeddings = FieldEmbeddings(sizes, config.embedding_dim)
        in_dim = self.embeddings.n_fields * config.embedding_dim + sizes["dense"] + sizes["image"]
        self.mlp, out_dim = _mlp(in_dim, config.hidden, config.dropout)
        self.cross_w = nn.ParameterList()
        self.cross_b = nn.ParameterList()
        if cross:
            for _ in range(config.cross_layers):
                self.cross_w.append(nn.Parameter(torch.randn(in_dim) * (1.0 / in_dim**0.5)))
                self.cross_b.append(nn.Parameter(torch.zeros(in_dim)))
            out_dim += in_dim
        self.head = nn.Linear(out_dim, 1)

    def forward(self, x: dict[str, torch.Tensor], dense: torch.Tensor) -> torch.Tensor:
        x0 = torch.cat([self.embeddings(x).flatten(1), dense], dim=1)
        out = self.mlp(x0)
        if len(self.cross_w):
            xl = x0
            for w, b in zip(self.cross_w, self.cross_b, strict=True):
                xl = x0 * (xl @ w).unsqueeze(-1) + b + xl
            out = torch.cat([out, xl], dim=1)
        return self.head(out).squeeze(-1)


class Ranker(nn.Module):
    """A ranking model of one :class:`RankerConfig` kind; ``forward`` gives logits [n].

    Parameters
    ----------
    sizes
        Table sizes and dense widths from :meth:`ranker.features.FeatureEncoder.sizes`.
    config
        Architecture.
    """

    def __init__(self, sizes: dict[str, int], config: RankerConfig | None = None) -> None:
        super().__init__()
        self.config = config or RankerConfig()
        self.sizes = dict(sizes)
        kind = self.config.kind
        self.wide = _Linear(sizes) if kind in ("lr", "wide_deep") else None
        self.deep = _Deep(sizes, self.config, cross=kind == "dcn") if kind != "lr" else None

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        dense = x["dense"] if x.get("image") is None else torch.cat([x["dense"], x["image"]], dim=1)
        logit = torch.zeros(x["user"].shape[0], dtype=dense.dtype, device=dense.device)
        if self.wide is not None:
            logit = logit + self.wide(x, dense)
        if self.deep is not None:
            logit = logit + self.deep(x, dense)
        return logit

    def resize(self, sizes: dict[str, int]) -> None:
        """Grow the embedding tables after the encoder learned new IDs (daily updates)."""
        for part in (self.wide, self.deep):
            if part is not None:
                part.embeddings.resize(sizes)
        self.sizes.update({k: max(v, self.sizes.get(k, 0)) for k, v in sizes.items()})

    def parameter_bytes(self) -> int:
        """Memory of the parameters (what the model costs to hold in memory)."""
        return sum(p.numel() * p.element_size() for p in self.parameters())
