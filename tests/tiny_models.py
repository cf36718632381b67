"""Tiny chat and cross-encoder models built locally (no hub), with random weights, for tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ingest.random_models import ARABIC_ALPHABET, ASCII_ALPHABET, Shape, build_sentence_transformer, train_wordpiece

__all__ = [
    "ARABIC_ALPHABET",
    "ASCII_ALPHABET",
    "Shape",
    "build_causal_lm",
    "build_cross_encoder",
    "build_sentence_transformer",
    "train_wordpiece",
]


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
