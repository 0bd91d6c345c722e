"""build_image_encoder / build_text_encoder from settings.learning."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from mtl.errors import MtlError
from mtl.settings import LearningSettings
from topic_learning.encoders import (
    CharNgramEncoder,
    ImageEncoder,
    TextEncoder,
    build_image_encoder,
    build_text_encoder,
    resolve_device,
)


def test_image_factory_random_tiny_model() -> None:
    encoder = build_image_encoder(
        LearningSettings(image_model="test_efficientnet"), pretrained=False, image_size=32
    )
    assert isinstance(encoder, ImageEncoder)
    assert encoder.device == torch.device("cpu")
    assert encoder.input_shape == (3, 32, 32)


def test_image_factory_uses_the_checkpoint_setting(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    state = timm.create_model("test_efficientnet", pretrained=False, num_classes=0).state_dict()
    torch.save(state, path)
    encoder = build_image_encoder(LearningSettings(image_model="test_efficientnet", image_checkpoint=path))
    assert encoder.weights == f"checkpoint:{path}"
    torch.testing.assert_close(encoder.model.state_dict()["conv_stem.weight"], state["conv_stem.weight"])


def test_image_factory_refuses_hub_models_by_default() -> None:
    with pytest.raises(MtlError, match="image_checkpoint"):
        build_image_encoder(LearningSettings(image_model="resnet18"))


def test_text_factory_char_ngram() -> None:
    encoder = build_text_encoder(LearningSettings(text_model="char-ngram"), dim=16, n_buckets=128)
    assert isinstance(encoder, CharNgramEncoder)
    assert encoder.out_dim == 16 and encoder.device == torch.device("cpu")


def test_text_factory_local_directory(tmp_path: Path) -> None:
    tiny = TextEncoder.from_config()
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    encoder = build_text_encoder(LearningSettings(text_model=str(tmp_path)), max_length=16)
    assert isinstance(encoder, TextEncoder) and encoder.max_length == 16
    with pytest.raises(MtlError, match="char-ngram"):
        build_text_encoder(LearningSettings(text_model=str(tmp_path)), n_buckets=10)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_without_cuda_is_one_line_error() -> None:
    with pytest.raises(MtlError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(MtlError, match="CUDA"):
        build_text_encoder(LearningSettings(text_model="char-ngram", device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_factories_place_encoders_on_cuda() -> None:
    learning = LearningSettings(text_model="char-ngram", image_model="test_efficientnet", device="cuda")
    image = build_image_encoder(learning, pretrained=False, image_size=32)
    text = build_text_encoder(learning, dim=8, n_buckets=32)
    assert image.device.type == "cuda" and text.device.type == "cuda"
    assert text.encode(["运动"]).device.type == "cpu"
