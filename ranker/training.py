"""Fit a ranker on labelled rows (Adam, binary cross-entropy), update it daily, save and load it.

A saved ranker is a directory (``artifacts/ranker/<name>/`` by convention)::

    model.safetensors     the network's parameters
    encoder.safetensors   vocabularies, video catalogue, cover embeddings, dense scaling
    ranker.json           feature spec, model config, trainer parameters, table sizes, class names
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from mtl.errors import DataError
from ranker.features import EncodedRows, FeatureEncoder, FeatureSpec
from ranker.models import Ranker, RankerConfig

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
ENCODER_FILE = "encoder.safetensors"
META_FILE = "ranker.json"
LABEL = "clicked"


@dataclass
class TrainingConfig:
    """Optimisation of a ranker.

    Parameters
    ----------
    epochs
        Passes over the rows in :meth:`RankerTrainer.fit`; :meth:`RankerTrainer.partial_fit` makes one.
    batch_size
        Rows per Adam step.
    learning_rate
        Adam step size; None: 1e-2 for ``lr`` (a linear model starting from zero weights needs bigger
        steps: with 2e-3 and one epoch it has not left the "more fields present, lower score" phase
        and ranks below chance) and 2e-3 for the others.
    weight_decay
        L2 penalty of Adam (applied to every parameter).
    seed
        Seeds parameter initialisation and row shuffling.
    """

    epochs: int = 2
    batch_size: int = 1024
    learning_rate: float | None = None
    weight_decay: float = 0.0
    seed: int = 0


def _labels(rows: pd.DataFrame, y) -> np.ndarray:
    if y is None:
        if LABEL not in rows.columns:
            raise DataError(f"ranker rows: no labels (pass y or a {LABEL!r} column)")
        y = rows[LABEL]
    y = np.asarray(y, dtype=np.float32).ravel()
    if len(y) != len(rows):
        raise DataError(f"ranker rows: {len(rows)} rows but {len(y)} labels")
    return y


class RankerTrainer:
    """A feature encoder and a ranking model, trained together, scikit-learn style.

    Parameters
    ----------
    spec
        Features (with or without topics, optional cover embedding).
    model
        Architecture.
    training
        Optimisation.

    Attributes
    ----------
    encoder_ : FeatureEncoder
        Fitted on the rows of :meth:`fit`, extended by :meth:`partial_fit`.
    model_ : Ranker
        The network.
    n_rows_seen_ : int
        Rows trained on so far.
    """

    def __init__(
        self,
        *,
        spec: FeatureSpec | None = None,
        model: RankerConfig | None = None,
        training: TrainingConfig | None = None,
    ) -> None:
        self.spec = spec or FeatureSpec()
        self.model = model or RankerConfig()
        self.training = training or TrainingConfig()

    # -- training -----------------------------------------------------------------------------------
    def fit(
        self,
        rows: pd.DataFrame,
        y=None,
        *,
        videos: pd.DataFrame | None = None,
        image_embeddings: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> RankerTrainer:
        """Fit the encoder and train a fresh model for ``training.epochs`` epochs.

        Parameters
        ----------
        rows
            Training rows (:mod:`ranker.features` columns) with a ``clicked`` column unless ``y`` is given.
        y
            Labels (1 = click), one per row.
        videos
            The video catalogue (classes).
        image_embeddings
            ``(video_ids, vectors)`` when ``spec.image_dim > 0``.

        Returns
        -------
        RankerTrainer
            self
        """
        labels = _labels(rows, y)
        encoder = FeatureEncoder(self.spec).fit(rows, videos=videos, image_embeddings=image_embeddings)
        return self.fit_encoded(encoder.encode_rows(rows), labels, encoder=encoder)

    def fit_encoded(self, encoded: EncodedRows, y, *, encoder: FeatureEncoder) -> RankerTrainer:
        """:meth:`fit` on rows already encoded by a fitted ``encoder`` (shared across models and seeds).

        Parameters
        ----------
        encoded
            ``encoder.encode_rows(rows)``.
        y
            Labels, one per row.
        encoder
            The fitted encoder; its spec replaces ``self.spec``.

        Returns
        -------
        RankerTrainer
            self
        """
        labels = np.asarray(y, dtype=np.float32).ravel()
        if len(labels) != len(encoded):
            raise DataError(f"ranker rows: {len(encoded)} rows but {len(labels)} labels")
        self.spec = encoder.spec
        torch.manual_seed(self.training.seed)
        self.encoder_ = encoder
        self.model_ = Ranker(encoder.sizes(), self.model)
        self.n_rows_seen_ = 0
        self._rng = np.random.default_rng(self.training.seed)
        self._train(encoded, labels, epochs=self.training.epochs)
        return self

    def partial_fit(self, rows: pd.DataFrame, y=None) -> RankerTrainer:
        """One more pass over new rows (a daily update); new users, videos and topics get new rows.

        Parameters
        ----------
        rows, y
            As in :meth:`fit`.

        Returns
        -------
        RankerTrainer
            self
        """
        self._check_fitted()
        labels = _labels(rows, y)
        self.encoder_.extend(rows)
        self.model_.resize(self.encoder_.sizes())
        self._train(self.encoder_.encode_rows(rows), labels, epochs=1)
        return self

    def _train(self, encoded: EncodedRows, labels: np.ndarray, *, epochs: int) -> None:
        t = self.training
        model = self.model_
        # A fresh optimiser per call: tables may have grown since the last one.
        lr = t.learning_rate or (1e-2 if self.model.kind == "lr" else 2e-3)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=t.weight_decay)
        loss_fn = nn.BCEWithLogitsLoss()
        tensors = encoded.tensors()
        target = torch.from_numpy(labels)
        model.train()
        n = len(encoded)
        for _ in range(epochs):
            order = torch.from_numpy(self._rng.permutation(n))
            for start in range(0, n, t.batch_size):
                idx = order[start : start + t.batch_size]
                batch = {k: v[idx] for k, v in tensors.items()}
                optimiser.zero_grad(set_to_none=True)
                loss = loss_fn(model(batch), target[idx])
                loss.backward()
                optimiser.step()
        self.n_rows_seen_ += n * epochs
        model.eval()

    # -- prediction ---------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise DataError("ranker is not fitted: call fit() or load a saved one")

    @torch.inference_mode()
    def predict_encoded(self, encoded: EncodedRows, *, batch_size: int = 65536) -> np.ndarray:
        """Click probabilities [n] of encoded rows."""
        self._check_fitted()
        self.model_.eval()
        out = np.empty(len(encoded), dtype=np.float64)
        for start in range(0, len(encoded), batch_size):
            part = encoded.take(slice(start, start + batch_size)).tensors()
            out[start : start + batch_size] = torch.sigmoid(self.model_(part)).double().numpy()
        return out

    def decision_function(self, rows: pd.DataFrame) -> np.ndarray:
        """Logits [n]."""
        p = np.clip(self.predict_encoded(self.encoder_.encode_rows(rows)), 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """``[[P(no click), P(click)], ...]``, shape (n, 2), as scikit-learn classifiers give it."""
        self._check_fitted()
        p = self.predict_encoded(self.encoder_.encode_rows(rows))
        return np.stack([1.0 - p, p], axis=1)

    # -- persistence --------------------------------------------------------------------------------
    def save(self, directory: Path | str) -> Path:
        """Write the ranker to ``directory`` (created); returns it."""
        from safetensors.numpy import save_file as save_numpy
        from safetensors.torch import save_file

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model_.state_dict().items()}
        save_file(state, str(directory / MODEL_FILE))
        arrays, encoder_meta = self.encoder_.state()
        save_numpy({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(directory / ENCODER_FILE))
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "model": asdict(self.model),
            "training": asdict(self.training),
            "sizes": self.model_.sizes,
            "n_rows_seen": self.n_rows_seen_,
            "encoder": encoder_meta,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: Path | str) -> RankerTrainer:
        """Read a ranker written by :meth:`save`."""
        from safetensors.numpy import load_file as load_numpy
        from safetensors.torch import load_file

        directory = Path(directory)
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise DataError(f"{directory}: not a saved ranker ({META_FILE} missing)")
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format_version") != FORMAT_VERSION:
                raise DataError(
                    f"{meta_path}: format version {meta.get('format_version')!r}, expected {FORMAT_VERSION}"
                )
            encoder = FeatureEncoder.from_state(load_numpy(str(directory / ENCODER_FILE)), meta["encoder"])
            trainer = cls(
                spec=encoder.spec,
                model=RankerConfig(**meta["model"]),
                training=TrainingConfig(**meta["training"]),
            )
            model = Ranker(meta["sizes"], trainer.model)
            model.load_state_dict(load_file(str(directory / MODEL_FILE)))
        except DataError:
            raise
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise DataError(
                f"{directory}: unreadable saved ranker ({str(exc).splitlines()[0][:200]})"
            ) from None
        model.eval()
        trainer.encoder_ = encoder
        trainer.model_ = model
        trainer.n_rows_seen_ = int(meta.get("n_rows_seen", 0))
        trainer._rng = np.random.default_rng(trainer.training.seed)
        return trainer


@dataclass
class FitSummary:
    """What :func:`ranker.scorer.train_and_save` did."""

    path: Path
    rows: int
    clicks: int
    notes: list[str] = field(default_factory=list)
