"""Real sentence-transformers built locally with random weights: tiny ones for tests, real shapes for benchmarks.

No model can be downloaded where this project is tested and measured; these are real models (real
tokenizer, real transformer, real pooling) whose weights are random, so they exercise every code path
and cost what a model of their shape costs, but their vectors carry no meaning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARABIC_ALPHABET = [chr(c) for c in range(0x0621, 0x064B)] + [chr(c) for c in range(0x0660, 0x066A)]
ASCII_ALPHABET = [chr(c) for c in range(0x21, 0x7F)]


@dataclass(frozen=True)
class Shape:
    """Architecture and size of a random sentence-transformer; the defaults are the tiny test model."""

    vocab_size: int = 2000
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    intermediate: int = 128
    max_positions: int = 256
    architecture: str = "BERT"
    """"BERT" or "XLM-RoBERTa"."""
    pooling: str = "mean"


def train_wordpiece(corpus: Iterable[str], vocab_size: int, max_length: int) -> Any:
    """A WordPiece tokenizer (NFKC, BERT pre-tokenizer, Arabic + ASCII alphabet) trained on `corpus`."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        initial_alphabet=ARABIC_ALPHABET + ASCII_ALPHABET,
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def build_sentence_transformer(
    directory: Path, corpus: Iterable[str], *, prompts: bool = True, shape: Shape = Shape()
) -> Path:
    """Train a WordPiece tokenizer on `corpus`, wrap a random model of `shape`, save it to `directory`/model.

    The bare transformer and tokenizer stay in `directory`/raw (the tiny cross-encoder reuses the tokenizer).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(0)
    fast = train_wordpiece(corpus, shape.vocab_size, shape.max_positions)
    raw = directory / "raw"
    config: dict[str, Any] = {
        "vocab_size": fast.vocab_size,
        "hidden_size": shape.hidden,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "intermediate_size": shape.intermediate,
        "max_position_embeddings": shape.max_positions,
    }
    if shape.architecture == "XLM-RoBERTa":
        # positions start after the padding index, as in XLM-R: 8194 positions leave 8192 tokens
        XLMRobertaModel(XLMRobertaConfig(pad_token_id=fast.pad_token_id, **config)).save_pretrained(raw)
        max_seq_length = shape.max_positions - fast.pad_token_id - 2
    else:
        BertModel(BertConfig(**config)).save_pretrained(raw)
        max_seq_length = shape.max_positions
    fast.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=max_seq_length)
    pooling = Pooling(transformer.get_embedding_dimension(), shape.pooling)
    model = SentenceTransformer(
        modules=[transformer, pooling, Normalize()],
        prompts={"query": "query: ", "document": "passage: "} if prompts else None,
    )
    out = directory / "model"
    model.save(str(out))
    return out
