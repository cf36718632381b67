"""Chunking: exact offsets, size limits in model tokens, sentence overlap, no word cut."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest

from ingest.chunking import ChunkerSettings, chunk_article
from ingest.cleaning import clean_text
from ingest.embedding import SentenceTransformerEmbedder, approximate_token_count
from ingest.records import Article


def approx(texts: Sequence[str]) -> list[int]:
    return [approximate_token_count(t) for t in texts]


@pytest.fixture(scope="module")
def embedder(tiny_model: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(str(tiny_model))


def seed_articles(seed_texts: dict[str, str]) -> list[Article]:
    return [Article(name, name, clean_text(raw), "h") for name, raw in seed_texts.items()]


@pytest.mark.parametrize("max_tokens", [40, 120, 200])
def test_offsets_round_trip_on_every_seed(
    seed_texts: dict[str, str], embedder: SentenceTransformerEmbedder, max_tokens: int
) -> None:
    settings = ChunkerSettings(max_tokens=max_tokens, tokenizer="tiny")
    for article in seed_articles(seed_texts):
        chunks = chunk_article(article, settings, embedder.count_tokens)
        assert chunks, article.source
        for number, chunk in enumerate(chunks):
            assert article.text[chunk.start : chunk.end] == chunk.text
            assert chunk.number == number
            assert chunk.source == article.source
            # never inside a word: each chunk starts and ends at a word boundary
            assert chunk.start == 0 or article.text[chunk.start - 1].isspace()
            assert chunk.end == len(article.text) or article.text[chunk.end].isspace()
            assert sum(embedder.count_tokens([chunk.text])) <= max_tokens + 8  # + joins between sentences
        covered = {i for c in chunks for i in range(c.start, c.end)}
        assert all(i in covered for i, ch in enumerate(article.text) if not ch.isspace())


def test_consecutive_chunks_overlap_by_one_sentence(seed_texts: dict[str, str]) -> None:
    article = seed_articles(seed_texts)[3]
    chunks = chunk_article(article, ChunkerSettings(max_tokens=120), approx)
    assert len(chunks) > 2
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end  # overlap
        assert before.text.endswith(article.text[after.start : before.end])


def test_a_sentence_longer_than_the_limit_is_cut_between_words() -> None:
    text = " ".join(f"كلمة{i}" for i in range(500))
    article = Article("long.txt", "t", text, "h")
    chunks = chunk_article(article, ChunkerSettings(max_tokens=50, overlap_sentences=0), approx)
    assert len(chunks) > 5
    assert " ".join(c.text for c in chunks) == text


def test_ids_are_stable_and_depend_on_source_and_content(seed_texts: dict[str, str]) -> None:
    article = seed_articles(seed_texts)[0]
    first = chunk_article(article, ChunkerSettings(), approx)
    again = chunk_article(article, ChunkerSettings(), approx)
    renamed = chunk_article(Article("other.txt", article.title, article.text, "h"), ChunkerSettings(), approx)
    assert [c.id for c in first] == [c.id for c in again]
    assert not {c.id for c in first} & {c.id for c in renamed}
    assert len({c.id for c in first}) == len(first)


def test_token_counts_match_the_tokenizer_after_encoding(
    seed_texts: dict[str, str], embedder: SentenceTransformerEmbedder
) -> None:
    """count_tokens reads the Rust tokenizer directly: encoding for the model (which truncates at the
    window) must not cap its counts, and they equal what the tokenizer itself answers."""
    sentences = [s for text in seed_texts.values() for s in clean_text(text).split(".") if s.strip()]
    too_long = " ".join(sentences) * 3
    embedder.embed_documents([too_long, sentences[0]])  # sets truncation on the shared tokenizer
    counted = embedder.count_tokens([*sentences, too_long])
    tokenizer = embedder._tokenizer
    expected = [
        len(ids) for ids in tokenizer([*sentences, too_long], add_special_tokens=False, verbose=False)["input_ids"]
    ]
    assert counted == expected
    assert counted[-1] > embedder.max_tokens
