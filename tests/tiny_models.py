"""Real models built locally (no hub), with random weights: tiny ones for tests, real shapes for benchmarks."""

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


CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_causal_lm(directory: Path, corpus: Iterable[str]) -> Path:
    """A tiny random Qwen2 chat model: byte-level BPE trained on `corpus`, ChatML template, 2 layers."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=3000, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        model_max_length=16384,
    )
    fast.chat_template = CHATML_TEMPLATE
    config = Qwen2Config(
        vocab_size=fast.vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=16384,
        initializer_range=0.2,
        tie_word_embeddings=True,
        eos_token_id=int(fast.convert_tokens_to_ids("<|im_end|>")),  # type: ignore[arg-type]
        pad_token_id=int(fast.convert_tokens_to_ids("<|endoftext|>")),  # type: ignore[arg-type]
    )
    out = directory / "causal-lm"
    Qwen2ForCausalLM(config).save_pretrained(out)
    fast.save_pretrained(out)
    return out


def build_cross_encoder(directory: Path, sentence_transformer: Path) -> Path:
    """A tiny random cross-encoder (BERT with one relevance logit) reusing a tiny model's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(sentence_transformer / "raw"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
    )
    config.num_labels = 1  # one relevance logit
    out = directory / "cross-encoder"
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
