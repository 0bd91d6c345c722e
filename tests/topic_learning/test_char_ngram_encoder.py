"""The character n-gram text encoder for Chinese captions (text_model='char-ngram')."""

from __future__ import annotations

import zlib

import pytest
import torch

from mtl.errors import MtlError
from topic_learning.encoders.text import CharNgramEncoder, char_ngrams, hash_ngram


def test_ngrams_normalise_width_case_and_spaces() -> None:
    assert char_ngrams("ＡＢ  c", ngram_range=(1, 2)) == ["a", "b", "c", "ab", "b ", " c"]
    assert char_ngrams("晚饭后", ngram_range=(1, 3)) == ["晚", "饭", "后", "晚饭", "饭后", "晚饭后"]
    assert char_ngrams("   ") == []


def test_hash_is_stable_and_never_padding() -> None:
    assert hash_ngram("晚饭", n_buckets=1000) == zlib.crc32("晚饭".encode()) % 1000 + 1
    assert all(1 <= hash_ngram(g, n_buckets=7) <= 7 for g in char_ngrams("运动一下 hello"))


def test_tokenize_pads_and_truncates() -> None:
    encoder = CharNgramEncoder(dim=8, n_buckets=101, ngram_range=(1, 2), max_length=5)
    batch = encoder.tokenize(["晚饭后，运动一下！", "a", ""])
    assert batch["input_ids"].shape == (3, 5)
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 0, 0, 0, 0], [0] * 5]
    assert encoder.tokenize([""])["input_ids"].shape == (1, 1)


def test_empty_text_is_zero_and_others_unit_length() -> None:
    torch.manual_seed(0)
    encoder = CharNgramEncoder(dim=16, n_buckets=256)
    vectors = encoder.encode(["", "精神小伙路难走", "#搞笑 #热门"])
    assert vectors.shape == (3, 16)
    assert vectors[0].abs().sum() == 0
    torch.testing.assert_close(vectors[1:].norm(dim=1), torch.ones(2))


def test_shared_ngrams_mean_similar_vectors_before_training() -> None:
    torch.manual_seed(0)
    encoder = CharNgramEncoder(dim=256, n_buckets=1 << 14)
    base, near, far = encoder.encode(["晚饭后，运动一下！", "晚饭后运动一下吧", "程哥你狗粮慢点撒"])
    assert float(base @ near) > 0.6
    assert float(base @ near) > float(base @ far) + 0.3


def test_padding_does_not_change_a_text_vector() -> None:
    torch.manual_seed(0)
    encoder = CharNgramEncoder(dim=16, n_buckets=512)
    texts = ["短", "一个长得多的标题，带着很多字符"]
    torch.testing.assert_close(encoder.encode(texts), torch.cat([encoder.encode([t]) for t in texts]))


def test_forward_trains_bucket_vectors_but_not_padding() -> None:
    encoder = CharNgramEncoder(dim=8, n_buckets=64, normalize=False)
    out = encoder(**encoder.tokenize(["运动", "a"]))
    assert out.shape == (2, 8) and out.requires_grad
    out.sum().backward()
    grad = encoder.bag.weight.grad
    assert grad[1:].abs().sum() > 0
    assert grad[0].abs().sum() == 0


def test_invalid_options() -> None:
    with pytest.raises(MtlError, match="ngram_range"):
        CharNgramEncoder(ngram_range=(3, 1))
    with pytest.raises(MtlError, match="positive"):
        CharNgramEncoder(dim=0)
