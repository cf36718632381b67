"""Token alignment (assistant/alignment.py): the states it reads, MaxSim, and reading each text once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.alignment import ALIGNMENT_LAYER, aligner, content, max_sim
from ingest.embedding import SentenceTransformerEmbedder, TokenStates, _states_at


def test_content_leaves_out_special_tokens_punctuation_and_english_function_words() -> None:
    pieces = ("<s>", "\u2581What", "\u2581is", "\u2581the", "\u2581Manbij", "?", "\u2581attack", "</s>")
    states = np.eye(len(pieces), dtype=np.float32)
    kept = content(TokenStates(pieces, states))
    assert kept.tolist() == [states[4].tolist(), states[6].tolist()]
    assert content(TokenStates(("\u2581the", "."), np.eye(2, dtype=np.float32))).shape == (0, 2)


def test_max_sim_averages_each_question_token_best_match() -> None:
    question = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    sentence = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    assert max_sim(question, sentence) == pytest.approx((1.0 + 0.8) / 2)
    assert max_sim(question, sentence[:0]) == 0.0
    assert max_sim(question[:0], sentence) == 0.0
    assert max_sim(question, -question) == 0.0  # kept in [0, 1], the bounds the answerer relies on


class Reader:
    """Token states by text: one fixed unit vector per word, so that equal words align fully."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []

    def token_states(self, texts: Sequence[tuple[str, str]], layer: int) -> list[TokenStates]:
        assert layer == ALIGNMENT_LAYER
        self.calls.append(list(texts))
        out = []
        for _, text in texts:
            words = text.split()
            vectors = [np.random.default_rng(sum(map(ord, w))).normal(size=16) for w in words]
            states = np.array([v / np.linalg.norm(v) for v in vectors], dtype=np.float32)
            out.append(TokenStates(tuple("\u2581" + w for w in words), states))
        return out


def test_the_aligner_reads_the_question_once_and_each_sentence_once() -> None:
    reader = Reader()
    align = aligner(reader, "Manbij attack")
    assert align is not None and reader.calls == []
    assert align("Manbij attack today") == pytest.approx(1.0)
    assert reader.calls == [[("query", "Manbij attack"), ("document", "Manbij attack today")]]
    assert align("Baghouz battle") < 0.9
    assert align("Manbij attack today") == pytest.approx(1.0)
    assert reader.calls[1:] == [[("document", "Baghouz battle")]]


def test_after_its_reads_the_aligner_gives_the_least_alignment_without_reading() -> None:
    reader = Reader()
    align = aligner(reader, "Manbij attack", reads=2)
    assert align is not None
    assert align("Manbij attack today") == pytest.approx(1.0) and align("Baghouz battle") < 0.9
    assert align("Manbij attack again") == 0.0 and len(reader.calls) == 2
    assert align("Manbij attack today") == pytest.approx(1.0)  # what was read stays known


def test_an_embedder_without_token_states_has_no_aligner() -> None:
    assert aligner(object(), "Manbij attack") is None


def test_a_real_model_shows_the_states_of_the_text_without_prompt_or_special_tokens(tiny_model: Path) -> None:
    embedder = SentenceTransformerEmbedder(str(tiny_model))
    text = "This is an English sentence about the news."
    (states,) = embedder.token_states([("query", text)], 1)
    assert list(states.pieces) == embedder._tokenizer.tokenize(text)
    assert states.states.shape[0] == len(states.pieces)
    assert np.allclose(np.linalg.norm(states.states, axis=1), 1.0, atol=1e-5)
    (alone,) = embedder.token_states([("document", text)], 1)
    short, long = embedder.token_states([("document", "news"), ("document", text)], 1)
    assert short.pieces == tuple(embedder._tokenizer.tokenize("news"))  # padding left out
    assert np.allclose(long.states, alone.states, atol=1e-5)  # read in a batch as alone
    assert not np.allclose(alone.states, states.states, atol=1e-5)  # the prompt is read with the text
    with pytest.raises(ValueError, match="layers"):
        embedder.token_states([("query", text)], 99)


def test_the_encoder_stops_at_the_layer_read_with_the_states_of_a_full_pass(tiny_model: Path) -> None:
    import torch

    embedder = SentenceTransformerEmbedder(str(tiny_model))
    transformer: Any = embedder._model[0].auto_model
    encoded = embedder._tokenizer(
        ["news about Manbij", "a longer sentence about the news"], padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        full = transformer(**encoded, output_hidden_states=True).hidden_states
    stopped: list[int] = []
    last = transformer.encoder.layer[-1]
    handle = last.register_forward_hook(lambda *_: stopped.append(1))
    try:
        for layer in range(len(full)):
            assert np.allclose(_states_at(transformer, encoded, layer, "tiny"), full[layer].numpy(), atol=1e-6)
    finally:
        handle.remove()
    assert len(stopped) == 2  # the last layer ran only for itself and for layer 0 (the embeddings: a full pass)
    with pytest.raises(ValueError, match="layers"):
        _states_at(transformer, encoded, -1, "tiny")
