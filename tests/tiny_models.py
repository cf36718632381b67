"""Tiny real models built at test time (no hub): a random BERT wrapped as a sentence-transformer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

ARABIC_ALPHABET = [chr(c) for c in range(0x0621, 0x064B)] + [chr(c) for c in range(0x0660, 0x066A)]
ASCII_ALPHABET = [chr(c) for c in range(0x21, 0x7F)]


def build_sentence_transformer(directory: Path, corpus: Iterable[str], *, prompts: bool = True) -> Path:
    """Train a WordPiece tokenizer on `corpus`, wrap a random 2-layer BERT, save it to `directory`."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=2000,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        initial_alphabet=ARABIC_ALPHABET + ASCII_ALPHABET,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=256,
    )
    raw = directory / "raw"
    config = BertConfig(
        vocab_size=fast.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=256,
    )
    BertModel(config).save_pretrained(raw)
    fast.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=256)
    pooling = Pooling(transformer.get_embedding_dimension(), "mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, Normalize()],
        prompts={"query": "query: ", "document": "passage: "} if prompts else None,
    )
    out = directory / "model"
    model.save(str(out))
    return out
