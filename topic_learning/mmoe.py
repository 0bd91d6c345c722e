"""Multi-gate Mixture-of-Experts over the joint image/title feature (paper Eq. 1-2).

``z = [f_C(x_I), f_T(x_W)]`` feeds H expert networks; each of the N=3 tasks (primary class,
secondary class, tags) has a softmax gate over the experts and a tower producing its logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

TASKS = ("primary", "secondary", "tags")


@dataclass
class MMoEConfig:
    """Shape of the MMoE head. Defaults are sized for CPU training; the paper fixes only H=12.

    Attributes
    ----------
    input_dim : int
        Width of z, the concatenated encoder outputs.
    task_sizes : tuple of int
        Number of classes of each task, in :data:`TASKS` order (M^1, M^2, M^3).
    n_experts : int
        H, the number of expert networks.
    expert_hidden, expert_dim : int
        Hidden and output width of each expert MLP.
    tower_hidden : int
        Hidden width of each task tower.
    dropout : float
        Dropout inside experts and towers.
    tag_loss : {"bce", "softmax"}
        Multi-hot tag targets: binary cross-entropy with logits, or softmax cross-entropy against
        the targets normalised to sum to one.
    """

    input_dim: int
    task_sizes: tuple[int, int, int]
    n_experts: int = 12
    expert_hidden: int = 256
    expert_dim: int = 128
    tower_hidden: int = 128
    dropout: float = 0.1
    tag_loss: str = "softmax"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MMoEConfig:
        data = dict(data)
        data["task_sizes"] = tuple(data["task_sizes"])
        return cls(**data)


def _mlp(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
    )


class MMoE(nn.Module):
    """Experts, gates and towers: ``p^k = h^k(sum_i g^k(z)_i f_i(z))``."""

    def __init__(self, config: MMoEConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.experts = nn.ModuleList(
            _mlp(c.input_dim, c.expert_hidden, c.expert_dim, c.dropout) for _ in range(c.n_experts)
        )
        self.gates = nn.ModuleList(nn.Linear(c.input_dim, c.n_experts) for _ in TASKS)
        self.towers = nn.ModuleList(
            _mlp(c.expert_dim, c.tower_hidden, size, c.dropout) for size in c.task_sizes
        )

    def mixtures(self, z: torch.Tensor) -> list[torch.Tensor]:
        """``f^k(z)`` for every task: the gate-weighted sum of expert outputs, shape (B, expert_dim)."""
        experts = torch.stack([expert(z) for expert in self.experts], dim=1)  # (B, H, D)
        return [torch.einsum("bh,bhd->bd", torch.softmax(gate(z), dim=-1), experts) for gate in self.gates]

    def forward(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [tower(mix) for tower, mix in zip(self.towers, self.mixtures(z), strict=True)]


def multitask_loss(
    logits: list[torch.Tensor],
    primary: torch.Tensor,
    secondary: torch.Tensor,
    tags: torch.Tensor,
    *,
    tag_loss: str = "softmax",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of the three cross-entropies, with missing labels masked rather than dropped.

    Parameters
    ----------
    logits : list of three tensors
        Task logits in :data:`TASKS` order.
    primary, secondary : LongTensor of shape (B,)
        Class indices; -1 marks a missing label (e.g. KuaiRec videos without a secondary class).
    tags : FloatTensor of shape (B, M^3)
        Multi-hot tag targets; an all-zero row marks a video without known tags.

    Returns
    -------
    loss : Tensor
        The summed loss to back-propagate.
    parts : dict
        Each task's loss as a float, for progress bars.
    """
    parts: dict[str, torch.Tensor] = {}
    for name, target, out in (("primary", primary, logits[0]), ("secondary", secondary, logits[1])):
        mask = target >= 0
        if mask.any():
            parts[name] = F.cross_entropy(out[mask], target[mask])
    has_tags = tags.sum(dim=1) > 0
    if has_tags.any():
        out, target = logits[2][has_tags], tags[has_tags]
        if tag_loss == "bce":
            parts["tags"] = F.binary_cross_entropy_with_logits(out, target)
        elif tag_loss == "softmax":
            target = target / target.sum(dim=1, keepdim=True)
            parts["tags"] = -(target * F.log_softmax(out, dim=1)).sum(dim=1).mean()
        else:
            raise ValueError(f"tag_loss must be 'bce' or 'softmax', not {tag_loss!r}")
    if not parts:
        zero = logits[0].sum() * 0.0  # keeps the graph; a batch without any label trains nothing
        return zero, {}
    total = torch.stack(list(parts.values())).sum()
    return total, {name: float(value.detach()) for name, value in parts.items()}
